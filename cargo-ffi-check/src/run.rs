//! One invocation from start to end: build, list, run, report.

use crate::cli::{Cli, Color, MessageFormat};
use crate::config::{self, Effective};
use crate::findings::Findings;
use crate::list::TestCase;
use crate::outcome::{self, Status};
use crate::report::{github, human, json, junit::Junit, progress::Progress, Counts};
use crate::schedule::{self, Settings};
use crate::suppress::{Rule, Suppressions};
use crate::{build, exit_code, flaky, list};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Runs the command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let started = Instant::now();
    let stderr_tty = std::io::stderr().is_terminal();
    console::set_colors_enabled_stderr(match cli.output.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stderr_tty,
    });

    let built = build::build(&cli.cargo, cli.output.verbose)?;
    let config = config::load(&built.root)?;
    for w in &config.warnings {
        eprintln!("{}: {w}", console::style("warning").yellow().bold());
    }
    let effective = Effective::resolve(
        &cli.run,
        &config.profile(cli.run.profile_config.as_deref())?,
    );
    let tests = list::list_all(built.binaries)?;
    let tests = list::select(tests, &cli.filters, &cli.run);
    let tests = match cli.run.partition {
        Some(p) => p.apply(tests, |t| crate::partition::key(&t.binary.id, &t.name)),
        None => tests,
    };

    if cli.run.list {
        let mut out = std::io::stdout().lock();
        for t in &tests {
            writeln!(out, "{}", t.display_name())?;
        }
        return Ok(exit_code::OK);
    }
    if tests.is_empty() {
        let why = match cli.run.partition {
            Some(p) => format!("partition {p} has none of the selected tests"),
            None => "the filters matched none".to_string(),
        };
        eprintln!(
            "{}: no tests to run ({why}; `--list` shows what there is)",
            console::style("error").red().bold()
        );
        return Ok(exit_code::NO_TESTS_RUN);
    }
    tracer::check_ptrace_permitted().context("cannot supervise tests")?;

    let cancel = Arc::new(AtomicBool::new(false));
    let on_interrupt = Arc::clone(&cancel);
    // A second Ctrl-C exits at once; EXITKILL takes the tracees with us.
    let _ = ctrlc::set_handler(move || {
        if on_interrupt.swap(true, Ordering::SeqCst) {
            std::process::exit(exit_code::INTERRUPTED);
        }
    });
    let seeds = effective.seeds.as_slice().to_vec();
    let jobs = schedule::jobs(tests.len(), &seeds);
    let width = effective
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let settings = Settings {
        jobs: width,
        timeout: effective.timeout,
        test_args: cli.test_args.clone(),
        cancel: Arc::clone(&cancel),
        stop: Arc::new(AtomicBool::new(false)),
        guard: effective.guard,
        guard_side: effective.guard_side.into(),
        schedule: effective.schedule,
        hang_grace: effective.hang_grace,
    };
    let json_out = cli.output.message_format == MessageFormat::Json;
    if json_out {
        json::emit(&json::Event::RunStarted {
            version: json::VERSION,
            tests: tests.len(),
            seeds: &seeds,
            jobs: width,
        });
    }
    let total = jobs.len();
    let in_github = github::enabled();
    // In CI, plain lines: a progress bar only makes sense on a terminal.
    let progress = Progress::new(total, stderr_tty && !cli.output.quiet && !in_github);
    if !cli.output.quiet {
        let partition = cli
            .run
            .partition
            .map(|p| format!(" (partition {p})"))
            .unwrap_or_default();
        progress.println(&format!(
            "{} {} x {} with {width} job(s){partition}",
            console::style(format!("{:>12}", "Starting")).green().bold(),
            plural(tests.len(), "test"),
            plural(seeds.len(), "seed"),
        ));
    }
    let mut reporter = Reporter {
        tests: &tests,
        manifest_path: cli.cargo.manifest_path.clone(),
        multi_seed: seeds.len() > 1,
        verbose: cli.output.verbose,
        quiet: cli.output.quiet,
        json: json_out,
        fail_fast: effective.fail_fast,
        progress: &progress,
        counts: Counts::default(),
        findings: Findings::default(),
        stop: Arc::clone(&settings.stop),
        flaky: flaky::Tracker::default(),
        junit: cli
            .output
            .junit
            .is_some()
            .then(|| Junit::new(seeds.len() > 1)),
        suppressions: config.suppressions.clone(),
        suppressed: Findings::default(),
        suppressed_by: HashMap::new(),
    };
    schedule::run(&tests, jobs, &settings, |f| {
        reporter.job_finished(f, &built.root)
    })?;
    progress.finish();

    let flaky = reporter.flaky.flaky();
    for (test, f) in &flaky {
        let t = &tests[*test];
        let first_bad = f
            .other
            .values()
            .flat_map(|v| v.first())
            .min()
            .copied()
            .unwrap_or(0);
        let rerun = human::rerun_command(&reporter.rerun_base(t), &t.name, first_bad);
        eprintln!("{}", human::flaky_block(&t.display_name(), f, &rerun));
        if json_out {
            json::emit(&json::Event::Flaky {
                version: json::VERSION,
                binary_id: &t.binary.id,
                test: &t.name,
                seeds: f,
            });
        }
    }
    let mut counts = reporter.counts;
    counts.flaky = flaky.len();
    counts.suppressed = reporter.suppressed.all().len();
    counts.not_run += total - counts.finished() - counts.not_run;
    let distinct = reporter.findings.all();
    let interrupted = cancel.load(Ordering::SeqCst);
    let mut code = if interrupted {
        exit_code::INTERRUPTED
    } else if counts.any_problem() {
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
    if cli.output.verbose > 0 && counts.suppressed > 0 {
        eprintln!(
            "{}\n{}",
            console::style(format!(
                "{:>12} {} distinct",
                "Suppressed", counts.suppressed
            ))
            .yellow()
            .bold(),
            human::suppressed_findings(reporter.suppressed.all(), |id| {
                reporter.suppressed_by.get(id).map(|r| match &r.reason {
                    Some(why) => format!("{}: {why}", r.describe()),
                    None => r.describe(),
                })
            })
        );
    }
    let totals = human::summary_line(tests.len(), seeds.len(), &counts, started.elapsed());
    eprintln!("{totals}");
    if interrupted {
        eprintln!(
            "{}: interrupted; every test process was killed",
            console::style("warning").yellow().bold()
        );
    }
    let mut files = Vec::new();
    if let (Some(report), Some(path)) = (reporter.junit, &cli.output.junit) {
        files.push(report.write(path, started.elapsed()));
    }
    if in_github {
        github::annotate(distinct, &built.root);
        files.push(github::write_step_summary(
            distinct,
            &console::strip_ansi_codes(&totals),
        ));
    }
    // A report that could not be written fails an otherwise clean run; the
    // JSON lines still end with `run-finished`.
    for e in files.into_iter().filter_map(Result::err) {
        eprintln!("{}: {e:#}", console::style("error").red().bold());
        if code == exit_code::OK {
            code = exit_code::SETUP_ERROR;
        }
    }
    if json_out {
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
            duration_ms: started.elapsed().as_millis() as u64,
            exit_code: code,
        });
    }
    Ok(code)
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Reports each job as it finishes.
struct Reporter<'a> {
    tests: &'a [TestCase],
    manifest_path: Option<std::path::PathBuf>,
    multi_seed: bool,
    verbose: u8,
    quiet: bool,
    json: bool,
    fail_fast: bool,
    progress: &'a Progress,
    counts: Counts,
    findings: Findings,
    stop: Arc<AtomicBool>,
    flaky: flaky::Tracker,
    junit: Option<Junit>,
    suppressions: Suppressions,
    /// Distinct suppressed findings, and the entry that covered each.
    suppressed: Findings,
    suppressed_by: HashMap<String, Rule>,
}

