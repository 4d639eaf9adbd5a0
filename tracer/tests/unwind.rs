//! The preloaded library's stack walker (preload/alloc/unwind.c) gives the same
//! frames as libgcc's `_Unwind_Backtrace`: preload/tests/unwind_test.c
//! compares them from many points, optimized and not, and from an
//! allocator-like entry stub (`ffc_backtrace_from`).

use std::path::Path;
use std::process::Command;

#[test]
fn the_cached_walker_matches_libgcc() {
    let preload = Path::new(env!("CARGO_MANIFEST_DIR")).join("preload");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("unwind-test");
    std::fs::create_dir_all(&dir).unwrap();
    for opt in ["-O0", "-O2"] {
        let exe = dir.join(format!("unwind_test{opt}"));
        let built = Command::new("cc")
            .arg(opt)
            .args(["-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&exe)
            .arg(preload.join("tests/unwind_test.c"))
            .arg(preload.join("alloc/unwind.c"))
            .arg("-lgcc_s")
            .status();
        let Ok(built) = built else {
            eprintln!("skipping: no C compiler");
            return;
        };
        assert!(built.success(), "unwind_test.c does not build with {opt}");
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
