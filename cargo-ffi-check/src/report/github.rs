//! GitHub Actions: an `::error` annotation per distinct finding, at its
//! source line, and a Markdown table for the job's step summary. With
//! `--baseline`, a new finding's title starts with `new`, and a known one is
//! a `::warning` whose title starts with `known`.
//!
//! Active when `GITHUB_ACTIONS=true` (GitHub sets it on every runner).
//! Workflow commands go to stdout, where the runner reads them; they are
//! single lines that never start with `{`, so they mix with JSON lines.

use crate::findings::{Distinct, Mark};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// True when running as a GitHub Actions step.
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Escapes a workflow command's message: `%`, CR and LF.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as data, plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Where an annotation goes: a file relative to the workspace root, a line
/// and maybe a column.
#[derive(Debug, PartialEq, Eq)]
pub struct Place {
    /// Path relative to the workspace root.
    pub file: String,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column.
    pub column: Option<u32>,
}

/// True if `file` (as findings give it: relative to `root` when inside it)
/// is a file of the workspace.
fn in_workspace(file: &str, root: &Path) -> bool {
    let p = Path::new(file);
    !p.is_absolute() && !file.starts_with("..") && root.join(p).is_file()
}

/// The source place of a finding inside the workspace: its location if that
/// is in the workspace, else the innermost backtrace frame that is (for a
/// timeout, the innermost such frame of the first thread that has one,
/// threads other than a process's main thread first: libtest's harness waits
/// there while the test runs on a thread of its own), else none.
pub fn place(d: &Distinct, root: &Path) -> Option<Place> {
    let f = &d.finding;
    if let Some(l) = &f.location {
        if let Some(file) = l.file.as_deref().filter(|p| in_workspace(p, root)) {
            return Some(Place {
                file: file.to_string(),
                line: l.line,
                column: l.column,
            });
        }
    }
    let mut threads: Vec<&tracer::ThreadState> = f.threads.iter().collect();
    threads.sort_by_key(|t| t.thread.tid == t.thread.pid);
    std::iter::once(&f.backtrace)
        .chain(threads.into_iter().map(|t| &t.backtrace))
        .flat_map(|frames| frames.iter())
        .find_map(|fr| {
            let file = fr.file.as_deref().filter(|p| in_workspace(p, root))?;
            Some(Place {
                file: file.to_string(),
                line: fr.line,
                column: fr.column,
            })
        })
}

fn seeds_text(d: &Distinct) -> String {
    d.seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The title: `KIND in TEST`, `(+N more)` when several tests showed it,
/// after `new` or `known` with `--baseline`.
fn title(d: &Distinct) -> String {
    let first = d.tests.iter().next().map_or("?", String::as_str);
    let more = match d.tests.len() {
        0 | 1 => String::new(),
        n => format!(" (+{} more)", n - 1),
    };
    format!("{}{} in {first}{more}", mark(d), d.finding.kind)
}

/// `new ` or `known ` with `--baseline`, else nothing.
fn mark(d: &Distinct) -> &'static str {
    match d.finding.baseline {
        Some(Mark::New) => "new ",
        Some(Mark::Known) => "known ",
        None => "",
    }
}

/// The workflow command for one distinct finding: `::error`, or
/// `::warning` for one the baseline knows.
pub fn annotation(d: &Distinct, root: &Path) -> String {
    let mut props = Vec::new();
    if let Some(p) = place(d, root) {
        props.push(format!("file={}", escape_property(&p.file)));
        if let Some(line) = p.line {
            props.push(format!("line={line}"));
            if let Some(col) = p.column {
                props.push(format!("col={col}"));
            }
        }
    }
    props.push(format!("title={}", escape_property(&title(d))));
    let f = &d.finding;
    let mut message = f.message.clone();
    if let Some(l) = &f.location {
        let func = l
            .function
            .as_deref()
            .map(|n| format!(" in {n}"))
            .unwrap_or_default();
        let _ = write!(message, "\nat {}{func}", l.short());
    }
    let tests: Vec<&str> = d.tests.iter().map(String::as_str).collect();
    let _ = write!(
        message,
        "\n{} ({}, seeds {}, {} time{})",
        f.id,
        tests.join(", "),
        seeds_text(d),
        d.count,
        if d.count == 1 { "" } else { "s" }
    );
    let command = if d.finding.baseline == Some(Mark::Known) {
        "warning"
    } else {
        "error"
    };
    format!("::{command} {}::{}", props.join(","), escape_data(&message))
}

