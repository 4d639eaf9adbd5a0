//! The Linux x86-64 implementation: supervisor, decoder, unwinder, symbolizer.

mod capture;
pub mod decode;
mod emulate;
mod fault;
mod heap;
pub mod maps;
pub mod memory;
mod ptrace;
mod spawn;
mod supervisor;
pub mod symbolize;
mod threads;
pub mod unwind;
mod watchdog;

pub use supervisor::{check_ptrace_permitted, run};
