//! The seeded schedule at work: at each trapped system call (and signal
//! delivery) the [`Decider`] says whether to hold the thread, and the
//! supervisor keeps it stopped until the hold ends; a timer wakes the wait
//! for that, and for the hang checks.

use super::{is_esrch, resume, Supervisor};
use crate::linux::process::ptrace;
use crate::linux::process::timer::Timer;
use crate::linux::schedule::decisions::Decider;
use crate::linux::syscalls::Syscall;
use std::time::{Duration, Instant};

/// How often the supervisor looks for a hang.
pub const HANG_TICK: Duration = Duration::from_millis(100);

/// While threads are held, the timer repeats this often (so a wake that
/// lands just before `waitpid` costs at most this much).
const HOLD_TICK: Duration = Duration::from_millis(1);

/// How a held thread is resumed when its hold ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// `PTRACE_CONT`, delivering this signal (0 for none).
    Cont(i32),
    /// `PTRACE_SYSCALL`: stop again when the system call returns.
    Syscall,
}

/// A thread the schedule keeps stopped until `until`.
pub struct Held {
    /// The thread.
    pub tid: i32,
    until: Instant,
    resume: Resume,
    /// Stopped at a system call's entry (a seccomp stop).
    at_entry: bool,
}

impl Held {
    /// Whether it is stopped at a system call's entry (a seccomp stop).
    pub fn at_seccomp_stop(&self) -> bool {
        self.at_entry
    }

    /// The signal it is to be given when it goes on, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.resume {
            Resume::Cont(sig) if sig != 0 => Some(sig),
            _ => None,
        }
    }
}

/// The schedule's state in one run.
pub struct Holds {
    /// The seed's decisions.
    decider: Decider,
    /// Threads kept stopped.
    pub held: Vec<Held>,
    /// The last thread released from a trapped stop, and when (serialization).
    last_release: Option<(Instant, i32)>,
}

impl Holds {
    /// Nothing held yet.
    pub fn new(decider: Decider) -> Holds {
        Holds {
            decider,
            held: Vec::new(),
            last_release: None,
        }
    }
}

/// The timer that wakes the supervisor's `waitpid`.
pub struct Wakeups {
    timer: Timer,
    /// The first expiry the timer is armed for while threads are held.
    armed_for_hold: Option<Instant>,
}

impl Wakeups {
    /// A disarmed timer.
    pub fn new(timer: Timer) -> Wakeups {
        Wakeups {
            timer,
            armed_for_hold: None,
        }
    }
}

/// Whether descriptor `fd` of process `pid` is a regular file.
fn regular_file(pid: i32, fd: u64) -> bool {
    std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|m| m.is_file())
}

impl Supervisor {
    /// A system call the schedule traps: record it and let the schedule
    /// decide when it runs. Reads and writes of regular files order no
    /// threads (only pipes, sockets, FIFOs and eventfds do): they run at once.
    pub(super) fn schedule_call(&mut self, pid: i32, tid: i32, call: &Syscall) {
        if call.on_descriptor() && regular_file(pid, call.args[0]) {
            return resume(tid, 0);
        }
        self.journal.record(pid, tid, call.describe());
        let (who, event) = self.tasks.next_event(tid);
        let Some(holds) = self.holds.as_ref() else {
            return resume(tid, 0);
        };
        let decision = holds.decider.at_entry(who, event, call.nr, call.blocks());
        let window = holds.decider.serialize_window();
        let last_release = holds.last_release;
        if let Some(t) = self.tasks.get_mut(tid) {
            t.hold_return = decision.hold_return;
        }
        let how = if decision.hold_return.is_some() {
            Resume::Syscall
        } else {
            Resume::Cont(0)
        };
        let mut hold = decision.hold;
        // Serialize: another thread was just let go; this one waits its turn.
        if let (Some(w), Some((at, other))) = (window, last_release) {
            let since = at.elapsed();
            if other != tid && since < w {
                hold = Some(hold.unwrap_or_default().max(w - since));
            }
        }
        match hold {
            Some(d) => self.hold(tid, d, how, true),
            None => self.let_go(tid, how),
        }
    }

