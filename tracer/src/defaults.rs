//! The defaults of the supervisor's settings, in one place: [`crate::Options`]
//! starts from them and the command line shows and uses the same.

use std::time::Duration;

/// How long one command may run before it is killed and reported as a
/// timeout.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// How long every thread must have been blocked for good, using no CPU,
/// before a hang is declared.
pub const HANG_GRACE: Duration = Duration::from_secs(2);

/// How much the seeded schedule may slow a test down, in percent of the
/// test's own running time (`--schedule-budget`).
pub const SCHEDULE_BUDGET: u32 = 25;

/// The most frames in one backtrace.
pub const MAX_FRAMES: usize = 32;

/// The most output kept of each of a command's streams (stdout, stderr):
/// the first and last halves; what lies between is dropped, and the output
/// says so.
pub const MAX_OUTPUT: usize = 16 << 20;
