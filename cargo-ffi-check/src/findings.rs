//! Findings as the user sees them: located, identified, and deduplicated
//! across tests and seeds.

use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The kind of a failed test (a panic or a non-zero exit) without a memory
/// finding; every other kind is one of [`tracer::FindingKind`].
pub const TEST_FAILURE: &str = "test-failure";

/// Every finding kind a report can show, in the order reports list them.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    tracer::FindingKind::ALL
        .iter()
        .map(|k| k.as_str())
        .chain([TEST_FAILURE])
}

/// Where a finding points: the first frame in the user's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Source file, relative to the workspace root when inside it.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column.
    pub column: Option<u32>,
    /// Function name.
    pub function: Option<String>,
    /// File name of the module (executable or library).
    pub module: Option<String>,
    /// Offset in the module.
    pub module_offset: Option<u64>,
}

impl Location {
    /// `file:line:col`, or `function (module+0xoff)` without debug info.
    pub fn short(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => match self.column {
                Some(c) => format!("{f}:{l}:{c}"),
                None => format!("{f}:{l}"),
            },
            _ => format!(
                "{} ({}+{:#x})",
                self.function.as_deref().unwrap_or("??"),
                self.module.as_deref().unwrap_or("??"),
                self.module_offset.unwrap_or(0)
            ),
        }
    }
}

/// One finding of one job, in the report's terms.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable id: a hash of the kind and the location (see [`finding_id`]).
    pub id: String,
    /// `heap-buffer-overflow`, ..., `null-dereference`, `wild-access`,
    /// `stack-overflow`, `crash`, `hang`, `timeout` or `test-failure`.
    pub kind: String,
    /// One-line description.
    pub message: String,
    /// The first frame in the user's code.
    pub location: Option<Location>,
    /// The faulting access.
    pub access: Option<tracer::Access>,
    /// The faulting instruction.
    pub instruction: Option<String>,
    /// The signal involved.
    pub signal: Option<String>,
    /// The thread.
    pub thread: Option<tracer::ThreadInfo>,
    /// Innermost first, paths relative to the workspace.
    pub backtrace: Vec<tracer::Frame>,
    /// For timeouts: every thread and what it was doing.
    pub threads: Vec<tracer::ThreadState>,
    /// Extra lines.
    pub notes: Vec<String>,
    /// For heap findings: the allocation, where it was made and freed.
    pub allocation: Option<tracer::Allocation>,
    /// Times it happened in this job (heap accesses are performed for the
    /// test, which goes on, so one can recur).
    pub occurrences: u64,
    /// The last events of the seeded schedule before it, oldest first.
    pub events: Vec<tracer::SchedEvent>,
    /// With `--baseline`: whether the baseline has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Mark>,
}

/// A finding against `--baseline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mark {
    /// Not in the baseline: it fails the run.
    New,
    /// In the baseline: shown, but fails nothing.
    Known,
}

/// Frames from the Rust standard library and the test harness are not the
/// user's code.
pub fn is_runtime_frame(f: &tracer::Frame) -> bool {
    let file_is_std = f.file.as_deref().is_some_and(|p| {
        p.starts_with("/rustc/") || p.contains("/library/std/") || p.contains("/library/core/")
    });
    let fun = f.function.as_deref().unwrap_or("");
    file_is_std
        || [
            "std::", "core::", "alloc::", "test::", "__rust", "<std::", "<core::", "<alloc::",
        ]
        .iter()
        .any(|p| fun.starts_with(p))
}