impl Reporter<'_> {
    /// `cargo ffi-check` with what selects `test`'s binary from where the
    /// user ran us: their manifest path, and the package.
    fn rerun_base(&self, test: &TestCase) -> String {
        let mut base = String::from("cargo ffi-check");
        if let Some(m) = &self.manifest_path {
            base.push_str(&format!(" --manifest-path {}", m.display()));
        }
        let package = test.binary.id.split("::").next().unwrap_or(&test.binary.id);
        base.push_str(&format!(" -p {package}"));
        base
    }

    fn job_finished(&mut self, f: schedule::Finished, root: &std::path::Path) {
        let test = &self.tests[f.job.test];
        let seed = f.job.seed;
        let display = test.display_name();
        let mut r = outcome::classify(test, &f.outcome, root);
        let rules = self.suppressions.apply(&mut r);
        for (finding, rule) in r.suppressed.iter().zip(rules) {
            self.suppressed.add(finding, &display, &test.name, seed);
            self.suppressed_by.entry(finding.id.clone()).or_insert(rule);
        }
        self.counts.add(r.status);
        self.flaky.add(f.job.test, seed, r.status, &r.word);
        self.counts.allocations += r.guard.allocations;
        self.counts.guarded += r.guard.guarded;
        if self.json {
            json::emit(&json::test_finished(&test.binary.id, &test.name, seed, &r));
        }
        let problem = !matches!(r.status, Status::Passed | Status::Cancelled);
        if problem && self.fail_fast {
            self.stop.store(true, Ordering::SeqCst);
        }
        let mut new_findings = Vec::new();
        for finding in &r.findings {
            if self.findings.add(finding, &display, &test.name, seed) {
                new_findings.push(finding);
            }
        }
        let seed_shown = self.multi_seed.then_some(seed);
        if r.status != Status::Cancelled
            && (problem || (!self.quiet && !self.progress.interactive()))
        {
            self.progress
                .println(&human::status_line(&r, &display, seed_shown));
        }
        if (problem && !new_findings.is_empty()) || (self.verbose > 0 && r.status == Status::Passed)
        {
            let out = human::output_block(&r, &display);
            if !out.is_empty() {
                self.progress.println(&out);
            }
        }
        if r.status == Status::Error {
            self.progress.println(&format!(
                "{}: {}",
                console::style("error").red().bold(),
                r.exit
            ));
        }
        let rerun = human::rerun_command(&self.rerun_base(test), &test.name, seed);
        let block = |f| human::finding_block(f, &display, &rerun, seed, self.verbose > 0);
        for finding in new_findings {
            self.progress.println(&block(finding));
        }
        if let Some(junit) = &mut self.junit {
            let blocks: Vec<String> = r.findings.iter().map(block).collect();
            junit.add(test, seed, &r, &blocks);
        }
        self.progress.advance(format!(
            "{} passed, {} failed, {} with findings, {} hung",
            self.counts.passed, self.counts.failed, self.counts.with_findings, self.counts.hung
        ));
    }
}