/// Prints the annotation of every distinct finding on stdout.
pub fn annotate(all: &[Distinct], root: &Path) {
    let mut out = std::io::stdout().lock();
    for d in all {
        let _ = writeln!(out, "{}", annotation(d, root));
    }
    let _ = out.flush();
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The step summary: a table of distinct findings and the totals line.
pub fn step_summary(all: &[Distinct], totals: &str) -> String {
    let mut s = String::from("## cargo ffi-check\n\n");
    if all.is_empty() {
        s.push_str("No findings.\n\n");
    } else {
        s.push_str("| kind | location | test(s) | seeds | count |\n");
        s.push_str("|---|---|---|---|---|\n");
        for d in all {
            let loc = d
                .finding
                .location
                .as_ref()
                .map_or("-".to_string(), |l| format!("`{}`", l.short()));
            let tests: Vec<&str> = d.tests.iter().map(String::as_str).collect();
            let _ = writeln!(
                s,
                "| {}{} | {} | {} | {} | {} |",
                mark(d),
                cell(&d.finding.kind),
                cell(&loc),
                cell(&tests.join(", ")),
                seeds_text(d),
                d.count
            );
        }
        s.push('\n');
    }
    for line in totals.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let _ = writeln!(s, "{}\n", cell(line));
    }
    s
}

/// Appends the step summary to the file named by `$GITHUB_STEP_SUMMARY`, if set.
pub fn write_step_summary(all: &[Distinct], totals: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("could not open $GITHUB_STEP_SUMMARY ({path:?})"))?;
    file.write_all(step_summary(all, totals).as_bytes())
        .with_context(|| format!("could not write $GITHUB_STEP_SUMMARY ({path:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Finding, Findings};

    #[test]
    fn escapes_as_github_documents() {
        assert_eq!(escape_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    fn frame(file: &str, line: u32) -> tracer::Frame {
        tracer::Frame {
            pc: 0,
            function: Some("f".into()),
            file: Some(file.into()),
            line: Some(line),
            column: None,
            module: None,
            module_offset: 0,
            inlined: false,
        }
    }

    fn distinct(finding: Finding) -> Distinct {
        let mut all = Findings::default();
        all.add(&finding, "pkg tests::a", "tests::a", 3);
        all.add(&finding, "pkg tests::b", "tests::b", 5);
        all.all()[0].clone()
    }

    /// A workspace with one source file, `pkg/src/lib.rs`.
    fn workspace() -> std::path::PathBuf {
        let root = std::env::temp_dir().join(format!("ffi-check-github-{}", std::process::id()));
        std::fs::create_dir_all(root.join("pkg/src")).unwrap();
        std::fs::write(root.join("pkg/src/lib.rs"), "").unwrap();
        root
    }

    #[test]
    fn a_location_outside_the_workspace_falls_back_to_the_innermost_workspace_frame() {
        let root = workspace();
        let mut f = Finding::test_failure(
            "thread 'x' panicked at /home/u/.cargo/registry/dep/src/lib.rs:1:2:\nboom, 100%\n",
            "exit status: 101",
            "x",
        );
        f.backtrace = vec![
            frame("./nptl/pthread_kill.c", 44),
            frame("/home/u/.cargo/registry/dep/src/lib.rs", 1),
            frame("pkg/src/lib.rs", 17),
            frame("pkg/src/lib.rs", 30),
        ];
        let d = distinct(f);
        assert_eq!(
            place(&d, &root),
            Some(Place {
                file: "pkg/src/lib.rs".into(),
                line: Some(17),
                column: None
            })
        );
        let a = annotation(&d, &root);
        assert!(
            a.starts_with(
                "::error file=pkg/src/lib.rs,line=17,title=test-failure in pkg tests%3A%3Aa (+1 more)::boom, 100%25%0Aat /home/u"
            ),
            "{a}"
        );
        assert!(
            a.ends_with("(pkg tests::a, pkg tests::b, seeds 3,5, 2 times)"),
            "{a}"
        );
        // Nothing in the workspace: no file.
        let mut d = d;
        d.finding.backtrace.truncate(2);
        assert!(annotation(&d, &root).starts_with("::error title=test-failure in"));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_summary_is_a_markdown_table() {
        let f = Finding::test_failure(
            "thread 'x' panicked at pkg/src/a|b.rs:4:5:\nboom\n",
            "exit status: 101",
            "x",
        );
        let s = step_summary(&[distinct(f)], "2 tests x 1 seed: 0 passed");
        assert!(
            s.contains("| kind | location | test(s) | seeds | count |"),
            "{s}"
        );
        assert!(
            s.contains(
                "| test-failure | `pkg/src/a\\|b.rs:4:5` | pkg tests::a, pkg tests::b | 3,5 | 2 |"
            ),
            "{s}"
        );
        assert!(s.ends_with("2 tests x 1 seed: 0 passed\n\n"), "{s}");
        assert!(step_summary(&[], "x").contains("No findings."));
    }
}
