//! The seeded schedule, from the supervisor's side. The test's processes
//! hold their own threads at the calls where threads hand over
//! (`preload/schedule/core.c`), through the shared region the supervisor keeps
//! here: it registers each thread before it runs, counts it out when it
//! exits, and reads the journal for findings. What the supervisor holds
//! itself are signals, before delivery; a timer wakes the wait to end those
//! holds, and for the hang checks.

use super::preempt::Preemption;
use super::{resume, Supervisor};
use crate::linux::process::timer::Timer;
use crate::linux::schedule::decisions::Decider;
use crate::linux::schedule::shared::Region;
use std::time::{Duration, Instant};

/// How often the supervisor looks for a hang.
pub const HANG_TICK: Duration = Duration::from_millis(100);

/// While threads are held, the timer repeats this often (so a wake that
/// lands just before `waitpid` costs at most this much).
const HOLD_TICK: Duration = Duration::from_millis(1);

/// A thread the schedule keeps stopped until `until`, before it receives
/// `signal`.
pub struct Held {
    /// The thread.
    pub tid: i32,
    until: Instant,
    /// The signal it is given when it goes on (0: none).
    pub signal: i32,
    /// Held until another thread's clock runs out: kept even while no
    /// other thread can act (the clock will).
    aimed: bool,
}

impl Held {
    /// `tid` held until `until`, then given `signal`.
    pub fn new(tid: i32, until: Instant, signal: i32, aimed: bool) -> Held {
        Held {
            tid,
            until,
            signal,
            aimed,
        }
    }
}

/// The schedule's state in one run.
pub struct Holds {
    /// The seed's decisions.
    pub decider: Decider,
    /// What the test's processes share.
    pub region: Region,
    /// Threads kept stopped.
    pub held: Vec<Held>,
    /// Preemption points, if the seed's profile makes them.
    pub preempt: Option<Preemption>,
}

impl Holds {
    /// Nothing held yet.
    pub fn new(decider: Decider, region: Region) -> Holds {
        let every = decider.profile().preempt_us;
        Holds {
            decider,
            region,
            held: Vec::new(),
            preempt: (every > 0).then(|| Preemption::new(Duration::from_micros(every))),
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

impl Supervisor {
    /// Signal `sig` is about to be delivered to `tid` (journal entry
    /// `event`): true if the schedule holds it (it is delivered when the
    /// hold ends). Faults are never held.
    pub(super) fn hold_signal(&mut self, tid: i32, sig: i32, event: Option<u64>) -> bool {
        if self.holds.is_none()
            || matches!(
                sig,
                libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
            )
        {
            return false;
        }
        let (who, n) = self.tasks.next_event(tid);
        let Some(holds) = self.holds.as_mut() else {
            return false;
        };
        let Some(want) = holds.decider.at_signal(who.logical, n, sig) else {
            return false;
        };
        // Holding it when nobody else can act would only cost time.
        if !holds.region.others_can_act(tid) {
            return false;
        }
        let Some(d) = holds.region.spend(want) else {
            return false;
        };
        holds
            .held
            .push(Held::new(tid, Instant::now() + d, sig, false));
        if let Some(index) = event {
            holds.region.note_held(index, d);
        }
        self.arm_timer();
        true
    }

    /// Releases the holds that are due, or that could no longer change any
    /// order because nobody else can act; true if threads are still held.
    fn release_due_holds(&mut self, now: Instant) -> bool {
        let Some(holds) = self.holds.as_mut() else {
            return false;
        };
        let region = &holds.region;
        holds.held.retain(|h| {
            let go = h.until <= now || (!h.aimed && !region.others_can_act(h.tid));
            if go {
                resume(h.tid, h.signal);
            }
            !go
        });
        !holds.held.is_empty()
    }

    /// The timer fired (or the watchdog woke us): release due holds and
    /// look for a hang.
    pub(super) fn on_tick(&mut self) {
        let now = Instant::now();
        for (tid, logical, ordinal) in self.tasks.overdue(now) {
            if let Some(h) = &self.holds {
                h.region.register(tid, logical, ordinal);
            }
            resume(tid, 0);
        }
        let still_held = self.release_due_holds(now);
        self.preempt_point(now);
        self.arm_timer();
        self.check_hang(now, still_held);
    }

    /// Arms the timer for the earliest hold, or for the next hang check.
    pub(super) fn arm_timer(&mut self) {
        let earliest = self.holds.as_ref().and_then(|h| {
            let preempt = h.preempt.as_ref().map(|p| p.next_at);
            h.held.iter().map(|h| h.until).chain(preempt).min()
        });
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
