//! The Linux x86-64 implementation: supervisor, decoder, unwinder, symbolizer.

mod capture;
mod chaos;
pub mod decode;
mod emulate;
mod fault;
mod hang;
mod heap;
mod journal;
mod locks;
pub mod maps;
pub mod memory;
mod ptrace;
mod seccomp;
mod spawn;
mod supervisor;
pub mod symbolize;
mod threads;
mod timer;
pub mod unwind;
mod watchdog;

pub use supervisor::{check_ptrace_permitted, run};
