//! Text for people: status lines, rustc-style finding blocks, the summary.

use crate::execute::outcome::{JobReport, Status};
use crate::findings::{short_backtrace_len, user_frames, Distinct, Finding, Mark};
use crate::report::Counts;
use console::Style;
use std::fmt::Write;
use std::time::Duration;

/// Frames shown in a backtrace unless `-v`.
const SHORT_BACKTRACE: usize = 12;

fn status_style(status: Status) -> Style {
    match status {
        Status::Passed => Style::new().green().bold(),
        Status::Failed | Status::Findings | Status::Error => Style::new().red().bold(),
        Status::TimedOut | Status::Hung | Status::Cancelled => Style::new().yellow().bold(),
    }
}

/// `        PASS [   0.012s] pkg tests::name` (plus the seed when several run;
/// `known` when `--baseline` has every finding of a job that did not pass).
pub fn status_line(r: &JobReport, test: &str, seed: Option<u64>, known: bool) -> String {
    let style = if known {
        Style::new().yellow().bold()
    } else {
        status_style(r.status)
    };
    let word = style.apply_to(format!("{:>12}", r.word));
    let seed = seed.map(|s| format!(" (seed {s})")).unwrap_or_default();
    let known = if known {
        " (known: in the baseline)"
    } else {
        ""
    };
    format!(
        "{word} [{:>8.3}s] {test}{seed}{known}",
        r.duration.as_secs_f64()
    )
}

/// The captured output of a failed job, as nextest shows it.
pub fn output_block(r: &JobReport, test: &str) -> String {
    let mut s = String::new();
    let head = Style::new().bold();
    for (name, text) in [("STDOUT", &r.stdout), ("STDERR", &r.stderr)] {
        if text.trim().is_empty() {
            continue;
        }
        let _ = writeln!(s, "{}", head.apply_to(format!("--- {name}: {test} ---")));
        let _ = writeln!(s, "{}", text.trim_end());
    }
    s.trim_end().to_string()
}

fn frame_line(i: usize, f: &tracer::Frame) -> String {
    let func = f.function.as_deref().unwrap_or("??");
    let place = match (&f.file, f.line) {
        (Some(file), Some(line)) => format!(" at {file}:{line}"),
        _ => {
            let module = f
                .module
                .as_deref()
                .map(|m| m.rsplit('/').next().unwrap_or(m))
                .unwrap_or("??");
            format!(" ({module}+{:#x})", f.module_offset)
        }
    };
    let inl = if f.inlined { " [inlined]" } else { "" };
    format!("{i:>6}: {func}{place}{inl}")
}

fn backtrace_lines(frames: &[tracer::Frame], verbose: bool) -> Vec<String> {
    let shown = if verbose {
        frames.len()
    } else {
        short_backtrace_len(frames).clamp(1, SHORT_BACKTRACE)
    };
    let mut out: Vec<String> = frames
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, f)| frame_line(i, f))
        .collect();
    if shown < frames.len() {
        out.push("           ...".into());
    }
    out
}

