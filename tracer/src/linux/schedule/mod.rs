//! The seeded schedule: the seccomp filter that stops the system calls
//! where ordering matters, the seed's decisions at those stops, and the
//! journal of the order that was realised.

pub mod decisions;
pub mod journal;
pub mod seccomp;
