//! One invocation from start to end, in three stages: [`prepare`] (build,
//! configuration, settings, the tests to run), [`execute`] (every job on
//! the pool, each reported as it finishes) and the reporter's `finish`
//! (summary, report files, exit code).

use crate::adopt::known::Known;
use crate::adopt::suppress::Suppressions;
use crate::build;
use crate::build::list::{self, TestCase};
use crate::execute::pool::{self, Control};
use crate::report::exit_code;
use crate::report::reporter::{Reporter, View};
use crate::report::rerun::Rerun;
use crate::report::{github, json, progress::Progress};
use crate::setup::cli::{Cli, Color, Leaks, MessageFormat};
use crate::setup::config;
use crate::setup::settings::Settings;
use anyhow::{Context, Result};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Runs the command line; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let started = Instant::now();
    let mut plan = match prepare(&cli)? {
        Prepared::Run(plan) => *plan,
        Prepared::Done(code) => return Ok(code),
    };
    let known = std::mem::take(&mut plan.known);
    let control = Control::default();
    let on_interrupt = Arc::clone(&control.cancel);
    // A second Ctrl-C exits at once; EXITKILL takes the tracees with us.
    let _ = ctrlc::set_handler(move || {
        if on_interrupt.swap(true, Ordering::SeqCst) {
            std::process::exit(exit_code::INTERRUPTED_AGAIN);
        }
    });
    let progress = Progress::new(
        plan.jobs(),
        std::io::stderr().is_terminal() && !cli.output.quiet && !github::enabled(),
    );
    let reporter = execute(&cli, &plan, known, &control, &progress)?;
    let interrupted = control.cancel.load(Ordering::SeqCst);
    Ok(reporter.finish(
        plan.jobs(),
        plan.settings.seeds.as_slice().len(),
        interrupted,
        started.elapsed(),
    ))
}

/// What a run needs once the build and the selection are done.
struct Plan {
    /// The workspace root.
    root: PathBuf,
    /// The tests to run, in order.
    tests: Vec<TestCase>,
    /// How they run.
    settings: Settings,
    /// Known findings that do not fail the run.
    suppressions: Suppressions,
    /// `--baseline` and `--gen-suppressions`, read before the run.
    known: Known,
}

impl Plan {
    /// Jobs: every test under every seed.
    fn jobs(&self) -> usize {
        self.tests.len() * self.settings.seeds.as_slice().len()
    }
}

/// After [`prepare`]: run the plan, or exit with this code already.
enum Prepared {
    Run(Box<Plan>),
    Done(i32),
}

/// Builds, reads the configuration, resolves the settings and selects the
/// tests; `--list` and an empty selection end here.
fn prepare(cli: &Cli) -> Result<Prepared> {
    console::set_colors_enabled_stderr(match cli.output.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal(),
    });
    let built = build::build(&cli.cargo, cli.output.verbose)?;
    let config = config::load(&built.root)?;
    for w in &config.warnings {
        eprintln!("{}: {w}", console::style("warning").yellow().bold());
    }
    let profile = config.profile(cli.run.profile_config.as_deref())?;
    let settings = Settings::resolve(&cli.run, &cli.test_args, &profile);
    let tests = list::list_all(built.binaries)?;
    let tests = list::select(tests, &cli.filters, &cli.run);
    let tests = match cli.run.partition {
        Some(p) => p.apply(tests, |t| {
            crate::build::partition::key(&t.binary.id, &t.name)
        }),
        None => tests,
    };
    if cli.run.list {
        let mut out = std::io::stdout().lock();
        for t in &tests {
            writeln!(out, "{}", t.display_name())?;
        }
        return Ok(Prepared::Done(exit_code::OK));
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
        return Ok(Prepared::Done(exit_code::NO_TESTS_RUN));
    }
    let known = Known::open(&cli.known)?;
    tracer::check_ptrace_permitted().context("cannot supervise tests")?;
    if settings.isolate {
        tracer::check_isolation().context("cannot isolate tests")?;
    }
    Ok(Prepared::Run(Box::new(Plan {
        root: built.root,
        tests,
        settings,
        suppressions: config.suppressions,
        known,
    })))
}

/// Runs every job of `plan` on the pool, reporting each as it finishes;
/// returns the reporter, ready to finish.
fn execute<'a>(
    cli: &Cli,
    plan: &'a Plan,
    known: Known,
    control: &Control,
    progress: &'a Progress,
) -> Result<Reporter<'a>> {
    let settings = &plan.settings;
    let seeds = settings.seeds.as_slice();
    let view = View {
        rerun: Rerun::new(cli, settings),
        multi_seed: seeds.len() > 1,
        verbose: cli.output.verbose,
        quiet: cli.output.quiet,
        json: cli.output.message_format == MessageFormat::Json,
        github: github::enabled(),
        junit: cli.output.junit.clone(),
        leaks_report: settings.leaks == Leaks::Report,
        isolate: settings.isolate,
        started: std::time::Instant::now(),
    };
    if view.json {
        json::emit(&json::Event::RunStarted {
            version: json::VERSION,
            tests: plan.tests.len(),
            seeds,
            jobs: settings.jobs,
            isolate: settings.isolate,
        });
    }
    if !view.quiet {
        let partition = cli
            .run
            .partition
            .map(|p| format!(" (partition {p})"))
            .unwrap_or_default();
        let mode = match (settings.isolate, seeds.len() > 1) {
            (true, _) => ", each job isolated",
            (false, true) => ", seeds of a test one at a time",
            (false, false) => "",
        };
        progress.println(&format!(
            "{} {} x {} with {} job(s){partition}{mode}",
            console::style(format!("{:>12}", "Starting")).green().bold(),
            plural(plan.tests.len(), "test"),
            plural(seeds.len(), "seed"),
            settings.jobs,
        ));
        if !settings.isolate && seeds.len() > 1 && plan.tests.len() < settings.jobs {
            progress.println(&format!(
                "{:>12} seeds of one test never run at once (a fixed port or path would collide), \
                 so {} of {} jobs can run; --isolate runs them at once, each in namespaces of its own",
                console::style("note:").yellow().bold(),
                plan.tests.len(),
                settings.jobs
            ));
        }
    }
    let fail_fast = settings.fail_fast.then(|| Arc::clone(&control.stop));
    let mut reporter = Reporter::new(
        &plan.tests,
        &plan.root,
        view,
        progress,
        plan.suppressions.clone(),
        known,
        fail_fast,
    );
    pool::run(&plan.tests, settings, control, |f| reporter.job_finished(f))?;
    Ok(reporter)
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
