//! Listing each binary's tests with libtest's `--list --format terse`, and
//! selecting the ones to run.

use crate::build::TestBinary;
use crate::setup::cli::RunArgs;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::process::Command;
use std::sync::Arc;

/// One test to run (under every seed).
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The binary it lives in.
    pub binary: Arc<TestBinary>,
    /// The libtest name (`tests::foo`), or the binary id for a binary that
    /// does not use libtest.
    pub name: String,
    /// Marked `#[ignore]`.
    pub ignored: bool,
}

impl TestCase {
    /// `binary-id test-name`, as nextest shows it.
    pub fn display_name(&self) -> String {
        if self.binary.libtest {
            format!("{} {}", self.binary.id, self.name)
        } else {
            self.binary.id.clone()
        }
    }

    /// A libtest test `name` of a binary `binary_id` at `/bin/true`, for
    /// unit tests.
    #[cfg(test)]
    pub fn for_tests(binary_id: &str, name: &str, ignored: bool) -> TestCase {
        TestCase {
            binary: Arc::new(TestBinary {
                id: binary_id.into(),
                path: "/bin/true".into(),
                cwd: "/".into(),
                env: vec![],
                libtest: true,
            }),
            name: name.into(),
            ignored,
        }
    }
}

/// Lists the tests of every binary (in parallel), in a stable order.
pub fn list_all(binaries: Vec<TestBinary>) -> Result<Vec<TestCase>> {
    let lists: Vec<Result<Vec<TestCase>>> = binaries
        .into_par_iter()
        .map(|b| list_binary(Arc::new(b)))
        .collect();
    let mut all = Vec::new();
    for l in lists {
        all.extend(l?);
    }
    all.sort_by(|a, b| (&a.binary.id, &a.name).cmp(&(&b.binary.id, &b.name)));
    Ok(all)
}

fn list_binary(binary: Arc<TestBinary>) -> Result<Vec<TestCase>> {
    if !binary.libtest {
        return Ok(vec![TestCase {
            name: binary.id.clone(),
            binary,
            ignored: false,
        }]);
    }
    let all = run_list(&binary, false)?;
    let ignored = run_list(&binary, true)?;
    Ok(all
        .into_iter()
        .map(|name| TestCase {
            ignored: ignored.contains(&name),
            name,
            binary: Arc::clone(&binary),
        })
        .collect())
}

fn run_list(binary: &TestBinary, ignored: bool) -> Result<Vec<String>> {
    let mut cmd = Command::new(&binary.path);
    cmd.args(["--list", "--format", "terse"])
        .current_dir(&binary.cwd)
        .envs(binary.env.iter().cloned());
    if ignored {
        cmd.arg("--ignored");
    }
    let out = cmd
        .output()
        .with_context(|| format!("could not run {} to list its tests", binary.path.display()))?;
    if !out.status.success() {
        bail!(
            "listing the tests of {} ({}) failed with {}:\n{}\nIf this target does not use libtest, declare `harness = false` for it in Cargo.toml.",
            binary.id,
            binary.path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(parse_terse(&String::from_utf8_lossy(&out.stdout)))
}

/// Test names from libtest's terse listing (`name: test` lines).
pub fn parse_terse(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// Which tests to run, as libtest and nextest decide it.
pub fn select(tests: Vec<TestCase>, filters: &[String], run: &RunArgs) -> Vec<TestCase> {
    let matches = |name: &str, pattern: &str| {
        if run.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    tests
        .into_iter()
        .filter(|t| {
            (filters.is_empty() || filters.iter().any(|f| matches(&t.name, f)))
                && !run.skip.iter().any(|s| matches(&t.name, s))
                && if run.ignored {
                    t.ignored
                } else {
                    run.include_ignored || !t.ignored
                }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, ignored: bool) -> TestCase {
        TestCase::for_tests("pkg", name, ignored)
    }

    fn run_args() -> RunArgs {
        RunArgs {
            exact: false,
            skip: vec![],
            ignored: false,
            include_ignored: false,
            jobs: None,
            seeds: None,
            timeout: None,
            fail_fast: false,
            no_fail_fast: false,
            list: false,
            partition: None,
            isolate: false,
            no_isolate: false,
            no_guard: false,
            no_schedule: false,
            schedule: false,
            schedule_budget: None,
            hang_grace: None,
            guard: false,
            guard_side: None,
            leaks: None,
            profile_config: None,
        }
    }

    fn names(v: Vec<TestCase>) -> Vec<String> {
        v.into_iter().map(|t| t.name).collect()
    }

    #[test]
    fn parses_terse_listing() {
        let text = "tests::a: test\ntests::b: test\nbench_x: benchmark\n";
        assert_eq!(parse_terse(text), ["tests::a", "tests::b"]);
    }

    #[test]
    fn filters_skips_and_ignored() {
        let all = || {
            vec![
                case("parse_a", false),
                case("parse_b", true),
                case("other", false),
            ]
        };
        let mut r = run_args();
        assert_eq!(names(select(all(), &["parse_".into()], &r)), ["parse_a"]);
        r.ignored = true;
        assert_eq!(names(select(all(), &[], &r)), ["parse_b"]);
        r.ignored = false;
        r.include_ignored = true;
        r.skip = vec!["other".into()];
        assert_eq!(names(select(all(), &[], &r)), ["parse_a", "parse_b"]);
        r.exact = true;
        assert_eq!(
            names(select(all(), &["parse".into()], &r)),
            Vec::<String>::new()
        );
    }
}
