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
    /// Preempt: every this many microseconds of the run, the supervisor
    /// stops a running thread wherever it is (between any two
    /// instructions) and holds it (0: never).
    pub preempt_us: u64,
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
        // Drawn last, so that the draws above are what they were before
        // preemption existed.
        let preempt_us = [0, 500, 1_000, 2_000][r.below(4) as usize];
        Profile {
            entry,
            exit,
            signal,
            max_delay_us,
            starve,
            serialize_us,
            preempt_us,
        }
    }
}

/// What the seed says at the run's `n`th preemption point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preempt {
    /// Which of the threads running then (in the order of their ordinals)
    /// is stopped: this modulo their count.
    pub pick: u64,
    /// Whether it is held when no other thread's clock is pending (one
    /// point in eight: a hold at every point would spend the budget on
    /// holds that open no window), and for how long.
    pub random: bool,
    pub delay: Duration,
    /// When one is: held until it runs out and this many per mille of
    /// its length beyond (at least [`MIN_DELAY_US`]).
    pub margin_pm: u64,
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

    /// The run's `n`th preemption point, if the profile preempts.
    pub fn at_preempt(&self, n: u64) -> Option<Preempt> {
        if self.profile.preempt_us == 0 {
            return None;
        }
        let mut r = self.rng(0x7072_6565_6d70, n, 0);
        Some(Preempt {
            pick: r.next(),
            random: r.chance(125),
            delay: r.delay(self.profile.max_delay_us),
            margin_pm: 50 + r.below(451),
        })
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
    fn some_seeds_preempt_with_their_own_points() {
        let preempting: Vec<_> = (0..32)
            .filter(|&s| Decider::new(s, "t").profile().preempt_us > 0)
            .collect();
        assert!(
            preempting.len() >= 16 && preempting.len() <= 30,
            "{preempting:?}"
        );
        let d = Decider::new(preempting[0], "t");
        let points: Vec<_> = (0..50).map(|n| d.at_preempt(n).unwrap()).collect();
        assert_eq!(
            points,
            (0..50)
                .map(|n| d.at_preempt(n).unwrap())
                .collect::<Vec<_>>()
        );
        assert!(points.windows(2).any(|w| w[0].pick != w[1].pick));
        let random = points.iter().filter(|p| p.random).count();
        assert!((1..=15).contains(&random), "{random} of 50 held at random");
        let max = Duration::from_micros(d.profile().max_delay_us);
        assert!(points
            .iter()
            .all(|p| p.delay <= max && (50..=500).contains(&p.margin_pm)));
        let quiet = (0..32)
            .find(|&s| Decider::new(s, "t").profile().preempt_us == 0)
            .unwrap();
        assert_eq!(Decider::new(quiet, "t").at_preempt(0), None);
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
