//! The supervisor: runs one command with every thread and process of it
//! traced, and turns what happens into an [`Outcome`].
//!
//! One supervisor runs entirely on the calling thread (ptrace requests must
//! come from the tracer thread), so several can run side by side on a thread
//! pool. It blocks in `waitpid` and handles each stop with as few ptrace calls
//! as possible; a [`Watchdog`] interrupts the wait on timeout or cancellation.

use crate::linux::fault::{emulate, guard_table as heap, Analyzer};
use crate::linux::hang::detect::{self as hang, HangDetector, Seen};
use crate::linux::hang::locks;
use crate::linux::process::capture::Capture;
use crate::linux::process::ptrace::{self, Wait};
use crate::linux::process::timer::Timer;
use crate::linux::process::watchdog::{Reason, Watchdog};
use crate::linux::process::{proc as threads, spawn};
use crate::linux::schedule::decisions::{self as chaos, Chaos};
use crate::linux::schedule::journal::Journal;
use crate::linux::syscalls::Syscall;
use crate::{
    Command, Exit, Finding, FindingKind, GuardStats, Options, Outcome, ThreadState, TraceError,
};
use std::collections::{HashMap, HashSet};
use std::io;
use std::time::{Duration, Instant};

pub use spawn::check_ptrace_permitted;

mod preload;

/// How long to wait for output pipes to close after the last tracee is gone.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for threads to stop for a thread dump.
const DUMP_GRACE: Duration = Duration::from_secs(2);

/// Runs `command` under a ptrace supervisor until every process of it has
/// ended, and returns how it ended, its output and its findings.
pub fn run(command: &Command, options: &Options) -> Result<Outcome, TraceError> {
    let command = &preload::environment(command, options)?;
    let start = Instant::now();
    let spawned = spawn::spawn(command, options.schedule.is_some())?;
    let stdout = Capture::start(spawned.stdout, "stdout");
    let stderr = Capture::start(spawned.stderr, "stderr");
    let watchdog = Watchdog::start(options.timeout, options.cancel.clone());
    let mut sup = Supervisor::new(spawned.pid, options.max_frames, start);
    sup.chaos = options
        .schedule
        .as_ref()
        .map(|s| Chaos::new(options.seed, &s.salt));
    sup.hang = options.hang_grace.map(HangDetector::new);
    if sup.chaos.is_some() || sup.hang.is_some() {
        sup.timer = Some(Timer::new().map_err(|source| TraceError::Os {
            what: "creating the supervisor's timer",
            source,
        })?);
        sup.arm_timer();
    }
    sup.analyzer = CACHED_ANALYZER.with(|c| c.borrow_mut().take());
    let result = sup.run(&watchdog);
    drop(watchdog);
    CACHED_ANALYZER.with(|c| *c.borrow_mut() = sup.analyzer.take());
    let duration = start.elapsed();
    let deadline = Instant::now() + OUTPUT_GRACE;
    let stdout = stdout.finish(deadline);
    let stderr = stderr.finish(deadline);
    result?;
    Ok(Outcome {
        exit: sup.exit.unwrap_or(Exit::Code(-1)),
        stdout,
        stderr,
        findings: sup.findings,
        duration,
        guard: sup.guard,
    })
}

thread_local! {
    /// The analyzer of the last run on this thread: its parsed debug info and
    /// unwind tables stay valid for the next test of the same binary, so only
    /// the first finding of a thread pays for loading them.
    static CACHED_ANALYZER: std::cell::RefCell<Option<Analyzer>> = const { std::cell::RefCell::new(None) };
}

/// How often the supervisor looks for a hang.
const HANG_TICK: Duration = Duration::from_millis(100);

/// While threads are held, the timer repeats this often (so a wake that
/// lands just before `waitpid` costs at most this much).
const HOLD_TICK: Duration = Duration::from_millis(1);

