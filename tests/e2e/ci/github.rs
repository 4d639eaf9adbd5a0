//! GitHub Actions: annotations and the step summary.

use super::*;

#[test]
fn in_github_actions_each_distinct_finding_is_an_annotation_and_the_summary_a_table() {
    let dir = scratch("github");
    let summary = dir.join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = ffi_check()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args([
            "--message-format",
            "json",
            "-p",
            "ffi-bugs",
            "-p",
            "misc-behaviour",
            "--seeds",
            "0..2",
            "--exact",
            "tests::null_write_through_out_pointer",
            "tests::clean_c_call",
            "tests::panics_with_message",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    // JSON lines are still all there, and the annotations are extra lines.
    assert!(stdout
        .lines()
        .any(|l| l.contains("\"type\":\"run-finished\"")));
    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 2, "one per distinct finding: {stdout}");

    let line = bug_line("ffi-bugs/csrc/bugs.c", "write_result");
    let null = annotations
        .iter()
        .find(|a| a.contains("title=null-dereference"))
        .unwrap_or_else(|| panic!("{annotations:?}"));
    assert!(
        null.starts_with(&format!(
            "::error file=ffi-bugs/csrc/bugs.c,line={line},col="
        )),
        "{null}"
    );
    assert!(
        null.contains(
            ",title=null-dereference in ffi-bugs tests%3A%3Anull_write_through_out_pointer::WRITE of size 4 at 0x0 (NULL + 0x0)%0A"
        ),
        "{null}"
    );
    assert!(null.contains("seeds 0,1, 2 times)"), "{null}");

    // A multi-line panic message: newlines escaped, one line per annotation.
    let rs_line = line_of("misc-behaviour/src/lib.rs", "arithmetic is broken");
    let panic = annotations
        .iter()
        .find(|a| a.contains("title=test-failure"))
        .unwrap();
    assert!(
        panic.starts_with(&format!(
            "::error file=misc-behaviour/src/lib.rs,line={rs_line},col="
        )),
        "{panic}"
    );
    assert!(
        panic.contains("arithmetic is broken%0A  left: 2%0A right: 3"),
        "{panic}"
    );

    // Plain status lines, no progress bar.
    assert!(stderr.contains("PASS ["), "{stderr}");

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("earlier step\n## cargo ffi-check\n"),
        "appended: {md}"
    );
    assert!(
        md.contains("| kind | location | test(s) | seeds | count |"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| null-dereference | `ffi-bugs/csrc/bugs.c:{line}:"
        )) && md.contains("| ffi-bugs tests::null_write_through_out_pointer | 0,1 | 2 |"),
        "{md}"
    );
    assert!(
        md.contains("3 tests x 2 seeds: 2 passed, 2 failed, 2 with findings, 0 hung"),
        "{md}"
    );
}

#[test]
fn outside_github_actions_there_are_no_annotations() {
    let dir = scratch("not-github");
    let summary = dir.join("step-summary.md");
    let out = ffi_check()
        .env_remove("GITHUB_ACTIONS")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["-p", "ffi-bugs", "null_write"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::error"));
    assert!(!summary.exists());
}

#[test]
fn a_timeout_is_annotated_at_the_test_threads_innermost_workspace_line() {
    let out = ffi_check()
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args([
            "-p",
            "misc-behaviour",
            "--timeout",
            "1s",
            "--exact",
            "tests::never_ends",
        ])
        .args(["--", "--ignored"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = line_of(
        "misc-behaviour/src/lib.rs",
        "std::thread::sleep(Duration::from_millis(100));",
    );
    assert!(
        stdout.starts_with(&format!(
            "::error file=misc-behaviour/src/lib.rs,line={line},"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("title=timeout in misc-behaviour tests%3A%3Anever_ends::"),
        "{stdout}"
    );
}
