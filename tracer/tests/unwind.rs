//! The preloaded library's stack walker (preload/alloc/unwind.c) gives the same
//! frames as libgcc's `_Unwind_Backtrace`: preload/tests/unwind_test.c
//! compares them from many points, optimized and not, and from an
//! allocator-like entry stub (`ffc_backtrace_from`).

mod standalone;

use std::process::Command;

#[test]
fn the_cached_walker_matches_libgcc() {
    for opt in ["-O0", "-O2"] {
        let Some(exe) = standalone::build("unwind_test", opt, &["alloc/unwind.c"], &["-lgcc_s"])
        else {
            return;
        };
        let out = Command::new(&exe).output().unwrap();
        assert!(
            out.status.success(),
            "{opt}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("68 walks, 0 mismatched"), "{opt}: {text}");
    }
}
