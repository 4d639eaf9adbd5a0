//! `.config/ffi-check.toml` profiles and their precedence.

use super::*;

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

#[test]
fn schedule_and_hang_grace_come_from_the_profile() {
    let config = "[profile.default]\nschedule = false\nhang-grace = \"500ms\"\n";
    let deadlock = ["-p", "races", "--exact", "tests::lock_order_inversion"];
    let run = run_with_config("schedule-off", config, &[], &deadlock);
    let job = run.one("tests::lock_order_inversion");
    assert_eq!(job["status"], "hung", "{}", run.stderr);
    let hang = &job["findings"][0];
    assert_eq!(hang["events"], serde_json::json!([]), "schedule = false");
    assert!(
        hang["message"].as_str().unwrap().contains("for 500 ms"),
        "hang-grace from the profile: {hang}"
    );

    // `--schedule` undoes the profile's `schedule = false`, and
    // `--hang-grace off` its grace: the timeout ends the deadlock.
    let flags = [
        &deadlock[..],
        &["--schedule", "--hang-grace", "off", "--timeout", "2s"],
    ]
    .concat();
    let run = run_with_config("schedule-on", config, &[], &flags);
    let job = run.one("tests::lock_order_inversion");
    assert_eq!(job["status"], "timed-out", "{}", run.stderr);
    let timeout = &job["findings"][0];
    assert!(
        !timeout["events"].as_array().unwrap().is_empty(),
        "--schedule: {timeout}"
    );
}
