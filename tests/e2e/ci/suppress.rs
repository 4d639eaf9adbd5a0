//! `[[suppress]]` entries of the configuration.

use super::*;

const SUPPRESS_NULL_WRITE: &str = r#"
[[suppress]]
kind = "null-dereference"
function = "write_result"
reason = "fixed upstream in 1.2"
"#;

#[test]
fn a_suppression_hides_the_finding_it_names_but_never_a_failing_test() {
    let run = run_with_config(
        "suppress-one",
        SUPPRESS_NULL_WRITE,
        &[],
        &[
            "-p",
            "ffi-bugs",
            "--exact",
            "tests::null_write_through_out_pointer",
            "tests::wild_read",
        ],
    );
    assert_eq!(run.code, 100, "{}", run.stderr);
    assert_matches_schema(&run);
    // The null write is suppressed, but the test died of it: it fails.
    let null = run.one("tests::null_write_through_out_pointer");
    assert_eq!(null["status"], "failed", "{null:#}");
    assert_eq!(null["suppressed"][0]["kind"], "null-dereference");
    assert_eq!(
        null["suppressed"][0]["location"]["function"],
        "write_result"
    );
    let failure = only_finding(null);
    assert_eq!(failure["kind"], "test-failure");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("signal: 11 (SIGSEGV)"),
        "{failure:#}"
    );
    assert!(
        failure["notes"][0]
            .as_str()
            .unwrap()
            .contains("findings were suppressed (null-dereference)"),
        "{failure:#}"
    );
    let wild = run.one("tests::wild_read");
    assert_eq!(wild["status"], "findings");
    assert_eq!(only_finding(wild)["kind"], "wild-access");
    let mut kinds: Vec<&str> = run
        .findings()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["test-failure", "wild-access"]);
    let s = run.summary();
    assert_eq!(
        (s["suppressed"].as_u64(), s["distinct_findings"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        (
            s["passed"].as_u64(),
            s["failed"].as_u64(),
            s["with_findings"].as_u64()
        ),
        (Some(0), Some(1), Some(1))
    );
    assert!(
        !run.stderr.contains("error[null-dereference]"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("error[wild-access]"), "{}", run.stderr);

    // The kind must match too.
    let run = run_with_config(
        "suppress-other-kind",
        "[[suppress]]\nkind = \"wild-access\"\nfunction = \"write_result\"\n",
        &[],
        &[
            "-p",
            "ffi-bugs",
            "--exact",
            "tests::null_write_through_out_pointer",
        ],
    );
    assert_eq!(run.code, 100, "{}", run.stderr);
    assert_eq!(run.summary()["suppressed"], 0);
}

/// Heap overruns that the supervisor performs for the test, which then
/// exits 0: suppressed, they leave a passing run.
const SUPPRESS_HEAP: &str = r#"
[[suppress]]
file = "heap-bugs/csrc/*.c"
kind = "heap-buffer-overflow"
[[suppress]]
module = "heap_bugs-*"
kind = "heap-buffer-overflow"
reason = "the buffer is sized by the caller"
"#;

#[test]
fn file_and_module_patterns_suppress_and_a_fully_suppressed_run_passes() {
    let run = run_with_config(
        "suppress-file-module",
        SUPPRESS_HEAP,
        &[],
        &[
            "-p",
            "heap-bugs",
            "--guard-side",
            "after",
            "--seeds",
            "0..2",
            "--exact",
            "tests::c_writes_past_a_rust_vec",
            "tests::rust_reads_past_a_c_buffer",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_matches_schema(&run);
    assert_eq!(run.summary()["suppressed"], 2);
    assert_eq!(run.summary()["passed"], 4);
    assert!(run.findings().is_empty());
    let ev = &run.finished("tests::c_writes_past_a_rust_vec")[0];
    assert_eq!(ev["status"], "passed");
    assert_eq!(ev["suppressed"][0]["kind"], "heap-buffer-overflow");
}

#[test]
fn suppressed_findings_are_counted_in_the_summary_and_listed_with_verbose() {
    let args = [
        "-p",
        "heap-bugs",
        "--guard-side",
        "after",
        "--exact",
        "tests::c_writes_past_a_rust_vec",
    ];
    let dir = scratch("suppress-human");
    let file = dir.join("ffi-check.toml");
    std::fs::write(&file, SUPPRESS_HEAP).unwrap();
    let human = |verbose: bool| {
        let mut cmd = ffi_check();
        cmd.env("FFI_CHECK_CONFIG", &file).args(args);
        if verbose {
            cmd.arg("-v");
        }
        support::parse_output(cmd.output().unwrap())
    };
    let run = human(false);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("1 test x 1 seed: 1 passed, 0 failed, 0 with findings, 0 hung, 1 suppressed"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("Suppressed 1 distinct"),
        "{}",
        run.stderr
    );
    let run = human(true);
    assert!(
        run.stderr.contains("Suppressed 1 distinct"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "by [[suppress]] #1 (kind = \"heap-buffer-overflow\", file = \"heap-bugs/csrc/*.c\")"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("heap-buffer-overflow heap-bugs/csrc/heap.c:"),
        "{}",
        run.stderr
    );
}

/// One `frame` entry hides a leak inside a library however it was reached:
/// strdup's allocation, dropped by two different C callers, is two leak
/// findings at two locations (two `function` entries would be needed); the
/// entry matches a frame of each one's allocation stack and hides both,
/// while a leak elsewhere in the same run stays a finding.
#[test]
fn one_frame_entry_hides_a_library_leak_reached_from_two_callers() {
    let first = "tests::library_leak_reached_from_a_first_caller";
    let second = "tests::library_leak_reached_from_a_second_caller";
    let other = "tests::box_into_raw_never_taken_back";
    let args = ["-p", "leaks", "--exact", first, second, other];
    let plain = run_with_config("suppress-frame-none", "", &[], &args);
    let functions: Vec<&str> = [first, second]
        .iter()
        .map(|t| {
            let f = only_finding(plain.one(t));
            assert_eq!(f["kind"], "leak", "{f:#}");
            f["location"]["function"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        functions,
        ["leaks_label_length_first", "leaks_label_length_second"]
    );
    let config = "[[suppress]]\nkind = \"leak\"\nframe = \"*strdup\"\nreason = \"the library's\"\n";
    let run = run_with_config("suppress-frame", config, &[], &args);
    assert_eq!(run.code, 100, "{}", run.stderr);
    assert_matches_schema(&run);
    for test in [first, second] {
        let ev = run.one(test);
        assert_eq!(ev["findings"], serde_json::json!([]), "{ev:#}");
        assert_eq!(ev["suppressed"][0]["kind"], "leak", "{ev:#}");
    }
    assert_eq!(only_finding(run.one(other))["kind"], "leak");
}