/// What the supervisor knows about one traced thread.
#[derive(Default)]
struct Task {
    /// The process it belongs to.
    pid: i32,
    /// Its identity across runs: derived from its creator's and the order
    /// of creation, not from the tid (see [`chaos::logical_child`]).
    logical: u64,
    /// Threads and processes it has created.
    children: u64,
    /// The nth thread or process created in this run (the first is 0).
    ordinal: u64,
    /// Trapped events it has had (the schedule's decisions are keyed on it).
    events: u64,
    /// Stopped by SIGSTOP and friends and kept so (`PTRACE_LISTEN`).
    group_stopped: bool,
    /// The schedule decided to hold it this long when its current system
    /// call returns.
    hold_return: Option<Duration>,
    /// The last access violation reported for it (rip, si_addr), so that the
    /// re-execution of the same instruction after a handler returned is not
    /// reported twice.
    last_fault: Option<(u64, u64)>,
}

/// How a held thread is resumed when its hold ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// `PTRACE_CONT`, delivering this signal (0 for none).
    Cont(i32),
    /// `PTRACE_SYSCALL`: stop again when the system call returns.
    Syscall,
}

/// A thread the schedule keeps stopped until `until`.
struct Held {
    tid: i32,
    until: Instant,
    resume: Resume,
}

/// Why the supervisor ends a run early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Cancel,
    Hang,
}

