//! The reporter: each job's result as it finishes (status line, new
//! findings, JSON event, JUnit case), and at the end of the run the flaky
//! tests, the distinct findings, the summary line, the report files and
//! the exit code.

use crate::adopt::known::Known;
use crate::adopt::suppress::{Rule, Suppressions};
use crate::build::list::TestCase;
use crate::execute::flaky;
use crate::execute::outcome::{self, Status};
use crate::execute::pool::Finished;
use crate::findings::{Findings, Mark};
use crate::report::exit_code;
use crate::report::rerun::Rerun;
use crate::report::{github, human, json, junit::Junit, progress::Progress, Counts};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What is shown, and where.
pub struct View {
    /// How to rerun one test under one seed.
    pub rerun: Rerun,
    /// More than one seed: status lines and JUnit cases name the seed.
    pub multi_seed: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// `--message-format json`.
    pub json: bool,
    /// In GitHub Actions: annotations and a step summary too.
    pub github: bool,
    /// Where `--junit` writes its report.
    pub junit: Option<PathBuf>,
    /// `--leaks report`: leaks are shown and kept, failing nothing.
    pub leaks_report: bool,
    /// `--isolate`: seeds of a test ran at once, each job isolated.
    pub isolate: bool,
    /// When the run started its first job.
    pub started: std::time::Instant,
}

/// Reports each job as it finishes and the run when it is over.
pub struct Reporter<'a> {
    tests: &'a [TestCase],
    /// The workspace root: paths in reports are relative to it.
    root: &'a Path,
    view: View,
    progress: &'a Progress,
    suppressions: Suppressions,
    /// Set on the first problem when failing fast.
    fail_fast: Option<Arc<AtomicBool>>,
    counts: Counts,
    findings: Findings,
    flaky: flaky::Tracker,
    junit: Option<Junit>,
    /// Distinct suppressed findings, and the entry that covered each.
    suppressed: Findings,
    suppressed_by: HashMap<String, Rule>,
    /// Distinct leaks only reported (`--leaks report`).
    reported: Findings,
    /// `--baseline`, `--write-baseline` and `--gen-suppressions`.
    known: Known,
}

