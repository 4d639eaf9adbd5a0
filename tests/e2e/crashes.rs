//! Access violations and crashes in C code, decoded to the right line.

use crate::support::*;

/// Asserts a finding's location is `function` at `file:line`.
fn assert_at(finding: &serde_json::Value, file: &str, line: u64, function: &str) {
    let loc = &finding["location"];
    assert!(
        loc["file"].as_str().is_some_and(|f| f.ends_with(file)),
        "expected {file}, got {loc:#}"
    );
    assert_eq!(loc["line"], line, "{finding:#}");
    assert_eq!(loc["function"], function, "{finding:#}");
}

#[test]
fn null_write_in_c_through_an_out_pointer() {
    let run = run_json(&[
        "-p",
        "ffi-bugs",
        "--exact",
        "tests::null_write_through_out_pointer",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let ev = run.one("tests::null_write_through_out_pointer");
    assert_eq!(ev["status"], "findings");
    assert_eq!(ev["exit"], "signal: 11 (SIGSEGV)");
    let f = only_finding(ev);
    assert_eq!(f["kind"], "null-dereference");
    assert_eq!(f["access"]["kind"], "WRITE");
    assert_eq!(f["access"]["size"], 4);
    assert_eq!(f["access"]["address"], 0);
    assert_eq!(f["signal"], "SIGSEGV");
    assert!(
        f["instruction"].as_str().unwrap().starts_with("mov"),
        "{f:#}"
    );
    assert_at(
        f,
        "csrc/bugs.c",
        bug_line("ffi-bugs/csrc/bugs.c", "write_result"),
        "write_result",
    );
    // The backtrace goes from the C frame through the Rust test.
    let frames = functions(&f["backtrace"]);
    assert_eq!(frames[0], "write_result");
    assert!(
        frames
            .iter()
            .any(|n| n.ends_with("tests::null_write_through_out_pointer")),
        "{frames:?}"
    );
    assert!(
        f["thread"]["name"]
            .as_str()
            .unwrap()
            .starts_with("tests::null_wri"),
        "{f:#}"
    );
}

#[test]
fn wild_read_in_c() {
    let run = run_json(&["-p", "ffi-bugs", "--exact", "tests::wild_read"]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let f = only_finding(run.one("tests::wild_read"));
    assert_eq!(f["kind"], "wild-access");
    assert_eq!(f["access"]["kind"], "READ");
    assert_eq!(f["access"]["size"], 8);
    assert!(
        f["message"].as_str().unwrap().contains("not mapped"),
        "{f:#}"
    );
    assert_at(
        f,
        "csrc/bugs.c",
        bug_line("ffi-bugs/csrc/bugs.c", "read_wild"),
        "read_wild",
    );
}

#[test]
fn unbounded_recursion_in_c_is_a_stack_overflow_in_the_c_frame() {
    let run = run_json(&["-p", "ffi-bugs", "--exact", "tests::c_stack_overflow"]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let f = only_finding(run.one("tests::c_stack_overflow"));
    assert_eq!(f["kind"], "stack-overflow");
    assert_eq!(f["location"]["function"], "recurse", "{f:#}");
    assert!(f["location"]["file"]
        .as_str()
        .unwrap()
        .ends_with("csrc/bugs.c"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("overflowed its stack"),
        "{f:#}"
    );
    assert_eq!(f["access"]["kind"], "WRITE", "{f:#}");
}

#[test]
fn abort_in_c_is_a_crash_at_the_c_caller() {
    let run = run_json(&["-p", "ffi-bugs", "--exact", "tests::c_abort_kills_test"]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let ev = run.one("tests::c_abort_kills_test");
    assert_eq!(ev["exit"], "signal: 6 (SIGABRT)");
    let f = only_finding(ev);
    assert_eq!(f["kind"], "crash");
    assert_eq!(f["signal"], "SIGABRT");
    assert_eq!(f["location"]["function"], "c_abort", "{f:#}");
}

#[test]
fn the_same_bug_under_several_seeds_is_one_finding_with_every_seed() {
    let run = run_json(&[
        "-p",
        "ffi-bugs",
        "--exact",
        "tests::null_write_through_out_pointer",
        "--seeds",
        "0..3",
    ]);
    assert_eq!(run.code, 100);
    let seeds: Vec<u64> = run
        .finished("tests::null_write_through_out_pointer")
        .iter()
        .map(|e| e["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds.len(), 3);
    let distinct = run.findings();
    assert_eq!(distinct.len(), 1, "{:#?}", distinct);
    assert_eq!(distinct[0]["count"], 3);
    assert_eq!(distinct[0]["seeds"], serde_json::json!([0, 1, 2]));
    assert!(distinct[0]["id"].as_str().unwrap().starts_with("FFC-"));
}

#[test]
fn clean_c_code_has_no_findings() {
    let run = run_json(&["-p", "clean", "-p", "ffi-bugs", "clean"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tests: Vec<_> = run
        .events
        .iter()
        .filter(|e| e["type"] == "test-finished")
        .collect();
    assert!(tests.len() >= 5, "{}", run.stderr);
    for t in tests {
        assert_eq!(t["status"], "passed", "{t:#}");
        assert_eq!(t["findings"], serde_json::json!([]));
    }
    assert!(run.findings().is_empty());
}

/// What README.md promises for its first command.
#[test]
fn the_bundled_demo_finds_its_null_write() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-ffi-check"))
        .args(["ffi-check", "--message-format", "json", "--manifest-path"])
        .arg(fixtures().join("demo/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let distinct: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] == "finding")
        .collect();
    assert_eq!(distinct.len(), 1, "{stdout}");
    let f = &distinct[0];
    assert_eq!(f["kind"], "null-dereference");
    assert_eq!(f["access"]["kind"], "WRITE");
    assert_eq!(f["location"]["function"], "parse_version");
    assert_eq!(f["location"]["file"], "demo/csrc/checksum.c");
    assert_eq!(
        f["location"]["line"],
        line_of("demo/csrc/checksum.c", "BUG:")
    );
    assert_eq!(
        f["tests"],
        serde_json::json!(["demo tests::validate_only_does_not_write"])
    );
}

#[test]
fn a_bus_error_is_decoded_like_a_segfault() {
    let run = run_json(&[
        "-p",
        "ffi-bugs",
        "--exact",
        "tests::read_past_a_truncated_file",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let ev = run.one("tests::read_past_a_truncated_file");
    assert_eq!(ev["exit"], "signal: 7 (SIGBUS)");
    let f = only_finding(ev);
    assert_eq!(f["kind"], "wild-access", "{f:#}");
    assert_eq!(f["signal"], "SIGBUS");
    assert_eq!(f["access"]["kind"], "READ");
    assert_eq!(f["access"]["size"], 1);
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("shorter than the mapping"), "{message}");
    assert!(message.contains("ffi-bugs-truncated-"), "{message}");
    assert!(
        f["instruction"].as_str().unwrap().starts_with("movzx"),
        "{f:#}"
    );
    assert_at(
        f,
        "csrc/bugs.c",
        bug_line("ffi-bugs/csrc/bugs.c", "read_truncated_mapping"),
        "read_truncated_mapping",
    );
    let frames = functions(&f["backtrace"]);
    assert!(
        frames
            .iter()
            .any(|n| n.ends_with("tests::read_past_a_truncated_file")),
        "{frames:?}"
    );
}
