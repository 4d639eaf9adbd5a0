//! The Linux x86-64 implementation, one folder per role:
//!
//! - [`process`]: starting and controlling traced processes (ptrace, spawn,
//!   the watchdog and timer that wake the supervisor, output capture,
//!   reading tracee memory and `/proc`);
//! - [`fault`]: explaining a fault (decoding the instruction, the guard
//!   allocator's table, performing heap accesses for keep-going);
//! - [`symbols`]: address space maps, unwinding and symbolization;
//! - [`schedule`]: the seeded schedule (the seccomp filter, its decisions,
//!   the journal of events);
//! - [`hang`]: early hang detection and lock owners;
//! - [`syscalls`]: what each system call means to the schedule and to hang
//!   detection;
//! - [`supervisor`]: the event loop that ties them together.

mod fault;
mod hang;
mod process;
mod schedule;
mod supervisor;
mod symbols;
mod syscalls;

pub use supervisor::{check_ptrace_permitted, run};
