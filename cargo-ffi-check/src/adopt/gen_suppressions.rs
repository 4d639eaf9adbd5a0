//! `--gen-suppressions FILE`: ready-made `[[suppress]]` entries for the
//! findings of the run, one per distinct finding and stack, appended to
//! FILE without repeating what its entries cover (as Valgrind's
//! `--gen-suppressions` writes entries to paste).
//!
//! Each entry names the finding's kind and its most specific stable frame
//! as a `frame` pattern: the function of its innermost code frame
//! ([`Finding::code_frames`]: for a finding inside a dependency its
//! innermost frame there, not the test's own; the allocator and the C and
//! Rust runtimes are skipped) past a library's own allocation wrappers
//! ([`Finding::site_frames`]: `git__malloc` would hide every leak of that
//! library), or, when no such frame has a function name, the file name of
//! the first such frame's module. A comment names the finding, a test and
//! the seed that showed it; `reason` is left for the user to fill in.

use crate::adopt::suppress::Suppressions;
use crate::findings::Finding;
use anyhow::{Context, Result};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `reason` says until the user fills it in.
pub const REASON_TO_FILL_IN: &str = "TODO: say why this finding is accepted";

/// Kinds that entries cannot hide: a job that failed stays failed whatever
/// its findings (see `JobReport::settle`), so no entry is written for them.
const NOT_SUPPRESSIBLE: [&str; 3] = ["test-failure", "timeout", "hang"];

/// One entry to write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Generated {
    kind: String,
    /// The `frame` pattern.
    pattern: String,
    /// The finding's id, then the seed and test that showed it (the
    /// smallest of each occurrence, so that the file does not depend on the
    /// order in which jobs finished).
    id: String,
    seed: u64,
    test: String,
    /// `FFC-… kind at file:line: message`, for the comment.
    about: String,
}

impl Generated {
    /// What names an entry: its kind and pattern.
    fn key(&self) -> (String, String) {
        (self.kind.clone(), self.pattern.clone())
    }

    /// The order entries are written in, and which occurrence names one.
    fn rank(&self) -> (&str, u64, &str) {
        (&self.id, self.seed, &self.test)
    }
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

/// The entry for a finding seen in `test` under `seed`, or `None` when no
/// entry can hide it.
fn entry_for(f: &Finding, test: &str, seed: u64) -> Option<Generated> {
    if NOT_SUPPRESSIBLE.contains(&f.kind.as_str()) {
        return None;
    }
    let pattern = match f.site_frames().next() {
        Some(fr) => literal(fr.function.as_deref()?),
        None => {
            let module = f.program_frames().find_map(|fr| fr.module.as_deref())?;
            literal(&Path::new(module).file_name()?.to_string_lossy())
        }
    };
    let at = f
        .location
        .as_ref()
        .map(|l| format!(" at {}", l.short()))
        .unwrap_or_default();
    let message = f.message.lines().next().unwrap_or_default();
    Some(Generated {
        kind: f.kind.clone(),
        pattern,
        id: f.id.clone(),
        seed,
        test: test.to_string(),
        about: format!("{} {}{at}: {message}", f.id, f.kind),
    })
}

/// A TOML string (literal when it holds backslashes).
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// What [`Generator::write`] did, counted in distinct findings (by id).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Entries added.
    pub added: usize,
    /// Distinct findings the entries added cover.
    pub covered: usize,
    /// Distinct findings an entry of the file covered already.
    pub present: usize,
    /// Distinct findings no entry can hide (failed tests, timeouts, hangs).
    pub not_suppressible: usize,
}

/// Collects entries from every occurrence of every finding of the run (one
/// distinct finding can be reached along several stacks: each gets the
/// entry its own stack calls for), then appends them to the file.
#[derive(Debug)]
pub struct Generator {
    path: PathBuf,
    /// The file's entries when the run started.
    existing: Suppressions,
    entries: BTreeMap<(String, String), Generated>,
    covered: BTreeSet<String>,
    present: BTreeSet<String>,
    not_suppressible: BTreeSet<String>,
}

impl Generator {
    /// A generator appending to `path` (created if missing). A file that is
    /// not a valid configuration is an error now, before any test runs.
    pub fn new(path: &Path) -> Result<Generator> {
        let shown = path.display().to_string();
        let existing = crate::setup::config::parse(&read(path)?, &shown)
            .with_context(|| format!("--gen-suppressions cannot add to {shown}"))?
            .suppressions;
        Ok(Generator {
            path: path.to_path_buf(),
            existing,
            entries: BTreeMap::new(),
            covered: BTreeSet::new(),
            present: BTreeSet::new(),
            not_suppressible: BTreeSet::new(),
        })
    }

    /// The file entries are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes one occurrence of a finding, seen in `test` under `seed`.
    pub fn add(&mut self, f: &Finding, test: &str, seed: u64) {
        let Some(g) = entry_for(f, test, seed) else {
            self.not_suppressible.insert(f.id.clone());
            return;
        };
        if self.existing.matching(f).is_some() {
            self.present.insert(f.id.clone());
            return;
        }
        self.covered.insert(f.id.clone());
        match self.entries.entry(g.key()) {
            Entry::Vacant(v) => {
                v.insert(g);
            }
            Entry::Occupied(mut o) if g.rank() < o.get().rank() => {
                o.insert(g);
            }
            Entry::Occupied(_) => {}
        }
    }

