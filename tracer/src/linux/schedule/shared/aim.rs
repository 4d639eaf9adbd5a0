//! What the supervisor's preemption holds read of the shared region: the
//! program's pending clocks (the clock table the processes keep,
//! `preload/schedule/clocks.c`), whether a thread is waiting, and the claim
//! that makes one hold aimed at a window at a time (`aimed_until_ns`,
//! `aimed_tid`, as `hold_for` in `preload/schedule/core.c` uses them).

use super::{monotonic_ns, Pot, Region};
use crate::preload::protocol::schedule as layout;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// A slot being written (`BUSY` in `preload/schedule/clocks.c`).
const BUSY: u64 = u64::MAX;

/// What the other threads' clocks say to a hold of one thread
/// (`struct clocks_view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClockView {
    /// The nearest deadline of another thread's clock within the window
    /// asked for, and the clock's length (`None`: none).
    pub nearest: Option<(u64, u64)>,
    /// The latest a hold may end: half a generous wait before its deadline.
    pub limit_ns: u64,
}

/// One clock slot, read field by field (each atomically, as the processes
/// write them).
struct Slot {
    deadline_ns: u64,
    length_ns: u64,
    tid: i32,
    kind: u32,
}

impl Region {
    fn clock(&self, i: usize) -> Slot {
        // SAFETY: i < CLOCKS: the slot lies in the live mapping; its fields
        // are naturally aligned (repr C) and every process accesses them
        // atomically.
        unsafe {
            let c: *mut layout::Clock = &mut (*self.map).clocks[i];
            Slot {
                deadline_ns: AtomicU64::from_ptr(&mut (*c).deadline_ns).load(Ordering::Acquire),
                length_ns: AtomicU64::from_ptr(&mut (*c).length_ns).load(Ordering::Relaxed),
                tid: AtomicI32::from_ptr(&mut (*c).tid).load(Ordering::Relaxed),
                kind: AtomicU32::from_ptr(&mut (*c).kind).load(Ordering::Relaxed),
            }
        }
    }

    /// What the clocks of threads other than `tid` say at `now` (ns): the
    /// nearest no further than `within` ahead, and the limit that waits
    /// longer than `generous` set (as `clocks_view`).
    pub fn clock_view(&self, tid: i32, now: u64, within: u64, generous: u64) -> ClockView {
        let mut view = ClockView {
            nearest: None,
            limit_ns: u64::MAX,
        };
        for i in 0..layout::CLOCKS {
            let c = self.clock(i);
            if c.deadline_ns == BUSY || c.deadline_ns <= now || c.tid == tid {
                continue;
            }
            if c.kind == layout::CLOCK_WAIT && c.length_ns > generous {
                view.limit_ns = view.limit_ns.min(c.deadline_ns - c.length_ns / 2);
                continue;
            }
            if c.deadline_ns - now <= within && view.nearest.is_none_or(|(d, _)| c.deadline_ns < d)
            {
                view.nearest = Some((c.deadline_ns, c.length_ns));
            }
        }
        view
    }

    /// Whether thread `tid` is acting: counted as able to act (not in a
    /// call that may wait for another thread, not libtest's harness
    /// thread) and not in a sleep or timed wait of its own.
    pub fn acting(&self, tid: i32, now: u64) -> bool {
        self.is_active(tid)
            && !(0..layout::CLOCKS).any(|i| {
                let c = self.clock(i);
                c.tid == tid
                    && c.kind == layout::CLOCK_WAIT
                    && c.deadline_ns != BUSY
                    && c.deadline_ns > now
            })
    }

    fn aimed_until(&self) -> &AtomicU64 {
        self.u64_at(|s| &mut s.header.aimed_until_ns)
    }

    /// Whether a hold aimed at a window holds a thread other than `tid`
    /// at `now` (no other thread is held meanwhile).
    pub fn aimed_elsewhere(&self, tid: i32, now: u64) -> bool {
        self.aimed_until().load(Ordering::Acquire) > now
            && self
                .i64_at(|s| &mut s.header.aimed_tid)
                .load(Ordering::Acquire)
                != i64::from(tid)
    }

