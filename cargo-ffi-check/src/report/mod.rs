//! Reporting: live status and findings for people, JSON lines for machines,
//! and the final summary.

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod known;
pub mod progress;
pub mod reporter;
pub mod rerun;

use crate::outcome::Status;
use serde::Serialize;

/// Counts of job results, for the summary line and `run-finished`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    /// Jobs that passed.
    pub passed: usize,
    /// Jobs that failed without findings.
    pub failed: usize,
    /// Jobs with findings.
    pub with_findings: usize,
    /// Jobs that timed out or hung.
    pub hung: usize,
    /// Tests that passed under some seeds and not under others.
    pub flaky: usize,
    /// Jobs that could not run.
    pub errors: usize,
    /// Jobs cancelled or skipped.
    pub not_run: usize,
    /// Allocation requests, over every job.
    pub allocations: u64,
    /// Of which guarded.
    pub guarded: u64,
    /// Processes the guard allocator was not active in, by why.
    pub guard_not_loaded: std::collections::BTreeMap<String, u64>,
    /// Distinct findings that `[[suppress]]` entries covered.
    pub suppressed: usize,
    /// Jobs that failed, hung or had findings, all of them in the
    /// `--baseline` (not counted as failed, with findings or hung).
    pub known: usize,
    /// Distinct leaks only reported (`--leaks report`).
    pub reported: usize,
    /// How long the seeded schedule held threads, over every job, in
    /// milliseconds.
    pub schedule_held_ms: u64,
}

impl Counts {
    /// Counts one job.
    pub fn add(&mut self, s: Status) {
        match s {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Findings => self.with_findings += 1,
            Status::TimedOut | Status::Hung => self.hung += 1,
            Status::Error => self.errors += 1,
            Status::Cancelled => self.not_run += 1,
        }
    }

    /// Jobs that finished.
    pub fn finished(&self) -> usize {
        self.passed + self.failed + self.with_findings + self.hung + self.known + self.errors
    }

    /// True if anything needs the user's attention.
    pub fn any_problem(&self) -> bool {
        self.failed + self.with_findings + self.hung + self.errors > 0
    }
}