/// A finding, rustc-style, as printed when first seen: an `error`, or a
/// `warning` when it fails nothing (known to `--baseline`, or `reported`:
/// a leak under `--leaks report`).
pub fn finding_block(
    f: &Finding,
    test: &str,
    rerun: &str,
    seed: u64,
    verbose: bool,
    reported: bool,
) -> String {
    let mut s = String::new();
    let heading = if reported || f.baseline == Some(Mark::Known) {
        Style::new()
            .yellow()
            .bold()
            .apply_to(format!("warning[{}]", f.kind))
    } else {
        Style::new()
            .red()
            .bold()
            .apply_to(format!("error[{}]", f.kind))
    };
    let blue = Style::new().blue().bold();
    let _ = writeln!(s, "{heading}: {}", Style::new().bold().apply_to(&f.message));
    if let Some(loc) = &f.location {
        let func = loc
            .function
            .as_deref()
            .map(|n| format!(" in {n}"))
            .unwrap_or_default();
        let module = match (&loc.module, loc.module_offset) {
            (Some(m), Some(o)) if loc.file.is_some() => format!(" ({m}+{o:#x})"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "  {} {}{func}{module}",
            blue.apply_to("-->"),
            loc.short()
        );
    }
    let bar = blue.apply_to("   =");
    if let Some(insn) = &f.instruction {
        let _ = writeln!(s, "{bar} instruction: {insn}");
    }
    if let Some(t) = &f.thread {
        let _ = writeln!(
            s,
            "{bar} thread: '{}' (pid {}, tid {})",
            t.name, t.pid, t.tid
        );
    }
    let _ = writeln!(s, "{bar} test: {test} (seed {seed})");
    if f.occurrences > 1 {
        let _ = writeln!(
            s,
            "{bar} occurrences: {} in this test; each was performed and the test went on",
            f.occurrences
        );
    }
    for n in &f.notes {
        let _ = writeln!(s, "{bar} note: {n}");
    }
    if !f.backtrace.is_empty() {
        let _ = writeln!(s, "{bar} backtrace:");
        let frames = if verbose {
            &f.backtrace[..]
        } else {
            user_frames(&f.backtrace)
        };
        for l in backtrace_lines(frames, verbose) {
            let _ = writeln!(s, "{l}");
        }
    }
    if let Some(a) = &f.allocation {
        let _ = writeln!(
            s,
            "{bar} allocated: {} bytes at {:#x}, by thread {} at:",
            a.size, a.address, a.allocated_tid
        );
        for l in backtrace_lines(user_frames(&a.allocated_at), verbose) {
            let _ = writeln!(s, "{l}");
        }
        if let Some(tid) = a.freed_tid {
            let _ = writeln!(s, "{bar} freed by thread {tid} at:");
            for l in backtrace_lines(user_frames(&a.freed_at), verbose) {
                let _ = writeln!(s, "{l}");
            }
        }
    }
    for t in &f.threads {
        let what = t
            .syscall
            .as_deref()
            .map_or("running".to_string(), |c| format!("blocked in {c}"));
        let _ = writeln!(
            s,
            "{bar} thread '{}' (pid {}, tid {}): {what}",
            t.thread.name, t.thread.pid, t.thread.tid
        );
        if let Some(w) = &t.waiting_for {
            let _ = writeln!(s, "           waiting for {w}");
        }
        for l in backtrace_lines(&t.backtrace, verbose) {
            let _ = writeln!(s, "{l}");
        }
    }
    if !f.events.is_empty() {
        let _ = writeln!(s, "{bar} last events before it (seeded schedule):");
        for e in &f.events {
            let held = e
                .held_us
                .map(|us| format!("  [held {:.1} ms]", us as f64 / 1000.0))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "      {:>10.3} ms  {}/{}  {}{held}",
                e.at_us as f64 / 1000.0,
                e.pid,
                e.tid,
                e.what
            );
        }
    }
    match f.baseline {
        Some(Mark::New) => {
            let _ = writeln!(
                s,
                "{bar} baseline: new (not in the baseline: it fails the run)"
            );
        }
        Some(Mark::Known) => {
            let _ = writeln!(
                s,
                "{bar} baseline: known (in the baseline: it fails nothing)"
            );
        }
        None => {}
    }
    if reported {
        let _ = writeln!(
            s,
            "{bar} note: reported only (--leaks report): it fails nothing"
        );
    }
    let _ = write!(s, "{bar} rerun: {rerun}");
    s
}

/// One line per distinct finding for the summary (`new` or `known` first
/// with `--baseline`).
pub fn summary_findings(all: &[Distinct]) -> String {
    let mut s = String::new();
    for d in all {
        let seeds: Vec<String> = d.seeds.iter().map(|s| s.to_string()).collect();
        let mark = match d.finding.baseline {
            Some(Mark::New) => "new   ",
            Some(Mark::Known) => "known ",
            None => "",
        };
        let _ = writeln!(
            s,
            "  {mark}{} {:<18} {}  ({} x, seeds {}) {}",
            d.finding.id,
            d.finding.kind,
            short_location(d),
            d.count,
            seeds.join(","),
            tests_of(d)
        );
    }
    s.trim_end().to_string()
}

/// The tests that showed a distinct finding, comma-separated.
fn tests_of(d: &Distinct) -> String {
    let tests: Vec<&str> = d.tests.iter().map(String::as_str).collect();
    tests.join(", ")
}

/// A distinct finding's location as `file:line`, or `-` without one.
fn short_location(d: &Distinct) -> String {
    d.finding
        .location
        .as_ref()
        .map_or("-".to_string(), |l| l.short())
}

