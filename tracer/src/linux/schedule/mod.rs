//! The seeded schedule, from the supervisor's side: the seed's decisions
//! (`decisions`) and the region the test's processes share to make them
//! in-process and to keep the journal of events (`shared`). The holds
//! themselves happen in the preloaded library (`preload/schedule/core.c`).

pub mod decisions;
pub mod shared;
