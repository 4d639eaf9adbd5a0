//! Build and list: the tests to run.
//!
//! Takes in cargo's arguments, the filters and `--partition`. Builds the
//! test binaries with `cargo test --no-run` ([`cargo`]), lists each
//! binary's tests and selects the ones the filters name ([`list`]), then
//! keeps this CI job's share of them ([`partition`]). Hands on the
//! workspace root and the selected [`list::TestCase`]s, in order.

mod cargo;
pub mod list;
pub mod partition;

pub use cargo::{build, BuildFailed, TestBinary};
