//! Running in CI: partitions, JUnit, GitHub Actions annotations, the JSON
//! schema, configuration profiles and suppressions.

use crate::support::{self, *};
use std::collections::BTreeSet;

fn listed(args: &[&str]) -> Vec<String> {
    let run = run_human(&[&["--list"], args].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.lines().map(String::from).collect()
}

#[test]
fn partitions_are_disjoint_and_together_list_every_test() {
    let all = listed(&["--workspace"]);
    assert!(all.len() > 200, "{all:?}");
    for kind in ["hash", "slice"] {
        let mut union = BTreeSet::new();
        let mut sizes = Vec::new();
        for m in 1..=3 {
            let share = listed(&["--workspace", "--partition", &format!("{kind}:{m}/3")]);
            sizes.push(share.len());
            for t in share {
                assert!(union.insert(t.clone()), "{kind}: {t} is in two shares");
            }
        }
        assert_eq!(
            union,
            all.iter().cloned().collect::<BTreeSet<_>>(),
            "{kind}"
        );
        assert!(sizes.iter().all(|&n| n > 0), "{kind}: {sizes:?}");
    }
    // A slice deals the listed tests round-robin, in --list order.
    let second = listed(&["--workspace", "--partition", "slice:2/3"]);
    let expected: Vec<String> = all.iter().skip(1).step_by(3).cloned().collect();
    assert_eq!(second, expected);
}

#[test]
fn partitions_apply_after_the_filters() {
    let args = ["-p", "clean", "-p", "ffi-bugs", "clean"];
    let all = listed(&args);
    assert!(
        all.len() > 3 && all.iter().all(|t| t.contains("clean")),
        "{all:?}"
    );
    let first = listed(&[&args[..], &["--partition", "slice:1/2"]].concat());
    let expected: Vec<String> = all.iter().step_by(2).cloned().collect();
    assert_eq!(first, expected);
}

#[test]
fn a_bad_partition_is_a_usage_error() {
    for (spec, says) in [
        ("hash:0/3", "numbered 1 to 3"),
        ("slice:4/3", "numbered 1 to 3"),
        ("modulo:1/2", "unknown partition kind `modulo`"),
        ("hash:1-2", "no `/`"),
    ] {
        let run = run_human(&["--partition", spec]);
        assert_eq!(run.code, 2, "{spec}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{spec}: {}", run.stderr);
        assert!(run.stderr.contains("--partition"), "{}", run.stderr);
    }
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ci")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn junit_has_a_suite_per_binary_and_a_case_per_test_and_seed() {
    let dir = scratch("junit");
    let path = dir.join("not/yet/there/junit.xml");
    let run = run_human(&[
        "-p",
        "ffi-bugs",
        "-p",
        "misc-behaviour",
        "--seeds",
        "0..2",
        "--timeout",
        "1s",
        "--junit",
        path.to_str().unwrap(),
        "--exact",
        "tests::null_write_through_out_pointer",
        "tests::clean_c_call",
        "tests::never_ends",
        "tests::panics_with_message",
        "--",
        "--include-ignored",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let xml = std::fs::read_to_string(&path).expect("the JUnit file, parent dirs created");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("8"), "{xml}");
    assert_eq!(root.attribute("failures"), Some("6"), "{xml}");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<_> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["ffi-bugs", "misc-behaviour"]);

    let case = |name: &str| {
        let found: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .collect();
        assert_eq!(found.len(), 1, "{name} in {xml}");
        found[0]
    };
    let failure = |name: &str| {
        case(name)
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap_or_else(|| panic!("{name} has no failure: {xml}"))
    };
    let seed_of = |name: &str| {
        case(name)
            .descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("seed"))
            .and_then(|p| p.attribute("value"))
            .map(String::from)
    };
    for seed in 0..2 {
        let n = |t: &str| format!("{t} [seed {seed}]");
        assert_eq!(seed_of(&n("tests::clean_c_call")), Some(seed.to_string()));
        let clean = case(&n("tests::clean_c_call"));
        assert_eq!(clean.attribute("classname"), Some("ffi-bugs"));
        assert!(
            clean.children().all(|c| !c.has_tag_name("failure")),
            "{xml}"
        );

        let f = failure(&n("tests::null_write_through_out_pointer"));
        assert_eq!(f.attribute("type"), Some("null-dereference"));
        assert_eq!(
            f.attribute("message"),
            Some("null-dereference: WRITE of size 4 at 0x0 (NULL + 0x0)")
        );
        let text = f.text().unwrap();
        let line = bug_line("ffi-bugs/csrc/bugs.c", "write_result");
        assert!(
            text.starts_with("error[null-dereference]: WRITE of size 4"),
            "{text}"
        );
        assert!(
            text.contains(&format!("--> ffi-bugs/csrc/bugs.c:{line}:")),
            "{text}"
        );
        assert!(text.contains(&format!("(seed {seed})")), "{text}");
        assert!(text.contains("= rerun: cargo ffi-check"), "{text}");
        assert!(!text.contains('\u{1b}'), "no color: {text:?}");

        let hang = failure(&n("tests::never_ends"));
        assert_eq!(hang.attribute("type"), Some("hang"));
        assert!(hang.text().unwrap().contains("error[timeout]"), "{xml}");

        let panic = failure(&n("tests::panics_with_message"));
        assert_eq!(panic.attribute("type"), Some("test-failure"));
        assert!(
            panic
                .attribute("message")
                .unwrap()
                .contains("arithmetic is broken"),
            "{xml}"
        );
        let stderr = case(&n("tests::panics_with_message"))
            .children()
            .find(|c| c.has_tag_name("system-err"))
            .and_then(|c| c.text())
            .unwrap_or_default();
        assert!(stderr.contains("panicked at"), "{xml}");
    }
}