/// Seeds as a short list: `0-3,7,9-10`.
pub fn seed_list(seeds: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let mut j = i;
        while j + 1 < seeds.len() && seeds[j + 1] == seeds[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", seeds[i], seeds[j])
        } else {
            seeds[i].to_string()
        });
        i = j + 1;
    }
    out.join(",")
}

/// The lines about one flaky test: which seeds passed and what the others did.
pub fn flaky_block(test: &str, flaky: &crate::execute::flaky::Flaky, rerun: &str) -> String {
    let mut s = format!(
        "{} {test}: passed on seeds {}",
        Style::new()
            .yellow()
            .bold()
            .apply_to(format!("{:>12}", "FLAKY")),
        seed_list(&flaky.passed)
    );
    for (word, seeds) in &flaky.other {
        let _ = write!(s, "; {word} on seeds {}", seed_list(seeds));
    }
    let _ = write!(s, "\n{:>12} rerun a failing seed: {rerun}", "");
    s
}

/// One line per distinct suppressed finding, with the entry that covered it
/// and its reason (for `-v`).
pub fn suppressed_findings(all: &[Distinct], rule_of: impl Fn(&str) -> Option<String>) -> String {
    let mut s = String::new();
    for d in all {
        let _ = writeln!(
            s,
            "  {} {:<18} {}  ({} x) {}",
            d.finding.id,
            d.finding.kind,
            short_location(d),
            d.count,
            tests_of(d)
        );
        if let Some(rule) = rule_of(&d.finding.id) {
            let _ = writeln!(s, "      by {rule}");
        }
    }
    s.trim_end().to_string()
}

/// `1 finding`, `2 findings`: `n` and the word for it.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `Summary [   1.234s] 10 tests x 2 seeds: 18 passed, 1 failed, 1 with findings, 0 hung`
/// with notes after it; `isolate`: the run's jobs were isolated
/// (`--isolate`), else seeds of one test ran one after another.
pub fn summary_line(
    tests: usize,
    seeds: usize,
    c: &Counts,
    elapsed: Duration,
    isolate: bool,
) -> String {
    let style = if c.any_problem() {
        Style::new().red().bold()
    } else {
        Style::new().green().bold()
    };
    let mut s = format!(
        "{} [{:>8.3}s] {} x {}: {} passed, {} failed, {} with findings, {} hung",
        style.apply_to(format!("{:>12}", "Summary")),
        elapsed.as_secs_f64(),
        plural(tests, "test", "tests"),
        plural(seeds, "seed", "seeds"),
        c.passed,
        c.failed,
        c.with_findings,
        c.hung
    );
    if c.flaky > 0 {
        let _ = write!(s, ", {} flaky", plural(c.flaky, "test", "tests"));
    }
    if c.errors > 0 {
        let _ = write!(s, ", {} could not run", c.errors);
    }
    if c.known > 0 {
        let _ = write!(s, ", {} known (in the baseline)", c.known);
    }
    if c.suppressed > 0 {
        let _ = write!(s, ", {} suppressed", c.suppressed);
    }
    if c.reported > 0 {
        let _ = write!(s, ", {} reported", plural(c.reported, "leak", "leaks"));
    }
    if c.not_run > 0 {
        let _ = write!(s, ", {} not run", c.not_run);
    }
    if c.guarded < c.allocations {
        let _ = write!(
            s,
            "\n{:>12} {} of {} allocations were guarded (the first of each process, then a sample chosen by seed; other seeds guard others)",
            "note:", c.guarded, c.allocations
        );
    }
    if isolate {
        let _ = write!(
            s,
            "\n{:>12} each job ran isolated (its own network, IPC, /tmp and /dev/shm), seeds of a test at once",
            "note:"
        );
    } else if seeds > 1 {
        let _ = write!(
            s,
            "\n{:>12} seeds of a test ran one at a time (--isolate runs them at once, each isolated)",
            "note:"
        );
    }
    if !c.guard_not_loaded.is_empty() {
        let total: u64 = c.guard_not_loaded.values().sum();
        let why: Vec<String> = c
            .guard_not_loaded
            .iter()
            .map(|(why, n)| format!("{why} ({n})"))
            .collect();
        let _ = write!(
            s,
            "\n{:>12} guard: not loaded in {total} process{}: {}",
            "note:",
            if total == 1 { "" } else { "es" },
            why.join("; ")
        );
    }
    s
}
