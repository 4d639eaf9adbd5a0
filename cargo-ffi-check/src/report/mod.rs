//! Reporting: live status and findings for people, JSON lines for machines,
//! and the final summary.
//!
//! Takes in each [`Finished`](crate::execute::pool::Finished) job as the
//! pool hands it back: the [`reporter`] classifies it, applies the
//! [adoption](crate::adopt) stage, counts it and shows it. Hands on what
//! the user sees: status lines and finding blocks ([`human`], above the
//! [`progress`] bar), JSON lines ([`json`]), GitHub annotations
//! ([`github`]), a JUnit file ([`junit`]), the command that reruns a job
//! ([`rerun`]), the summary and the [`exit_code`]. [`files`] writes the
//! files a run produces, here and in [`crate::adopt`].

pub mod exit_code;
pub mod files;
pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod progress;
pub mod reporter;
pub mod rerun;

use crate::execute::outcome::Status;
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