#[test]
fn junit_names_cases_after_the_test_alone_with_one_seed() {
    let dir = scratch("junit-one-seed");
    let path = dir.join("junit.xml");
    let run = run_human(&["-p", "clean", "--junit", path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let xml = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| n.attribute("name").unwrap().to_string())
        .collect();
    assert!(
        cases.contains(&"tests::clean_strlen_of_a_cstring".to_string()),
        "{cases:?}"
    );
    assert!(cases.iter().all(|c| !c.contains("[seed")), "{cases:?}");
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
}

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

/// The checked-in JSON Schema of the events.
fn events_schema() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/events-v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The schema with every object closed (`unevaluatedProperties: false`),
/// so that an event field the schema does not describe fails validation.
/// `finding-fields` stays open: it is closed where it is used.
fn closed(schema: &mut serde_json::Value, open: bool) {
    match schema {
        serde_json::Value::Object(map) => {
            let is_object_schema = map.contains_key("properties") || map.contains_key("allOf");
            for (k, v) in map.iter_mut() {
                if k == "$defs" {
                    for (name, def) in v.as_object_mut().unwrap() {
                        closed(def, name == "finding-fields");
                    }
                } else {
                    closed(v, false);
                }
            }
            if is_object_schema && !open {
                map.insert("unevaluatedProperties".into(), false.into());
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| closed(v, false)),
        _ => {}
    }
}

#[test]
fn every_emitted_event_matches_the_checked_in_json_schema() {
    let schema = events_schema();
    let mut strict = schema.clone();
    closed(&mut strict, false);
    let validators = [
        (
            "schema",
            jsonschema::validator_for(&schema).expect("a valid schema"),
        ),
        (
            "closed schema",
            jsonschema::validator_for(&strict).expect("a valid schema"),
        ),
    ];
    let run = run_json(&[
        "-p",
        "ffi-bugs",
        "-p",
        "heap-bugs",
        "-p",
        "misc-behaviour",
        "-p",
        "not-libtest",
        "--guard-side",
        "after",
        "--timeout",
        "1s",
        "--",
        "--include-ignored",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    for event in &run.events {
        for (name, v) in &validators {
            let errors: Vec<String> = v
                .iter_errors(event)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:#?}\n{event:#}");
        }
    }
    // The run covered every event type and the optional parts of findings.
    let types: BTreeSet<&str> = run
        .events
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["run-started", "test-finished", "finding", "run-finished"])
    );
    let findings = run.findings();
    assert!(findings.iter().any(|f| f["allocation"].is_object()));
    assert!(findings
        .iter()
        .any(|f| f["kind"] == "timeout" && !f["threads"].as_array().unwrap().is_empty()));
    assert!(findings.iter().any(|f| f["location"].is_null()));
    assert!(findings.iter().any(|f| f["access"].is_object()));

    // The schema constrains: wrong values and unknown fields are caught.
    let mut bad = run.summary().clone();
    bad["exit_code"] = "100".into();
    assert!(!validators[0].1.is_valid(&bad));
    let mut bad = findings[0].clone();
    bad["id"] = "FFC-xyz".into();
    assert!(!validators[0].1.is_valid(&bad));
    let mut extra = run.summary().clone();
    extra["surprise"] = 1.into();
    assert!(validators[0].1.is_valid(&extra), "v1 allows added fields");
    assert!(
        !validators[1].1.is_valid(&extra),
        "the closed schema does not"
    );
    let with_findings = run
        .events
        .iter()
        .find(|e| e["type"] == "test-finished" && e["status"] == "findings")
        .unwrap();
    for pointer in ["/findings/0", "/findings/0/backtrace/0", "/allocations"] {
        let mut extra = with_findings.clone();
        extra.pointer_mut(pointer).unwrap()["surprise"] = 1.into();
        assert!(validators[0].1.is_valid(&extra), "{pointer}");
        assert!(!validators[1].1.is_valid(&extra), "{pointer}");
    }
    let mut extra = findings[0].clone();
    extra["surprise"] = 1.into();
    assert!(!validators[1].1.is_valid(&extra));
}

/// A run with `FFI_CHECK_CONFIG` pointing at a file holding `config`.
fn run_with_config(name: &str, config: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    let dir = scratch(name);
    let file = dir.join("ffi-check.toml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = ffi_check();
    cmd.env("FFI_CHECK_CONFIG", &file)
        .args(["--message-format", "json"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    support::parse_output(cmd.output().unwrap())
}

const PROFILES: &str = r#"
[profile.default]
seeds = "0..3"
jobs = 1
timeout = "1s"

[profile.ci]
seeds = "5,6"
"#;

fn started(run: &Run) -> &serde_json::Value {
    run.events
        .iter()
        .find(|e| e["type"] == "run-started")
        .unwrap_or_else(|| panic!("no run-started:\n{}", run.stderr))
}

#[test]
fn settings_come_from_the_command_line_then_the_profile_then_the_default_profile() {
    let one = ["-p", "ffi-bugs", "--exact", "tests::clean_c_call"];
    let run = run_with_config("profiles-default", PROFILES, &[], &one);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(started(&run)["seeds"], serde_json::json!([0, 1, 2]));
    assert_eq!(started(&run)["jobs"], 1);

    let ci = [&one[..], &["-P", "ci"]].concat();
    let run = run_with_config("profiles-ci", PROFILES, &[], &ci);
    assert_eq!(started(&run)["seeds"], serde_json::json!([5, 6]));
    assert_eq!(started(&run)["jobs"], 1, "from [profile.default]");

    let run = run_with_config(
        "profiles-env",
        PROFILES,
        &[("FFI_CHECK_PROFILE", "ci")],
        &one,
    );
    assert_eq!(started(&run)["seeds"], serde_json::json!([5, 6]));

    let flags = [&ci[..], &["--seeds", "9", "-j", "2"]].concat();
    let run = run_with_config("profiles-flags", PROFILES, &[], &flags);
    assert_eq!(started(&run)["seeds"], serde_json::json!([9]));
    assert_eq!(started(&run)["jobs"], 2);

    // The default profile's timeout applies.
    let run = run_with_config(
        "profiles-timeout",
        PROFILES,
        &[],
        &[
            "-p",
            "misc-behaviour",
            "--seeds",
            "0",
            "--exact",
            "tests::never_ends",
            "--",
            "--ignored",
        ],
    );
    assert_eq!(run.code, 100, "{}", run.stderr);
    let ev = run.one("tests::never_ends");
    assert_eq!(ev["status"], "timed-out");
    assert!(ev["duration_ms"].as_u64().unwrap() < 10_000, "{ev}");
}

#[test]
fn guard_and_fail_fast_come_from_the_profile() {
    let config = "[profile.default]\nguard = false\nfail-fast = true\njobs = 1\n";
    let heap = [
        "-p",
        "heap-bugs",
        "--exact",
        "tests::c_writes_past_a_rust_vec",
    ];
    let run = run_with_config("guard-off", config, &[], &heap);
    assert_eq!(run.code, 0, "no guard, no finding: {}", run.stderr);
    let run = run_with_config("guard-on", config, &[], &[&heap[..], &["--guard"]].concat());
    assert_eq!(run.code, 100, "{}", run.stderr);

    let run = run_with_config("fail-fast", config, &[], &["-p", "ffi-bugs"]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    assert!(
        run.summary()["not_run"].as_u64().unwrap() > 0,
        "{}",
        run.stderr
    );
    let run = run_with_config(
        "no-fail-fast",
        config,
        &[],
        &["-p", "ffi-bugs", "--no-fail-fast"],
    );
    assert_eq!(run.summary()["not_run"], 0, "{}", run.stderr);
}

#[test]
fn unknown_keys_warn_and_invalid_values_are_errors_naming_file_and_key() {
    let one = ["-p", "ffi-bugs", "--exact", "tests::clean_c_call"];
    let run = run_with_config(
        "unknown-key",
        "[profile.default]\nseeds = 2\nretries = 3\n",
        &[],
        &one,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: unknown key `retries` in ")
            && run.stderr.contains("ffi-check.toml [profile.default]"),
        "{}",
        run.stderr
    );
    assert_eq!(started(&run)["seeds"], serde_json::json!([2]));

    let run = run_with_config(
        "bad-value",
        "[profile.default]\ntimeout = \"soon\"\n",
        &[],
        &one,
    );
    assert_eq!(run.code, 96, "{}", run.stderr);
    assert!(
        run.stderr.contains("invalid value for `timeout` in ")
            && run
                .stderr
                .contains("ffi-check.toml [profile.default]: `soon` is not a duration"),
        "{}",
        run.stderr
    );

    let run = run_with_config(
        "no-such-profile",
        PROFILES,
        &[],
        &[&one[..], &["-P", "nightly"]].concat(),
    );
    assert_eq!(run.code, 96, "{}", run.stderr);
    assert!(
        run.stderr.contains("profile `nightly` is not defined"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_workspace_config_file_is_found_at_the_workspace_root() {
    let dir = scratch("config-at-root");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"configured\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "#[test]\nfn ok() {}\n").unwrap();
    std::fs::write(
        dir.join(".config/ffi-check.toml"),
        "[profile.default]\nseeds = \"3..5\"\n[profile.default.extra]\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-ffi-check"))
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .args(["--message-format", "json"])
        .env("NO_COLOR", "1")
        .env_remove("FFI_CHECK_CONFIG")
        .env_remove("FFI_CHECK_PROFILE")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let run = support::parse_output(out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(started(&run)["seeds"], serde_json::json!([3, 4]));
    assert!(
        run.stderr
            .contains("warning: unknown key `extra` in .config/ffi-check.toml [profile.default]"),
        "{}",
        run.stderr
    );
}

/// Validates every event of a run against the checked-in schema.
fn assert_matches_schema(run: &Run) {
    let validator = jsonschema::validator_for(&events_schema()).unwrap();
    for event in &run.events {
        let errors: Vec<String> = validator
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
    }
}

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
