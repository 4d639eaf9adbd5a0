//! What one job's result means: its status and its findings.

use crate::build::list::TestCase;
use crate::findings::Finding;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;
use tracer::Exit;

/// The status of one test under one seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Exited 0 with no findings.
    Passed,
    /// Failed (panic, non-zero exit) with no memory finding.
    Failed,
    /// Has findings: access violations or crashes.
    Findings,
    /// Ran past the timeout.
    TimedOut,
    /// Every thread blocked for good (deadlock, lost wakeup): declared
    /// before the timeout.
    Hung,
    /// Could not be run, or libtest did not run it.
    Error,
    /// Killed by Ctrl-C.
    Cancelled,
}

/// One finished job, ready to report.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// Its status.
    pub status: Status,
    /// The status word shown to people (`PASS`, `FAIL`, `SIGSEGV`, `TIMEOUT`).
    pub word: String,
    /// How it ended (`exit status: 0`, `signal: 11 (SIGSEGV)`, `timeout`).
    pub exit: String,
    /// The test process exited with status 0 (whatever its findings).
    pub exited_ok: bool,
    /// Wall time.
    pub duration: Duration,
    /// What it found (empty when it passed).
    pub findings: Vec<Finding>,
    /// Findings that `[[suppress]]` entries cover (moved out of `findings`).
    pub suppressed: Vec<Finding>,
    /// Leaks under `--leaks report`: shown and kept, failing nothing (moved
    /// out of `findings`).
    pub reported: Vec<Finding>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// Allocations made, and how many of them the guard allocator guarded.
    pub guard: tracer::GuardStats,
    /// What the supervisor did that the user may want to know (shown with
    /// `-v`): a process handed over to the test's own tracer, ...
    pub notes: Vec<String>,
    /// How long the seeded schedule held the test's threads.
    pub schedule_held: Duration,
    /// What the schedule charged to the test's budget.
    pub schedule_charged: Duration,
}

fn exit_text(exit: &Exit) -> String {
    match exit {
        Exit::Code(c) => format!("exit status: {c}"),
        Exit::Signal(n, name) => format!("signal: {n} ({name})"),
        Exit::TimedOut => "timeout".into(),
        Exit::Hung => "hang".into(),
        Exit::Cancelled => "cancelled".into(),
    }
}

/// Classifies a supervisor outcome (or its failure to run) for `test`.
pub fn classify(
    test: &TestCase,
    outcome: &Result<tracer::Outcome, tracer::TraceError>,
    root: &Path,
) -> JobReport {
    let o = match outcome {
        Ok(o) => o,
        Err(e) => {
            return JobReport {
                status: Status::Error,
                word: "ERROR".into(),
                exit: e.to_string(),
                exited_ok: false,
                duration: Duration::ZERO,
                findings: Vec::new(),
                suppressed: Vec::new(),
                reported: Vec::new(),
                stdout: String::new(),
                stderr: e.to_string(),
                guard: tracer::GuardStats::default(),
                notes: Vec::new(),
                schedule_held: Duration::ZERO,
                schedule_charged: Duration::ZERO,
            }
        }
    };
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let exit = exit_text(&o.exit);
    let mut findings: Vec<Finding> = o
        .findings
        .iter()
        .map(|f| Finding::from_tracer(f, root, &test.name))
        .collect();
    let (status, word) = match &o.exit {
        Exit::Cancelled => (Status::Cancelled, "CANCEL".to_string()),
        Exit::TimedOut => (Status::TimedOut, "TIMEOUT".to_string()),
        Exit::Hung => (Status::Hung, "HANG".to_string()),
        _ if !findings.is_empty() => {
            let word = match &o.exit {
                Exit::Signal(_, name) => name.clone(),
                Exit::Code(0) => "FINDING".into(),
                _ => "FAIL".into(),
            };
            (Status::Findings, word)
        }
        Exit::Code(0) if test.binary.libtest && !stdout.contains("running 1 test") => {
            (Status::Error, "ERROR".into())
        }
        Exit::Code(0) => (Status::Passed, "PASS".into()),
        Exit::Code(_) | Exit::Signal(..) => {
            let mut failure = Finding::test_failure(&stderr, &exit, &test.name);
            // The order of events that led to it, as a supervisor's finding
            // shows its own.
            failure.events = o.schedule_events.clone();
            findings.push(failure);
            let word = match &o.exit {
                Exit::Signal(_, name) => name.clone(),
                _ => "FAIL".into(),
            };
            (Status::Failed, word)
        }
    };
    let exit = if status == Status::Error && matches!(o.exit, Exit::Code(0)) {
        format!(
            "libtest did not run `{}` (is it a test of this binary?)",
            test.name
        )
    } else {
        exit
    };
    JobReport {
        status,
        word,
        exit,
        exited_ok: o.exit == Exit::Code(0),
        duration: o.duration,
        findings,
        suppressed: Vec::new(),
        reported: Vec::new(),
        stdout,
        stderr,
        guard: o.guard.clone(),
        notes: o.notes.clone(),
        schedule_held: o.schedule_held,
        schedule_charged: o.schedule_charged,
    }
}