/// A frame of the guard allocator or of Rust's allocation machinery: not
/// where the user's code allocated or freed.
pub fn is_allocator_frame(f: &tracer::Frame) -> bool {
    let in_guard = f.module.as_deref().is_some_and(|m| {
        m.rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("guard-") && n.ends_with(".so"))
    });
    let fun = f.function.as_deref().unwrap_or("");
    in_guard
        || [
            "malloc",
            "calloc",
            "realloc",
            "free",
            "posix_memalign",
            "aligned_alloc",
            "memalign",
        ]
        .contains(&fun)
        || [
            "alloc::",
            "<alloc::",
            "__rdl_",
            "__rust_",
            "std::sys::alloc",
            "<std::alloc::",
            "core::ptr::drop_in_place",
            "core::mem::drop",
        ]
        .iter()
        .any(|p| fun.starts_with(p))
        || fun.contains(" as alloc::")
}

/// A frame of the C runtime: libc, the dynamic loader, libstdc++, libgcc.
/// Bugs are found there (`strlen` reading past a buffer, `strdup`'s
/// allocation leaked) but are not theirs.
pub fn is_c_runtime_frame(f: &tracer::Frame) -> bool {
    f.module.as_deref().is_some_and(|m| {
        let name = m.rsplit('/').next().unwrap_or(m);
        [
            "libc.so",
            "libc-",
            "ld-linux",
            "libstdc++.so",
            "libgcc_s.so",
            "libm.so",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    })
}

/// True for a function named as an allocation wrapper (`git__malloc`,
/// `CRYPTO_zalloc`, `g_malloc0`, `git__substrdup`, `stdalloc__free`): the
/// last word of its name, digits dropped, is an allocator's.
pub fn is_allocation_wrapper(name: &str) -> bool {
    let last = name
        .rsplit(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_ascii_lowercase();
    [
        "malloc",
        "calloc",
        "realloc",
        "reallocarray",
        "strdup",
        "strndup",
        "memdup",
    ]
    .iter()
    .any(|w| last.ends_with(w))
        || ["alloc", "zalloc", "free", "allocate", "deallocate"].contains(&last.as_str())
}

/// The frames after the leading allocator frames.
pub fn user_frames(frames: &[tracer::Frame]) -> &[tracer::Frame] {
    let skip = frames.iter().take_while(|f| is_allocator_frame(f)).count();
    if skip == frames.len() {
        frames
    } else {
        &frames[skip..]
    }
}

/// Where a short backtrace ends: at libtest's entry into the test, or at the
/// first runtime frame below the user's frames (what follows is the harness).
pub fn short_backtrace_len(frames: &[tracer::Frame]) -> usize {
    let mut seen_user = false;
    for (i, f) in frames.iter().enumerate() {
        let runtime = is_runtime_frame(f);
        if f.function
            .as_deref()
            .is_some_and(|n| n.contains("__rust_begin_short_backtrace"))
            || (runtime && seen_user)
        {
            return i;
        }
        seen_user |= !runtime && f.file.is_some();
    }
    frames.len()
}

fn relative(path: &str, root: &Path) -> String {
    Path::new(path)
        .strip_prefix(root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string())
}

fn module_name(m: &Option<String>) -> Option<String> {
    m.as_deref().map(|p| {
        Path::new(p)
            .file_name()
            .map_or(p.into(), |n| n.to_string_lossy().into_owned())
    })
}

/// The frame a finding points at: the innermost frame in the workspace (so a
/// fault inside libc's `strlen` points at the C or Rust line that called it),
/// else the innermost frame with a source line outside the Rust runtime that
/// is not an allocation wrapper (a leak inside a library points at the line
/// that called `git__malloc`, not at `git__malloc`), else any with a source
/// line, else the innermost frame.
fn location_of(frames: &[tracer::Frame], root: &Path) -> Option<Location> {
    let has_line = |f: &&tracer::Frame| f.line.is_some() && !is_runtime_frame(f);
    let in_workspace = |f: &&tracer::Frame| {
        f.file
            .as_deref()
            .is_some_and(|p| Path::new(p).starts_with(root))
    };
    let frame = frames
        .iter()
        .filter(has_line)
        .find(in_workspace)
        .or_else(|| {
            frames.iter().find(|f| {
                f.file.is_some()
                    && has_line(f)
                    && !f.function.as_deref().is_some_and(is_allocation_wrapper)
            })
        })
        .or_else(|| frames.iter().find(|f| f.file.is_some() && has_line(f)))
        .or_else(|| frames.first())?;
    let frame = &tracer::Frame {
        file: frame.file.as_deref().map(|p| relative(p, root)),
        ..frame.clone()
    };
    Some(Location {
        file: frame.file.clone(),
        line: frame.line,
        column: frame.column,
        function: frame.function.clone(),
        module: module_name(&frame.module),
        module_offset: Some(frame.module_offset),
    })
}

/// The stable id of a finding: a hash of its kind and location only
/// (`file:line:column` and function, or `function (module+offset)` without
/// debug info), so the same bug has the same id in every test, seed and run.
/// Only a finding without a location (a timeout, a crash with no frame) is
/// identified by its kind and `test`, the libtest name.
pub fn finding_id(kind: &str, location: Option<&Location>, test: &str) -> String {
    let key = match location {
        Some(l) if l.file.is_some() => format!(
            "{kind}|{}|{}",
            l.short(),
            l.function.as_deref().unwrap_or("")
        ),
        Some(l) if kind != "timeout" => format!("{kind}|{}", l.short()),
        _ => format!("{kind}|test|{test}"),
    };
    format!(
        "FFC-{:012x}",
        tracer::hash::fnv1a(key.as_bytes()) & 0xffff_ffff_ffff
    )
}

impl Finding {
    /// Converts a supervisor finding, with paths made relative to `root`.
    pub fn from_tracer(f: &tracer::Finding, root: &Path, test: &str) -> Finding {
        let relative_frames = |frames: &[tracer::Frame]| -> Vec<tracer::Frame> {
            frames
                .iter()
                .map(|fr| tracer::Frame {
                    file: fr.file.as_deref().map(|p| relative(p, root)),
                    ..fr.clone()
                })
                .collect()
        };
        let backtrace = relative_frames(&f.backtrace);
        let threads = f
            .threads
            .iter()
            .map(|t| tracer::ThreadState {
                backtrace: relative_frames(&t.backtrace),
                ..t.clone()
            })
            .collect();
        let allocation = f.allocation.as_ref().map(|a| tracer::Allocation {
            allocated_at: relative_frames(&a.allocated_at),
            freed_at: relative_frames(&a.freed_at),
            ..a.clone()
        });
        let kind = f.kind.as_str().to_string();
        let location = if matches!(
            f.kind,
            tracer::FindingKind::Timeout | tracer::FindingKind::Hang
        ) {
            None
        } else {
            location_of(&f.backtrace, root)
        };
        Finding {
            id: finding_id(&kind, location.as_ref(), test),
            kind,
            message: f.message.clone(),
            location,
            access: f.access.clone(),
            instruction: f.instruction.clone(),
            signal: f.signal.clone(),
            thread: f.thread.clone(),
            backtrace,
            threads,
            notes: f.notes.clone(),
            allocation,
            occurrences: f.count,
            events: f.events.clone(),
            baseline: None,
        }
    }

    /// The stack that says where the bug is: for a leak, the stack that
    /// allocated it (a leak's backtrace is empty); else the backtrace.
    pub fn stack(&self) -> &[tracer::Frame] {
        match (&self.allocation, self.kind.as_str()) {
            (Some(a), "leak") => &a.allocated_at,
            _ => &self.backtrace,
        }
    }

    /// The frames of [`Finding::stack`] in the program's code, innermost
    /// first: without the allocator's frames, the Rust runtime's and the C
    /// runtime's (libc, the dynamic loader, libstdc++, libgcc).
    pub fn program_frames(&self) -> impl Iterator<Item = &tracer::Frame> {
        user_frames(self.stack())
            .iter()
            .filter(|f| !is_runtime_frame(f) && !is_c_runtime_frame(f))
    }

    /// The frames that name the code the bug is in: the
    /// [`Finding::program_frames`] that have a function name. A finding
    /// inside a dependency starts at its innermost frame there.
    pub fn code_frames(&self) -> impl Iterator<Item = &tracer::Frame> {
        self.program_frames().filter(|f| f.function.is_some())
    }

    /// The frames of the code that made the bug: [`Finding::code_frames`]
    /// past a library's own allocation wrappers (`git__malloc`), unless
    /// there is nothing else. What `--gen-suppressions` names and
    /// `--baseline` matches.
    pub fn site_frames(&self) -> impl Iterator<Item = &tracer::Frame> {
        let wrapper = |f: &&tracer::Frame| f.function.as_deref().is_some_and(is_allocation_wrapper);
        let all_wrappers = self.code_frames().all(|f| wrapper(&f));
        self.code_frames()
            .skip_while(move |f| !all_wrappers && wrapper(f))
    }

    /// A failed test (a panic, or a non-zero exit) without a memory finding.
    pub fn test_failure(stderr: &str, exit: &str, test: &str) -> Finding {
        let (location, message) = match parse_panic(stderr) {
            Some((loc, msg)) => (Some(loc), msg),
            None => (None, format!("the test failed: {exit}")),
        };
        Finding {
            id: finding_id(TEST_FAILURE, location.as_ref(), test),
            kind: TEST_FAILURE.into(),
            message,
            location,
            access: None,
            instruction: None,
            signal: None,
            thread: None,
            backtrace: Vec::new(),
            threads: Vec::new(),
            notes: Vec::new(),
            allocation: None,
            occurrences: 1,
            events: Vec::new(),
            baseline: None,
        }
    }
}

/// The location and message of the first panic in a test's stderr:
/// `thread 'NAME' panicked at FILE:LINE:COL:` followed by the message.
pub fn parse_panic(stderr: &str) -> Option<(Location, String)> {
    let mut lines = stderr.lines();
    // `thread 'NAME' panicked at` before Rust 1.88, `thread 'NAME' (TID) panicked at` since.
    let at = lines
        .by_ref()
        .filter(|l| l.starts_with("thread '"))
        .find_map(|l| l.split_once(" panicked at ").map(|(_, rest)| rest))?;
    let at = at.trim_end().trim_end_matches(':');
    let mut parts = at.rsplitn(3, ':');
    let column = parts.next()?.parse().ok();
    let line = parts.next()?.parse().ok();
    let file = parts.next()?.to_string();
    let message: Vec<&str> = lines
        .take_while(|l| {
            !l.starts_with("note: ") && !l.starts_with("stack backtrace:") && !l.is_empty()
        })
        .collect();
    let location = Location {
        file: Some(file),
        line,
        column,
        function: None,
        module: None,
        module_offset: None,
    };
    Some((location, message.join("\n")))
}

/// A distinct finding and everywhere it was seen.
#[derive(Debug, Clone, Serialize)]
pub struct Distinct {
    /// The first occurrence (its fields appear at the top level in JSON).
    #[serde(flatten)]
    pub finding: Finding,
    /// Tests that showed it (display names).
    pub tests: BTreeSet<String>,
    /// Seeds that showed it.
    pub seeds: BTreeSet<u64>,
    /// How many times it happened, over every job.
    pub count: u64,
    /// The libtest name of the first test that showed it (for the rerun command).
    pub first_test: String,
}

/// Findings deduplicated by id, in the order first seen.
#[derive(Debug, Default)]
pub struct Findings {
    order: Vec<Distinct>,
    index: HashMap<String, usize>,
}

impl Findings {
    /// Records one occurrence; returns true if it was not seen before.
    pub fn add(&mut self, f: &Finding, test_display: &str, test_name: &str, seed: u64) -> bool {
        let i = match self.index.get(&f.id) {
            Some(&i) => i,
            None => {
                self.index.insert(f.id.clone(), self.order.len());
                self.order.push(Distinct {
                    finding: f.clone(),
                    tests: BTreeSet::new(),
                    seeds: BTreeSet::new(),
                    count: 0,
                    first_test: test_name.to_string(),
                });
                self.order.len() - 1
            }
        };
        let d = &mut self.order[i];
        let new = d.count == 0;
        d.count += f.occurrences;
        d.tests.insert(test_display.to_string());
        d.seeds.insert(seed);
        new
    }

    /// The distinct findings, in the order first seen.
    pub fn all(&self) -> &[Distinct] {
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_panic_with_a_thread_id() {
        let stderr = "\nthread 'tests::fails' (6817) panicked at src/lib.rs:6:26:\nassertion failed: math\nstack backtrace:\n   0: x\n";
        let (loc, msg) = parse_panic(stderr).unwrap();
        assert_eq!(loc.short(), "src/lib.rs:6:26");
        assert_eq!(msg, "assertion failed: math");
    }

    #[test]
    fn parses_a_libtest_panic() {
        let stderr = "thread 'tests::p' panicked at src/lib.rs:12:9:\nassertion `left == right` failed: arithmetic is broken\n  left: 2\n right: 3\nnote: run with `RUST_BACKTRACE=1`\n";
        let (loc, msg) = parse_panic(stderr).unwrap();
        assert_eq!(loc.short(), "src/lib.rs:12:9");
        assert_eq!(
            msg,
            "assertion `left == right` failed: arithmetic is broken\n  left: 2\n right: 3"
        );
    }

    fn frame(function: &str, file: Option<&str>) -> tracer::Frame {
        tracer::Frame {
            pc: 0,
            function: Some(function.into()),
            file: file.map(Into::into),
            line: file.map(|_| 7),
            column: None,
            module: Some("/lib/libc.so.6".into()),
            module_offset: 0x10,
            inlined: false,
        }
    }

    /// Allocation wrappers are named by the last word of their name.
    #[test]
    fn allocation_wrappers_are_told_by_their_names() {
        for name in [
            "stdalloc__malloc",
            "git__substrdup",
            "git__reallocarray",
            "CRYPTO_zalloc",
            "g_malloc0",
            "stdalloc__free",
            "PyMem_Malloc",
        ] {
            assert!(is_allocation_wrapper(name), "{name}");
        }
        for name in [
            "extract_trimmed",
            "git_signature_new",
            "freeze",
            "allocator_init",
            "my::Pool::new",
        ] {
            assert!(!is_allocation_wrapper(name), "{name}");
        }
    }

    /// Outside the workspace, a leak inside a library points at the line
    /// that called its allocation wrappers, not at the wrappers.
    #[test]
    fn a_location_outside_the_workspace_passes_over_allocation_wrappers() {
        let root = Path::new("/ws");
        let frames = [
            frame(
                "stdalloc__malloc",
                Some("/reg/libgit2/src/util/allocators/stdalloc.c"),
            ),
            frame("git__substrdup", Some("/reg/libgit2/src/util/util.h")),
            frame(
                "extract_trimmed",
                Some("/reg/libgit2/src/libgit2/signature.c"),
            ),
            frame(
                "git_signature_new",
                Some("/reg/libgit2/src/libgit2/signature.c"),
            ),
        ];
        let loc = location_of(&frames, root).unwrap();
        assert_eq!(loc.function.as_deref(), Some("extract_trimmed"));
        // Wrappers only: the innermost with a line.
        let loc = location_of(&frames[..2], root).unwrap();
        assert_eq!(loc.function.as_deref(), Some("stdalloc__malloc"));
    }

    #[test]
    fn locations_prefer_the_workspace_over_system_libraries() {
        let root = Path::new("/ws");
        let frames = [
            frame(
                "__pthread_kill_implementation",
                Some("./nptl/pthread_kill.c"),
            ),
            frame("abort", None),
            frame("c_abort", Some("/ws/pkg/csrc/bugs.c")),
        ];
        let loc = location_of(&frames, root).unwrap();
        assert_eq!(loc.file.as_deref(), Some("pkg/csrc/bugs.c"));
        assert_eq!(loc.function.as_deref(), Some("c_abort"));
        // Nothing in the workspace: the innermost frame with a line.
        let loc = location_of(&frames[..2], root).unwrap();
        assert_eq!(
            loc.function.as_deref(),
            Some("__pthread_kill_implementation")
        );
        // No lines at all: the innermost frame, by module and offset.
        let loc = location_of(&frames[1..2], root).unwrap();
        assert_eq!(loc.short(), "abort (libc.so.6+0x10)");
    }

    #[test]
    fn allocation_sites_skip_the_allocator_and_rusts_alloc_machinery() {
        let mut guard = frame("free", None);
        guard.module = Some("/home/u/.cache/cargo-ffi-check/guard-0123456789abcdef.so".into());
        let frames = [
            guard,
            frame(
                "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
                Some("/rustc/x/library/alloc/src/vec/spec_from_elem.rs"),
            ),
            frame(
                "alloc::vec::from_elem",
                Some("/rustc/x/library/alloc/src/vec/mod.rs"),
            ),
            frame("my_crate::tests::t", Some("/ws/src/lib.rs")),
        ];
        let user = user_frames(&frames);
        assert_eq!(user[0].function.as_deref(), Some("my_crate::tests::t"));
        // Nothing but allocator frames: keep them rather than show nothing.
        assert_eq!(user_frames(&frames[..1]).len(), 1);
    }

    #[test]
    fn ids_depend_on_kind_and_location_only() {
        let loc = |line| Location {
            file: Some("a.c".into()),
            line: Some(line),
            column: None,
            function: Some("f".into()),
            module: None,
            module_offset: None,
        };
        assert_eq!(
            finding_id("wild-access", Some(&loc(3)), "t1"),
            finding_id("wild-access", Some(&loc(3)), "t2")
        );
        assert_ne!(
            finding_id("wild-access", Some(&loc(3)), "t1"),
            finding_id("wild-access", Some(&loc(4)), "t1")
        );
        assert_ne!(
            finding_id("wild-access", Some(&loc(3)), "t"),
            finding_id("null-dereference", Some(&loc(3)), "t")
        );
        assert_ne!(
            finding_id("timeout", None, "t1"),
            finding_id("timeout", None, "t2")
        );
        assert!(finding_id("crash", None, "t").starts_with("FFC-"));
        // Without debug info the module and offset locate it, not the test.
        let bare = Location {
            file: None,
            line: None,
            column: None,
            function: Some("f".into()),
            module: Some("libx.so".into()),
            module_offset: Some(0x40),
        };
        assert_eq!(
            finding_id("crash", Some(&bare), "t1"),
            finding_id("crash", Some(&bare), "t2")
        );
        // A pinned value: ids must not change between versions of the tool.
        assert_eq!(
            finding_id("wild-access", Some(&loc(3)), "t"),
            "FFC-055f3143ab43"
        );
    }

    #[test]
    fn deduplicates_across_tests_and_seeds() {
        let f = Finding::test_failure(
            "thread 'x' panicked at src/a.rs:1:1:\nboom\n",
            "exit status: 101",
            "x",
        );
        let mut all = Findings::default();
        assert!(all.add(&f, "pkg x", "x", 0));
        assert!(!all.add(&f, "pkg y", "y", 3));
        assert_eq!(all.all().len(), 1);
        assert_eq!(all.all()[0].count, 2);
        assert_eq!(
            all.all()[0].seeds.iter().copied().collect::<Vec<_>>(),
            [0, 3]
        );
    }
}
