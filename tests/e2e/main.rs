//! End-to-end tests: the real `cargo-ffi-check` binary on the fixture
//! workspace in `tests/fixtures`, whose crates carry real C and Rust bugs.
//! Assertions go through `--message-format json` (and the human output where
//! that is what is being tested); expected lines come from the `BUG:` markers
//! in the fixture sources, so editing a fixture cannot silently skew them.

mod support;

mod ci;
mod cli;
mod crashes;
mod heap;
mod heap_exact;
mod leaks;
mod ordinary;
mod processes;
mod race_corpus;
mod races;
mod report;
mod seeds;
mod signals;
mod workflows;