    /// Appends the entries to the file (as it is now); the file is not
    /// touched when there are none.
    pub fn write(self) -> Result<Written> {
        let path = &self.path;
        let written = Written {
            added: self.entries.len(),
            covered: self.covered.len(),
            present: self.present.len(),
            not_suppressible: self.not_suppressible.len(),
        };
        if self.entries.is_empty() {
            return Ok(written);
        }
        let mut text = read(path)?;
        if !text.is_empty() {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push('\n');
        }
        let mut entries: Vec<&Generated> = self.entries.values().collect();
        entries.sort_by(|a, b| a.rank().cmp(&b.rank()).then(a.key().cmp(&b.key())));
        for g in entries {
            let _ = writeln!(
                text,
                "# {}\n# seen in {} (seed {})\n[[suppress]]\nkind = {}\nframe = {}\nreason = {}\n",
                g.about,
                g.test,
                g.seed,
                quoted(&g.kind),
                quoted(&g.pattern),
                quoted(REASON_TO_FILL_IN)
            );
        }
        crate::report::files::write_creating_dirs(path, text, "[[suppress]] entries to")?;
        Ok(written)
    }
}

/// The file's text; empty when it does not exist.
fn read(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn finding(kind: &str, functions: &[&str]) -> Finding {
        let mut f = Finding::test_failure("", "exit status: 1", "t");
        f.kind = kind.into();
        f.message = "a bad access".into();
        f.backtrace = functions.iter().map(|n| frame(Some(n), "/bin/t")).collect();
        f
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ffi-check-gen-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("ffi-check.toml")
    }

    /// The entry names the innermost frame of the code the bug is in (past
    /// the allocator and libc), escaped so that it matches only that name;
    /// read back as configuration it suppresses the finding; a second
    /// generator adds nothing.
    #[test]
    fn an_entry_names_the_innermost_code_frame_and_suppresses_its_finding() {
        let mut f = finding("heap-buffer-overflow", &[]);
        f.backtrace = vec![
            frame(Some("malloc"), "/x/guard-1.so"),
            frame(Some("__strlen_avx2"), "/usr/lib/x86_64-linux-gnu/libc.so.6"),
            frame(Some("png::read<[u8; 4]>::{{closure}}"), "/bin/t"),
            frame(Some("tests::t"), "/bin/t"),
        ];
        let path = scratch("one");
        std::fs::write(&path, "[profile.default]\nseeds = 2").unwrap();
        let mut g = Generator::new(&path).unwrap();
        g.add(&f, "pkg tests::t", 3);
        g.add(&f, "pkg tests::u", 4);
        let w = g.write().unwrap();
        assert_eq!((w.added, w.covered, w.present), (1, 1, 0));
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
        let config = crate::setup::config::parse(&text, "f.toml").unwrap();
        assert!(config.suppressions.matching(&f).is_some());
        let mut other = f.clone();
        other.backtrace[2].function = Some("png::read<[u8; 8]>::{{closure}}".into());
        assert!(config.suppressions.matching(&other).is_none());
        // Again: covered by the file, nothing is added.
        let mut again = Generator::new(&path).unwrap();
        again.add(&f, "pkg tests::t", 3);
        assert_eq!(again.write().unwrap().present, 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    /// One finding (one id) reached along two stacks gets an entry for each.
    #[test]
    fn each_stack_of_one_finding_gets_its_entry() {
        let path = scratch("stacks");
        let mut g = Generator::new(&path).unwrap();
        g.add(&finding("leak", &["git__malloc", "parse_a"]), "t", 0);
        g.add(&finding("leak", &["git__malloc", "parse_b"]), "t", 0);
        g.add(&finding("leak", &["git__malloc", "parse_a"]), "u", 1);
        let w = g.write().unwrap();
        assert_eq!((w.added, w.covered), (2, 1));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("frame = \"parse_a\"") && text.contains("frame = \"parse_b\""),
            "{text}"
        );
    }

    /// Allocation wrappers are passed over: the entry names the function
    /// that allocated through them.
    #[test]
    fn allocation_wrappers_are_passed_over() {
        let f = finding(
            "leak",
            &["stdalloc__malloc", "git__substrdup", "extract_trimmed"],
        );
        assert_eq!(entry_for(&f, "t", 0).unwrap().pattern, "extract_trimmed");
        // Wrappers only: the innermost stays.
        let f = finding("leak", &["stdalloc__malloc", "git__substrdup"]);
        assert_eq!(entry_for(&f, "t", 0).unwrap().pattern, "stdalloc__malloc");
    }

    /// Without function names, the entry names the first code frame's
    /// library (not the allocator's, not libc), and it matches the finding.
    #[test]
    fn a_frame_without_a_name_gives_its_module_and_failures_give_nothing() {
        let mut f = finding("leak", &[]);
        f.backtrace = vec![
            frame(Some("malloc"), "/x/guard-1.so"),
            frame(None, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
            frame(None, "/opt/vendor/libfoo.so.1"),
        ];
        let g = entry_for(&f, "t", 0).unwrap();
        assert_eq!(g.pattern, "libfoo.so.1");
        let text = format!(
            "[[suppress]]\nkind = \"leak\"\nframe = {}\n",
            quoted(&g.pattern)
        );
        let config = crate::setup::config::parse(&text, "f.toml").unwrap();
        assert!(config.suppressions.matching(&f).is_some());
        assert!(entry_for(&finding("test-failure", &[]), "t", 0).is_none());
        assert!(entry_for(&finding("timeout", &[]), "t", 0).is_none());
    }

    #[test]
    fn a_file_that_is_not_a_configuration_is_an_error_before_the_run() {
        let path = scratch("bad");
        std::fs::write(&path, "[[suppress]\n").unwrap();
        let err = format!("{:#}", Generator::new(&path).unwrap_err());
        assert!(err.contains("--gen-suppressions cannot add to"), "{err}");
        assert!(err.contains("invalid"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[[suppress]\n");
    }
}
