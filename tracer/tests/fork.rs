//! The guard allocator's tables in a child forked while other threads
//! allocate and free (preload/tests/fork_test.c): the child inherits them
//! whole, never half-updated, in every one of 200 forks.

use std::path::Path;
use std::process::Command;

#[test]
fn a_child_forked_while_threads_allocate_inherits_whole_tables() {
    let preload = Path::new(env!("CARGO_MANIFEST_DIR")).join("preload");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fork-test");
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
    let exe = dir.join("fork_test");
    let built = Command::new("cc")
        .args(["-O0", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(&exe)
        .arg(preload.join("tests/fork_test.c"))
        .arg(&library)
        .status()
        .unwrap();
    assert!(built.success(), "fork_test.c does not build");
    for seed in ["0", "1"] {
        let out = Command::new(&exe)
            .env("LD_PRELOAD", &library)
            .env("FFI_CHECK_SEED", seed)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.trim() == "ok",
            "seed {seed}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
