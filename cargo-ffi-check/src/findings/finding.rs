//! One finding of one job: its kind, where it points, its stable id, and
//! the stack that says where the bug is; and a failed test's panic.

use super::frames::{
    is_allocation_wrapper, is_c_runtime_frame, is_runtime_frame, location_of, relative, user_frames,
};
use serde::Serialize;
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
}