/// The state of one run.
struct Supervisor {
    main: i32,
    max_frames: usize,
    tasks: HashMap<i32, Task>,
    exit: Option<Exit>,
    findings: Vec<Finding>,
    /// Processes with a decoded access violation: their death by signal is
    /// explained already and needs no separate crash finding.
    violated: HashSet<i32>,
    /// Per process: the signal and a crash finding built (while the thread
    /// was stopped) when a fatal signal was about to be delivered, reported
    /// if the process then dies of it.
    pending_crash: HashMap<i32, (i32, Finding)>,
    /// Built on first use; handed back to the thread's cache at the end.
    analyzer: Option<Analyzer>,
    /// Set once the supervisor has killed the tree; remaining events only drain.
    killing: bool,
    /// The guard allocator's counters, read as each process exits.
    guard: GuardStats,
    /// Heap faults already reported, by (process, rip): the finding's index.
    /// A recurrence is performed and counted without a new finding.
    heap_faults: HashMap<(i32, u64), usize>,
    /// `/proc/PID/mem` of processes whose heap accesses were performed.
    mem_files: HashMap<i32, std::fs::File>,
    /// The seeded schedule, if on.
    chaos: Option<Chaos>,
    /// Threads the schedule keeps stopped.
    held: Vec<Held>,
    /// Threads and processes created so far.
    created: u64,
    /// The last thread released from a trapped stop, and when (serialization).
    last_release: Option<(Instant, i32)>,
    /// The realised order of trapped events.
    journal: Journal,
    /// Early hang detection, if on.
    hang: Option<HangDetector>,
    /// When the last hang check ran.
    last_hang_check: Instant,
    /// Wakes the wait for holds and hang checks.
    timer: Option<Timer>,
    /// The first expiry the timer is armed for while threads are held.
    timer_hold: Option<Instant>,
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
    fn new(main: i32, max_frames: usize, start: Instant) -> Supervisor {
        let mut tasks = HashMap::new();
        tasks.insert(
            main,
            Task {
                pid: main,
                ..Task::default()
            },
        );
        Supervisor {
            main,
            max_frames,
            tasks,
            exit: None,
            findings: Vec::new(),
            violated: HashSet::new(),
            pending_crash: HashMap::new(),
            analyzer: None,
            killing: false,
            guard: GuardStats::default(),
            heap_faults: HashMap::new(),
            mem_files: HashMap::new(),
            chaos: None,
            held: Vec::new(),
            created: 0,
            last_release: None,
            journal: Journal::new(start),
            hang: None,
            last_hang_check: start,
            timer: None,
            timer_hold: None,
        }
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
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => return Ok(()),
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

    fn analyzer(&mut self) -> &mut Analyzer {
        let max = self.max_frames;
        let analyzer = self
            .analyzer
            .get_or_insert_with(|| Analyzer::new(max).expect("initializing the x86-64 decoder"));
        analyzer.set_max_frames(max);
        analyzer
    }

    /// The process of `tid`, registering threads we had not seen yet (a new
    /// thread's first stop can arrive before its parent's clone event).
    fn pid_of(&mut self, tid: i32) -> i32 {
        if let Some(t) = self.tasks.get(&tid) {
            return t.pid;
        }
        let pid = threads::tgid(tid).unwrap_or(tid);
        self.tasks.insert(
            tid,
            Task {
                pid,
                logical: crate::hash::splitmix64(tid as u64),
                ..Task::default()
            },
        );
        pid
    }

    /// Records a finding with the last scheduling events before it.
    fn report(&mut self, mut finding: Finding) {
        if self.chaos.is_some() {
            finding.events = self.journal.recent();
        }
        self.findings.push(finding);
    }

    fn handle(&mut self, w: Wait) {
        if let Wait::Signal(tid, _) | Wait::Event(tid, _, _) | Wait::SyscallExit(tid) = w {
            // (An exit event still counts the process's allocations.)
            if self.killing && !matches!(w, Wait::Event(_, _, libc::PTRACE_EVENT_EXIT)) {
                return self.let_die(tid);
            }
            if let Some(t) = self.tasks.get_mut(&tid) {
                t.group_stopped = false;
            }
        }
        match w {
            Wait::SyscallExit(tid) => self.on_syscall_exit(tid),
            Wait::Exited(tid, code) => {
                self.tasks.remove(&tid);
                if tid == self.main && self.exit.is_none() {
                    self.exit = Some(Exit::Code(code));
                }
            }
            Wait::Killed(tid, sig) => self.on_killed(tid, sig),
            Wait::Signal(tid, sig) => self.on_signal(tid, sig),
            Wait::Event(tid, sig, event) => self.on_event(tid, sig, event),
        }
    }

    fn on_killed(&mut self, tid: i32, sig: i32) {
        let task = self.tasks.remove(&tid);
        if tid == self.main && self.exit.is_none() {
            self.exit = Some(Exit::Signal(sig, ptrace::signal_name(sig)));
        }
        // Only a process's leader reports the process's death; and a death the
        // supervisor caused, or a violation already explains, is no crash.
        let pid = task.map_or(tid, |t| t.pid);
        if pid != tid || self.killing || self.violated.contains(&pid) {
            return;
        }
        let finding = match self.pending_crash.remove(&pid) {
            Some((signo, finding)) if signo == sig => finding,
            _ => crate::linux::fault::analyzer::crash_finding(pid, sig),
        };
        self.report(finding);
    }

    fn on_signal(&mut self, tid: i32, sig: i32) {
        let pid = self.pid_of(tid);
        if sig == libc::SIGTRAP && self.on_allocator_trap(pid, tid) {
            // Reported; the allocator returns without freeing and the test goes on.
            resume(tid, 0);
            return;
        }
        if sig == libc::SIGSEGV && self.on_fault(pid, tid, sig) {
            // The access was performed for the test: it goes on.
            resume(tid, 0);
            return;
        }
        match sig {
            libc::SIGSEGV | libc::SIGBUS => {}
            libc::SIGABRT | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP | libc::SIGSYS => {
                self.note_fatal_signal(pid, tid, sig)
            }
            _ => {}
        }
        // Every signal is delivered unchanged: the test sees what it would
        // natively, though the schedule may deliver it late.
        if self.chaos.is_some() {
            self.journal
                .record(pid, tid, format!("signal {}", ptrace::signal_name(sig)));
            if !matches!(
                sig,
                libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
            ) {
                let (who, event) = self.next_event(tid);
                if let Some(d) = self
                    .chaos
                    .as_ref()
                    .and_then(|c| c.at_signal(who.logical, event, sig))
                {
                    self.hold(tid, d, Resume::Cont(sig));
                    return;
                }
            }
        }
        resume(tid, sig);
    }

    /// Who `tid` is to the schedule, and the number of its next trapped event.
    fn next_event(&mut self, tid: i32) -> (chaos::Thread, u64) {
        match self.tasks.get_mut(&tid) {
            Some(t) => {
                t.events += 1;
                let who = chaos::Thread {
                    logical: t.logical,
                    ordinal: t.ordinal,
                };
                (who, t.events - 1)
            }
            None => (
                chaos::Thread {
                    logical: crate::hash::splitmix64(tid as u64),
                    ordinal: u64::MAX,
                },
                0,
            ),
        }
    }

    /// Keeps `tid` stopped for `d`, then resumes it with `resume`; resumes
    /// it now when the delay could not change any order (no other thread
    /// can act meanwhile) or the schedule's budget is spent.
    fn hold(&mut self, tid: i32, d: Duration, resume: Resume) {
        let charged = if self.others_can_act(tid) {
            self.chaos.as_mut().and_then(|c| c.spend(d))
        } else {
            None
        };
        let Some(d) = charged else {
            return self.release(tid, resume);
        };
        self.journal.held(d.as_micros() as u64);
        self.held.push(Held {
            tid,
            until: Instant::now() + d,
            resume,
        });
        self.arm_timer();
    }

    /// Whether a thread of the test other than `tid` could act while `tid`
    /// is held: one that runs, sleeps for a while, waits with a timeout or
    /// is held itself. When every other thread is blocked until some thread
    /// acts (or there is none), holding `tid` only costs time.
    fn others_can_act(&self, tid: i32) -> bool {
        self.tasks.iter().any(|(&other, t)| {
            other != tid
                && !hang::blocked_indefinitely(&Seen {
                    pid: t.pid,
                    tid: other,
                    group_stopped: t.group_stopped,
                })
        })
    }

    fn release(&mut self, tid: i32, how: Resume) {
        self.last_release = Some((Instant::now(), tid));
        match how {
            Resume::Cont(sig) => resume(tid, sig),
            Resume::Syscall => {
                if let Err(e) = ptrace::syscall(tid, 0) {
                    debug_assert!(is_esrch(&e), "PTRACE_SYSCALL {tid}: {e}");
                }
            }
        }
    }

    /// A trapped system call (seccomp stop): record it and let the
    /// schedule decide when it runs.
    fn on_trapped_syscall(&mut self, pid: i32, tid: i32) {
        let Ok(regs) = ptrace::getregs(tid) else {
            return resume(tid, 0);
        };
        let call = Syscall::from_regs(&regs);
        self.journal.record(pid, tid, call.describe());
        let (who, event) = self.next_event(tid);
        let blocking = call.blocks();
        let Some(chaos) = self.chaos.as_ref() else {
            return resume(tid, 0);
        };
        let decision = chaos.at_entry(who, event, call.nr, blocking);
        let window = chaos.serialize_window();
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.hold_return = decision.hold_return;
        }
        let how = if decision.hold_return.is_some() {
            Resume::Syscall
        } else {
            Resume::Cont(0)
        };
        let mut hold = decision.hold;
        // Serialize: another thread was just let go; this one waits its turn.
        if let (Some(w), Some((at, other))) = (window, self.last_release) {
            let since = at.elapsed();
            if other != tid && since < w {
                hold = Some(hold.unwrap_or_default().max(w - since));
            }
        }
        match hold {
            Some(d) => self.hold(tid, d, how),
            None => self.release(tid, how),
        }
    }

