//! The seeded schedule's table of the program's pending clocks
//! (preload/schedule/clocks.c), compiled on its own with a driver
//! (preload/tests/clocks_test.c): a hold sees another thread's sleep,
//! timed wait or timer until it runs out or ends, never its own, the
//! nearest first; a wait longer than the window is never aimed at and
//! limits every hold to end half its length before its deadline; a
//! process's timer is replaced when it arms another.

mod standalone;

use std::process::Command;

#[test]
fn holds_see_other_threads_clocks_and_respect_generous_waits() {
    let Some(exe) = standalone::build("clocks_test", "-O1", &["schedule/clocks.c"], &[]) else {
        return;
    };
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.trim() == "ok", "{text}");
}
