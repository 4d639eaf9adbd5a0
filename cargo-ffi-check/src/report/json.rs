//! `--message-format json`: one JSON object per line on stdout. The schema is
//! documented in the README; `version` changes when a field changes meaning
//! or disappears (adding fields does not change it).

use crate::execute::outcome::{JobReport, Status};
use crate::findings::{Distinct, Finding};
use crate::report::Counts;
use serde::Serialize;
use std::io::Write;

/// The schema version of every event.
pub const VERSION: u32 = 1;

/// One line of JSON output.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event<'a> {
    /// Before the first test runs.
    RunStarted {
        /// Schema version.
        version: u32,
        /// Number of tests.
        tests: usize,
        /// The seeds.
        seeds: &'a [u64],
        /// Parallel jobs.
        jobs: usize,
        /// Whether seeds of one test ran at once, each job in namespaces of
        /// its own (`--isolate`); otherwise they ran one after another.
        isolate: bool,
    },
    /// One test under one seed finished.
    TestFinished {
        /// Schema version.
        version: u32,
        /// nextest-style binary id.
        binary_id: &'a str,
        /// Test name.
        test: &'a str,
        /// Seed.
        seed: u64,
        /// Status.
        status: Status,
        /// How the process ended.
        exit: &'a str,
        /// When the job started, in milliseconds after the run started.
        start_ms: u64,
        /// Wall time in milliseconds.
        duration_ms: u64,
        /// Findings of this job.
        findings: &'a [Finding],
        /// Findings of this job that `[[suppress]]` entries covered.
        suppressed: &'a [Finding],
        /// Leaks of this job under `--leaks report`: they fail nothing.
        reported: &'a [Finding],
        /// Allocation requests and how many were guarded.
        allocations: Allocations<'a>,
        /// Captured standard output.
        stdout: &'a str,
        /// Captured standard error.
        stderr: &'a str,
        /// What the supervisor did that the user may want to know.
        notes: &'a [String],
        /// How long the seeded schedule held the test's threads, in
        /// milliseconds.
        schedule_held_ms: u64,
        /// What the schedule charged to the test's budget, in
        /// milliseconds.
        schedule_charged_ms: u64,
    },
    /// A distinct finding with every test and seed that showed it (after the last test).
    Finding {
        /// Schema version.
        version: u32,
        /// The finding and where it was seen.
        #[serde(flatten)]
        distinct: &'a Distinct,
    },
    /// A test that passed under some seeds and not under others (after the
    /// last test, before `run-finished`).
    Flaky {
        /// Schema version.
        version: u32,
        /// nextest-style binary id.
        binary_id: &'a str,
        /// Test name.
        test: &'a str,
        /// Seeds it passed under, and the seeds of each other outcome.
        #[serde(flatten)]
        seeds: &'a crate::execute::flaky::Flaky,
    },
    /// The end of the run.
    RunFinished {
        /// Schema version.
        version: u32,
        /// Counts of job results.
        #[serde(flatten)]
        counts: &'a Counts,
        /// Distinct findings.
        distinct_findings: usize,
        /// With `--baseline`: new and known findings, and gone entries.
        #[serde(skip_serializing_if = "Option::is_none")]
        baseline: Option<&'a BaselineSummary>,
        /// As in `run-started`.
        isolate: bool,
        /// Wall time in milliseconds.
        duration_ms: u64,
        /// The process exit code.
        exit_code: i32,
    },
}

/// The run against `--baseline`.
#[derive(Debug, Serialize)]
pub struct BaselineSummary {
    /// The baseline file, as given.
    pub file: String,
    /// Distinct findings not in it (they fail the run).
    pub new: usize,
    /// Distinct findings in it.
    pub known: usize,
    /// Its entries that no longer occur: a test that showed them ran, and
    /// nothing matched them.
    pub gone: Vec<crate::adopt::baseline::Entry>,
}

/// How many allocations the guard allocator saw and guarded.
#[derive(Debug, Serialize)]
pub struct Allocations<'a> {
    /// Allocation requests in every process of the test.
    pub total: u64,
    /// Of which guarded (the first of each process, then a seeded sample;
    /// the rest are glibc blocks with a canary).
    pub guarded: u64,
    /// Processes the allocator was not active in, by why.
    pub not_loaded: &'a std::collections::BTreeMap<String, u64>,
}

/// Writes one event as a line on stdout.
pub fn emit(event: &Event<'_>) {
    let mut out = std::io::stdout().lock();
    // Serializing these types cannot fail (no maps with non-string keys).
    let _ = serde_json::to_writer(&mut out, event);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The `test-finished` event of a job.
pub fn test_finished<'a>(
    binary_id: &'a str,
    test: &'a str,
    seed: u64,
    start: std::time::Duration,
    r: &'a JobReport,
) -> Event<'a> {
    Event::TestFinished {
        version: VERSION,
        binary_id,
        test,
        seed,
        status: r.status,
        exit: &r.exit,
        start_ms: start.as_millis() as u64,
        duration_ms: r.duration.as_millis() as u64,
        findings: &r.findings,
        suppressed: &r.suppressed,
        reported: &r.reported,
        allocations: Allocations {
            total: r.guard.allocations,
            guarded: r.guard.guarded,
            not_loaded: &r.guard.not_loaded,
        },
        stdout: &r.stdout,
        stderr: &r.stderr,
        notes: &r.notes,
        schedule_held_ms: r.schedule_held.as_millis() as u64,
        schedule_charged_ms: r.schedule_charged.as_millis() as u64,
    }
}