    /// A system call the schedule wanted to see return has returned.
    fn on_syscall_exit(&mut self, tid: i32) {
        let d = self.tasks.get_mut(&tid).and_then(|t| t.hold_return.take());
        match d {
            Some(d) => {
                let pid = self.pid_of(tid);
                self.journal.record(pid, tid, "returned".into());
                self.hold(tid, d, Resume::Cont(0));
            }
            None => resume(tid, 0),
        }
    }

    /// The timer fired (or the watchdog woke us): release due holds and
    /// look for a hang.
    fn on_tick(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.held.len() {
            // Due, or nobody else can act any more: the rest of the hold
            // would only cost time.
            if self.held[i].until <= now || !self.others_can_act(self.held[i].tid) {
                let h = self.held.swap_remove(i);
                self.release(h.tid, h.resume);
            } else {
                i += 1;
            }
        }
        self.arm_timer();
        if !self.held.is_empty() {
            if let Some(h) = self.hang.as_mut() {
                h.reset();
            }
            return;
        }
        if now.duration_since(self.last_hang_check) < HANG_TICK {
            return;
        }
        self.last_hang_check = now;
        let seen: Vec<Seen> = self
            .tasks
            .iter()
            .map(|(&tid, t)| Seen {
                pid: t.pid,
                tid,
                group_stopped: t.group_stopped,
            })
            .collect();
        if self.hang.as_mut().is_some_and(|h| h.check(&seen, now)) {
            self.stop_everything(Stop::Hang);
        }
    }

