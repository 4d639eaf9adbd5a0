//! Telling a stack's frames apart (the allocator's, the Rust runtime's, the
//! C runtime's, a library's allocation wrappers, the user's), and the frame
//! a finding points at.

use super::Location;
use std::path::Path;

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

pub(super) fn relative(path: &str, root: &Path) -> String {
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
pub(super) fn location_of(frames: &[tracer::Frame], root: &Path) -> Option<Location> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
