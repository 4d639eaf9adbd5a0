//! Platforms without tracing: everything says so clearly.

use crate::{Command, Options, Outcome, TraceError};

fn unsupported() -> TraceError {
    TraceError::Unsupported {
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    }
}

/// Always fails: tracing needs Linux on x86-64.
pub fn run(_command: &Command, _options: &Options) -> Result<Outcome, TraceError> {
    Err(unsupported())
}

/// Always fails: tracing needs Linux on x86-64.
pub fn check_ptrace_permitted() -> Result<(), TraceError> {
    Err(unsupported())
}

/// Always fails: tracing needs Linux on x86-64.
pub fn check_isolation() -> Result<(), TraceError> {
    Err(unsupported())
}
