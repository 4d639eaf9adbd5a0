//! Preemption between any two instructions: on seeds whose profile says
//! so, every `preempt_us` of the run the supervisor picks one of the
//! test's running threads (the seed says which), stops it with
//! `PTRACE_INTERRUPT` wherever it is, and holds it there: until another
//! thread's clock runs out and a margin beyond, if one is pending (the
//! window of "the worker will be done when I wake up"), or, at one point in
//! eight, for a random delay while another thread can act. A window
//! between two calls the preloaded library wraps (a flag published before
//! the data it guards) opens only so.
//!
//! The stop is invisible to the thread: a system call it was in is
//! restarted, no signal is delivered, and nothing runs in its process. What
//! a seed cannot replay is where the stop lands: the points come by the
//! clock, so the same seed stops the same thread at about the same moment,
//! not at the same instruction.

use super::holds::Held;
use super::{resume, Supervisor};
use crate::linux::process::{proc, ptrace};
use crate::linux::schedule::shared::Pot;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A hold aimed at another thread's clock considers clocks this near
/// (`CLOCK_WINDOW` in `preload/schedule/core.c`).
const CLOCK_WINDOW_NS: u64 = 25_000_000;

/// The least margin beyond a clock (`AIM_MARGIN_MIN`).
const AIM_MARGIN_MIN_NS: u64 = 1_000_000;

/// While fewer than two threads can act, preemption points are this many
/// periods apart (a thread's creation brings the next one back).
const IDLE_PERIODS: u32 = 10;

/// A thread asked to stop, not stopped yet.
struct Asked {
    at: Instant,
    hold: Duration,
    aimed: bool,
}

/// The preemption points of one run.
pub struct Preemption {
    every: Duration,
    /// When the next point is due.
    pub next_at: Instant,
    /// Points so far (the seed's decisions are keyed on it).
    points: u64,
    asked: HashMap<i32, Asked>,
}

impl Preemption {
    /// Points every `every`, the first one period from now.
    pub fn new(every: Duration) -> Preemption {
        Preemption {
            every,
            next_at: Instant::now() + every,
            points: 0,
            asked: HashMap::new(),
        }
    }
}

/// A hold: how long, charged how much, and whether it is aimed at a clock.
struct Plan {
    hold: Duration,
    charge: Duration,
    aimed: bool,
}

impl Supervisor {
    /// A thread or process was created: the next point comes within one
    /// period.
    pub(super) fn preempt_soon(&mut self) {
        let Some(p) = self.holds.as_mut().and_then(|h| h.preempt.as_mut()) else {
            return;
        };
        let soon = Instant::now() + p.every;
        if soon < p.next_at {
            p.next_at = soon;
            self.arm_timer();
        }
    }

    /// At a tick: makes the point that is due, if any.
    pub(super) fn preempt_point(&mut self, now: Instant) {
        let Some(holds) = self.holds.as_mut() else {
            return;
        };
        let Some(p) = holds.preempt.as_mut() else {
            return;
        };
        if now < p.next_at {
            return;
        }
        p.next_at = now + p.every;
        p.asked
            .retain(|_, a| now.duration_since(a.at) < Duration::from_millis(100));
        let n = p.points;
        p.points += 1;
        let Some(choice) = holds.decider.at_preempt(n) else {
            return;
        };
        let region = &holds.region;
        let now_ns = region.now_ns();
        let held: Vec<i32> = holds.held.iter().map(|h| h.tid).collect();
        let mut running: Vec<(u64, i32, i32)> = self
            .tasks
            .tids()
            .into_iter()
            .filter(|t| !held.contains(t) && !p.asked.contains_key(t))
            .filter_map(|t| self.tasks.get(t).map(|task| (task, t)))
            .filter(|(task, t)| !task.group_stopped && region.acting(*t, now_ns))
            .map(|(task, t)| (task.ordinal, t, task.pid))
            .collect();
        let alone = match running.as_slice() {
            [] => true,
            [(_, tid, _)] => !region.others_can_act(*tid),
            _ => false,
        };
        if alone {
            p.next_at = now + p.every * IDLE_PERIODS;
            return;
        }
        running.sort_unstable();
        // The seed's pick, or the next running one after it.
        let k = running.len();
        let first = (choice.pick % k as u64) as usize;
        let Some(&(_, tid, _)) = (0..k)
            .map(|i| &running[(first + i) % k])
            .find(|(_, t, pid)| proc::state(*pid, *t) == Some('R'))
        else {
            return;
        };
        if region.aimed_elsewhere(tid, now_ns) {
            return;
        }
        let view = region.clock_view(tid, now_ns, CLOCK_WINDOW_NS, CLOCK_WINDOW_NS);
        let plan = match view.nearest {
            Some((deadline, length)) => {
                let margin = (length * choice.margin_pm / 1000).max(AIM_MARGIN_MIN_NS);
                let wait = deadline - now_ns;
                Plan {
                    hold: Duration::from_nanos(wait + margin),
                    charge: Duration::from_nanos(wait / 4 + margin),
                    aimed: true,
                }
            }
            None if choice.random && region.others_can_act(tid) => Plan {
                hold: choice.delay,
                charge: choice.delay,
                aimed: false,
            },
            None => return,
        };
        if now_ns.saturating_add(plan.hold.as_nanos() as u64) > view.limit_ns {
            return;
        }
        let granted = if plan.aimed {
            let until = now_ns + plan.hold.as_nanos() as u64;
            if !region.claim_aimed(tid, now_ns, until) {
                return;
            }
            let spent = region.spend_preemption(plan.charge, plan.hold);
            if !spent {
                region.end_aimed(tid, now_ns);
            }
            spent.then_some(plan.hold)
        } else {
            region.spend_in(Pot::Preemption, plan.hold)
        };
        let Some(hold) = granted else {
            return;
        };
        if ptrace::interrupt(tid).is_err() {
            // Gone: the budget stays spent, the window is let go.
            if plan.aimed {
                region.end_aimed(tid, now_ns);
            }
        } else {
            p.asked.insert(
                tid,
                Asked {
                    at: now,
                    hold,
                    aimed: plan.aimed,
                },
            );
        }
    }

    /// Thread `tid` stopped for a `PTRACE_INTERRUPT`: if it was a
    /// preemption's, it is held (true); otherwise the stop is someone
    /// else's (false).
    pub(super) fn preempted(&mut self, pid: i32, tid: i32) -> bool {
        let Some(asked) = self
            .holds
            .as_mut()
            .and_then(|h| h.preempt.as_mut())
            .and_then(|p| p.asked.remove(&tid))
        else {
            return false;
        };
        let until = asked.at + asked.hold;
        let now = Instant::now();
        if until <= now {
            resume(tid, 0);
            return true;
        }
        if let Some(index) = self.record(pid, tid, || "preempted".into()) {
            if let Some(h) = &self.holds {
                h.region.note_held(index, until - now);
            }
        }
        if let Some(h) = self.holds.as_mut() {
            h.held.push(Held::new(tid, until, 0, asked.aimed));
        }
        self.arm_timer();
        true
    }
}
