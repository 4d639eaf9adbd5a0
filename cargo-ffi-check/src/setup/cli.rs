//! The command line, as clap sees it.

use crate::setup::seeds::Seeds;
use clap::{ArgAction, Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Run a workspace's tests under a ptrace supervisor and report memory bugs
/// at the Rust/C boundary: each test in its own traced process, under one or
/// more seeds, with decoded access violations, crashes and hangs as findings.
///
/// Exit status: 0 all clean, 100 failures or findings, 101 build failed,
/// 4 no tests matched, 96 setup error (for example ptrace not permitted).
#[derive(Debug, Parser)]
#[command(name = "cargo-ffi-check", bin_name = "cargo ffi-check", version)]
#[command(
    after_help = "Arguments after `--` go to every test binary. libtest's own \
    --ignored, --include-ignored, --exact and --skip given there are honoured as the \
    options of the same name.\n\nSettings not given on the command line come from \
    .config/ffi-check.toml in the workspace root (or the file $FFI_CHECK_CONFIG names): \
    the profile chosen with -P, then [profile.default], then the defaults shown here."
)]
pub struct Cli {
    /// Run tests whose names contain one of these substrings.
    #[arg(value_name = "FILTERS")]
    pub filters: Vec<String>,

    /// Arguments passed to every test binary.
    #[arg(last = true, value_name = "TEST-ARGS")]
    pub test_args: Vec<String>,

    #[command(flatten)]
    pub cargo: CargoArgs,

    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub known: KnownArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Adopting the tool on a suite with known findings.
#[derive(Debug, clap::Args, Default)]
#[command(next_help_heading = "Known findings")]
pub struct KnownArgs {
    /// Fail only on findings not in this baseline (written by
    /// --write-baseline); known findings are shown but fail nothing, and
    /// entries that no longer occur are listed.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Record the run's distinct findings in FILE, for --baseline (with
    /// --baseline FILE too: update it, dropping what no longer occurs).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Append a `[[suppress]]` entry for each distinct finding of the run to
    /// FILE (`.config/ffi-check.toml` to use them at once), skipping
    /// findings its entries cover already.
    #[arg(long, value_name = "FILE")]
    pub gen_suppressions: Option<PathBuf>,
}

/// Flags forwarded to `cargo test --no-run`.
#[derive(Debug, clap::Args, Default)]
#[command(next_help_heading = "Package selection and build (as in cargo test)")]
pub struct CargoArgs {
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package(s) to test.
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub packages: Vec<String>,
    /// Test all packages in the workspace.
    #[arg(long)]
    pub workspace: bool,
    /// Exclude packages from the test (with --workspace).
    #[arg(long, value_name = "SPEC")]
    pub exclude: Vec<String>,
    /// Space or comma separated list of features to activate.
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all available features.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Build in release mode.
    #[arg(short = 'r', long, conflicts_with = "profile")]
    pub release: bool,
    /// Build with the given cargo profile.
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,
    /// Directory for all generated artifacts.
    #[arg(long, value_name = "DIRECTORY")]
    pub target_dir: Option<PathBuf>,
    /// Test only this package's library.
    #[arg(long)]
    pub lib: bool,
    /// Test all binaries.
    #[arg(long)]
    pub bins: bool,
    /// Test all integration tests.
    #[arg(long)]
    pub tests: bool,
    /// Test only the named integration test target.
    #[arg(long = "test", value_name = "NAME")]
    pub test_targets: Vec<String>,
}

/// How tests are run.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Running tests")]
pub struct RunArgs {
    /// Match FILTERS exactly against the full test name.
    #[arg(long)]
    pub exact: bool,
    /// Skip tests whose names contain this substring (repeatable).
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,
    /// Run only ignored tests.
    #[arg(long, conflicts_with = "include_ignored")]
    pub ignored: bool,
    /// Run ignored and not ignored tests.
    #[arg(long)]
    pub include_ignored: bool,
    /// Number of tests to run at once [default: available parallelism].
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Seeds to run every test with: 7, 0..16, ..8, 0..=15 or 1,5,9 [default: 0].
    #[arg(long, value_parser = Seeds::parse, value_name = "SEEDS")]
    pub seeds: Option<Seeds>,
    /// Kill a test (one seed) after this long and report a timeout [default: 60s].
    #[arg(long, value_parser = crate::setup::duration::parse, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Stop starting new tests after the first failure or finding.
    #[arg(long, overrides_with = "no_fail_fast")]
    pub fail_fast: bool,
    /// Run every test even after failures (the default).
    #[arg(long, overrides_with = "fail_fast")]
    pub no_fail_fast: bool,
    /// List the tests that would run, one per line, and exit.
    #[arg(long)]
    pub list: bool,
    /// Run one share of the selected tests: `hash:M/N` (by a hash of each
    /// test's name) or `slice:M/N` (round-robin), M counting from 1.
    #[arg(long, value_parser = crate::build::partition::Partition::parse, value_name = "KIND:M/N")]
    pub partition: Option<crate::build::partition::Partition>,
    /// Let seeds of one test run at once, each job in network, IPC and
    /// mount namespaces of its own (its own ports, abstract sockets, System
    /// V and POSIX IPC, and private overlays of /tmp and /dev/shm). Needs
    /// root or unprivileged user namespaces. Without it, seeds of one test
    /// run one after another (other tests fill the pool meanwhile). A test
    /// that talks to a service on the host's loopback cannot reach it when
    /// isolated.
    #[arg(long, overrides_with = "no_isolate")]
    pub isolate: bool,
    /// Run seeds of one test one after another, sharing the host's
    /// network, IPC and /tmp (the default; overrides `isolate = true` in
    /// the configuration).
    #[arg(long, overrides_with = "isolate")]
    pub no_isolate: bool,
    /// Do not preload the guard allocator (heap bugs then go unnoticed).
    #[arg(long, overrides_with = "guard")]
    pub no_guard: bool,
    /// Run at full speed: no seeded schedule (seeds then only change the
    /// allocator's layout). By default, threads are held where they hand
    /// over to each other (futexes, pthread mutexes and condition
    /// variables, pipe and socket I/O, poll, waits for children, kill),
    /// signals held and threads starved as the seed decides, to shake out
    /// ordering bugs.
    #[arg(long, overrides_with = "schedule")]
    pub no_schedule: bool,
    /// Run under the seeded schedule (the default; overrides `schedule =
    /// false` in the configuration).
    #[arg(long, overrides_with = "no_schedule")]
    pub schedule: bool,
    /// How much the schedule may slow each test down, in percent of the
    /// test's own running time: its holds stop once they add this much
    /// (plus 10 ms at the start, at most 80 ms per percent in all); 0 turns
    /// holds off but keeps the schedule's journal [default: 25].
    #[arg(long, value_parser = parse_budget, value_name = "PERCENT")]
    pub schedule_budget: Option<u32>,
    /// Declare a hang once every thread of the test has been blocked in a
    /// wait without timeout, using no CPU, for this long (`off`: only the
    /// timeout ends a stuck test) [default: 2s].
    #[arg(long, value_parser = parse_grace, value_name = "DURATION")]
    pub hang_grace: Option<Grace>,
    /// Preload the guard allocator (the default; overrides `guard = false`
    /// in the configuration).
    #[arg(long, overrides_with = "no_guard")]
    pub guard: bool,
    /// Where each allocation's guard page goes: `seeded` (after for about
    /// three in four, before for the rest, chosen by the seed), `after`
    /// (every overflow faults) or `before` (every underflow faults)
    /// [default: seeded].
    #[arg(long, value_enum, value_name = "SIDE")]
    pub guard_side: Option<GuardSideArg>,
    /// Leaks: guarded allocations still live that nothing points to when
    /// each test process exits, found by a conservative scan of its memory.
    /// `on`: each is a finding that fails its test; `report`: each is shown
    /// and kept in JSON but fails nothing (as Valgrind does by default);
    /// `off`: no scan [default: on].
    #[arg(long, value_enum, value_name = "on|report|off")]
    pub leaks: Option<Leaks>,
    /// Use this profile of `.config/ffi-check.toml` over `[profile.default]`.
    #[arg(
        short = 'P',
        long = "profile-config",
        env = "FFI_CHECK_PROFILE",
        value_name = "NAME"
    )]
    pub profile_config: Option<String>,
}

