//! The job pool: every (test, seed) job on a rayon pool, each under its own
//! supervisor, in the order [`crate::execute::dispatch`] allows, with
//! results handed back to the caller's thread in the order they finish.

use crate::build::list::TestCase;
pub use crate::execute::dispatch::Job;
use crate::execute::dispatch::{Dispatch, Next};
use crate::setup::settings::Settings;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A finished job.
pub struct Finished {
    /// Which job.
    pub job: Job,
    /// When it started.
    pub started: Instant,
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
        isolate: settings.isolate,
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

/// Runs every test under every seed on a pool `settings.jobs` wide, in
/// the order [`Dispatch`] gives (seeds of one test one at a time unless
/// `settings.isolate`, test groups within their limits), and calls
/// `on_finished` on the calling thread for each job, as they finish. Jobs
/// skipped because the caller stopped or cancelled the run are not
/// reported.
pub fn run(
    tests: &[TestCase],
    settings: &Settings,
    control: &Control,
    mut on_finished: impl FnMut(Finished),
) -> anyhow::Result<()> {
    let workers = settings.jobs.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("ffi-check-job-{i}"))
        .build()?;
    let group_of = tests
        .iter()
        .map(|t| settings.test_groups.group_of(t))
        .collect();
    let dispatch = Dispatch::new(
        group_of,
        settings.test_groups.limits(),
        settings.seeds.as_slice(),
        settings.isolate,
    );
    let shared = &(Mutex::new(dispatch), Condvar::new());
    let (tx, rx) = mpsc::channel::<Finished>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            pool.scope(|s| {
                for _ in 0..workers {
                    let tx = tx.clone();
                    s.spawn(move |_| work(tests, settings, control, shared, &tx));
                }
            });
        });
        for finished in rx {
            on_finished(finished);
        }
    });
    Ok(())
}

/// How long a waiting worker sleeps before it looks at `Control` again
/// (a stop or a Ctrl-C does not wake it).
const STOP_POLL: Duration = Duration::from_millis(100);

/// One worker: takes the next job that may start, runs it, sends it back;
/// until no job remains or the run is stopped.
fn work(
    tests: &[TestCase],
    settings: &Settings,
    control: &Control,
    (dispatch, changed): &(Mutex<Dispatch>, Condvar),
    tx: &mpsc::Sender<Finished>,
) {
    loop {
        let job = {
            let mut d = dispatch.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if control.stopped() {
                    d.clear();
                }
                match d.next() {
                    Next::Run(job) => break job,
                    Next::Done => return,
                    Next::Wait => {
                        d = changed
                            .wait_timeout(d, STOP_POLL)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
        };
        let test = &tests[job.test];
        let cmd = command(test, &settings.test_args);
        let options = options(test, job.seed, settings, control);
        let started = Instant::now();
        let outcome = run_one(&cmd, &options);
        let _ = tx.send(Finished {
            job,
            started,
            outcome,
        });
        dispatch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished(job);
        changed.notify_all();
    }
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
