//! The job pool: every (test, seed) job on a rayon pool, each under its own
//! supervisor, with results handed back to the caller's thread in the order
//! they finish.

use crate::build::list::TestCase;
use crate::setup::settings::Settings;
use rayon::prelude::*;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// One test under one seed.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    /// Index into the test list.
    pub test: usize,
    /// The seed (the test sees it as `FFI_CHECK_SEED`).
    pub seed: u64,
}

/// A finished job.
pub struct Finished {
    /// Which job.
    pub job: Job,
    /// What the supervisor saw, or why it could not run the test.
    pub outcome: Result<tracer::Outcome, tracer::TraceError>,
}

/// How the caller stops the pool early.
#[derive(Clone, Default)]
pub struct Control {
    /// Set on Ctrl-C: running jobs are killed, pending ones skipped.
    pub cancel: Arc<AtomicBool>,
    /// Set to skip pending jobs (fail-fast).
    pub stop: Arc<AtomicBool>,
}

impl Control {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.cancel.load(Ordering::SeqCst)
    }
}

/// Every test under every seed, tests in order, seeds inner.
pub fn jobs(tests: usize, seeds: &[u64]) -> Vec<Job> {
    (0..tests)
        .flat_map(|test| seeds.iter().map(move |&seed| Job { test, seed }))
        .collect()
}

/// The command for one job: `BIN --exact NAME --nocapture --test-threads=1`
/// for libtest binaries, the bare binary otherwise.
pub fn command(test: &TestCase, test_args: &[String]) -> tracer::Command {
    let mut args: Vec<OsString> = Vec::new();
    if test.binary.libtest {
        args.extend(["--exact", &test.name, "--nocapture", "--test-threads=1"].map(OsString::from));
        if test.ignored {
            args.push("--include-ignored".into());
        }
    }
    args.extend(test_args.iter().map(OsString::from));
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !test.binary.env.iter().any(|(bk, _)| bk == k))
        .collect();
    env.extend(test.binary.env.iter().cloned());
    tracer::Command {
        program: test.binary.path.clone(),
        args,
        env,
        cwd: test.binary.cwd.clone(),
    }
}

/// How the supervisor runs one job.
fn options(test: &TestCase, seed: u64, settings: &Settings, control: &Control) -> tracer::Options {
    tracer::Options {
        timeout: settings.timeout,
        cancel: Arc::clone(&control.cancel),
        guard: settings.guard,
        guard_side: settings.guard_side,
        leaks: settings.leaks.scanned(),
        harness_main_unguarded: test.binary.libtest,
        seed,
        schedule: settings.schedule.then(|| tracer::Schedule {
            salt: test.name.clone(),
            budget_percent: settings.schedule_budget,
        }),
        hang_grace: settings.hang_grace,
        ..tracer::Options::default()
    }
}

/// Runs one job; a panic in the supervisor (a bug, which has killed and
/// reaped the test's processes) is that job's error, not the run's end.
fn run_one(
    cmd: &tracer::Command,
    options: &tracer::Options,
) -> Result<tracer::Outcome, tracer::TraceError> {
    contained(|| tracer::run(cmd, options))
}

/// `job()`, or its panic as an [`tracer::TraceError::Internal`] error.
fn contained(
    job: impl FnOnce() -> Result<tracer::Outcome, tracer::TraceError> + std::panic::UnwindSafe,
) -> Result<tracer::Outcome, tracer::TraceError> {
    std::panic::catch_unwind(job).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        Err(tracer::TraceError::Internal { message })
    })
}

/// Runs `jobs` on a pool `settings.jobs` wide and calls `on_finished` on the
/// calling thread for each, as they finish. Jobs skipped because the
/// caller stopped or cancelled the run are not reported.
pub fn run(
    tests: &[TestCase],
    jobs: Vec<Job>,
    settings: &Settings,
    control: &Control,
    mut on_finished: impl FnMut(Finished),
) -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.jobs.max(1))
        .thread_name(|i| format!("ffi-check-job-{i}"))
        .build()?;
    let (tx, rx) = mpsc::channel::<Finished>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            pool.install(|| {
                jobs.into_par_iter()
                    .with_max_len(1)
                    .for_each_with(tx, |tx, job| {
                        if control.stopped() {
                            return;
                        }
                        let test = &tests[job.test];
                        let cmd = command(test, &settings.test_args);
                        let options = options(test, job.seed, settings, control);
                        let outcome = run_one(&cmd, &options);
                        let _ = tx.send(Finished { job, outcome });
                    });
            });
        });
        for finished in rx {
            on_finished(finished);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_is_that_jobs_error_with_the_message() {
        let err = contained(|| panic!("supervisor bug {}", 7)).unwrap_err();
        assert!(
            matches!(&err, tracer::TraceError::Internal { message } if message == "supervisor bug 7"),
            "{err:?}"
        );
        let err = contained(|| panic!("static text")).unwrap_err();
        assert!(err.to_string().contains("static text"), "{err}");
    }
}
