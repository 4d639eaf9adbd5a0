//! Building a C test driver of `preload/tests/` together with the one part
//! of the preloaded library it tests, compiled on their own (no library,
//! nothing preloaded), for the tests of a part that stands alone.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `preload/tests/{driver}.c` and `sources` (paths under `preload/`)
/// compiled with `opt` and `libs` into `{driver}{opt}` in the tests'
/// temporary directory; `None` (the test is skipped) when there is no C
/// compiler.
pub fn build(driver: &str, opt: &str, sources: &[&str], libs: &[&str]) -> Option<PathBuf> {
    let preload = Path::new(env!("CARGO_MANIFEST_DIR")).join("preload");
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{driver}{opt}"));
    let built = Command::new("cc")
        .arg(opt)
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(preload.join(format!("tests/{driver}.c")))
        .args(sources.iter().map(|s| preload.join(s)))
        .args(libs)
        .status();
    let Ok(built) = built else {
        eprintln!("skipping: no C compiler");
        return None;
    };
    assert!(built.success(), "{driver}.c does not build with {opt}");
    Some(exe)
}
