//! What people see: status lines, the finding block, the summary line.

use crate::support::*;

#[test]
fn human_output_shows_the_finding_once_with_its_location_and_a_summary() {
    let run = run_human(&[
        "-p",
        "ffi-bugs",
        "--seeds",
        "0..2",
        "null_write",
        "clean_c_call",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let e = &run.stderr;
    let line = bug_line("ffi-bugs/csrc/bugs.c", "write_result");
    assert_eq!(
        e.matches("error[null-dereference]: WRITE of size 4 at 0x0")
            .count(),
        1,
        "{e}"
    );
    // Paths are relative to the workspace root, as in rustc's diagnostics.
    assert!(
        e.contains(&format!("--> ffi-bugs/csrc/bugs.c:{line}:")),
        "{e}"
    );
    assert!(e.contains("in write_result"), "{e}");
    // Printed when first seen (by whichever seed finished first), with what
    // selects the same binary from the same place.
    let manifest = fixtures().join("Cargo.toml");
    let rerun = |seed| {
        format!(
            "rerun: cargo ffi-check --manifest-path {} --target-dir {} -p ffi-bugs --seeds {seed} --exact tests::null_write_through_out_pointer",
            manifest.display(),
            target_dir().display()
        )
    };
    assert!(e.contains(&rerun(0)) || e.contains(&rerun(1)), "{e}");
    assert!(e.contains("SIGSEGV [") && e.contains("PASS ["), "{e}");
    assert!(
        e.contains("2 tests x 2 seeds: 2 passed, 0 failed, 2 with findings, 0 hung"),
        "{e}"
    );
}

/// The rerun command of a finding runs the same test under the same seed
/// with the same settings and test arguments, and finds the same thing.
#[test]
fn the_rerun_command_reproduces_the_run() {
    let run = run_human(&[
        "-p",
        "heap-bugs",
        "--guard-side",
        "before",
        "--no-schedule",
        "--hang-grace",
        "5s",
        "--seeds",
        "3..5",
        "--exact",
        "tests::c_writes_before_the_start",
        "--",
        "--logfile",
        "/dev/null",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let rerun = run
        .stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("= rerun: "))
        .unwrap_or_else(|| panic!("no rerun line: {}", run.stderr));
    let words = shlex::split(rerun).expect("a shell command");
    assert_eq!(words[..2], ["cargo", "ffi-check"], "{rerun}");
    for expected in [
        "--guard-side before",
        "--no-schedule",
        "--hang-grace 5s",
        "-- --logfile /dev/null",
    ] {
        assert!(rerun.contains(expected), "{expected} missing from {rerun}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-ffi-check"))
        .arg(&words[1])
        .args(["--message-format", "json"])
        .args(&words[2..])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let again = parse_output(out);
    assert_eq!(again.code, 100, "{}", again.stderr);
    let ev = again.one("tests::c_writes_before_the_start");
    assert_eq!(only_finding(ev)["kind"], "heap-buffer-underflow", "{ev:#}");
    let seed = ev["seed"].as_u64().unwrap();
    assert!(rerun.contains(&format!("--seeds {seed} ")), "{rerun}");
}
