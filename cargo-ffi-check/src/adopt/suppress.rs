//! `[[suppress]]` entries of `.config/ffi-check.toml`: known findings that
//! are not to fail the run.
//!
//! ```toml
//! [[suppress]]
//! kind = "heap-buffer-overflow"     # optional: only findings of this kind
//! function = "png_read_*"           # exactly one of function, file, module, frame
//! reason = "upstream bug #123"      # optional, shown with -v
//! ```
//!
//! Patterns are globs, matched against the whole value:
//!
//! - `function`: the function of the finding's location (the innermost frame
//!   in the user's code, as shown after `-->`). `*` also matches `::`.
//! - `file`: the file of the finding's location, relative to the workspace
//!   root when inside it (as shown after `-->`). `*` stays within one path
//!   component, `**` crosses them.
//! - `module`: the module (executable or shared library) the fault happened
//!   in, that is of the innermost backtrace frame (the location's module
//!   when there is no backtrace), by full path or by file name: `libfoo.so*`
//!   and `/usr/lib/**/libfoo.so*` both match `/usr/lib/x86_64-linux-gnu/libfoo.so.1`.
//! - `frame`: any frame of the finding's stack (for a leak, the stack that
//!   allocated it; else its backtrace), by its function, its file or its
//!   module (full path or file name), as LeakSanitizer's and Valgrind's
//!   suppressions match: one entry covers a bug inside a library however
//!   it was reached. `*` matches across `::` and `/` here.
//!
//! A finding without a location is matched by `module` only. A job whose
//! every finding is suppressed counts as passed.

use crate::execute::outcome::JobReport;
use crate::findings::{self, Finding};
use anyhow::{anyhow, Result};
use globset::{GlobBuilder, GlobMatcher};
use std::path::Path;

/// What a pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Function,
    File,
    Module,
    Frame,
}

impl Target {
    const ALL: [Target; 4] = [
        Target::Function,
        Target::File,
        Target::Module,
        Target::Frame,
    ];

    fn key(self) -> &'static str {
        match self {
            Target::Function => "function",
            Target::File => "file",
            Target::Module => "module",
            Target::Frame => "frame",
        }
    }
}

/// One `[[suppress]]` entry.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Only findings of this kind, if set.
    pub kind: Option<String>,
    target: Target,
    pattern: String,
    matcher: GlobMatcher,
    /// Why, as the user wrote it.
    pub reason: Option<String>,
    /// 1-based position in the file.
    pub number: usize,
}

impl Rule {
    /// `[[suppress]] #2 (kind = "...", function = "...")`, for listings.
    pub fn describe(&self) -> String {
        let kind = self
            .kind
            .as_deref()
            .map(|k| format!("kind = \"{k}\", "))
            .unwrap_or_default();
        format!(
            "[[suppress]] #{} ({kind}{} = \"{}\")",
            self.number,
            self.target.key(),
            self.pattern
        )
    }

    /// True if this rule covers `f`.
    pub fn matches(&self, f: &Finding) -> bool {
        if self.kind.as_deref().is_some_and(|k| k != f.kind) {
            return false;
        }
        let location = f.location.as_ref();
        match self.target {
            Target::Function => location
                .and_then(|l| l.function.as_deref())
                .is_some_and(|n| self.matcher.is_match(n)),
            Target::File => location
                .and_then(|l| l.file.as_deref())
                .is_some_and(|p| self.matcher.is_match(p)),
            Target::Module => {
                let module = f
                    .backtrace
                    .first()
                    .and_then(|fr| fr.module.as_deref())
                    .or_else(|| location.and_then(|l| l.module.as_deref()));
                module.is_some_and(|m| self.matches_module(m))
            }
            Target::Frame => f.stack().iter().any(|fr| {
                fr.function
                    .as_deref()
                    .is_some_and(|n| self.matcher.is_match(n))
                    || fr.file.as_deref().is_some_and(|p| self.matcher.is_match(p))
                    || fr.module.as_deref().is_some_and(|m| self.matches_module(m))
            }),
        }
    }

    /// A module matches by full path or by file name.
    fn matches_module(&self, m: &str) -> bool {
        self.matcher.is_match(m)
            || Path::new(m)
                .file_name()
                .is_some_and(|n| self.matcher.is_match(n))
    }
}

/// Every `[[suppress]]` entry, in file order.
#[derive(Debug, Clone, Default)]
pub struct Suppressions {
    rules: Vec<Rule>,
}