impl JobReport {
    /// True if the job needs the user's attention: it did not pass and was
    /// not cancelled.
    pub fn is_problem(&self) -> bool {
        !matches!(self.status, Status::Passed | Status::Cancelled)
    }

    /// Moves the job's leak findings to `reported` (`--leaks report`); the
    /// caller settles the status afterwards.
    pub fn report_leaks_only(&mut self) {
        let (leaks, kept) = std::mem::take(&mut self.findings)
            .into_iter()
            .partition(|f| f.kind == tracer::FindingKind::Leak.as_str());
        self.findings = kept;
        self.reported = leaks;
    }

    /// The status once findings were moved out of `findings` (suppressed,
    /// or leaks only reported). They hide findings, never a failing test: a
    /// job left without findings passes (word `SUPPRESSED` when an entry
    /// covered one) only if its test exited with status 0; one that crashed
    /// or exited non-zero fails with a `test-failure` finding saying so, and
    /// a timeout or a hang stays one. `test` is the libtest name.
    pub fn settle(&mut self, test: &str) {
        let moved: Vec<&str> = self
            .suppressed
            .iter()
            .map(|f| f.kind.as_str())
            .chain(self.reported.iter().map(|f| f.kind.as_str()))
            .collect();
        if !self.findings.is_empty() || moved.is_empty() || self.status != Status::Findings {
            return;
        }
        if self.exited_ok {
            self.status = Status::Passed;
            self.word = if self.suppressed.is_empty() {
                "PASS"
            } else {
                "SUPPRESSED"
            }
            .into();
            return;
        }
        let how = match (self.suppressed.is_empty(), self.reported.is_empty()) {
            (false, true) => "were suppressed",
            (true, false) => "are only reported (--leaks report)",
            _ => "were suppressed or are only reported (--leaks report)",
        };
        let mut failure = Finding::test_failure(&self.stderr, &self.exit, test);
        failure.notes.push(format!(
            "its findings {how} ({}), but the test itself failed",
            moved.join(", ")
        ));
        self.findings.push(failure);
        self.status = Status::Failed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(kinds: &[&str], exit: &str, exited_ok: bool) -> JobReport {
        let findings = kinds
            .iter()
            .map(|k| {
                let mut f = Finding::test_failure("", exit, "t");
                f.kind = k.to_string();
                f
            })
            .collect();
        JobReport {
            status: Status::Findings,
            word: "FINDING".into(),
            exit: exit.into(),
            exited_ok,
            duration: Duration::ZERO,
            findings,
            suppressed: Vec::new(),
            reported: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
            guard: tracer::GuardStats::default(),
            notes: Vec::new(),
            schedule_held: Duration::ZERO,
            schedule_charged: Duration::ZERO,
        }
    }

    /// Under `--leaks report` a test whose only findings are leaks passes
    /// if it exited 0; one that failed stays failed, saying why; other
    /// findings stay findings.
    #[test]
    fn reported_leaks_fail_nothing_but_never_hide_a_failing_test() {
        let mut ok = report(&["leak"], "exit status: 0", true);
        ok.report_leaks_only();
        ok.settle("t");
        assert_eq!((ok.status, ok.word.as_str()), (Status::Passed, "PASS"));
        assert_eq!(ok.reported.len(), 1);
        let mut failed = report(&["leak"], "exit status: 101", false);
        failed.report_leaks_only();
        failed.settle("t");
        assert_eq!(failed.status, Status::Failed);
        assert_eq!(failed.findings[0].kind, crate::findings::TEST_FAILURE);
        assert!(
            failed.findings[0].notes[0].contains("only reported (--leaks report) (leak)"),
            "{:?}",
            failed.findings[0].notes
        );
        let mut other = report(&["leak", "heap-use-after-free"], "exit status: 0", true);
        other.report_leaks_only();
        other.settle("t");
        assert_eq!(other.status, Status::Findings);
        assert_eq!(other.findings.len(), 1);
    }
}
