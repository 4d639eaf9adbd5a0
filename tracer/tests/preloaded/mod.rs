//! Building a C test program of `preload/tests/` against the preloaded
//! library (every part of it, as build.rs compiles it), and running it
//! with the library preloaded, for the tests that look inside the library.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../preload/sources.rs"]
mod sources;

/// The library and `preload/tests/{name}.c` built into a directory of
/// their own; `None` (the test is skipped) when there is no C compiler.
pub fn build(name: &str) -> Option<(PathBuf, PathBuf)> {
    let preload = Path::new(env!("CARGO_MANIFEST_DIR")).join("preload");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-dir"));
    std::fs::create_dir_all(&dir).unwrap();
    let library = dir.join("guard.so");
    let sources = sources::c_sources(&preload);
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-o"])
        .arg(&library)
        .args(&sources)
        .args(["-pthread", "-ldl", "-lgcc_s"])
        .status();
    let Ok(built) = built else {
        eprintln!("skipping: no C compiler");
        return None;
    };
    assert!(built.success(), "the preloaded library does not build");
    let exe = dir.join(name);
    let built = Command::new("cc")
        .args(["-O0", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(&exe)
        .arg(preload.join(format!("tests/{name}.c")))
        .arg(&library)
        .status()
        .unwrap();
    assert!(built.success(), "{name}.c does not build");
    Some((library, exe))
}

/// Runs `exe` with `library` preloaded under `seed` (and `env`); asserts
/// it succeeded and printed "ok".
pub fn run_ok(library: &Path, exe: &Path, seed: &str, env: &[(&str, &str)]) {
    let out = Command::new(exe)
        .env("LD_PRELOAD", library)
        .env("FFI_CHECK_SEED", seed)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim() == "ok",
        "seed {seed}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
