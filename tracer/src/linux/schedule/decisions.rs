//! The seeded schedule's decisions, in the spirit of rr's chaos mode and
//! PCT: at each trapped system call (and signal delivery) the supervisor
//! asks what to do with the thread, and the answer depends only on the
//! seed, the test, which thread it is and how many trapped events that
//! thread has had, never on timing. So the same seed makes the same
//! decisions at the same points, as far as the threads' own sequences of
//! system calls repeat.
//!
//! A run draws a *profile* from its seed: how often to delay a thread as it
//! enters a call, how often to let a blocking call return late (the woken
//! thread is slow to run, the classic lost-wakeup window), how often to hold
//! a signal before delivery, how long delays are, whether one thread is
//! starved for a while, and whether threads are serialized (one released
//! from a stop at a time).

use crate::hash::fnv1a;
use crate::hash::splitmix64 as mix;
use std::time::Duration;

/// The shortest delay: a few context switches.
const MIN_DELAY_US: u64 = 50;
/// The total delay one run may inject; past it the schedule lets go, so a
/// test with many trapped calls is not slowed without bound.
const BUDGET: Duration = Duration::from_secs(2);

/// A small deterministic generator for one decision.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u32) -> bool {
        self.next() % 1000 < u64::from(per_mille)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Log-uniform in [MIN_DELAY_US, max_us]: short delays are common,
    /// long ones happen.
    fn delay(&mut self, max_us: u64) -> Duration {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let lo = MIN_DELAY_US as f64;
        let hi = max_us.max(MIN_DELAY_US) as f64;
        Duration::from_micros((lo * (hi / lo).powf(u)) as u64)
    }
}

/// What one run does, drawn from its seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Per mille of trapped calls delayed on entry.
    pub entry: u32,
    /// Per mille of blocking calls whose return is delayed.
    pub exit: u32,
    /// Per mille of signals held before delivery.
    pub signal: u32,
    /// The longest single delay, in microseconds.
    pub max_delay_us: u64,
    /// A thread (by its ordinal: the nth thread or process created in the
    /// run, the first being 0) delayed by the longest delay at each of its
    /// first trapped events, and for how many of them.
    pub starve: Option<(u64, u64)>,
    /// Serialize: a thread arriving at a trapped call within this many
    /// microseconds of another thread's release waits for the window to end.
    pub serialize_us: u64,
}

impl Profile {
    fn draw(key: u64) -> Profile {
        let mut r = Rng(mix(key ^ 0x0070_726f_6669_6c65));
        let entry = [20, 100, 250, 500][r.below(4) as usize];
        let exit = [100, 300, 500, 800][r.below(4) as usize];
        let signal = [0, 300, 700][r.below(3) as usize];
        let max_delay_us = [2_000, 8_000, 20_000][r.below(3) as usize];
        let starve = r
            .chance(333)
            .then(|| (1 + r.below(4), [10, 50, 1_000][r.below(3) as usize]));
        let serialize_us = if r.chance(250) { 500 } else { 0 };
        Profile {
            entry,
            exit,
            signal,
            max_delay_us,
            starve,
            serialize_us,
        }
    }
}

/// The logical id of the `n`th thread or process created by the thread
/// with logical id `parent` (the first process's first thread is 0). Tids
/// change from run to run; these do not.
pub fn logical_child(parent: u64, n: u64) -> u64 {
    mix(parent.wrapping_mul(31).wrapping_add(n).wrapping_add(1))
}

/// Which thread a decision is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thread {
    /// Its logical id ([`logical_child`]).
    pub logical: u64,
    /// Its ordinal: the nth thread or process created in the run.
    pub ordinal: u64,
}

/// What to do at a trapped system call's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AtEntry {
    /// Hold the thread this long before the call runs.
    pub hold: Option<Duration>,
    /// Stop the thread again when the call returns and hold it this long.
    pub hold_return: Option<Duration>,
}

/// The schedule of one run.
pub struct Decider {
    key: u64,
    profile: Profile,
    spent: Duration,
}

