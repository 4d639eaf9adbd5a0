//! What to run and how.

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
    /// Preload the guard allocator into every process of the command.
    pub guard: bool,
    /// Which side of each allocation its guard page goes.
    pub guard_side: GuardSide,
    /// The command is a libtest harness running one test: its main thread
    /// only runs the harness, so the guard allocator leaves that thread's
    /// allocations to glibc (a forked child's are guarded again).
    pub harness_main_unguarded: bool,
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
            timeout: Duration::from_secs(60),
            cancel: Arc::new(AtomicBool::new(false)),
            max_frames: 32,
            guard: true,
            guard_side: GuardSide::Seeded,
            harness_main_unguarded: false,
        }
    }
}
