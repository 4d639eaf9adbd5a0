//! The supervisor: runs one command with every thread and process of it
//! traced, and turns what happens into an [`Outcome`].
//!
//! One supervisor runs entirely on the calling thread (ptrace requests must
//! come from the tracer thread), so several can run side by side on a thread
//! pool. It blocks in `waitpid` and handles each stop with as few ptrace calls
//! as possible; a [`Watchdog`] interrupts the wait on timeout or cancellation,
//! and a timer for the schedule's holds and the hang checks.
//!
//! This file is the event loop; each role has a file of its own:
//!
//! - `tasks`: which threads and processes exist, and their ptrace events
//!   (clone, fork, exec, exit, group-stops);
//! - `faults`: access violations, allocator errors and fatal signals, and
//!   keep-going (performing heap accesses for the test);
//! - `holds`: the seeded schedule's shared region and its holds of signals, and
//!   the timer that ends them;
//! - `preempt`: the schedule's preemption points (a running thread stopped
//!   wherever it is, and held);
//! - `dumps`: timeouts, hangs and cancellation: thread dumps and ending the
//!   run;
//! - `release`: letting go of a process the test traces itself;
//! - `stall`: a test-only switch that makes the supervisor stall;
//! - `preload`: the environment that steers the guard allocator.

use crate::linux::fault::registers::Regs;
use crate::linux::fault::{guard_table, leaks};
use crate::linux::hang::timers::Timers;
use crate::linux::process::capture::Capture;
use crate::linux::process::isolate::Isolation;
use crate::linux::process::ptrace::{self, Event, Wait};
use crate::linux::process::timer::Timer;
use crate::linux::process::watchdog::{self, Extender, Reason, Watchdog};
use crate::linux::process::{proc, spawn, vanish};
use crate::linux::schedule::decisions::Decider;
use crate::linux::schedule::shared::{Budget, Region};
use crate::linux::syscalls::Syscall;
use crate::{Command, Exit, Finding, GuardStats, Options, Outcome, TraceError};
use std::io;
use std::time::{Duration, Instant};

pub use spawn::check_ptrace_permitted;

/// Whether `Options::isolate` works here for this user (root, or
/// unprivileged user namespaces allowed, and the preloaded library's
/// directory outside /tmp and /dev/shm); the error says why not and what
/// to do. Checked once before a run that asks for isolation.
pub fn check_isolation() -> Result<(), TraceError> {
    let library = preload::library()?;
    crate::linux::process::isolate::available(library.parent())
}

mod dumps;
mod faults;
mod holds;
mod preempt;
mod preload;
mod release;
mod stall;
mod tasks;

use dumps::{HangWatch, Stop};
use faults::Faults;
use holds::{Holds, Wakeups};
use tasks::Tasks;

/// How many of the last events before it a finding shows.
const EVENTS_SHOWN: usize = 16;

/// The schedule's budget for `percent` (`--schedule-budget`): 10 ms (the
/// processes give holds aimed at a window twice that, and random holds
/// half of it: `spend` in `preload/schedule/core.c`), plus that share of
/// the test's own time, up to 2 s at 25 % (and in proportion); nothing at
/// 0 %. Each hold is charged 100 µs on top of its length: on a
/// 2-core machine a hold of a thread at a channel round trip delayed its
/// partner by about its length plus 50 µs (sleeping and being woken),
/// more under load (`tests/bench/schedule-real.sh`).
fn budget(percent: u32) -> Budget {
    Budget {
        base: Duration::from_millis(if percent == 0 { 0 } else { 10 }),
        per_mille: percent * 10,
        cap: Duration::from_millis(80 * u64::from(percent)),
        hold_cost: Duration::from_micros(100),
    }
}

