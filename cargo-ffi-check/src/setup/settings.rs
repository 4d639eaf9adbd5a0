//! The settings a run uses, resolved once: the command line over the chosen
//! profile of `.config/ffi-check.toml` over `[profile.default]` over the
//! built-in defaults. Everything after this stage reads [`Settings`].

use crate::setup::cli::{Grace, GuardSideArg, Leaks, RunArgs};
use crate::setup::config::{defaults, Profile};
use crate::setup::groups::TestGroups;
use crate::setup::seeds::Seeds;
use std::time::Duration;

/// How the tests run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Every test runs once per seed.
    pub seeds: Seeds,
    /// Per-job timeout.
    pub timeout: Duration,
    /// Tests run at once.
    pub jobs: usize,
    /// Stop starting tests after the first problem.
    pub fail_fast: bool,
    /// Preload the guard allocator.
    pub guard: bool,
    /// Where guard pages go.
    pub guard_side: tracer::GuardSide,
    /// What a leak found when a process exits does.
    pub leaks: Leaks,
    /// Run under the seeded schedule.
    pub schedule: bool,
    /// The schedule's budget, in percent of each test's own running time.
    pub schedule_budget: u32,
    /// How long every thread must be stuck before a hang is declared
    /// (`None`: only the timeout ends a stuck test).
    pub hang_grace: Option<Duration>,
    /// Seeds of one test may run at once, each job in network, IPC and
    /// mount namespaces of its own (`--isolate`); otherwise they run one
    /// after another.
    pub isolate: bool,
    /// Tests that share a resource, and how many of each group may run at once.
    pub test_groups: TestGroups,
    /// Arguments after `--`, for every test binary (libtest's selection
    /// flags among them already taken as options).
    pub test_args: Vec<String>,
}

/// A `--x` / `--no-x` pair (clap lets at most one be set: the last given)
/// as the setting it makes, or `None` when neither is given.
fn switch(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

impl Settings {
    /// Command line (`cli`, and `test_args` after `--`) over `profile` over
    /// the built-in defaults.
    pub fn resolve(cli: &RunArgs, test_args: &[String], profile: &Profile) -> Settings {
        let fail_fast = switch(cli.fail_fast, cli.no_fail_fast);
        let guard = switch(cli.guard, cli.no_guard);
        let schedule = switch(cli.schedule, cli.no_schedule);
        let isolate = switch(cli.isolate, cli.no_isolate);
        let side = cli
            .guard_side
            .or(profile.guard_side)
            .unwrap_or(GuardSideArg::Seeded);
        Settings {
            seeds: cli
                .seeds
                .clone()
                .or_else(|| profile.seeds.clone())
                .unwrap_or_else(|| Seeds::parse(defaults::SEEDS).expect("valid default")),
            timeout: cli.timeout.or(profile.timeout).unwrap_or(defaults::TIMEOUT),
            jobs: cli
                .jobs
                .or(profile.jobs)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            fail_fast: fail_fast.or(profile.fail_fast).unwrap_or(false),
            guard: guard.or(profile.guard).unwrap_or(true),
            guard_side: side.into(),
            leaks: cli.leaks.or(profile.leaks).unwrap_or(Leaks::On),
            schedule: schedule.or(profile.schedule).unwrap_or(true),
            schedule_budget: cli
                .schedule_budget
                .or(profile.schedule_budget)
                .unwrap_or(defaults::SCHEDULE_BUDGET),
            hang_grace: cli
                .hang_grace
                .or(profile.hang_grace)
                .unwrap_or(Grace(Some(defaults::HANG_GRACE)))
                .0,
            isolate: isolate.or(profile.isolate).unwrap_or(false),
            test_groups: TestGroups::new(&profile.overrides),
            test_args: test_args.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_wins_then_the_profile_then_the_defaults() {
        use clap::Parser;
        let args = |a: &[&str]| {
            crate::setup::cli::Cli::try_parse_from(std::iter::once("x").chain(a.iter().copied()))
                .unwrap()
                .run
        };
        let resolve = |a: &[&str], p: &Profile| Settings::resolve(&args(a), &[], p);
        let profile = Profile {
            seeds: Some(Seeds::parse("3").unwrap()),
            timeout: None,
            jobs: Some(4),
            fail_fast: Some(true),
            guard: Some(false),
            guard_side: Some(GuardSideArg::After),
            schedule: Some(false),
            schedule_budget: Some(50),
            hang_grace: Some(Grace(Some(Duration::from_millis(500)))),
            leaks: Some(Leaks::Off),
            isolate: Some(true),
            overrides: Vec::new(),
        };
        let e = resolve(&[], &profile);
        assert!(e.isolate);
        assert!(!resolve(&["--no-isolate"], &profile).isolate);
        assert!(!e.schedule);
        assert_eq!(e.leaks, Leaks::Off);
        assert_eq!(e.schedule_budget, 50);
        assert_eq!(e.hang_grace, Some(Duration::from_millis(500)));
        assert_eq!(e.seeds.as_slice(), [3]);
        assert_eq!(e.timeout, defaults::TIMEOUT);
        assert_eq!(e.jobs, 4);
        assert!(e.fail_fast && !e.guard);
        assert_eq!(e.guard_side, tracer::GuardSide::After);
        let e = resolve(
            &[
                "--seeds",
                "1,2",
                "--timeout",
                "2s",
                "-j",
                "1",
                "--no-fail-fast",
                "--guard",
                "--guard-side",
                "before",
                "--schedule",
                "--schedule-budget",
                "10",
                "--hang-grace",
                "off",
                "--leaks",
                "report",
            ],
            &profile,
        );
        assert_eq!(e.leaks, Leaks::Report);
        assert_eq!(e.seeds.as_slice(), [1, 2]);
        assert_eq!(e.timeout, Duration::from_secs(2));
        assert_eq!(e.jobs, 1);
        assert!(!e.fail_fast && e.guard);
        assert_eq!(e.guard_side, tracer::GuardSide::Before);
        assert!(e.schedule);
        assert_eq!(e.schedule_budget, 10);
        assert_eq!(e.hang_grace, None);
        let e = resolve(&["--no-schedule"], &Profile::default());
        assert!(!e.schedule);
        assert!(!e.isolate);
        assert!(resolve(&["--isolate"], &Profile::default()).isolate);
        let e = resolve(&[], &Profile::default());
        assert!(e.schedule);
        assert_eq!(e.hang_grace, Some(defaults::HANG_GRACE));
        assert_eq!(e.schedule_budget, defaults::SCHEDULE_BUDGET);
        assert_eq!(e.seeds.as_slice(), [0]);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!((e.jobs, e.fail_fast, e.guard), (cores, false, true));
        assert_eq!(e.guard_side, tracer::GuardSide::Seeded);
        assert_eq!(e.leaks, Leaks::On);
    }
}