    /// Arms the timer for the earliest hold, or for the next hang check.
    fn arm_timer(&mut self) {
        let Some(timer) = self.timer.as_mut() else {
            return;
        };
        let earliest = self.held.iter().map(|h| h.until).min();
        if earliest == self.timer_hold && (earliest.is_some() || self.hang.is_none()) {
            return;
        }
        match earliest {
            Some(at) => timer.arm(at.saturating_duration_since(Instant::now()), HOLD_TICK),
            None => timer.arm(HANG_TICK, HANG_TICK),
        }
        self.timer_hold = earliest;
    }

    /// A signal that kills unless handled is about to be delivered: describe
    /// the thread now, while it is stopped and its memory readable.
    fn note_fatal_signal(&mut self, pid: i32, tid: i32, sig: i32) {
        if let Ok(regs) = ptrace::getregs(tid) {
            let finding = self.analyzer().crash(pid, tid, &regs, sig);
            self.pending_crash.insert(pid, (sig, finding));
        }
    }

    /// The guard allocator traps (int3, SI_KERNEL) with its error record's
    /// address in rax. True if this SIGTRAP was that and is reported.
    fn on_allocator_trap(&mut self, pid: i32, tid: i32) -> bool {
        let (Ok(info), Ok(regs)) = (ptrace::getsiginfo(tid), ptrace::getregs(tid)) else {
            return false;
        };
        if info.si_code != ptrace::SI_KERNEL {
            return false;
        }
        match self.analyzer().allocator_error(pid, tid, &regs) {
            Some(finding) => {
                self.report(finding);
                true
            }
            None => false,
        }
    }

    /// A SIGSEGV or SIGBUS: report it. Returns true if it was a heap access
    /// that the supervisor performed for the tracee (resume without the
    /// signal); false to deliver the signal.
    fn on_fault(&mut self, pid: i32, tid: i32, sig: i32) -> bool {
        let (Ok(info), Ok(mut regs)) = (ptrace::getsiginfo(tid), ptrace::getregs(tid)) else {
            return false;
        };
        // Sent with kill/tgkill/sigqueue: not a fault, but fatal if unhandled.
        if info.si_code <= 0 {
            self.note_fatal_signal(pid, tid, sig);
            return false;
        }
        // The same heap access again (a loop running past the end): perform
        // it and count it, without analysing it again.
        if let Some(&index) = self.heap_faults.get(&(pid, regs.rip)) {
            if self.perform(pid, tid, &mut regs) {
                self.findings[index].count += 1;
                return true;
            }
        }
        // SAFETY: for SIGSEGV/SIGBUS with si_code > 0 the kernel filled si_addr.
        let addr = unsafe { info.si_addr() } as u64;
        let key = (regs.rip, addr);
        if let Some(task) = self.tasks.get_mut(&tid) {
            if task.last_fault == Some(key) {
                return false; // The same fault again after a handler returned.
            }
            task.last_fault = Some(key);
        }
        let signal = crate::linux::fault::analyzer::Signal {
            signo: sig,
            code: info.si_code,
            addr,
        };
        let finding = self.analyzer().access_violation(pid, tid, &regs, signal);
        let heap = finding.kind.is_heap_access();
        self.report(finding);
        let rip = regs.rip;
        if heap && self.perform(pid, tid, &mut regs) {
            self.heap_faults.insert((pid, rip), self.findings.len() - 1);
            return true;
        }
        self.violated.insert(pid);
        false
    }

