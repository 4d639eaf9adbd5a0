//! Errors the supervisor can return instead of an outcome.

use std::path::PathBuf;

/// Why a command could not be supervised. Problems *of* the command (it crashed,
/// it hung) are not errors: they are in the [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// This platform cannot trace (only Linux on x86-64 can).
    #[error("cargo ffi-check needs Linux on x86-64 to trace tests; this is {os} on {arch}")]
    Unsupported {
        /// `std::env::consts::OS`.
        os: &'static str,
        /// `std::env::consts::ARCH`.
        arch: &'static str,
    },
    /// The kernel refused to let us trace our own child.
    #[error("ptrace is not permitted here ({reason}). {hint}")]
    PtraceNotPermitted {
        /// What failed, with the OS error.
        reason: String,
        /// How to allow it.
        hint: &'static str,
    },
    /// `Options::isolate` was asked for where the kernel does not allow it.
    #[error("--isolate is not available here: {reason}. Run as root, allow user namespaces, or run without --isolate (seeds of one test then never run at once)")]
    Isolation {
        /// Why, with the OS error.
        reason: String,
    },
    /// The program could not be started.
    #[error("cannot execute {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The supervisor itself failed (a bug): the command's processes were
    /// killed and reaped.
    #[error("the supervisor failed: {message} (a bug in cargo-ffi-check; please report it)")]
    Internal {
        /// What went wrong.
        message: String,
    },
    /// A system call the supervisor needs failed.
    #[error("{what}: {source}")]
    Os {
        /// What the supervisor was doing.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}
