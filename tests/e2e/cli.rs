//! Exit codes and errors for bad input, as a user meets them.

use crate::support::*;
use std::path::Path;
use std::process::Command;

#[test]
fn list_prints_binary_id_and_test_name() {
    let run = run_human(&["-p", "ffi-bugs", "--list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.contains(&"ffi-bugs tests::null_write_through_out_pointer"),
        "{lines:?}"
    );
    assert!(lines.contains(&"ffi-bugs tests::clean_c_call"), "{lines:?}");
    let ignored = run_human(&["-p", "misc-behaviour", "--list", "--", "--ignored"]);
    let mut ignored: Vec<&str> = ignored.stdout.lines().collect();
    ignored.sort();
    assert_eq!(
        ignored,
        [
            "misc-behaviour tests::deadlocks",
            "misc-behaviour tests::never_ends"
        ]
    );
}

#[test]
fn no_matching_test_exits_4() {
    let run = run_human(&["-p", "clean", "no_such_test_anywhere"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("no tests to run"), "{}", run.stderr);
}

#[test]
fn a_bad_seed_range_is_a_usage_error() {
    let run = run_human(&["--seeds", "16..0"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("seed range `16..0` is empty"),
        "{}",
        run.stderr
    );
    let run = run_human(&["--seeds", "x"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a seed"), "{}", run.stderr);
}

/// A one-file crate in a scratch directory.
fn scratch_crate(name: &str, manifest: &str, lib: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    dir
}

fn run_on(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-ffi-check"))
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_compile_error_exits_101_with_rustcs_message() {
    let dir = scratch_crate(
        "broken-code",
        "[package]\nname = \"broken-code\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        "pub fn f() -> u32 { \"not a number\" }\n",
    );
    let (code, stderr) = run_on(&dir);
    assert_eq!(code, 101, "{stderr}");
    assert!(stderr.contains("mismatched types"), "{stderr}");
    assert!(stderr.contains("could not compile"), "{stderr}");
}

#[test]
fn a_broken_manifest_exits_101_with_cargos_message() {
    let dir = scratch_crate("broken-manifest", "[package\nname = \n", "");
    let (code, stderr) = run_on(&dir);
    assert_eq!(code, 101, "{stderr}");
    assert!(stderr.contains("Cargo.toml"), "{stderr}");
}

#[test]
fn help_names_the_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-ffi-check"))
        .args(["ffi-check", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: cargo ffi-check"), "{help}");
    assert!(help.contains("--seeds"), "{help}");
}
