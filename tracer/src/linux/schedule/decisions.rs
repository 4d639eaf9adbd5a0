//! The seeded schedule's decisions, in the spirit of rr's chaos mode and
//! PCT. The answer to "hold this thread here?" depends only on the seed,
//! the test, which thread it is (its logical identity) and how many events
//! that thread has had, never on timing; so the same seed makes the same
//! decisions at the same points, as far as the threads' own sequences of
//! calls repeat.
//!
//! A run draws a *profile* from its key (the seed mixed with the test's
//! name): how often to hold a thread as it enters a call where threads hand
//! over, how often to hold it when a wait returns (the woken thread is slow
//! to run, the classic lost-wakeup window), how often to hold a signal
//! before delivery, how long holds are, whether one thread is starved for a
//! while, and whether threads are serialized. The preloaded library makes
//! the decisions at calls in each process (`preload/schedule/core.c`, from the
//! profile in the shared region); the supervisor makes them for signals.

use crate::hash::fnv1a;
use crate::hash::splitmix64 as mix;
use std::time::Duration;

/// The shortest delay: a few context switches.
pub const MIN_DELAY_US: u64 = 50;

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
    /// Per mille of calls held on entry.
    pub entry: u32,
    /// Per mille of blocking calls whose return is delayed.
    pub exit: u32,
    /// Per mille of signals held before delivery.
    pub signal: u32,
    /// The longest single delay, in microseconds.
    pub max_delay_us: u64,
    /// A thread (by its ordinal: the nth thread or process created in the
    /// run, the first being 0) delayed by the longest delay at each of its
    /// first events, and for how many of them.
    pub starve: Option<(u64, u64)>,
    /// Serialize: a thread arriving at a call within this many
    /// microseconds of another thread's release waits for the window to end.
    pub serialize_us: u64,
}

impl Profile {
    fn draw(key: u64) -> Profile {
        let mut r = Rng(mix(key ^ 0x0070_726f_6669_6c65));
        let entry = [0, 20, 100, 250][r.below(4) as usize];
        let exit = [0, 50, 200, 500][r.below(4) as usize];
        let signal = [0, 300, 700][r.below(3) as usize];
        let max_delay_us = [2_000, 8_000, 20_000][r.below(3) as usize];
        let starve = r
            .chance(100)
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

/// The schedule of one run.
pub struct Decider {
    key: u64,
    profile: Profile,
}

impl Decider {
    /// The schedule for `seed` and `salt` (the test's name).
    pub fn new(seed: u64, salt: &str) -> Decider {
        let key = mix(seed ^ mix(fnv1a(salt.as_bytes())));
        Decider {
            key,
            profile: Profile::draw(key),
        }
    }

    /// The run's profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The run's key: the seed mixed with the test's name.
    pub fn key(&self) -> u64 {
        self.key
    }

    fn rng(&self, logical: u64, event: u64, what: u64) -> Rng {
        Rng(mix(
            self.key ^ mix(logical ^ mix(event.wrapping_add(what << 40)))
        ))
    }

    /// How long to hold signal `sig` before delivering it to thread
    /// `logical` at its `event`th event, if at all.
    pub fn at_signal(&self, logical: u64, event: u64, sig: i32) -> Option<Duration> {
        let p = self.profile.clone();
        let mut r = self.rng(logical, event, 0x5167_0000 + sig as u64);
        r.chance(p.signal).then(|| r.delay(p.max_delay_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_decisions() {
        let decide = |seed| {
            let d = Decider::new(seed, "tests::race");
            let holds: Vec<_> = (0..200)
                .map(|e| d.at_signal(logical_child(0, e % 3), e, libc::SIGUSR1))
                .collect();
            (d.profile().clone(), d.key(), holds)
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
    fn signal_holds_stay_within_the_profile() {
        for seed in 0..16 {
            let d = Decider::new(seed, "t");
            let max = Duration::from_micros(d.profile().max_delay_us);
            for e in 0..1000 {
                if let Some(h) = d.at_signal(0, e, libc::SIGUSR1) {
                    assert!(
                        h <= max && h >= Duration::from_micros(MIN_DELAY_US),
                        "{h:?}"
                    );
                }
            }
        }
    }
}
