//! Exit codes, as in cargo-nextest.

/// Every test passed with no findings.
pub const OK: i32 = 0;
/// No tests matched the filters.
pub const NO_TESTS_RUN: i32 = 4;
/// Setup failed: ptrace not permitted, a test binary could not be listed, ...
pub const SETUP_ERROR: i32 = 96;
/// Tests failed, hung or had findings.
pub const TEST_RUN_FAILED: i32 = 100;
/// The build failed.
pub const BUILD_FAILED: i32 = 101;
/// A second Ctrl-C: the tool exits at once (128 + SIGINT, as shells report
/// a process that SIGINT ended). A run ended by the first SIGINT or SIGTERM
/// exits with [`TEST_RUN_FAILED`], as cargo-nextest's does.
pub const INTERRUPTED_AGAIN: i32 = 130;
