//! What one job's result means: its status and its findings.

use crate::findings::Finding;
use crate::list::TestCase;
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
                stdout: String::new(),
                stderr: e.to_string(),
                guard: tracer::GuardStats::default(),
                notes: Vec::new(),
                schedule_held: Duration::ZERO,
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
            findings.push(Finding::test_failure(&stderr, &exit, &test.name));
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
        stdout,
        stderr,
        guard: o.guard.clone(),
        notes: o.notes.clone(),
        schedule_held: o.schedule_held,
    }
}