impl Suppressions {
    /// Checks the entries; `shown` names the file in messages, unknown keys
    /// go to `warnings`.
    pub fn parse(
        entries: &[toml::Table],
        shown: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Suppressions> {
        let mut rules = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let number = i + 1;
            let at = format!("{shown} [[suppress]] #{number}");
            let string = |key: &str| -> Result<Option<String>> {
                match entry.get(key) {
                    None => Ok(None),
                    Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(anyhow!(
                        "invalid value for `{key}` in {at}: expected a string"
                    )),
                }
            };
            for key in entry.keys() {
                if !["kind", "function", "file", "module", "frame", "reason"]
                    .contains(&key.as_str())
                {
                    warnings.push(format!("unknown key `{key}` in {at}"));
                }
            }
            let kind = string("kind")?;
            if let Some(k) = kind
                .as_deref()
                .filter(|k| !findings::kinds().any(|n| n == *k))
            {
                return Err(anyhow!(
                    "invalid value for `kind` in {at}: `{k}` is not a finding kind (one of {})",
                    findings::kinds().collect::<Vec<_>>().join(", ")
                ));
            }
            let mut patterns = Vec::new();
            for target in Target::ALL {
                if let Some(p) = string(target.key())? {
                    patterns.push((target, p));
                }
            }
            let (target, pattern) = match patterns.len() {
                1 => patterns.remove(0),
                0 => {
                    return Err(anyhow!(
                        "{at} needs one of `function`, `file`, `module` or `frame`"
                    ))
                }
                _ => {
                    return Err(anyhow!(
                        "{at} has more than one of `function`, `file`, `module` and `frame`; use one entry for each"
                    ))
                }
            };
            let matcher = GlobBuilder::new(&pattern)
                .literal_separator(target == Target::File)
                .build()
                .map_err(|e| anyhow!("invalid value for `{}` in {at}: {e}", target.key()))?
                .compile_matcher();
            rules.push(Rule {
                kind,
                target,
                pattern,
                matcher,
                reason: string("reason")?,
                number,
            });
        }
        Ok(Suppressions { rules })
    }

