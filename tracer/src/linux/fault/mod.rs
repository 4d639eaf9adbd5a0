//! Explaining what went wrong in a stopped tracee: decoding the faulting
//! instruction, reading the guard allocator's table, and performing heap
//! accesses on the tracee's behalf so it can keep going; [`registers`]
//! is how all of them read and write a stopped thread's registers.

pub mod analyzer;
pub mod decode;
pub mod emulate;
pub mod guard_table;
pub mod leaks;
pub mod realign;
pub mod registers;
pub mod step;

pub use analyzer::Analyzer;
