//! The guard allocator's stack depot (preload/guard.c) under two threads
//! recording the same stacks at once: preload/tests/depot_test.c checks
//! that a stack gets one id, distinct stacks distinct ids, and that 40 000
//! allocations from 8 stacks make a handful of entries; and that such a
//! program ends cleanly (glibc's malloc initialised before any thread).

use std::path::Path;
use std::process::Command;

#[test]
fn the_depot_gives_one_id_per_stack_across_threads() {
    let preload = Path::new(env!("CARGO_MANIFEST_DIR")).join("preload");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("depot-test");
    std::fs::create_dir_all(&dir).unwrap();
    let library = dir.join("guard.so");
    // Every part of the library, as build.rs compiles it.
    let sources: Vec<_> = std::fs::read_dir(&preload)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-o"])
        .arg(&library)
        .args(&sources)
        .args(["-pthread", "-ldl", "-lgcc_s"])
        .status();
    let Ok(built) = built else {
        eprintln!("skipping: no C compiler");
        return;
    };
    assert!(built.success(), "the preloaded library does not build");
    let exe = dir.join("depot_test");
    let built = Command::new("cc")
        .args(["-O0", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(&exe)
        .arg(preload.join("tests/depot_test.c"))
        .arg(&library)
        .status()
        .unwrap();
    assert!(built.success(), "depot_test.c does not build");
    // Twenty runs: the two threads' first unguarded allocations come at the
    // same moment, and before the allocator initialised glibc's malloc
    // itself that made a few runs in a hundred abort at thread exit
    // (glibc's "a->attached_threads > 0").
    for _ in 0..20 {
        let out = Command::new(&exe)
            .env("LD_PRELOAD", &library)
            .env("FFI_CHECK_SEED", "0")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.trim() == "ok",
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