/// How long to wait for output pipes to close after the last tracee is gone.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Runs `command` under a ptrace supervisor until every process of it has
/// ended, and returns how it ended, its output and its findings.
pub fn run(command: &Command, options: &Options) -> Result<Outcome, TraceError> {
    // The preloaded library carries the guard allocator and the schedule.
    let library = if options.guard || options.schedule.is_some() {
        Some(preload::library()?)
    } else {
        None
    };
    let mut holds = match (&options.schedule, &library) {
        (Some(s), Some(library)) => {
            let decider = Decider::new(options.seed, &s.salt);
            let dir = library.parent().unwrap_or(std::path::Path::new("."));
            let region =
                Region::create(dir, &decider, budget(s.budget_percent)).map_err(|source| {
                    TraceError::Os {
                        what: "creating the schedule's shared region",
                        source,
                    }
                })?;
            Some(Holds::new(decider, region))
        }
        _ => None,
    };
    let schedule_path = holds.as_ref().map(|h| h.region.path().to_path_buf());
    let command = &preload::environment(
        command,
        options,
        library.as_deref(),
        schedule_path.as_deref(),
    );
    // Everything that can fail is set up before the test process exists.
    let timer = if options.schedule.is_some() || options.hang_grace.is_some() {
        let timer = Timer::new().map_err(|source| TraceError::Os {
            what: "creating the supervisor's timer",
            source,
        })?;
        Some(timer)
    } else {
        None
    };
    if let Some(h) = &mut holds {
        h.region.restart();
    }
    let start = Instant::now();
    let _vanish = vanish::arm(options.seed);
    let shared = library.as_deref().and_then(std::path::Path::parent);
    let isolation = options
        .isolate
        .then(|| Isolation::new(shared))
        .transpose()?;
    let spawned = spawn::spawn(command, isolation.as_ref())?;
    let stdout = Capture::start(spawned.stdout, "stdout", options.max_output);
    let stderr = Capture::start(spawned.stderr, "stderr", options.max_output);
    let watchdog = Watchdog::start(options.timeout, options.cancel.clone(), spawned.pid);
    // From here on, dropping the supervisor (an error, a panic) kills and
    // reaps whatever is left of the test.
    let mut sup = Supervisor::new(spawned.pid, options, watchdog.extender(), timer, holds);
    sup.guard_path = library.filter(|_| options.guard);
    sup.leaks_in = options
        .leaks
        .then(|| std::fs::canonicalize(&command.program).ok())
        .flatten();
    let result = sup.run(&watchdog);
    if let Some(waiting) = watchdog.hard_kill() {
        sup.hard_killed(&waiting, watchdog.reason());
    }
    drop(watchdog);
    sup.faults.finish();
    let duration = start.elapsed();
    let deadline = Instant::now() + OUTPUT_GRACE;
    let stdout = stdout.finish(deadline);
    let stderr = stderr.finish(deadline);
    result?;
    Ok(Outcome {
        exit: sup.exit.take().unwrap_or(Exit::Code(-1)),
        stdout,
        stderr,
        findings: std::mem::take(&mut sup.findings),
        duration,
        guard: std::mem::take(&mut sup.guard),
        notes: std::mem::take(&mut sup.notes),
        schedule_held: sup
            .holds
            .as_ref()
            .map_or(Duration::ZERO, |h| h.region.held()),
        schedule_charged: sup
            .holds
            .as_ref()
            .map_or(Duration::ZERO, |h| h.region.spent()),
        schedule_events: sup
            .holds
            .as_ref()
            .map_or_else(Vec::new, |h| h.region.recent(EVENTS_SHOWN)),
    })
}

/// The state of one run.
struct Supervisor {
    /// The test process: how it ends is how the run ends.
    main: i32,
    /// How the test process ended, or why the supervisor ended it.
    exit: Option<Exit>,
    /// What was found, in order.
    findings: Vec<Finding>,
    /// Set once the supervisor has killed the tree; remaining events only drain.
    killing: bool,
    /// The guard allocator's counters, read as each process exits.
    guard: GuardStats,
    /// Where the guard allocator is, when it is preloaded.
    guard_path: Option<std::path::PathBuf>,
    /// With leaks on: the test's executable. Processes running it (the
    /// test and its forked children) are checked for leaks when they exit;
    /// programs the test runs are not (their exit-time leaks are not the
    /// test's).
    leaks_in: Option<std::path::PathBuf>,
    /// Every traced thread.
    tasks: Tasks,
    /// Fault analysis and keep-going.
    faults: Faults,
    /// The seeded schedule's shared region and held threads, if it is on.
    holds: Option<Holds>,
    /// Early hang detection, if on.
    hang: Option<HangWatch>,
    /// The timer that wakes the wait for holds and hang checks, if either is on.
    wakeups: Option<Wakeups>,
    /// The timers the test's processes have armed.
    timers: Timers,
    /// What the run did that the user may want to know (`-v`).
    notes: Vec<String>,
    /// `waitpid` said there is nothing left to wait for: every tracee is reaped.
    reaped: bool,
    /// Per process, its threads that have exited and the stack pointers
    /// they had then (for the leak scan at the process's exit).
    exited_stacks: std::collections::HashMap<i32, Vec<(i32, u64)>>,
    /// The test-only stall switch is on and has not stalled yet.
    stall: bool,
    /// Per forked process, the guard allocator's counters (allocations,
    /// guarded) it inherited from its parent at the fork: what it did
    /// itself is the difference.
    inherited: std::collections::HashMap<i32, (u64, u64)>,
}

