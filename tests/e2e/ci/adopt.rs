//! Adopting the tool on a suite with known findings: `--leaks report`,
//! `--gen-suppressions FILE`, `--write-baseline FILE` and `--baseline FILE`.

use super::*;

const C_STRING: &str = "tests::c_string_never_freed";
const LIBRARY_LEAK: &str = "tests::library_leak_reached_from_a_first_caller";
const BOX_LEAK: &str = "tests::box_into_raw_never_taken_back";
const CLEAN: &str = "tests::clean_c_string_given_back";
const NULL_WRITE: &str = "tests::null_write_through_out_pointer";

/// A command with `FFI_CHECK_CONFIG` naming `config` (which may not exist
/// yet: the variable is only set once it does).
fn with_config(config: &std::path::Path) -> std::process::Command {
    let mut cmd = ffi_check();
    if config.exists() {
        cmd.env("FFI_CHECK_CONFIG", config);
    }
    cmd
}

/// A command as GitHub Actions runs it, with its step summary at `summary`.
fn in_github_actions(summary: &std::path::Path) -> std::process::Command {
    let mut cmd = ffi_check();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary);
    cmd
}

fn run(mut cmd: std::process::Command, args: &[&str]) -> Run {
    support::parse_output(
        cmd.args(["--message-format", "json"])
            .args(args)
            .output()
            .unwrap(),
    )
}

