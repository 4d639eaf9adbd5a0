//! From a code address of a tracee to a symbolized backtrace: its address
//! space (`/proc/PID/maps`), remote unwinding and symbolization.

pub mod maps;
mod recent;
pub mod rust_alloc;
pub mod symbolize;
pub mod unwind;
