//! `--gen-suppressions FILE`: one ready-made `[[suppress]]` entry per
//! distinct finding of the run, written to FILE or appended to it without
//! repeating an entry it has (as Valgrind's `--gen-suppressions` writes
//! entries to paste).
//!
//! Each entry names the finding's kind and its most specific stable frame
//! as a `frame` pattern: the function of its innermost code frame
//! ([`Finding::code_frames`]: for a finding inside a dependency its
//! innermost frame there, not the test's own; the allocator and the C and
//! Rust runtimes are skipped), or that frame's module when it has no
//! function name. A comment names the finding, a test and the seed that
//! showed it; `reason` is left for the user to fill in.

use crate::findings::Distinct;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// What `reason` says until the user fills it in.
pub const REASON_TO_FILL_IN: &str = "TODO: say why this finding is accepted";

/// Kinds that entries cannot hide: a job that failed stays failed whatever
/// its findings (see `JobReport::settle`), so no entry is written for them.
const NOT_SUPPRESSIBLE: [&str; 3] = ["test-failure", "timeout", "hang"];

/// One entry to write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Generated {
    kind: String,
    /// `frame` or `module`.
    key: &'static str,
    pattern: String,
    comment: String,
}

/// Escapes glob metacharacters so that a name matches only itself.
fn literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The entry for `d`, or `None` when no entry can hide it.
fn entry_for(d: &Distinct) -> Option<Generated> {
    let f = &d.finding;
    if NOT_SUPPRESSIBLE.contains(&f.kind.as_str()) {
        return None;
    }
    let (key, pattern) = match f.code_frames().next() {
        Some(fr) => ("frame", literal(fr.function.as_deref()?)),
        None => {
            let module = f.stack().iter().find_map(|fr| fr.module.as_deref())?;
            let name = Path::new(module).file_name()?.to_string_lossy();
            ("module", literal(&name))
        }
    };
    let seed = d.seeds.iter().next().copied().unwrap_or(0);
    let test = d.tests.iter().next().map_or("?", String::as_str);
    let at = f
        .location
        .as_ref()
        .map(|l| format!(" at {}", l.short()))
        .unwrap_or_default();
    let message = f.message.lines().next().unwrap_or_default();
    Some(Generated {
        kind: f.kind.clone(),
        key,
        pattern,
        comment: format!(
            "{} {}{at}: {message}\nseen in {test} (seed {seed})",
            f.id, f.kind
        ),
    })
}

/// A TOML string (literal when it holds backslashes).
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// What [`write`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Entries added.
    pub added: usize,
    /// Findings an entry of the file covers already.
    pub present: usize,
    /// Findings no entry can hide (failed tests, timeouts, hangs).
    pub not_suppressible: usize,
}

/// Appends an entry for each of `distinct` to `path` (created if missing),
/// skipping findings that an entry of the file covers already (and
/// entries written once already). A file that is not a valid configuration
/// is left alone and is an error.
pub fn write(path: &Path, distinct: &[Distinct]) -> Result<Written> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    let shown = path.display().to_string();
    let config = crate::config::parse(&old, &shown)
        .with_context(|| format!("no suppressions were written to {shown}"))?;
    let mut have = BTreeSet::new();
    let mut written = Written::default();
    let mut text = String::new();
    for d in distinct {
        let Some(g) = entry_for(d) else {
            written.not_suppressible += 1;
            continue;
        };
        if config.suppressions.matching(&d.finding).is_some()
            || !have.insert((g.kind.clone(), g.key, g.pattern.clone()))
        {
            written.present += 1;
            continue;
        }
        written.added += 1;
        for line in g.comment.lines() {
            let _ = writeln!(text, "# {line}");
        }
        let _ = writeln!(
            text,
            "[[suppress]]\nkind = {}\n{} = {}\nreason = {}\n",
            quoted(&g.kind),
            g.key,
            quoted(&g.pattern),
            quoted(REASON_TO_FILL_IN)
        );
    }
    if written.added == 0 && path.exists() {
        return Ok(written);
    }
    let mut out = old;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() && !text.is_empty() {
        out.push('\n');
    }
    out.push_str(&text);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    std::fs::write(path, out).with_context(|| format!("could not write {}", path.display()))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Finding, Findings};

    fn frame(function: Option<&str>, module: &str) -> tracer::Frame {
        tracer::Frame {
            pc: 0,
            function: function.map(Into::into),
            file: None,
            line: None,
            column: None,
            module: Some(module.into()),
            module_offset: 0x10,
            inlined: false,
        }
    }

    fn distinct(kind: &str, frames: Vec<tracer::Frame>) -> Distinct {
        let mut f = Finding::test_failure("", "exit status: 1", "t");
        f.kind = kind.into();
        f.message = "a bad access".into();
        f.backtrace = frames;
        let mut all = Findings::default();
        all.add(&f, "pkg tests::t", "tests::t", 3);
        all.all()[0].clone()
    }

    /// The entry names the innermost frame of the code the bug is in (past
    /// the allocator and libc), escaped so that it matches only that name,
    /// and the entry read back as configuration suppresses the finding.
    #[test]
    fn an_entry_names_the_innermost_code_frame_and_suppresses_its_finding() {
        let d = distinct(
            "heap-buffer-overflow",
            vec![
                frame(Some("malloc"), "/x/guard-1.so"),
                frame(Some("__strlen_avx2"), "/usr/lib/x86_64-linux-gnu/libc.so.6"),
                frame(Some("png::read<[u8; 4]>::{{closure}}"), "/bin/t"),
                frame(Some("tests::t"), "/bin/t"),
            ],
        );
        let dir = std::env::temp_dir().join(format!("ffi-check-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ffi-check.toml");
        std::fs::write(&path, "[profile.default]\nseeds = 2").unwrap();
        let w = write(&path, std::slice::from_ref(&d)).unwrap();
        assert_eq!((w.added, w.present), (1, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("[profile.default]\nseeds = 2\n\n# FFC-"),
            "{text}"
        );
        assert!(text.contains("\n# seen in pkg tests::t (seed 3)"), "{text}");
        assert!(
            text.contains(r"frame = 'png::read<\[u8; 4\]>::\{\{closure\}\}'"),
            "{text}"
        );
        let config = crate::config::parse(&text, "f.toml").unwrap();
        assert!(config.suppressions.matching(&d.finding).is_some());
        let mut other = d.finding.clone();
        other.backtrace[2].function = Some("png::read<[u8; 8]>::{{closure}}".into());
        assert!(config.suppressions.matching(&other).is_none());
        // Again: nothing is added.
        assert_eq!(write(&path, &[d]).unwrap().present, 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_frame_without_a_name_gives_its_module_and_failures_give_nothing() {
        let d = distinct("wild-access", vec![frame(None, "/opt/vendor/libfoo.so.1")]);
        let g = entry_for(&d).unwrap();
        assert_eq!((g.key, g.pattern.as_str()), ("module", "libfoo.so.1"));
        assert!(entry_for(&distinct("test-failure", Vec::new())).is_none());
        assert!(entry_for(&distinct("timeout", Vec::new())).is_none());
    }

    #[test]
    fn a_file_that_is_not_toml_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("ffi-check-gen-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.toml");
        std::fs::write(&path, "[[suppress]\n").unwrap();
        let d = distinct("wild-access", vec![frame(Some("f"), "/bin/t")]);
        let err = format!("{:#}", write(&path, &[d]).unwrap_err());
        assert!(err.contains("no suppressions were written"), "{err}");
        assert!(err.contains("invalid"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[[suppress]\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