impl<'a> Reporter<'a> {
    /// A reporter for `tests`; with `fail_fast`, the flag it sets on the
    /// first problem.
    pub fn new(
        tests: &'a [TestCase],
        root: &'a Path,
        view: View,
        progress: &'a Progress,
        suppressions: Suppressions,
        known: Known,
        fail_fast: Option<Arc<AtomicBool>>,
    ) -> Reporter<'a> {
        Reporter {
            tests,
            root,
            junit: view.junit.is_some().then(|| Junit::new(view.multi_seed)),
            view,
            progress,
            suppressions,
            fail_fast,
            counts: Counts::default(),
            findings: Findings::default(),
            flaky: flaky::Tracker::default(),
            suppressed: Findings::default(),
            suppressed_by: HashMap::new(),
            reported: Findings::default(),
            known,
        }
    }

    /// One job finished: count it, show it, keep what the summary needs.
    pub fn job_finished(&mut self, f: Finished) {
        let test = &self.tests[f.job.test];
        let seed = f.job.seed;
        let display = test.display_name();
        let mut r = outcome::classify(test, &f.outcome, self.root);
        let rules = self.suppressions.apply(&mut r);
        for (finding, rule) in r.suppressed.iter().zip(rules) {
            self.suppressed.add(finding, &display, &test.name, seed);
            self.suppressed_by.entry(finding.id.clone()).or_insert(rule);
        }
        if self.view.leaks_report {
            r.report_leaks_only();
        }
        r.settle(&test.name);
        let known = self.known.mark(&mut r, &display);
        if known {
            self.counts.known += 1;
        } else {
            self.counts.add(r.status);
        }
        self.flaky.add(f.job.test, seed, r.status, &r.word);
        self.counts.allocations += r.guard.allocations;
        self.counts.schedule_held_ms += r.schedule_held.as_millis() as u64;
        self.counts.guarded += r.guard.guarded;
        for (why, n) in &r.guard.not_loaded {
            *self.counts.guard_not_loaded.entry(why.clone()).or_default() += n;
        }
        if self.view.json {
            let start = f.started.saturating_duration_since(self.view.started);
            json::emit(&json::test_finished(
                &test.binary.id,
                &test.name,
                seed,
                start,
                &r,
            ));
        }
        let problem = r.is_problem() && !known;
        if let (true, Some(stop)) = (problem, &self.fail_fast) {
            stop.store(true, Ordering::SeqCst);
        }
        self.known.observe(&r.findings, &display, seed);
        let mut new_findings = Vec::new();
        for finding in &r.findings {
            if self.findings.add(finding, &display, &test.name, seed) {
                new_findings.push(finding);
            }
        }
        let mut new_reported = Vec::new();
        for finding in &r.reported {
            if self.reported.add(finding, &display, &test.name, seed) {
                new_reported.push(finding);
            }
        }
        let seed_shown = self.view.multi_seed.then_some(seed);
        if r.status != Status::Cancelled
            && (problem || known || (!self.view.quiet && !self.progress.interactive()))
        {
            self.progress
                .println(&human::status_line(&r, &display, seed_shown, known));
        }
        let verbose = self.view.verbose > 0;
        if (problem && !new_findings.is_empty())
            || (verbose && (r.status == Status::Passed || known))
        {
            let out = human::output_block(&r, &display);
            if !out.is_empty() {
                self.progress.println(&out);
            }
        }
        if self.view.verbose > 0 {
            for note in &r.notes {
                self.progress.println(&format!(
                    "{:>12} {display}: {note}",
                    console::style("note").cyan().bold()
                ));
            }
        }
        if r.status == Status::Error {
            self.progress.println(&format!(
                "{}: {}",
                console::style("error").red().bold(),
                r.exit
            ));
        }
        let rerun = self.view.rerun.command(test, seed);
        let block =
            |f, reported| human::finding_block(f, &display, &rerun, seed, verbose, reported);
        // Known findings are shown with -v only: the baseline is there so
        // that they stop taking the reader's attention.
        for finding in new_findings {
            if verbose || finding.baseline != Some(Mark::Known) {
                self.progress.println(&block(finding, false));
            }
        }
        for finding in new_reported {
            self.progress.println(&block(finding, true));
        }
        if let Some(junit) = &mut self.junit {
            let blocks: Vec<String> = r.findings.iter().map(|f| block(f, false)).collect();
            junit.add(test, seed, &r, &blocks, known);
        }
        self.progress.advance(format!(
            "{} passed, {} failed, {} with findings, {} hung",
            self.counts.passed, self.counts.failed, self.counts.with_findings, self.counts.hung
        ));
    }

    /// The run is over (`jobs` were planned, `seeds` per test): prints the
    /// flaky tests, the distinct findings and the summary, writes the
    /// report files, and returns the exit code.
    pub fn finish(
        mut self,
        jobs: usize,
        seeds: usize,
        interrupted: bool,
        elapsed: Duration,
    ) -> i32 {
        self.progress.finish();
        self.report_flaky();
        let mut counts = std::mem::take(&mut self.counts);
        counts.flaky = self.flaky.flaky().len();
        counts.suppressed = self.suppressed.all().len();
        counts.reported = self.reported.all().len();
        counts.not_run += jobs - counts.finished() - counts.not_run;
        let distinct = self.findings.all();
        // An interrupted run did not pass, whatever finished (nextest: 100).
        let mut code = if interrupted || counts.any_problem() {
            exit_code::TEST_RUN_FAILED
        } else {
            exit_code::OK
        };
        if !distinct.is_empty() {
            eprintln!(
                "{}\n{}",
                console::style(format!("{:>12} {} distinct", "Findings", distinct.len()))
                    .red()
                    .bold(),
                human::summary_findings(distinct)
            );
        }
        if self.view.verbose > 0 && counts.suppressed > 0 {
            self.report_suppressed(counts.suppressed);
        }
        if counts.reported > 0 {
            eprintln!(
                "{}\n{}",
                console::style(format!(
                    "{:>12} {} distinct (--leaks report: they fail nothing)",
                    "Leaks", counts.reported
                ))
                .yellow()
                .bold(),
                human::summary_findings(self.reported.all())
            );
        }
        let baseline = self.known.report_baseline(distinct);
        let totals =
            human::summary_line(self.tests.len(), seeds, &counts, elapsed, self.view.isolate);
        eprintln!("{totals}");
        if self.view.verbose > 0 && counts.schedule_held_ms > 0 {
            eprintln!(
                "{:>12} the seeded schedule held threads for {:.3}s over every job (see --schedule-budget)",
                "note:",
                counts.schedule_held_ms as f64 / 1000.0
            );
        }
        if interrupted {
            eprintln!(
                "{}: interrupted; every test process was killed",
                console::style("warning").yellow().bold()
            );
        }
        let mut files = Vec::new();
        if let (Some(report), Some(path)) = (self.junit.take(), &self.view.junit) {
            files.push(report.write(path, elapsed));
        }
        if self.view.github {
            github::annotate(distinct, self.root);
            files.push(github::write_step_summary(
                distinct,
                &console::strip_ansi_codes(&totals),
            ));
        }
        files.extend(self.known.write(distinct, interrupted));
        // A report that could not be written fails an otherwise clean run; the
        // JSON lines still end with `run-finished`.
        for e in files.into_iter().filter_map(Result::err) {
            eprintln!("{}: {e:#}", console::style("error").red().bold());
            if code == exit_code::OK {
                code = exit_code::SETUP_ERROR;
            }
        }
        if self.view.json {
            for d in distinct {
                json::emit(&json::Event::Finding {
                    version: json::VERSION,
                    distinct: d,
                });
            }
            json::emit(&json::Event::RunFinished {
                version: json::VERSION,
                counts: &counts,
                distinct_findings: distinct.len(),
                baseline: baseline.as_ref(),
                isolate: self.view.isolate,
                duration_ms: elapsed.as_millis() as u64,
                exit_code: code,
            });
        }
        code
    }

    /// The FLAKY lines (and JSON events) of tests that passed under some
    /// seeds only.
    fn report_flaky(&self) {
        for (test, f) in &self.flaky.flaky() {
            let t = &self.tests[*test];
            let first_bad = f
                .other
                .values()
                .flat_map(|v| v.first())
                .min()
                .copied()
                .unwrap_or(0);
            let rerun = self.view.rerun.command(t, first_bad);
            eprintln!("{}", human::flaky_block(&t.display_name(), f, &rerun));
            if self.view.json {
                json::emit(&json::Event::Flaky {
                    version: json::VERSION,
                    binary_id: &t.binary.id,
                    test: &t.name,
                    seeds: f,
                });
            }
        }
    }

    /// The distinct suppressed findings, with the entry that covered each (`-v`).
    fn report_suppressed(&self, count: usize) {
        eprintln!(
            "{}\n{}",
            console::style(format!("{:>12} {count} distinct", "Suppressed"))
                .yellow()
                .bold(),
            human::suppressed_findings(self.suppressed.all(), |id| {
                self.suppressed_by.get(id).map(|r| match &r.reason {
                    Some(why) => format!("{}: {why}", r.describe()),
                    None => r.describe(),
                })
            })
        );
    }
}
