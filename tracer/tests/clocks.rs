//! The seeded schedule's table of the program's pending clocks
//! (preload/schedule/clocks.c), compiled on its own with a driver
//! (preload/tests/clocks_test.c): a hold sees another thread's sleep,
//! timed wait or timer until it runs out or ends, never its own, the
//! nearest first; a wait longer than the window is never aimed at and
//! limits every hold to end half its length before its deadline; a
//! process's timer is replaced when it arms another.

use std::path::Path;
use std::process::Command;

#[test]
fn holds_see_other_threads_clocks_and_respect_generous_waits() {
    let preload = Path::new(env!("CARGO_MANIFEST_DIR")).join("preload");
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clocks_test");
    let built = Command::new("cc")
        .args(["-O1", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(preload.join("tests/clocks_test.c"))
        .arg(preload.join("schedule/clocks.c"))
        .status();
    let Ok(built) = built else {
        eprintln!("skipping: no C compiler");
        return;
    };
    assert!(built.success(), "clocks_test.c does not build");
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.trim() == "ok", "{text}");
}