    /// The first rule that covers `f`.
    pub fn matching(&self, f: &Finding) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matches(f))
    }

    /// Moves the findings of a job that a rule covers to `r.suppressed`;
    /// returns the rule of each, in order. The caller settles the job's
    /// status afterwards ([`JobReport::settle`]): suppressions hide
    /// findings, never a failing test.
    pub fn apply(&self, r: &mut JobReport) -> Vec<Rule> {
        let mut rules = Vec::new();
        let (mut kept, mut suppressed) = (Vec::new(), Vec::new());
        for f in std::mem::take(&mut r.findings) {
            match self.matching(&f) {
                Some(rule) => {
                    rules.push(rule.clone());
                    suppressed.push(f);
                }
                None => kept.push(f),
            }
        }
        r.findings = kept;
        r.suppressed = suppressed;
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Location;

    fn rules(text: &str) -> Result<Suppressions> {
        #[derive(serde::Deserialize)]
        struct F {
            suppress: Vec<toml::Table>,
        }
        let f: F = toml::from_str(text).unwrap();
        Suppressions::parse(&f.suppress, "f.toml", &mut Vec::new())
    }

    fn finding(kind: &str, function: &str, file: &str, module: &str) -> Finding {
        let mut f = Finding::test_failure("", "exit status: 1", "t");
        f.kind = kind.into();
        f.location = Some(Location {
            file: Some(file.into()),
            line: Some(3),
            column: None,
            function: Some(function.into()),
            module: Some("test_bin-0123".into()),
            module_offset: Some(0),
        });
        f.backtrace = vec![tracer::Frame {
            pc: 0,
            function: Some("strlen".into()),
            file: None,
            line: None,
            column: None,
            module: Some(module.into()),
            module_offset: 0,
            inlined: false,
        }];
        f
    }

    #[test]
    fn each_target_matches_its_own_field() {
        let s = rules(
            r#"
            [[suppress]]
            kind = "wild-access"
            function = "png_*"
            [[suppress]]
            file = "vendor/**/*.c"
            [[suppress]]
            module = "libfoo.so*"
            reason = "upstream"
            "#,
        )
        .unwrap();
        let at = |kind, function, file, module| {
            s.matching(&finding(kind, function, file, module))
                .map(|r| r.number)
        };
        assert_eq!(
            at("wild-access", "png_read_row", "src/a.c", "/bin/t"),
            Some(1)
        );
        assert_eq!(
            at("null-dereference", "png_read_row", "src/a.c", "/bin/t"),
            None
        );
        assert_eq!(at("crash", "f", "vendor/png/src/a.c", "/bin/t"), Some(2));
        assert_eq!(at("crash", "f", "src/vendor/a.c", "/bin/t"), None);
        assert_eq!(
            at(
                "crash",
                "f",
                "src/a.c",
                "/usr/lib/x86_64-linux-gnu/libfoo.so.1"
            ),
            Some(3)
        );
        assert_eq!(at("crash", "f", "src/a.c", "/usr/lib/libbar.so"), None);
        let f = finding("crash", "f", "src/a.c", "/usr/lib/libfoo.so.1");
        assert_eq!(
            s.matching(&f).unwrap().describe(),
            "[[suppress]] #3 (module = \"libfoo.so*\")"
        );
    }

    /// A `frame` entry matches any frame of the backtrace by function,
    /// file or module, and for a leak the allocation's stack instead.
    #[test]
    fn frame_globs_match_any_frame_and_a_leaks_allocation_stack() {
        let s = rules("[[suppress]]\nframe = \"libcrypto_*\"\n[[suppress]]\nkind = \"leak\"\nframe = \"*/vendor/**\"\n")
            .unwrap();
        let frame = |function: &str, file: &str, module: &str| tracer::Frame {
            pc: 0,
            function: Some(function.into()),
            file: Some(file.into()),
            line: None,
            column: None,
            module: Some(module.into()),
            module_offset: 0,
            inlined: false,
        };
        let mut f = finding("wild-access", "caller", "src/a.c", "/bin/t");
        f.backtrace = vec![
            frame("inner", "x.c", "/bin/t"),
            frame("libcrypto_new", "y.c", "/bin/t"),
        ];
        assert_eq!(s.matching(&f).map(|r| r.number), Some(1));
        f.backtrace = vec![frame("inner", "x.c", "/bin/t")];
        assert_eq!(s.matching(&f).map(|r| r.number), None);
        // A leak: its allocation's stack, not its (empty) backtrace.
        let mut leak = finding("leak", "caller", "src/a.c", "/bin/t");
        leak.backtrace = Vec::new();
        leak.allocation = Some(tracer::Allocation {
            address: 0x1000,
            size: 16,
            allocated_tid: 1,
            allocated_at: vec![frame("malloc_wrapper", "/build/vendor/lib/a.c", "/bin/t")],
            freed_tid: None,
            freed_at: Vec::new(),
        });
        assert_eq!(s.matching(&leak).map(|r| r.number), Some(2));
        leak.allocation.as_mut().unwrap().allocated_at = vec![frame("f", "src/b.c", "/bin/t")];
        assert_eq!(s.matching(&leak).map(|r| r.number), None);
    }

    #[test]
    fn function_globs_cross_path_separators_and_file_globs_do_not() {
        let s = rules("[[suppress]]\nfunction = \"my_crate::*\"\n[[suppress]]\nfile = \"src/*\"\n")
            .unwrap();
        assert!(s
            .matching(&finding("crash", "my_crate::a::b", "x.c", "m"))
            .is_some());
        assert!(s
            .matching(&finding("crash", "f", "src/a/b.c", "m"))
            .is_none());
        assert!(s.matching(&finding("crash", "f", "src/b.c", "m")).is_some());
    }

    #[test]
    fn entries_need_exactly_one_pattern_and_a_known_kind() {
        for (text, says) in [
            (
                "[[suppress]]\nkind = \"crash\"\n",
                "needs one of `function`, `file`, `module` or `frame`",
            ),
            (
                "[[suppress]]\nfile = \"a\"\nmodule = \"b\"\n",
                "more than one",
            ),
            (
                "[[suppress]]\nkind = \"memory-leak\"\nfile = \"a\"\n",
                "`memory-leak` is not a finding kind",
            ),
            (
                "[[suppress]]\nfile = 3\n",
                "`file` in f.toml [[suppress]] #1: expected a string",
            ),
            (
                "[[suppress]]\nfunction = \"a[\"\n",
                "invalid value for `function`",
            ),
        ] {
            let err = rules(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        // The newer kinds are kinds.
        for kind in ["leak", "signal-unsafe-call"] {
            let text = format!("[[suppress]]\nkind = \"{kind}\"\nfile = \"a\"\n");
            assert!(rules(&text).is_ok(), "{kind}");
        }
    }
}