/// Parses `--schedule-budget`: a whole percentage from 0 to 1000.
pub fn parse_budget(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a whole percentage such as 25"))?;
    if n > 1000 {
        return Err(format!("{n}% is more than the most, 1000%"));
    }
    Ok(n)
}

/// `--hang-grace`: a duration, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grace(pub Option<Duration>);

/// Parses `off` or a duration (`2s`, `500ms`).
pub fn parse_grace(s: &str) -> Result<Grace, String> {
    if s == "off" {
        return Ok(Grace(None));
    }
    crate::setup::duration::parse(s).map(|d| Grace(Some(d)))
}

/// `--leaks`: what a leak found at a process's exit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Leaks {
    /// A finding that fails its test.
    On,
    /// Shown and kept in JSON, but fails nothing.
    Report,
    /// Not looked for.
    Off,
}

impl Leaks {
    /// The supervisor scans for leaks.
    pub fn scanned(self) -> bool {
        self != Leaks::Off
    }
}

/// `--guard-side`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuardSideArg {
    /// Chosen per allocation by the seed.
    Seeded,
    /// Always after the allocation.
    After,
    /// Always before the allocation.
    Before,
}

impl From<GuardSideArg> for tracer::GuardSide {
    fn from(s: GuardSideArg) -> Self {
        match s {
            GuardSideArg::Seeded => tracer::GuardSide::Seeded,
            GuardSideArg::After => tracer::GuardSide::After,
            GuardSideArg::Before => tracer::GuardSide::Before,
        }
    }
}

