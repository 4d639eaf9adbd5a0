//! The command that reruns one test under one seed as this run ran it: the
//! same manifest, build (release, profile, features, target directory),
//! settings that change what a job does (guard, guard side, schedule, hang
//! grace, timeout, configuration profile) and arguments after `--`, shell-quoted.

use crate::build::list::TestCase;
use crate::setup::cli::{Cli, Leaks};
use crate::setup::config::defaults;
use crate::setup::settings::Settings;
use std::borrow::Cow;

/// Builds rerun commands for the tests of one run.
#[derive(Debug, Clone)]
pub struct Rerun {
    /// Before `-p`: the manifest and the build.
    build: Vec<String>,
    /// After `-p`: the settings that differ from the built-in defaults.
    settings: Vec<String>,
    /// After `--`.
    test_args: Vec<String>,
}

fn quote(arg: &str) -> Cow<'_, str> {
    shlex::try_quote(arg).unwrap_or(Cow::Borrowed(arg))
}

fn duration(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Rerun {
    /// What this run was given and resolved to.
    pub fn new(cli: &Cli, settings: &Settings) -> Rerun {
        let mut build = Vec::new();
        let push = |v: &mut Vec<String>, flag: &str, value: Option<String>| {
            v.push(flag.to_string());
            v.extend(value);
        };
        let cargo = &cli.cargo;
        if let Some(m) = &cargo.manifest_path {
            push(&mut build, "--manifest-path", Some(m.display().to_string()));
        }
        if cargo.release {
            push(&mut build, "--release", None);
        }
        if let Some(p) = &cargo.profile {
            push(&mut build, "--profile", Some(p.clone()));
        }
        for f in &cargo.features {
            push(&mut build, "--features", Some(f.clone()));
        }
        if cargo.all_features {
            push(&mut build, "--all-features", None);
        }
        if cargo.no_default_features {
            push(&mut build, "--no-default-features", None);
        }
        if let Some(d) = &cargo.target_dir {
            push(&mut build, "--target-dir", Some(d.display().to_string()));
        }
        let mut set = Vec::new();
        if let Some(p) = &cli.run.profile_config {
            push(&mut set, "-P", Some(p.clone()));
        }
        if !settings.guard {
            push(&mut set, "--no-guard", None);
        }
        let side = match settings.guard_side {
            tracer::GuardSide::Seeded => None,
            tracer::GuardSide::After => Some("after"),
            tracer::GuardSide::Before => Some("before"),
        };
        if let Some(side) = side {
            push(&mut set, "--guard-side", Some(side.to_string()));
        }
        match settings.leaks {
            Leaks::On => {}
            Leaks::Report => push(&mut set, "--leaks", Some("report".into())),
            Leaks::Off => push(&mut set, "--leaks", Some("off".into())),
        }
        if !settings.schedule {
            push(&mut set, "--no-schedule", None);
        } else if settings.schedule_budget != defaults::SCHEDULE_BUDGET {
            let budget = settings.schedule_budget.to_string();
            push(&mut set, "--schedule-budget", Some(budget));
        }
        match settings.hang_grace {
            None => push(&mut set, "--hang-grace", Some("off".into())),
            Some(g) if g != defaults::HANG_GRACE => {
                push(&mut set, "--hang-grace", Some(duration(g)))
            }
            Some(_) => {}
        }
        if settings.timeout != defaults::TIMEOUT {
            push(&mut set, "--timeout", Some(duration(settings.timeout)));
        }
        Rerun {
            build,
            settings: set,
            test_args: settings.test_args.clone(),
        }
    }

    /// `cargo ffi-check ... -p PACKAGE ... --seeds SEED --exact NAME [-- ARGS]`.
    pub fn command(&self, test: &TestCase, seed: u64) -> String {
        let package = test.binary.id.split("::").next().unwrap_or(&test.binary.id);
        let mut words: Vec<&str> = vec!["cargo", "ffi-check"];
        words.extend(self.build.iter().map(String::as_str));
        words.extend(["-p", package]);
        words.extend(self.settings.iter().map(String::as_str));
        let seed = seed.to_string();
        words.extend(["--seeds", &seed, "--exact", &test.name]);
        if test.ignored {
            words.push("--include-ignored");
        }
        if !self.test_args.is_empty() {
            words.push("--");
            words.extend(self.test_args.iter().map(String::as_str));
        }
        words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::config::Profile;
    use clap::Parser;

    fn test_case(name: &str, ignored: bool) -> TestCase {
        TestCase::for_tests("my-pkg::it", name, ignored)
    }

    fn rerun(args: &[&str]) -> Rerun {
        let mut cli =
            Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap();
        cli.absorb_libtest_args();
        let settings = Settings::resolve(&cli.run, &cli.test_args, &Profile::default());
        Rerun::new(&cli, &settings)
    }

    #[test]
    fn a_plain_run_reruns_with_the_package_seed_and_name() {
        assert_eq!(
            rerun(&[]).command(&test_case("tests::a", false), 3),
            "cargo ffi-check -p my-pkg --seeds 3 --exact tests::a"
        );
    }

    #[test]
    fn the_build_the_settings_and_the_test_arguments_come_along_quoted() {
        let r = rerun(&[
            "--manifest-path",
            "/home/me/my project/Cargo.toml",
            "--release",
            "--features",
            "a b",
            "--target-dir",
            "/tmp/t",
            "--guard-side",
            "before",
            "--no-schedule",
            "--hang-grace",
            "500ms",
            "--timeout",
            "2m",
            "-P",
            "ci",
            "--seeds",
            "0..16",
            "--",
            "--custom",
            "it's",
        ]);
        assert_eq!(
            r.command(&test_case("tests::b", true), 7),
            "cargo ffi-check --manifest-path '/home/me/my project/Cargo.toml' --release \
             --features 'a b' --target-dir /tmp/t -p my-pkg -P ci --guard-side before \
             --no-schedule --hang-grace 500ms --timeout 120s --seeds 7 --exact tests::b \
             --include-ignored -- --custom \"it's\""
        );
        let r = rerun(&["--no-guard", "--hang-grace", "off", "--profile", "dev"]);
        assert_eq!(
            r.command(&test_case("t", false), 0),
            "cargo ffi-check --profile dev -p my-pkg --no-guard --hang-grace off --seeds 0 --exact t"
        );
        let r = rerun(&["--schedule-budget", "100"]);
        assert_eq!(
            r.command(&test_case("t", false), 0),
            "cargo ffi-check -p my-pkg --schedule-budget 100 --seeds 0 --exact t"
        );
    }
}