    /// Performs the faulting access for the tracee if it is a plain load or
    /// store, writes back the registers (rip past the instruction), and
    /// returns true; false if it cannot be emulated.
    fn perform(&mut self, pid: i32, tid: i32, regs: &mut libc::user_regs_struct) -> bool {
        let Some((plan, address)) = self.analyzer().plan(tid, regs) else {
            return false;
        };
        let mem = match self.mem_files.entry(pid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match std::fs::File::options()
                    .read(true)
                    .write(true)
                    .open(format!("/proc/{pid}/mem"))
                {
                    Ok(f) => e.insert(f),
                    Err(_) => return false,
                }
            }
        };
        emulate::apply(mem, regs, &plan, address).is_ok() && ptrace::setregs(tid, regs).is_ok()
    }

    fn on_event(&mut self, tid: i32, sig: i32, event: i32) {
        let pid = self.pid_of(tid);
        match event {
            libc::PTRACE_EVENT_CLONE | libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK => {
                if let Ok(new) = ptrace::geteventmsg(tid) {
                    let new = new as i32;
                    let new_pid = if event == libc::PTRACE_EVENT_CLONE {
                        threads::tgid(new).unwrap_or(pid)
                    } else {
                        new
                    };
                    let logical = match self.tasks.get_mut(&tid) {
                        Some(parent) => {
                            parent.children += 1;
                            chaos::logical_child(parent.logical, parent.children - 1)
                        }
                        None => crate::hash::splitmix64(new as u64),
                    };
                    // Its first stop may have come first and registered it.
                    self.created += 1;
                    let task = self.tasks.entry(new).or_default();
                    task.pid = new_pid;
                    task.logical = logical;
                    task.ordinal = self.created;
                    if self.chaos.is_some() {
                        let what = if event == libc::PTRACE_EVENT_CLONE {
                            format!("started thread {new}")
                        } else {
                            format!("started process {new}")
                        };
                        self.journal.record(pid, tid, what);
                    }
                }
                resume(tid, 0);
            }
            libc::PTRACE_EVENT_EXEC => {
                // A non-leader thread that execs takes over the leader's tid;
                // its old tid is gone without an exit report.
                if let Ok(former) = ptrace::geteventmsg(tid) {
                    if former as i32 != tid {
                        self.tasks.remove(&(former as i32));
                    }
                }
                self.pending_crash.remove(&pid);
                // A new program: its code and memory are not the old ones.
                self.heap_faults.retain(|&(p, _), _| p != pid);
                self.mem_files.remove(&pid);
                resume(tid, 0);
            }
            libc::PTRACE_EVENT_SECCOMP => self.on_trapped_syscall(pid, tid),
            libc::PTRACE_EVENT_EXIT => {
                if self.chaos.is_some() {
                    self.journal.record(pid, tid, "thread exits".into());
                }
                // The process's memory is still there: keep its counters.
                if tid == pid {
                    if let Some(h) = heap::header(pid) {
                        self.guard.allocations += h.allocations;
                        self.guard.guarded += h.guarded;
                    }
                }
                resume(tid, 0);
            }
            ptrace::EVENT_STOP => match sig {
                // Group-stop (SIGSTOP and friends): stay stopped, as natively.
                libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => {
                    if let Some(t) = self.tasks.get_mut(&tid) {
                        t.group_stopped = true;
                    }
                    if self.chaos.is_some() {
                        self.journal.record(pid, tid, "stopped".into());
                    }
                    let _ = ptrace::listen(tid);
                }
                // A new task's first stop, or our own PTRACE_INTERRUPT.
                _ => resume(tid, 0),
            },
            _ => resume(tid, 0),
        }
    }

    /// Timeout, hang or cancellation: dump the threads (for a timeout or a
    /// hang), kill the tree.
    fn stop_everything(&mut self, why: Stop) {
        if why == Stop::Cancel {
            self.exit = Some(Exit::Cancelled);
            return self.kill_all();
        }
        let (threads, cycle) = self.dump_threads();
        let processes = threads
            .iter()
            .map(|t| t.thread.pid)
            .collect::<HashSet<_>>()
            .len();
        let mut notes = Vec::new();
        if let Some(cycle) = cycle {
            let names: Vec<String> = cycle
                .iter()
                .chain(cycle.first())
                .map(|&tid| {
                    let name = threads
                        .iter()
                        .find(|t| t.thread.tid == tid)
                        .map_or("?", |t| t.thread.name.as_str());
                    format!("{tid} \"{name}\"")
                })
                .collect();
            notes.push(format!(
                "lock cycle: thread {} (each waits for a mutex the next one holds)",
                names.join(" -> ")
            ));
        }
        let (kind, message, exit) = match why {
            Stop::Hang => (
                FindingKind::Hang,
                format!(
                    "hung: all {} thread(s) in {processes} process(es) blocked in waits without a timeout, with no CPU use for {} ms",
                    threads.len(),
                    self.hang_grace_ms()
                ),
                Exit::Hung,
            ),
            _ => {
                let blocked = threads.iter().filter(|t| t.syscall.is_some()).count();
                (
                    FindingKind::Timeout,
                    format!(
                        "timed out with {} thread(s) in {processes} process(es), {blocked} blocked in a system call",
                        threads.len()
                    ),
                    Exit::TimedOut,
                )
            }
        };
        self.report(Finding {
            notes,
            threads,
            ..Finding::new(kind, message)
        });
        self.exit = Some(exit);
        self.kill_all();
    }

    fn hang_grace_ms(&self) -> u128 {
        self.hang.as_ref().map_or(0, |h| h.grace().as_millis())
    }

    /// Stops every thread and records what it was doing and where, and who
    /// holds the glibc mutexes they wait for; returns the threads and a lock
    /// cycle among them, if there is one.
    fn dump_threads(&mut self) -> (Vec<ThreadState>, Option<Vec<i32>>) {
        let mut tids: Vec<i32> = self.tasks.keys().copied().collect();
        tids.sort_unstable();
        // What each was blocked in, read before the interrupt disturbs it.
        let syscalls: HashMap<i32, Syscall> = tids
            .iter()
            .filter_map(|&t| Some((t, threads::current_syscall(self.tasks[&t].pid, t)?)))
            .collect();
        // Held threads are stopped already; the rest are interrupted.
        let held: HashSet<i32> = self.held.iter().map(|h| h.tid).collect();
        let mut waiting: HashSet<i32> = tids
            .iter()
            .copied()
            .filter(|t| !held.contains(t))
            .filter(|&t| ptrace::interrupt(t).is_ok())
            .collect();
        let give_up = Instant::now() + DUMP_GRACE;
        while !waiting.is_empty() && Instant::now() < give_up {
            match ptrace::wait_any() {
                Ok(Wait::Exited(t, _) | Wait::Killed(t, _)) => {
                    waiting.remove(&t);
                    self.tasks.remove(&t);
                }
                // Any stop will do: the thread is stopped and we can read it.
                Ok(Wait::Signal(t, _) | Wait::Event(t, _, _) | Wait::SyscallExit(t)) => {
                    waiting.remove(&t);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => break,
            }
        }
        let mut out = Vec::new();
        let mut edges = Vec::new();
        for tid in tids {
            let Some(pid) = self.tasks.get(&tid).map(|t| t.pid) else {
                continue;
            };
            let backtrace = if waiting.contains(&tid) {
                Vec::new()
            } else {
                match ptrace::getregs(tid) {
                    Ok(regs) => self.analyzer().backtrace(tid, &regs),
                    Err(_) => Vec::new(),
                }
            };
            let syscall = syscalls.get(&tid);
            let mut waiting_for = None;
            if let Some(mutex) = syscall.and_then(|s| locks::waited_mutex(s, &backtrace)) {
                let owner = locks::mutex_owner(pid, mutex);
                waiting_for = Some(match owner {
                    Some(o) => {
                        edges.push((tid, o));
                        format!(
                            "the glibc mutex at {mutex:#x}, held by thread {o} \"{}\"",
                            threads::name(pid, o)
                        )
                    }
                    None => format!("the glibc mutex at {mutex:#x}"),
                });
            }
            out.push(ThreadState {
                thread: threads::info(pid, tid),
                syscall: syscall.map(|s| s.describe()),
                backtrace,
                waiting_for,
            });
        }
        (out, locks::cycle(&edges))
    }

    /// Kills every traced process (and the test's process group).
    fn kill_all(&mut self) {
        self.killing = true;
        self.held.clear();
        let pids: HashSet<i32> = self.tasks.values().map(|t| t.pid).collect();
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
        for &tid in self.tasks.keys() {
            let _ = ptrace::cont(tid, 0);
        }
    }

    /// While everything is being killed, a stop only needs letting go; a
    /// process not seen before (its fork event came during the thread
    /// dump) is killed first.
    fn let_die(&mut self, tid: i32) {
        let known = self.tasks.contains_key(&tid);
        let pid = self.pid_of(tid);
        if !known {
            // SAFETY: kill has no memory-safety preconditions; pid is our tracee.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = ptrace::cont(tid, 0);
    }
}
