//! `--junit PATH`: a JUnit XML report for CI systems that show test results.
//!
//! One `<testsuite>` per test binary (named by its binary id), one
//! `<testcase>` per test and seed. With one seed a case is named after the
//! test; with several, `NAME [seed N]`, so that each seed's result stands on
//! its own (as nextest names one case per test, with its binary id as
//! `classname`). Every case has a `seed` property. A case with findings is a
//! `<failure>` whose `type` is the first finding's kind (`hang` for a
//! timeout), whose `message` is that finding's one-line description, and
//! whose text is every finding block as the human output prints it, without
//! color; its captured stdout and stderr go to `<system-out>` and
//! `<system-err>`. A job that could not run is an `<error>`, a cancelled one
//! `<skipped>`. With `--baseline`, a failure's message starts with `new`,
//! and a job whose every finding the baseline knows is a success with a
//! `baseline` property `known` and its finding blocks in `<system-err>`.

use crate::build::list::TestCase;
use crate::execute::outcome::{JobReport, Status};
use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus, TestSuite};
use std::collections::BTreeMap;
use std::path::Path;

/// One finished job, as it goes into the report.
struct Case {
    test: String,
    seed: u64,
    case: quick_junit::TestCase,
}

/// The JUnit report, filled in as jobs finish and written at the end.
pub struct Junit {
    multi_seed: bool,
    suites: BTreeMap<String, Vec<Case>>,
}

impl Junit {
    /// An empty report; `multi_seed` puts the seed in each case's name.
    pub fn new(multi_seed: bool) -> Junit {
        Junit {
            multi_seed,
            suites: BTreeMap::new(),
        }
    }

    /// Adds one job's result; `blocks` are the finding blocks as printed for
    /// people (color is removed here); `known`: `--baseline` knows every
    /// finding of a job that did not pass.
    pub fn add(
        &mut self,
        test: &TestCase,
        seed: u64,
        r: &JobReport,
        blocks: &[String],
        known: bool,
    ) {
        let name = if self.multi_seed {
            format!("{} [seed {seed}]", test.name)
        } else {
            test.name.clone()
        };
        let text: Vec<String> = blocks
            .iter()
            .map(|b| console::strip_ansi_codes(b).into_owned())
            .collect();
        let status = match r.status {
            Status::Passed => TestCaseStatus::success(),
            _ if known => TestCaseStatus::success(),
            Status::Cancelled => {
                let mut s = TestCaseStatus::skipped();
                s.set_message("cancelled");
                s
            }
            Status::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(r.exit.as_str()).set_type("error");
                s
            }
            Status::Failed | Status::Findings | Status::TimedOut | Status::Hung => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let first = r.findings.first();
                let ty = match (r.status, first) {
                    (Status::TimedOut, _) => "timeout".to_string(),
                    (Status::Hung, _) => "hang".to_string(),
                    (_, Some(f)) => f.kind.clone(),
                    (_, None) => crate::findings::TEST_FAILURE.to_string(),
                };
                let new = match first.and_then(|f| f.baseline) {
                    Some(crate::findings::Mark::New) => "new ",
                    _ => "",
                };
                let message = first.map_or_else(
                    || r.exit.clone(),
                    |f| format!("{new}{}: {}", f.kind, f.message),
                );
                s.set_type(ty).set_message(message);
                if !text.is_empty() {
                    s.set_description(text.join("\n\n"));
                }
                s
            }
        };
        let mut case = quick_junit::TestCase::new(name, status);
        case.set_classname(test.binary.id.as_str())
            .set_time(r.duration)
            .add_property(("seed", seed.to_string().as_str()));
        if known {
            case.add_property(("baseline", "known"))
                .set_system_err(text.join("\n\n"));
        } else if r.is_problem() {
            if !r.stdout.is_empty() {
                case.set_system_out(r.stdout.as_str());
            }
            if !r.stderr.is_empty() {
                case.set_system_err(r.stderr.as_str());
            }
        }
        self.suites
            .entry(test.binary.id.clone())
            .or_default()
            .push(Case {
                test: test.name.clone(),
                seed,
                case,
            });
    }

    /// The report: suites by binary id, cases by test name and seed (not in
    /// the order they finished, so that reports of two runs compare).
    fn report(self, elapsed: std::time::Duration) -> Report {
        let mut report = Report::new("cargo-ffi-check");
        report.set_time(elapsed);
        for (binary, mut cases) in self.suites {
            cases.sort_by(|a, b| (&a.test, a.seed).cmp(&(&b.test, b.seed)));
            let mut suite = TestSuite::new(binary);
            suite.add_test_cases(cases.into_iter().map(|c| c.case));
            report.add_test_suite(suite);
        }
        report
    }

    /// Writes the report to `path`, creating its parent directories.
    pub fn write(self, path: &Path, elapsed: std::time::Duration) -> Result<()> {
        let xml = self
            .report(elapsed)
            .to_string()
            .context("could not serialize the JUnit report")?;
        crate::report::files::write_creating_dirs(path, xml, "the JUnit report")
    }
}
