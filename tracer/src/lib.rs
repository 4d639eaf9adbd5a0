//! `tracer`: run one command under a ptrace supervisor and return its outcome.
//!
//! The crate knows nothing about cargo, test harnesses or terminals. It takes a
//! [`Command`] (program, arguments, environment, working directory) and
//! [`Options`] (timeout, cancellation), runs the command with every thread and
//! process of it traced, and returns an [`Outcome`]: how the process ended, its
//! complete output and the [`Finding`]s (decoded access violations, crashes,
//! timeouts) observed along the way.
//!
//! Only Linux on x86-64 can trace; on other platforms [`run`] returns
//! [`TraceError::Unsupported`] so callers can say so clearly.

mod command;
pub mod defaults;
mod error;
mod finding;
pub mod hash;
mod outcome;
pub mod preload;

pub use command::{Command, GuardSide, Options, Schedule};
pub use error::TraceError;
pub use finding::{
    Access, AccessKind, Allocation, Finding, FindingKind, Frame, SchedEvent, ThreadInfo,
    ThreadState,
};
pub use outcome::{Exit, GuardStats, Outcome};

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub use linux::{check_isolation, check_ptrace_permitted, run};

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod stub;

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
pub use stub::{check_isolation, check_ptrace_permitted, run};