/// Output format for results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// Progress, findings and a summary for people, on stderr.
    Human,
    /// JSON lines on stdout (schema in the README); people's output stays on stderr.
    Json,
}

/// When to use color.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Color when stderr is a terminal.
    Auto,
    /// Always color.
    Always,
    /// Never color.
    Never,
}

/// What is shown.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "human", value_name = "FMT")]
    pub message_format: MessageFormat,
    /// Coloring.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: Color,
    /// Show more: the output of passing tests (-v), and cargo's commands (-vv).
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Show less: only findings and the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Also write a JUnit XML report to this file (parent directories are created).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
}

impl Cli {
    /// Parses the process arguments, dropping the `ffi-check` that cargo
    /// inserts when run as `cargo ffi-check`.
    pub fn from_env() -> Cli {
        let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        if args.get(1).is_some_and(|a| a == "ffi-check") {
            args.remove(1);
        }
        let mut cli = Cli::parse_from(args);
        cli.absorb_libtest_args();
        cli
    }

    /// Moves libtest's selection flags given after `--` into our own options,
    /// so that `cargo ffi-check parse_ -- --ignored` means what it does for
    /// `cargo test`, and drops the flags that only shape libtest's output or
    /// its threads: each job runs one test with `--nocapture
    /// --test-threads=1` and reads libtest's plain output, so a second
    /// `--nocapture`, `--format json` or `-q` would break it.
    pub fn absorb_libtest_args(&mut self) {
        let mut rest = Vec::new();
        let mut args = std::mem::take(&mut self.test_args).into_iter().peekable();
        while let Some(a) = args.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            // The flag's value: after `=`, or the next argument.
            let mut value = || inline.clone().or_else(|| args.next());
            match flag {
                "--ignored" => self.run.ignored = true,
                "--include-ignored" => self.run.include_ignored = true,
                "--exact" => self.run.exact = true,
                "--skip" => self.run.skip.extend(value()),
                // Output and threading: the tool's own choice for each job.
                "--nocapture" | "--show-output" | "-q" | "--quiet" | "--report-time" => {}
                "--test-threads" | "--format" | "--color" => drop(value()),
                "-Zunstable-options" => {}
                "-Z" if args.peek().is_some_and(|v| v == "unstable-options") => drop(args.next()),
                _ => rest.push(a),
            }
        }
        if self.run.ignored && self.run.include_ignored {
            self.run.ignored = false;
        }
        self.test_args = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut cli =
            Cli::try_parse_from(std::iter::once("cargo-ffi-check").chain(args.iter().copied()))
                .unwrap();
        cli.absorb_libtest_args();
        cli
    }

    #[test]
    fn a_schedule_budget_is_a_whole_percentage() {
        assert_eq!(parse_budget("25"), Ok(25));
        assert_eq!(parse_budget("100%"), Ok(100));
        assert_eq!(parse_budget("0"), Ok(0));
        assert!(parse_budget("1.5")
            .unwrap_err()
            .contains("whole percentage"));
        assert!(parse_budget("5000").unwrap_err().contains("1000%"));
        assert_eq!(
            parse(&["--schedule-budget", "40"]).run.schedule_budget,
            Some(40)
        );
    }

    #[test]
    fn libtest_flags_after_double_dash_become_options() {
        let cli = parse(&["parse_", "--", "--ignored", "--skip", "slow", "--logfile=x"]);
        assert_eq!(cli.filters, ["parse_"]);
        assert!(cli.run.ignored);
        assert_eq!(cli.run.skip, ["slow"]);
        assert_eq!(cli.test_args, ["--logfile=x"]);
    }

    #[test]
    fn libtest_output_and_thread_flags_are_dropped() {
        let cli = parse(&[
            "--",
            "--nocapture",
            "--test-threads=4",
            "--test-threads",
            "2",
            "--show-output",
            "--color",
            "always",
            "--color=never",
            "-q",
            "--format",
            "json",
            "--format=terse",
            "-Z",
            "unstable-options",
            "-Zunstable-options",
            "--report-time",
            "--skip=slow",
            "--custom-flag",
            "-Z",
            "other",
        ]);
        assert_eq!(cli.run.skip, ["slow"]);
        assert_eq!(cli.test_args, ["--custom-flag", "-Z", "other"]);
    }

    #[test]
    fn cargo_flags_are_recognised() {
        let cli = parse(&[
            "-p",
            "a",
            "--features",
            "x y",
            "--release",
            "--test",
            "it",
            "--seeds",
            "0..4",
        ]);
        assert_eq!(cli.cargo.packages, ["a"]);
        assert!(cli.cargo.release);
        assert_eq!(cli.cargo.test_targets, ["it"]);
        assert_eq!(cli.run.seeds.unwrap().as_slice(), [0, 1, 2, 3]);
    }

    #[test]
    fn a_bad_seed_range_is_a_usage_error() {
        let err = Cli::try_parse_from(["cargo-ffi-check", "--seeds", "9..3"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("is empty"), "{err}");
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