    /// A system call the schedule wanted to see return has returned.
    pub(super) fn on_syscall_exit(&mut self, tid: i32) {
        let d = self.tasks.get_mut(tid).and_then(|t| t.hold_return.take());
        match d {
            Some(d) => {
                let pid = self.tasks.pid_of(tid);
                self.journal.record(pid, tid, "returned".into());
                self.hold(tid, d, Resume::Cont(0), false);
            }
            None => resume(tid, 0),
        }
    }

    /// Signal `sig` is about to be delivered to `tid`: true if the schedule
    /// holds it (it is delivered when the hold ends). Faults are never held.
    pub(super) fn hold_signal(&mut self, tid: i32, sig: i32) -> bool {
        if self.holds.is_none()
            || matches!(
                sig,
                libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
            )
        {
            return false;
        }
        let (who, event) = self.tasks.next_event(tid);
        let delay = self
            .holds
            .as_ref()
            .and_then(|h| h.decider.at_signal(who.logical, event, sig));
        match delay {
            Some(d) => {
                self.hold(tid, d, Resume::Cont(sig), false);
                true
            }
            None => false,
        }
    }

    /// Keeps `tid` stopped for `d`, then resumes it with `resume`; resumes
    /// it now when the delay could not change any order (no other thread
    /// can act meanwhile) or the schedule's budget is spent.
    fn hold(&mut self, tid: i32, d: Duration, resume: Resume, at_entry: bool) {
        let others_can_act = self.others_can_act(tid);
        let charged = match self.holds.as_mut() {
            Some(h) if others_can_act => h.decider.spend(d),
            _ => None,
        };
        let (Some(d), Some(holds)) = (charged, self.holds.as_mut()) else {
            return self.let_go(tid, resume);
        };
        holds.held.push(Held {
            tid,
            until: Instant::now() + d,
            resume,
            at_entry,
        });
        self.journal.held(d.as_micros() as u64);
        self.arm_timer();
    }

    /// Whether a thread of the test other than `tid` could act while `tid`
    /// is held. When every other thread is blocked until some thread acts
    /// (or there is none), holding `tid` only costs time.
    fn others_can_act(&mut self, tid: i32) -> bool {
        self.tasks.another_can_act(tid, Instant::now())
    }

    /// Ends a hold (or a stop the schedule chose not to hold).
    fn let_go(&mut self, tid: i32, how: Resume) {
        if let Some(h) = self.holds.as_mut() {
            h.last_release = Some((Instant::now(), tid));
        }
        match how {
            Resume::Cont(sig) => resume(tid, sig),
            Resume::Syscall => {
                if let Err(e) = ptrace::syscall(tid, 0) {
                    debug_assert!(is_esrch(&e), "PTRACE_SYSCALL {tid}: {e}");
                }
            }
        }
    }

    /// Releases the holds that are due, or that could no longer change any
    /// order because nobody else can act; true if threads are still held.
    fn release_due_holds(&mut self, now: Instant) -> bool {
        let mut i = 0;
        while let Some(h) = self.holds.as_ref().and_then(|h| h.held.get(i)) {
            // Due, or nobody else can act any more: the rest of the hold
            // would only cost time.
            if h.until <= now || !self.others_can_act(h.tid) {
                let Some(h) = self.holds.as_mut().map(|h| h.held.swap_remove(i)) else {
                    break;
                };
                self.let_go(h.tid, h.resume);
            } else {
                i += 1;
            }
        }
        self.holds.as_ref().is_some_and(|h| !h.held.is_empty())
    }

    /// The timer fired (or the watchdog woke us): release due holds and
    /// look for a hang.
    pub(super) fn on_tick(&mut self) {
        let now = Instant::now();
        let still_held = self.release_due_holds(now);
        self.arm_timer();
        self.check_hang(now, still_held);
    }

    /// Arms the timer for the earliest hold, or for the next hang check.
    pub(super) fn arm_timer(&mut self) {
        let earliest = self
            .holds
            .as_ref()
            .and_then(|h| h.held.iter().map(|h| h.until).min());
        let hang_checks = self.hang.is_some();
        let Some(w) = self.wakeups.as_mut() else {
            return;
        };
        if earliest == w.armed_for_hold && (earliest.is_some() || !hang_checks) {
            return;
        }
        match earliest {
            Some(at) => w
                .timer
                .arm(at.saturating_duration_since(Instant::now()), HOLD_TICK),
            None => w.timer.arm(HANG_TICK, HANG_TICK),
        }
        w.armed_for_hold = earliest;
    }
}
