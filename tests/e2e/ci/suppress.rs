//! `[[suppress]]` entries of the configuration.

use super::*;

const SUPPRESS_NULL_WRITE: &str = r#"
[[suppress]]
kind = "null-dereference"
function = "write_result"
reason = "fixed upstream in 1.2"
"#;

#[test]
fn a_suppression_hides_exactly_the_finding_it_names() {
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
    assert_eq!(
        run.code, 100,
        "the neighbouring finding still fails the run: {}",
        run.stderr
    );
    assert_matches_schema(&run);
    let null = run.one("tests::null_write_through_out_pointer");
    assert_eq!(null["status"], "passed");
    assert_eq!(null["findings"], serde_json::json!([]));
    assert_eq!(null["suppressed"][0]["kind"], "null-dereference");
    assert_eq!(
        null["suppressed"][0]["location"]["function"],
        "write_result"
    );
    let wild = run.one("tests::wild_read");
    assert_eq!(wild["status"], "findings");
    assert_eq!(only_finding(wild)["kind"], "wild-access");
    let kinds: Vec<&str> = run
        .findings()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["wild-access"]);
    let s = run.summary();
    assert_eq!(
        (s["suppressed"].as_u64(), s["distinct_findings"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (s["passed"].as_u64(), s["with_findings"].as_u64()),
        (Some(1), Some(1))
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

#[test]
fn file_and_module_patterns_suppress_and_a_fully_suppressed_run_passes() {
    let config = r#"
[[suppress]]
file = "ffi-bugs/csrc/*.c"
kind = "wild-access"
[[suppress]]
module = "ffi_bugs-*"
kind = "null-dereference"
"#;
    let run = run_with_config(
        "suppress-file-module",
        config,
        &[],
        &[
            "-p",
            "ffi-bugs",
            "--seeds",
            "0..2",
            "--exact",
            "tests::null_write_through_out_pointer",
            "tests::wild_read",
            "tests::clean_c_call",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_matches_schema(&run);
    assert_eq!(run.summary()["suppressed"], 2);
    assert_eq!(run.summary()["passed"], 6);
    assert!(run.findings().is_empty());
}

#[test]
fn suppressed_findings_are_counted_in_the_summary_and_listed_with_verbose() {
    let args = [
        "-p",
        "ffi-bugs",
        "--exact",
        "tests::null_write_through_out_pointer",
    ];
    let dir = scratch("suppress-human");
    let file = dir.join("ffi-check.toml");
    std::fs::write(&file, SUPPRESS_NULL_WRITE).unwrap();
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
            "by [[suppress]] #1 (kind = \"null-dereference\", function = \"write_result\"): fixed upstream in 1.2"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("null-dereference   ffi-bugs/csrc/bugs.c:"),
        "{}",
        run.stderr
    );
}