/// How long dropping an unfinished supervisor waits for its tracees to die.
const REAP_LIMIT: Duration = Duration::from_secs(10);

impl Drop for Supervisor {
    /// An unfinished run (an error, a panic) kills the tree and reaps it, so
    /// no tracee stays stopped and the next run on this thread sees none of
    /// its events.
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        self.kill_all();
        let give_up = Instant::now() + REAP_LIMIT;
        while Instant::now() < give_up {
            match ptrace::wait_any_nohang() {
                Ok(Some(w)) if w.is_stop() => self.let_die(w.tid()),
                Ok(Some(_)) => {}
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

fn is_esrch(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ESRCH)
}

/// Continues a tracee; a tracee that vanished in between (ESRCH) is not an error.
fn resume(tid: i32, sig: i32) {
    if let Err(e) = ptrace::cont(tid, sig) {
        debug_assert!(is_esrch(&e), "PTRACE_CONT {tid}: {e}");
    }
}

impl Supervisor {
    fn new(
        main: i32,
        options: &Options,
        extender: Extender,
        timer: Option<Timer>,
        holds: Option<Holds>,
    ) -> Supervisor {
        if let Some(h) = &holds {
            h.region.register(main, 0, 0);
        }
        let hang = options
            .hang_grace
            .map(|g| HangWatch::new(g, Instant::now()));
        let mut sup = Supervisor {
            main,
            exit: None,
            findings: Vec::new(),
            killing: false,
            guard: GuardStats::default(),
            guard_path: None,
            leaks_in: None,
            tasks: Tasks::new(main),
            faults: Faults::new(options.max_frames, extender),
            holds,
            hang,
            wakeups: timer.map(Wakeups::new),
            timers: Timers::default(),
            notes: Vec::new(),
            reaped: false,
            exited_stacks: Default::default(),
            stall: stall::requested(),
            inherited: Default::default(),
        };
        sup.arm_timer();
        sup
    }

    fn run(&mut self, watchdog: &Watchdog) -> Result<(), TraceError> {
        loop {
            match ptrace::wait_any() {
                Ok(w) => self.handle(w),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                    if let (Some(reason), false) = (watchdog.reason(), self.killing) {
                        self.stop_everything(match reason {
                            Reason::Timeout => Stop::Timeout,
                            Reason::Cancel => Stop::Cancel,
                        });
                    } else if !self.killing {
                        self.on_tick();
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                    self.reaped = true;
                    return Ok(());
                }
                Err(source) => {
                    self.kill_all();
                    return Err(TraceError::Os {
                        what: "waiting for the test process",
                        source,
                    });
                }
            }
            // The test is over when its first process is; whatever it left
            // running would only hold on to the output pipes.
            if self.exit.is_some() && !self.killing && !self.tasks.is_empty() {
                self.kill_all();
            }
        }
    }

    /// The watchdog killed the job's processes itself: the supervisor did
    /// not end the job within the grace after its deadline (`waiting` is
    /// what it was waiting for). The job ends as a timeout (or cancelled)
    /// whatever the supervisor made of it.
    fn hard_killed(&mut self, waiting: &str, reason: Option<Reason>) {
        let note = format!(
            "the supervisor did not end the job within {} s of its deadline ({waiting}); the watchdog killed the job's processes",
            watchdog::HARD_GRACE.as_secs()
        );
        if reason == Some(Reason::Cancel) {
            self.exit = Some(Exit::Cancelled);
        } else {
            self.exit = Some(Exit::TimedOut);
            match self
                .findings
                .iter_mut()
                .find(|f| f.kind == crate::FindingKind::Timeout)
            {
                Some(f) => f.notes.push(note.clone()),
                None => self.findings.push(Finding {
                    notes: vec![note.clone()],
                    ..Finding::new(crate::FindingKind::Timeout, "timed out".to_string())
                }),
            }
        }
        self.notes.push(note);
    }

    /// Records a finding with the last scheduling events before it.
    fn report(&mut self, mut finding: Finding) {
        if let Some(h) = &self.holds {
            finding.events = h.region.recent(EVENTS_SHOWN);
        }
        self.findings.push(finding);
    }

    /// Records an event in the journal, under the schedule; returns its
    /// index there.
    fn record(&mut self, pid: i32, tid: i32, what: impl FnOnce() -> String) -> Option<u64> {
        self.holds
            .as_ref()
            .map(|h| h.region.record(pid, tid, &what()))
    }

    fn handle(&mut self, w: Wait) {
        if std::mem::take(&mut self.stall) {
            stall::stall_until_gone(self.main);
        }
        #[cfg(test)]
        if tests::PANIC_AT_EXIT.get()
            && matches!(
                w,
                Wait::Event {
                    event: Event::Exit,
                    ..
                }
            )
        {
            panic!("injected: the supervisor fails in the middle of a run");
        }
        if w.is_stop() {
            let tid = w.tid();
            // (An exit event still counts the process's allocations.)
            let exit_event = matches!(
                w,
                Wait::Event {
                    event: Event::Exit,
                    ..
                }
            );
            if self.killing && !exit_event {
                return self.let_die(tid);
            }
            self.tasks.stopped(tid);
        }
        match w {
            // The supervisor never asks for syscall-exit stops itself.
            Wait::SyscallExit { tid } => resume(tid, 0),
            Wait::Exited { tid, code } => {
                self.tasks.remove(tid);
                if tid == self.main && self.exit.is_none() {
                    self.exit = Some(Exit::Code(code));
                }
            }
            Wait::Killed { tid, signal } => self.on_killed(tid, signal),
            Wait::Signal { tid, signal } => self.on_signal(tid, signal),
            Wait::Event { tid, event } => self.on_event(tid, event),
        }
    }

    fn on_killed(&mut self, tid: i32, sig: i32) {
        let task = self.tasks.remove(tid);
        if tid == self.main && self.exit.is_none() {
            self.exit = Some(Exit::Signal(sig, ptrace::signal_name(sig)));
        }
        // Only a process's leader reports the process's death; and a death the
        // supervisor caused is no crash.
        let pid = task.map_or(tid, |t| t.pid);
        if pid == tid && !self.killing {
            self.report_death(pid, sig);
        }
    }

    /// A signal is about to be delivered: a fault or an allocator trap to
    /// explain, a fatal signal to describe while the thread is stopped, or a
    /// signal the schedule may hold. Every signal is delivered unchanged,
    /// so the test sees what it would natively (though the schedule may
    /// deliver it late), except a fault or trap the supervisor dealt with.
    fn on_signal(&mut self, tid: i32, sig: i32) {
        let pid = self.tasks.pid_of(tid);
        if self.on_fault_or_trap(pid, tid, sig) {
            // Reported and dealt with (the access performed, the free
            // refused): the test goes on.
            return resume(tid, 0);
        }
        let event = self.record(pid, tid, || format!("signal {}", ptrace::signal_name(sig)));
        if !self.hold_signal(tid, sig, event) {
            resume(tid, sig);
        }
    }

    /// A system call the seccomp filter stopped: a timer being armed is
    /// noted, a `ptrace` request may need a process let go of; each then
    /// runs.
    fn on_trapped_syscall(&mut self, pid: i32, tid: i32) {
        let Ok(regs) = ptrace::getregs(tid) else {
            return resume(tid, 0);
        };
        let call = Syscall::from_regs(&regs);
        match call.nr {
            libc::SYS_alarm
            | libc::SYS_setitimer
            | libc::SYS_timer_settime
            | libc::SYS_timer_delete => {
                self.timers.on_call(pid, tid, &call, Instant::now());
                resume(tid, 0)
            }
            libc::SYS_ptrace => self.on_ptrace(pid, tid, &call, &regs),
            _ => resume(tid, 0),
        }
    }

    /// Kills every traced process (and the test's process group).
    fn kill_all(&mut self) {
        self.killing = true;
        if let Some(h) = self.holds.as_mut() {
            h.held.clear();
        }
        let pids = self.tasks.pids();
        // SAFETY: kill has no memory-safety preconditions; the pids are our tracees.
        unsafe {
            for pid in pids {
                libc::kill(pid, libc::SIGKILL);
            }
            libc::kill(-self.main, libc::SIGKILL);
        }
        // A thread whose stop was taken from wait but not resumed (the
        // thread dump waits for any stop; a held thread) stays stopped, and
        // SIGKILL does not wake one stopped at its exit event: let each go,
        // or its process never dies and the supervisor waits for ever.
        for tid in self.tasks.tids() {
            let _ = ptrace::cont(tid, 0);
        }
    }

    /// While everything is being killed, a stop only needs letting go; a
    /// process not seen before (its fork event came during the thread
    /// dump) is killed first.
    fn let_die(&mut self, tid: i32) {
        let known = self.tasks.contains(tid);
        let pid = self.tasks.pid_of(tid);
        if !known {
            // SAFETY: kill has no memory-safety preconditions; pid is our tracee.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = ptrace::cont(tid, 0);
    }

    /// What process `pid`'s leak scan starts from besides its memory (see
    /// [`leaks::Roots`]): the registers of every thread of it that is
    /// stopped (the exiting one; others at their exit or a hold), since a
    /// pointer may be only there; with none running, where those that
    /// exited ended; the supervisor's files mapped into it.
    fn leak_roots(&mut self, pid: i32) -> LeakRoots {
        let exited = self.exited_stacks.remove(&pid).unwrap_or_default();
        let mut regs = Vec::new();
        let mut running = false;
        let mut threads: Vec<i32> = exited.iter().map(|&(t, _)| t).collect();
        threads.push(pid);
        for tid in self.tasks.tids() {
            if self.tasks.pid_of(tid) != pid {
                continue;
            }
            threads.push(tid);
            match ptrace::getregs(tid) {
                Ok(r) => regs.push(r),
                // Past its exit event, not yet reaped.
                Err(_) if exited.iter().any(|&(t, _)| t == tid) => {}
                Err(_) => running = true,
            }
        }
        let exited = if running {
            Vec::new()
        } else {
            exited.into_iter().map(|(_, sp)| sp).collect()
        };
        let ours = self
            .guard_path
            .iter()
            .cloned()
            .chain(self.holds.as_ref().map(|h| h.region.path().to_path_buf()))
            .collect();
        (regs, exited, ours, threads)
    }

    /// A process is about to exit, memory still intact: report its live
    /// allocations whose bytes past the end were overwritten and, if it runs
    /// the test's executable with leaks on, its leaks; add its guard
    /// allocator counters, or, with the guard on, say why it has none.
    fn count_allocations(&mut self, pid: i32) {
        let (inherited, inherited_guarded) = self.inherited.remove(&pid).unwrap_or_default();
        if let Some(h) = guard_table::header(pid) {
            self.guard.allocations += h.allocations.saturating_sub(inherited);
            self.guard.guarded += h.guarded.saturating_sub(inherited_guarded);
            if !self.killing {
                let thread = proc::info(pid, pid);
                // Only what the process's own threads allocated can be its
                // leak: a forked child that allocated nothing since the fork
                // (as one that only execs or `_exit`s) has none to look for.
                let scan_leaks = h.allocations > inherited
                    && self.leaks_in.as_ref().is_some_and(|exe| {
                        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == *exe)
                    });
                let roots = scan_leaks.then(|| self.leak_roots(pid));
                let leak_roots = roots
                    .as_ref()
                    .map(|(regs, exited, ours, threads)| leaks::Roots {
                        regs,
                        exited,
                        ours,
                        threads,
                    });
                for mut finding in self.faults.explain(|a| a.at_exit(pid, &h, leak_roots)) {
                    finding.thread = Some(thread.clone());
                    self.report(finding);
                }
            }
        } else if let (Some(guard), false) = (&self.guard_path, self.killing) {
            let why = preload::why_not_loaded(pid, guard);
            *self.guard.not_loaded.entry(why).or_default() += 1;
        }
    }
}

/// What [`Supervisor::leak_roots`] gathers for [`leaks::Roots`]: the
/// stopped threads' registers, the exited threads' stack pointers, the
/// supervisor's own files, and every thread the process has had.
type LeakRoots = (Vec<Regs>, Vec<u64>, Vec<std::path::PathBuf>, Vec<i32>);

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Set by a test: the supervisor panics at the next exit event.
        pub static PANIC_AT_EXIT: Cell<bool> = const { Cell::new(false) };
    }

    fn shell(script: &str) -> Command {
        Command {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            cwd: "/".into(),
        }
    }

    #[test]
    fn a_supervisor_that_fails_midway_kills_and_reaps_its_tracees() {
        let pidfile = std::env::temp_dir().join(format!("ffc-reap-{}", std::process::id()));
        let script = format!("echo $$ > {}; /bin/true; exec sleep 30", pidfile.display());
        let options = Options {
            guard: false,
            hang_grace: None,
            ..Options::default()
        };
        PANIC_AT_EXIT.set(true);
        let failed = std::panic::catch_unwind(|| run(&shell(&script), &options));
        PANIC_AT_EXIT.set(false);
        assert!(failed.is_err(), "the injected failure did not happen");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let _ = std::fs::remove_file(&pidfile);
        let proc_dir = format!("/proc/{}", pid.trim());
        assert!(
            !std::path::Path::new(&proc_dir).exists(),
            "the test process was left behind"
        );
        // The next run on this thread sees its own events only.
        let next = run(&shell("exit 3"), &options).unwrap();
        assert_eq!(next.exit, Exit::Code(3));
    }
}
