//! What to run and how.

use crate::defaults;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// A program to run under the supervisor.
#[derive(Debug, Clone)]
pub struct Command {
    /// Path of the executable.
    pub program: PathBuf,
    /// Arguments, without the program name.
    pub args: Vec<OsString>,
    /// The complete environment of the new process.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory.
    pub cwd: PathBuf,
}

/// How to supervise it.
#[derive(Debug, Clone)]
pub struct Options {
    /// Kill the whole process tree after this long and report a timeout.
    pub timeout: Duration,
    /// When set to true (for example on Ctrl-C), the supervisor kills the
    /// process tree and returns [`crate::Exit::Cancelled`].
    pub cancel: Arc<AtomicBool>,
    /// At most this many frames in each backtrace.
    pub max_frames: usize,
    /// At most this many bytes of each output stream are kept (the head
    /// and the tail halves).
    pub max_output: usize,
    /// Preload the guard allocator into every process of the command.
    pub guard: bool,
    /// Which side of each allocation its guard page goes.
    pub guard_side: GuardSide,
    /// The command is a libtest harness running one test: its main thread
    /// only runs the harness, so the guard allocator leaves that thread's
    /// allocations to glibc (a forked child's are guarded again).
    pub harness_main_unguarded: bool,
    /// With `guard`: when each process exits, report the guarded
    /// allocations still live that nothing points to (`leak` findings).
    pub leaks: bool,
    /// The seed: it decides the guard allocator's layout and, with
    /// `schedule`, the schedule's decisions; the command sees it as
    /// `FFI_CHECK_SEED`.
    pub seed: u64,
    /// Perturb the order of threads and processes by the seeded schedule
    /// (`None`: run at full speed, only faults stop the tracee).
    pub schedule: Option<Schedule>,
    /// Declare a hang as soon as every thread of every process has been
    /// blocked in an indefinite wait, without using CPU, for this long
    /// (`None`: only the timeout ends a stuck test).
    pub hang_grace: Option<Duration>,
    /// Run the command in network, IPC and mount namespaces of its own
    /// (private `/tmp` and `/dev/shm` overlays, its own loopback), so that
    /// copies of one test can run at once; see [`crate::check_isolation`].
    pub isolate: bool,
}

/// The seeded schedule: which calls where threads hand over are held, which
/// signals are held, which thread is starved. The same seed and salt make
/// the same decisions at the same per-thread events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Mixed into the seed so that tests under the same seed are perturbed
    /// differently (the test's name).
    pub salt: String,
    /// How much the schedule may slow the test down, in percent of the
    /// test's running time (its delays stop once they have added this much;
    /// see `schedule::shared::Budget`).
    pub budget_percent: u32,
}

/// Where the guard allocator puts the guard page of an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardSide {
    /// Chosen per allocation by the seed: after for about three in four
    /// (overflows fault), before for the rest (underflows fault).
    #[default]
    Seeded,
    /// Always after: every overflow faults, no underflow does.
    After,
    /// Always before: every underflow faults, overflows are caught when the
    /// allocation is freed (slack check) at best.
    Before,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: defaults::TIMEOUT,
            cancel: Arc::new(AtomicBool::new(false)),
            max_frames: defaults::MAX_FRAMES,
            max_output: defaults::MAX_OUTPUT,
            guard: true,
            guard_side: GuardSide::Seeded,
            harness_main_unguarded: false,
            leaks: true,
            seed: 0,
            schedule: None,
            hang_grace: Some(defaults::HANG_GRACE),
            isolate: false,
        }
    }
}