    /// Claims the aimed hold for `tid` until `until` (ns), unless another
    /// thread's runs at `now`; whether it did.
    pub fn claim_aimed(&self, tid: i32, now: u64, until: u64) -> bool {
        let current = self.aimed_until().load(Ordering::Acquire);
        if self.aimed_elsewhere(tid, now) {
            return false;
        }
        if self
            .aimed_until()
            .compare_exchange(current, until, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.i64_at(|s| &mut s.header.aimed_tid)
            .store(i64::from(tid), Ordering::Release);
        true
    }

    /// Ends `tid`'s aimed hold at `now` (it was not made after all), if it
    /// is still the one claimed.
    pub fn end_aimed(&self, tid: i32, now: u64) {
        let mine = self
            .i64_at(|s| &mut s.header.aimed_tid)
            .load(Ordering::Acquire)
            == i64::from(tid);
        let until = self.aimed_until().load(Ordering::Acquire);
        if mine && until > now {
            let _ = self.aimed_until().compare_exchange(
                until,
                now,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// A preemption's hold of `hold` charged only `charge` (an aimed one:
    /// the thread it waits for was not going to act before its clock ran
    /// out): all of the charge from the preemption pot, or nothing; whether
    /// it was granted.
    pub fn spend_preemption(&self, charge: Duration, hold: Duration) -> bool {
        match self.spend_in(Pot::Preemption, charge) {
            Some(got) if got == charge => {
                self.u64_at(|s| &mut s.header.held_ns).fetch_add(
                    hold.saturating_sub(charge).as_nanos() as u64,
                    Ordering::AcqRel,
                );
                true
            }
            Some(got) => {
                // Less than asked: given back (the cost of a hold stays).
                self.u64_at(|s| &mut s.header.preempt_spent_ns)
                    .fetch_sub(got.as_nanos() as u64, Ordering::AcqRel);
                self.u64_at(|s| &mut s.header.held_ns)
                    .fetch_sub(got.as_nanos() as u64, Ordering::AcqRel);
                false
            }
            None => false,
        }
    }

    /// `CLOCK_MONOTONIC` now, in nanoseconds, as the region's clocks read.
    pub fn now_ns(&self) -> u64 {
        monotonic_ns()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::schedule::decisions::Decider;
    use crate::linux::schedule::shared::Budget;

    fn region() -> Region {
        let dir = std::env::temp_dir().join(format!("ffc-aim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let budget = Budget {
            base: Duration::from_millis(10),
            per_mille: 0,
            cap: Duration::from_millis(100),
            hold_cost: Duration::from_micros(100),
        };
        Region::create(&dir, &Decider::new(1, "t"), budget).unwrap()
    }

    /// Sets clock slot `i` as a process would.
    fn set(r: &Region, i: usize, tid: i32, deadline_ns: u64, length_ns: u64, kind: u32) {
        // SAFETY: i < CLOCKS, in the live mapping; no process shares it.
        unsafe {
            (*r.map).clocks[i] = layout::Clock {
                deadline_ns,
                length_ns,
                tid,
                kind,
            };
        }
    }

    #[test]
    fn the_nearest_clock_of_another_thread_within_the_window() {
        let r = region();
        let now = r.now_ns();
        let ms = 1_000_000;
        set(&r, 0, 10, now + 5 * ms, 10 * ms, layout::CLOCK_WAIT);
        set(&r, 1, 11, now + 3 * ms, 4 * ms, layout::CLOCK_TIMER);
        set(&r, 2, 12, now + 40 * ms, 40 * ms, layout::CLOCK_TIMER);
        set(&r, 3, 13, now - ms, 5 * ms, layout::CLOCK_WAIT);
        let v = r.clock_view(99, now, 25 * ms, 25 * ms);
        assert_eq!(v.nearest, Some((now + 3 * ms, 4 * ms)));
        assert_eq!(v.limit_ns, u64::MAX);
        // A thread's own clock is not one to wait for.
        let v = r.clock_view(11, now, 25 * ms, 25 * ms);
        assert_eq!(v.nearest, Some((now + 5 * ms, 10 * ms)));
        // A generous wait (50 ms) limits holds to half its length before
        // its deadline, and is not aimed at.
        set(&r, 4, 14, now + 50 * ms, 50 * ms, layout::CLOCK_WAIT);
        let v = r.clock_view(10, now, 25 * ms, 25 * ms);
        assert_eq!(v.nearest, Some((now + 3 * ms, 4 * ms)));
        assert_eq!(v.limit_ns, now + 25 * ms);
        // Acting: counted, and not in a sleep of its own (slot 0); a timer
        // (slot 1) or a sleep that is over (slot 3) is no wait.
        for tid in [10, 11, 12, 13] {
            r.register(tid, tid as u64, tid as u64);
        }
        assert!(!r.acting(10, now));
        assert!(r.acting(11, now) && r.acting(13, now));
        assert!(!r.acting(99, now), "not registered");
        r.exited(11);
        assert!(!r.acting(11, now), "gone");
    }

    #[test]
    fn one_aimed_hold_at_a_time_and_charged_all_or_nothing() {
        let r = region();
        let now = r.now_ns();
        assert!(r.claim_aimed(1, now, now + 5_000_000));
        assert!(r.aimed_elsewhere(2, now) && !r.aimed_elsewhere(1, now));
        assert!(!r.claim_aimed(2, now, now + 1_000_000));
        assert!(!r.aimed_elsewhere(2, now + 6_000_000), "over");
        let later = now + 6_000_000;
        assert!(r.claim_aimed(2, later, later + 9_000_000));
        r.end_aimed(1, later);
        assert!(r.aimed_elsewhere(1, later), "not 1's to end");
        r.end_aimed(2, later);
        assert!(!r.aimed_elsewhere(1, later), "ended by its thread");
        // 20 ms held, 8 charged to the preemption pot (its base is the
        // budget's, 10 ms): granted, and held counts all of it.
        let (charge, hold) = (Duration::from_millis(8), Duration::from_millis(20));
        assert!(r.spend_preemption(charge, hold));
        assert_eq!(r.held(), hold);
        // The calls' pot is untouched: all of its 10 ms are left.
        assert_eq!(
            r.spend(Duration::from_millis(9)),
            Some(Duration::from_millis(9))
        );
        r.u64_at(|s| &mut s.header.spent_ns)
            .store(0, Ordering::Release);
        // The pot has less than 2 ms left: nothing is taken.
        let spent = r.spent();
        assert!(!r.spend_preemption(Duration::from_millis(2), hold));
        assert!(r.spend_preemption(Duration::from_millis(1), hold));
        let spent = spent + Duration::from_micros(1100);
        assert!(
            r.spent() - spent <= Duration::from_micros(100),
            "only a hold's cost"
        );
        assert_eq!(r.held(), hold * 2 + Duration::from_millis(9));
    }
}
