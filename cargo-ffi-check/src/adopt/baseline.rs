//! `--write-baseline FILE` and `--baseline FILE`: adopting the tool on a
//! suite with known findings, failing only on new ones.
//!
//! A baseline is a JSON file of the run's distinct findings, sorted by id:
//!
//! ```json
//! { "version": 1,
//!   "findings": [
//!     { "id": "FFC-0123456789ab", "kind": "leak",
//!       "location": "src/lib.rs:12:5", "function": "my_sys::wrap",
//!       "frames": ["strdup_wrapper", "my_sys::wrap"],
//!       "message": "14 bytes in 1 allocation leaked directly: ...",
//!       "tests": ["my-sys tests::wraps"] } ] }
//! ```
//!
//! Nothing in it depends on addresses or seeds. A finding is known when
//! its id is in the file (the id hashes its kind and location), or when its
//! kind and its innermost code frames past allocation wrappers
//! ([`Finding::site_frames`], at most [`SIGNATURE_FRAMES`] function names)
//! are those of an entry: an edit that moves a known bug's line does not
//! make it new.

use crate::findings::{Distinct, Finding};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The file format's version.
const VERSION: u32 = 1;

/// Frames of a finding's signature.
pub const SIGNATURE_FRAMES: usize = 4;

/// One known finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The finding's stable id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// `file:line:col`, or `function (module+offset)` without debug info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The function of its location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Its signature: the functions of its innermost code frames.
    #[serde(default)]
    pub frames: Vec<String>,
    /// Its one-line description, for people reading the file.
    #[serde(default)]
    pub message: String,
    /// The tests that showed it (as the summary names them).
    #[serde(default)]
    pub tests: BTreeSet<String>,
}

impl Entry {
    /// The entry recording `d`.
    fn of(d: &Distinct) -> Entry {
        let f = &d.finding;
        Entry {
            id: f.id.clone(),
            kind: f.kind.clone(),
            location: f.location.as_ref().map(|l| l.short()),
            function: f.location.as_ref().and_then(|l| l.function.clone()),
            frames: signature(f),
            message: f.message.lines().next().unwrap_or_default().to_string(),
            tests: d.tests.clone(),
        }
    }

    /// `FFC-… kind location`, for listings.
    pub fn describe(&self) -> String {
        format!(
            "{} {:<18} {}",
            self.id,
            self.kind,
            self.location.as_deref().unwrap_or("-")
        )
    }
}

/// The file as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    version: u32,
    findings: Vec<Entry>,
}

/// The functions of a finding's innermost site frames
/// ([`Finding::site_frames`]): what stays the same when lines move.
pub fn signature(f: &Finding) -> Vec<String> {
    f.site_frames()
        .filter_map(|fr| fr.function.clone())
        .take(SIGNATURE_FRAMES)
        .collect()
}

/// A baseline read with `--baseline`.
#[derive(Debug)]
pub struct Baseline {
    /// The file, as given.
    pub path: PathBuf,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    by_signature: HashMap<(String, Vec<String>), usize>,
}

impl Baseline {
    /// Reads a baseline; a missing or malformed file is an error that says
    /// how to make one.
    pub fn load(path: &Path) -> Result<Baseline> {
        let make = format!(
            "write one with `cargo ffi-check --write-baseline {}`",
            path.display()
        );
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read the baseline {} ({make})", path.display()))?;
        let file: FileFormat = serde_json::from_str(&text).with_context(|| {
            format!(
                "the baseline {} is not a baseline this tool wrote ({make})",
                path.display()
            )
        })?;
        if file.version != VERSION {
            bail!(
                "the baseline {} has version {}, and this tool reads version {VERSION} ({make})",
                path.display(),
                file.version
            );
        }
        Ok(Baseline::new(path, file.findings))
    }

    fn new(path: &Path, entries: Vec<Entry>) -> Baseline {
        let mut by_id = HashMap::new();
        let mut by_signature = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_id.entry(e.id.clone()).or_insert(i);
            if !e.frames.is_empty() {
                by_signature
                    .entry((e.kind.clone(), e.frames.clone()))
                    .or_insert(i);
            }
        }
        Baseline {
            path: path.to_path_buf(),
            entries,
            by_id,
            by_signature,
        }
    }

    /// The entry that knows `f`, by id, else by kind and signature.
    pub fn entry_of(&self, f: &Finding) -> Option<usize> {
        self.by_id.get(&f.id).copied().or_else(|| {
            let frames = signature(f);
            if frames.is_empty() {
                return None;
            }
            self.by_signature.get(&(f.kind.clone(), frames)).copied()
        })
    }
}

/// What `--baseline` found over a run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Entries some finding of the run matched.
    pub matched: BTreeSet<usize>,
    /// Tests that ran (display names): an entry of a test that did not run
    /// was not checked.
    pub ran: BTreeSet<String>,
}

impl Tally {
    /// Entries of the baseline that no longer occur: none of the run's
    /// findings matched them, though a test that showed them ran.
    pub fn gone<'b>(&self, baseline: &'b Baseline) -> Vec<&'b Entry> {
        self.unmatched(baseline, true)
    }

    /// Entries of the baseline whose tests did not run: kept when the file is
    /// written again, since this run could not check them.
    fn unchecked<'b>(&self, baseline: &'b Baseline) -> Vec<&'b Entry> {
        self.unmatched(baseline, false)
    }

    /// The entries no finding of the run matched, of tests that ran (`ran`)
    /// or of tests none of which ran.
    fn unmatched<'b>(&self, baseline: &'b Baseline, ran: bool) -> Vec<&'b Entry> {
        baseline
            .entries
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                !self.matched.contains(i) && e.tests.iter().any(|t| self.ran.contains(t)) == ran
            })
            .map(|(_, e)| e)
            .collect()
    }
}

