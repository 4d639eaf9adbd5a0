//! How a traced command ended.

use crate::Finding;
use std::time::Duration;

/// How the traced command's first process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status code.
    Code(i32),
    /// It was killed by this signal (number and name).
    Signal(i32, String),
    /// It ran past the timeout and the supervisor killed it.
    TimedOut,
    /// Every thread was blocked in an indefinite wait (a deadlock or a lost
    /// wakeup): the supervisor declared a hang and killed it.
    Hung,
    /// The run was cancelled (Ctrl-C) and the supervisor killed it.
    Cancelled,
}

/// Everything observed while running one command.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How the command ended.
    pub exit: Exit,
    /// Everything it wrote to standard output.
    pub stdout: Vec<u8>,
    /// Everything it wrote to standard error.
    pub stderr: Vec<u8>,
    /// Findings in the order they were observed.
    pub findings: Vec<Finding>,
    /// Wall time from spawn to the end of the last traced task.
    pub duration: Duration,
    /// What the guard allocator did, summed over the processes that used it.
    pub guard: GuardStats,
    /// What the supervisor did that the user may want to know (a process
    /// handed over to the test's own tracer, ...).
    pub notes: Vec<String>,
    /// How long the seeded schedule held the test's threads, in all (zero
    /// without the schedule).
    pub schedule_held: Duration,
    /// What the schedule charged to its budget: each hold its length and
    /// cost, a hold until another thread's clock runs out its margin and a
    /// quarter of its wait (zero without the schedule).
    pub schedule_charged: Duration,
    /// The last events of the schedule's journal when the run ended,
    /// oldest first (empty without the schedule): what a failure that no
    /// finding of the supervisor explains (a test's own assertion) shows
    /// of the order that led to it.
    pub schedule_events: Vec<crate::SchedEvent>,
}

/// How many allocations the guard allocator guarded (the rest, over its
/// VMA budget, came from glibc), and the processes it was not loaded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Allocation requests.
    pub allocations: u64,
    /// Of which guarded.
    pub guarded: u64,
    /// Processes the allocator was not active in, counted by why (a
    /// statically linked program, a cleared environment, ...).
    pub not_loaded: std::collections::BTreeMap<String, u64>,
}
