//! From a code address of a tracee to a symbolized backtrace: its address
//! space (`/proc/PID/maps`), remote unwinding and symbolization.

pub mod maps;
mod recent;
pub mod symbolize;
pub mod unwind;
