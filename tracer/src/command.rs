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
    /// Place the end of every allocation exactly against its guard page
    /// (alignment: the lowest set bit of the size, at most 16) instead of
    /// keeping malloc's 16-byte alignment. Catches one-byte overruns at the
    /// faulting instruction, but breaks code that relies on malloc's
    /// alignment for sizes that are not a multiple of 16 (Rust's hash maps).
    pub exact_end: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(60),
            cancel: Arc::new(AtomicBool::new(false)),
            max_frames: 32,
            guard: true,
            exact_end: false,
        }
    }
}