/// Writes `distinct` (and, when updating `old`, its entries whose tests did
/// not run) to `path`, sorted by id; returns how many entries it holds.
pub fn write(
    path: &Path,
    distinct: &[Distinct],
    old: Option<(&Baseline, &Tally)>,
) -> Result<usize> {
    let mut entries: Vec<Entry> = distinct.iter().map(Entry::of).collect();
    if let Some((baseline, tally)) = old {
        entries.extend(tally.unchecked(baseline).into_iter().cloned());
    }
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    entries.dedup_by(|a, b| a.id == b.id);
    let file = FileFormat {
        version: VERSION,
        findings: entries,
    };
    let mut text =
        serde_json::to_string_pretty(&file).context("could not serialize the baseline")?;
    text.push('\n');
    crate::report::files::write_creating_dirs(path, text, "the baseline")?;
    Ok(file.findings.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Findings, Location};

    fn frame(function: &str, module: &str) -> tracer::Frame {
        tracer::Frame {
            pc: 0x1234,
            function: Some(function.into()),
            file: Some("src/a.c".into()),
            line: Some(9),
            column: None,
            module: Some(module.into()),
            module_offset: 0x40,
            inlined: false,
        }
    }

    fn finding(kind: &str, line: u32, frames: &[&str]) -> Finding {
        let mut f = Finding::test_failure("", "exit status: 1", "t");
        f.kind = kind.into();
        let location = Location {
            file: Some("src/a.c".into()),
            line: Some(line),
            column: None,
            function: frames.first().map(|s| s.to_string()),
            module: None,
            module_offset: None,
        };
        f.id = crate::findings::finding_id(kind, Some(&location), "t");
        f.location = Some(location);
        f.backtrace = std::iter::once(frame("malloc", "/lib/guard-1.so"))
            .chain(std::iter::once(frame(
                "strlen",
                "/usr/lib/x86_64-linux-gnu/libc.so.6",
            )))
            .chain(frames.iter().map(|n| frame(n, "/bin/t")))
            .collect();
        f
    }

    fn distinct(fs: &[Finding]) -> Vec<Distinct> {
        let mut all = Findings::default();
        for (i, f) in fs.iter().enumerate() {
            all.add(f, &format!("pkg t{i}"), "t", 0);
        }
        all.all().to_vec()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ffi-check-baseline-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("baseline.json")
    }

    /// Written, read back, and matched by id or, once the line moved, by the
    /// kind and the innermost code frames; a new bug is not matched.
    #[test]
    fn a_written_baseline_knows_its_findings_even_when_their_lines_move() {
        let path = scratch("roundtrip");
        let known = finding("wild-access", 10, &["inner", "outer", "test_fn"]);
        assert_eq!(signature(&known), ["inner", "outer", "test_fn"]);
        let n = write(&path, &distinct(std::slice::from_ref(&known)), None).unwrap();
        assert_eq!(n, 1);
        let b = Baseline::load(&path).unwrap();
        assert_eq!(b.entry_of(&known), Some(0));
        let moved = finding("wild-access", 14, &["inner", "outer", "test_fn"]);
        assert_ne!(moved.id, known.id);
        assert_eq!(b.entry_of(&moved), Some(0));
        assert_eq!(
            b.entry_of(&finding("wild-access", 10, &["other", "outer"])),
            None
        );
        assert_eq!(
            b.entry_of(&finding("leak", 30, &["inner", "outer", "test_fn"])),
            None
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("0x1234") && !text.contains("seed"), "{text}");
    }

    #[test]
    fn a_missing_or_malformed_baseline_says_how_to_make_one() {
        let path = scratch("bad");
        let _ = std::fs::remove_file(&path);
        let err = format!("{:#}", Baseline::load(&path).unwrap_err());
        assert!(err.contains("could not read the baseline"), "{err}");
        assert!(err.contains("--write-baseline"), "{err}");
        std::fs::write(&path, "{\"findings\": 3}").unwrap();
        let err = format!("{:#}", Baseline::load(&path).unwrap_err());
        assert!(err.contains("is not a baseline this tool wrote"), "{err}");
        std::fs::write(&path, "{\"version\": 9, \"findings\": []}").unwrap();
        let err = format!("{:#}", Baseline::load(&path).unwrap_err());
        assert!(err.contains("version 9"), "{err}");
    }

    /// An entry is gone when its test ran and nothing matched it; an entry
    /// whose tests did not run is kept when the file is written again.
    #[test]
    fn entries_of_tests_that_ran_can_be_gone_and_others_are_kept() {
        let path = scratch("gone");
        let a = finding("wild-access", 10, &["a"]);
        let b = finding("leak", 20, &["b"]);
        write(&path, &distinct(&[a.clone(), b.clone()]), None).unwrap();
        let baseline = Baseline::load(&path).unwrap();
        let mut tally = Tally::default();
        tally.ran.insert("pkg t0".into());
        assert_eq!(
            tally.gone(&baseline).len(),
            1,
            "a's test ran, a did not occur"
        );
        tally.matched.insert(baseline.entry_of(&a).unwrap());
        assert!(tally.gone(&baseline).is_empty());
        write(&path, &[], Some((&baseline, &tally))).unwrap();
        let again = Baseline::load(&path).unwrap();
        assert_eq!(again.entries.len(), 1);
        assert_eq!(again.entries[0].id, b.id, "b's test did not run: kept");
    }
}
