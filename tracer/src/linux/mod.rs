//! The Linux x86-64 implementation, one folder per role:
//!
//! - [`process`]: starting and controlling traced processes (ptrace, spawn,
//!   the seccomp filter, the watchdog and timer that wake the supervisor,
//!   output capture, reading tracee memory and `/proc`);
//! - [`fault`]: explaining a fault (decoding the instruction, the guard
//!   allocator's table, performing heap accesses for keep-going);
//! - [`symbols`]: address space maps, unwinding and symbolization;
//! - [`schedule`]: the seeded schedule's decisions and the region shared
//!   with the preloaded library (threads, budget, journal of events);
//! - [`hang`]: early hang detection and lock owners;
//! - [`syscalls`]: what each system call means to the seccomp filter and to
//!   hang detection;
//! - [`supervisor`]: the event loop that ties them together.

/// The page size (x86-64 Linux): of the tracee's memory, its mappings and
/// the guard allocator's slots.
pub(crate) const PAGE: u64 = 4096;

mod fault;
mod hang;
mod process;
mod schedule;
mod supervisor;
mod symbols;
mod syscalls;

pub use supervisor::{check_isolation, check_ptrace_permitted, run};