impl Decider {
    /// The schedule for `seed` and `salt` (the test's name).
    pub fn new(seed: u64, salt: &str) -> Decider {
        let key = mix(seed ^ mix(fnv1a(salt.as_bytes())));
        Decider {
            key,
            profile: Profile::draw(key),
            spent: Duration::ZERO,
        }
    }

    /// The run's profile.
    #[cfg(test)]
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    fn rng(&self, logical: u64, event: u64, what: u64) -> Rng {
        Rng(mix(
            self.key ^ mix(logical ^ mix(event.wrapping_add(what << 40)))
        ))
    }

    /// Charges a delay that is about to be applied against the run's
    /// budget; `None` once it is spent. The decisions below do not charge:
    /// the supervisor skips delays that could not change any order.
    pub fn spend(&mut self, d: Duration) -> Option<Duration> {
        if self.spent >= BUDGET {
            return None;
        }
        self.spent += d;
        Some(d)
    }

    /// The decision for a thread at its `event`th trapped call, system call
    /// number `nr`; `blocking` if the call may wait for another thread.
    pub fn at_entry(&self, thread: Thread, event: u64, nr: i64, blocking: bool) -> AtEntry {
        let p = self.profile.clone();
        let mut r = self.rng(thread.logical, event, nr as u64);
        let starved = p
            .starve
            .is_some_and(|(who, events)| who == thread.ordinal && event < events);
        let hold = if starved {
            Some(Duration::from_micros(p.max_delay_us))
        } else if r.chance(p.entry) {
            Some(r.delay(p.max_delay_us))
        } else {
            None
        };
        let hold_return = (blocking && r.chance(p.exit)).then(|| r.delay(p.max_delay_us));
        AtEntry { hold, hold_return }
    }

    /// How long to hold signal `sig` before delivering it to thread
    /// `logical` at its `event`th event, if at all.
    pub fn at_signal(&self, logical: u64, event: u64, sig: i32) -> Option<Duration> {
        let p = self.profile.clone();
        let mut r = self.rng(logical, event, 0x5167_0000 + sig as u64);
        r.chance(p.signal).then(|| r.delay(p.max_delay_us))
    }

    /// The serialization window, if this run serializes.
    pub fn serialize_window(&self) -> Option<Duration> {
        (self.profile.serialize_us > 0).then(|| Duration::from_micros(self.profile.serialize_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_decisions() {
        let decide = |seed| {
            let c = Decider::new(seed, "tests::race");
            (0..200)
                .map(|e| {
                    let t = Thread {
                        logical: logical_child(0, e % 3),
                        ordinal: e % 3,
                    };
                    c.at_entry(t, e, libc::SYS_futex, e % 2 == 0)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(decide(7), decide(7));
        assert_ne!(decide(7), decide(8));
    }

    #[test]
    fn seeds_draw_different_profiles() {
        let profiles: std::collections::HashSet<_> = (0..16)
            .map(|s| format!("{:?}", Decider::new(s, "t").profile()))
            .collect();
        assert!(profiles.len() >= 8, "{profiles:?}");
        // Some seeds delay returns from blocking calls, some starve a thread.
        assert!((0..16).any(|s| Decider::new(s, "t").profile().exit > 0));
        assert!((0..16).any(|s| Decider::new(s, "t").profile().starve.is_some()));
    }

    #[test]
    fn delays_stay_within_the_profile_and_the_budget() {
        let mut c = Decider::new(3, "t");
        let max = Duration::from_micros(c.profile().max_delay_us);
        let mut total = Duration::ZERO;
        for e in 0..100_000 {
            let t = Thread {
                logical: 0,
                ordinal: 0,
            };
            let d = c.at_entry(t, e, libc::SYS_read, true);
            for h in [d.hold, d.hold_return].into_iter().flatten() {
                assert!(h <= max && h >= Duration::from_micros(MIN_DELAY_US));
                total += c.spend(h).unwrap_or_default();
            }
        }
        assert!(total <= BUDGET + max, "{total:?}");
    }
}