/// `--leaks report` (and `leaks = "report"` in a profile): a leaking test
/// passes, its leak is kept in JSON under `reported` and shown as a
/// warning, and the run exits 0 (a bad `--leaks` value: `leaks::leaks_off_reports_none`).
#[test]
fn leaks_report_shows_leaks_and_fails_nothing() {
    let args = ["-p", "leaks", "--exact", C_STRING, BOX_LEAK, CLEAN];
    let run = run_with_config(
        "leaks-report",
        "[profile.adopting]\nleaks = \"report\"\n",
        &[],
        &[&["-P", "adopting"][..], &args[..]].concat(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_matches_schema(&run);
    for test in [C_STRING, BOX_LEAK] {
        let ev = run.one(test);
        assert_eq!(ev["status"], "passed", "{ev:#}");
        assert_eq!(ev["findings"], serde_json::json!([]), "{ev:#}");
        assert_eq!(ev["reported"][0]["kind"], "leak", "{ev:#}");
    }
    assert_eq!(run.one(CLEAN)["reported"], serde_json::json!([]));
    assert_eq!(run.summary()["reported"], 2, "{:#}", run.summary());
    assert_eq!(run.summary()["distinct_findings"], 0);
    assert!(
        run.stderr.contains("warning[leak]")
            && run
                .stderr
                .contains("reported only (--leaks report): it fails nothing")
            && run.stderr.contains("2 leaks reported"),
        "{}",
        run.stderr
    );
    // The same tests with leaks on: they fail.
    let on = run_json(&args);
    assert_eq!(on.code, 100, "{}", on.stderr);
    assert_eq!(on.one(C_STRING)["status"], "findings");
}

/// `--gen-suppressions FILE`: one entry per distinct finding, naming the
/// innermost frame of the code the bug is in (the C function past libc's
/// strdup; the Rust helper, not the test), with a comment naming the test
/// and seed and a reason to fill in. With FILE as the configuration the
/// same run exits 0; generating again adds nothing.
#[test]
fn generated_suppressions_make_the_same_run_pass_and_are_not_repeated() {
    let dir = scratch("gen-suppressions");
    let config = dir.join("ffi-check.toml");
    std::fs::write(&config, "[profile.default]\nseeds = \"0..2\"\n").unwrap();
    let path = config.to_str().unwrap();
    let args = [
        "-p",
        "leaks",
        "--exact",
        C_STRING,
        LIBRARY_LEAK,
        BOX_LEAK,
        CLEAN,
        "--gen-suppressions",
        path,
    ];
    let first = run(with_config(&config), &args);
    assert_eq!(first.code, 100, "{}", first.stderr);
    assert!(
        first.stderr.contains("Wrote 3 [[suppress]] entries to")
            && first.stderr.contains("for 3 of 3 distinct findings"),
        "{}",
        first.stderr
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with("[profile.default]\nseeds = \"0..2\"\n"),
        "{text}"
    );
    assert_eq!(text.matches("[[suppress]]").count(), 3, "{text}");
    for (test, frame) in [
        (C_STRING, "frame = \"leaks_make_name\""),
        (LIBRARY_LEAK, "frame = \"leaks_label_length_first\""),
        (BOX_LEAK, "frame = \"leaks::forget_a_box\""),
    ] {
        assert!(text.contains(frame), "{test}: {frame}\n{text}");
        assert!(
            text.contains(&format!("\n# seen in leaks {test} (seed 0)\n[[suppress]]")),
            "{test}\n{text}"
        );
    }
    assert_eq!(text.matches("kind = \"leak\"").count(), 3, "{text}");
    assert_eq!(
        text.matches("reason = \"TODO: say why this finding is accepted\"")
            .count(),
        3,
        "{text}"
    );
    // The same run with them: every job passes, suppressed.
    let second = run(with_config(&config), &args);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_matches_schema(&second);
    for test in [C_STRING, LIBRARY_LEAK, BOX_LEAK] {
        for ev in second.finished(test) {
            assert_eq!(ev["status"], "passed", "{ev:#}");
            assert_eq!(ev["suppressed"][0]["kind"], "leak", "{ev:#}");
        }
    }
    assert!(
        second.stderr.contains("Wrote no [[suppress]] entries to")
            && second.stderr.contains("the run has no findings"),
        "{}",
        second.stderr
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    // A file that is not a configuration is an error before any test
    // runs, and is left alone.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[suppress]\n").unwrap();
    let out = run(
        ffi_check(),
        &[
            "-p",
            "leaks",
            "--exact",
            C_STRING,
            "--gen-suppressions",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 96, "{}", out.stderr);
    assert!(
        out.stderr.contains("--gen-suppressions cannot add to"),
        "{}",
        out.stderr
    );
    assert!(out.events.is_empty(), "no test ran: {:?}", out.events);
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "[[suppress]\n");
}

/// `--write-baseline` then `--baseline`: the recorded findings (a leak, and
/// a null write that kills its test) fail nothing and are marked `known`
/// in JSON, JUnit and annotations; a finding not in the baseline fails the
/// run and is marked `new` everywhere; an entry that no longer occurs is
/// listed, and updating the file drops it.
#[test]
fn a_baseline_fails_the_run_only_on_new_findings() {
    let dir = scratch("baseline");
    let baseline = dir.join("ffi-check-baseline.json");
    let file = baseline.to_str().unwrap();
    let known = [
        "-p", "leaks", "-p", "ffi-bugs", "--exact", C_STRING, NULL_WRITE,
    ];
    let write = run_json(&[&known[..], &["--write-baseline", file]].concat());
    assert_eq!(write.code, 100, "{}", write.stderr);
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let entries = recorded["findings"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2, "{recorded:#}");
    assert!(
        kinds.contains(&"leak") && kinds.contains(&"null-dereference"),
        "{recorded:#}"
    );
    let null = entries
        .iter()
        .find(|e| e["kind"] == "null-dereference")
        .unwrap();
    assert_eq!(null["frames"][0], "write_result", "{recorded:#}");
    assert_eq!(null["tests"][0], format!("ffi-bugs {NULL_WRITE}"));

    // The same findings against it: exit 0, each known.
    let junit = dir.join("junit.xml");
    let summary = dir.join("summary.md");
    let cmd = in_github_actions(&summary);
    let again = run(
        cmd,
        &[
            &known[..],
            &["--baseline", file, "--junit", junit.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_matches_schema(&again);
    for test in [C_STRING, NULL_WRITE] {
        let ev = again.one(test);
        assert_eq!(ev["findings"][0]["baseline"], "known", "{ev:#}");
    }
    assert_eq!(again.one(NULL_WRITE)["status"], "findings");
    let s = again.summary();
    assert_eq!(
        (s["known"].as_u64(), s["with_findings"].as_u64()),
        (Some(2), Some(0)),
        "{s:#}"
    );
    assert_eq!(s["baseline"]["new"], 0, "{s:#}");
    assert_eq!(s["baseline"]["known"], 2, "{s:#}");
    assert_eq!(s["baseline"]["gone"], serde_json::json!([]), "{s:#}");
    assert_eq!(
        again.stdout.matches("::warning ").count(),
        2,
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("title=known leak in leaks"),
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("::error "), "{}", again.stdout);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(!xml.contains("<failure"), "{xml}");
    assert_eq!(
        xml.matches(r#"name="baseline" value="known""#).count(),
        2,
        "{xml}"
    );
    assert!(
        again.stderr.contains("0 new findings, 2 known"),
        "{}",
        again.stderr
    );

    // A new finding fails the run, and is marked new.
    let cmd = in_github_actions(&summary);
    let more = run(
        cmd,
        &[
            &known[..],
            &[
                BOX_LEAK,
                "--baseline",
                file,
                "--junit",
                junit.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert_eq!(more.code, 100, "{}", more.stderr);
    assert_matches_schema(&more);
    assert_eq!(more.one(BOX_LEAK)["findings"][0]["baseline"], "new");
    assert_eq!(more.summary()["baseline"]["new"], 1);
    assert_eq!(more.summary()["with_findings"], 1);
    let new: Vec<&serde_json::Value> = more
        .findings()
        .into_iter()
        .filter(|f| f["baseline"] == "new")
        .collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["location"]["function"], "leaks::forget_a_box");
    assert!(more.stdout.contains("::error "), "{}", more.stdout);
    assert!(
        more.stdout.contains("title=new leak in leaks"),
        "{}",
        more.stdout
    );
    assert!(
        more.stderr.contains("1 new finding, 2 known"),
        "{}",
        more.stderr
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(xml.contains(r#"message="new leak: "#), "{xml}");

    // With leaks off the leak no longer occurs: listed, and dropped when the
    // file is updated; the null write stays.
    let off = run_json(
        &[
            &known[..],
            &[
                "--leaks",
                "off",
                "--baseline",
                file,
                "--write-baseline",
                file,
            ],
        ]
        .concat(),
    );
    assert_eq!(off.code, 0, "{}", off.stderr);
    let gone = &off.summary()["baseline"]["gone"];
    assert_eq!(gone.as_array().unwrap().len(), 1, "{gone:#}");
    assert_eq!(gone[0]["kind"], "leak");
    assert!(
        off.stderr.contains("1 of its entries no longer occur"),
        "{}",
        off.stderr
    );
    let updated: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let kinds: Vec<&str> = updated["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["null-dereference"], "{updated:#}");
}

/// A missing or malformed baseline is a setup error (96) before any test
/// runs, saying how to make one.
#[test]
fn a_missing_or_malformed_baseline_is_a_setup_error() {
    let dir = scratch("baseline-bad");
    let missing = dir.join("none.json");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "[1, 2").unwrap();
    for (path, says) in [
        (&missing, "could not read the baseline"),
        (&bad, "is not a baseline this tool wrote"),
    ] {
        let out = run_human(&["-p", "clean", "--baseline", path.to_str().unwrap()]);
        assert_eq!(out.code, 96, "{}", out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
        assert!(out.stderr.contains("--write-baseline"), "{}", out.stderr);
        assert!(!out.stderr.contains("PASS"), "no test ran: {}", out.stderr);
    }
}
