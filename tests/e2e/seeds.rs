//! Seeds of one test must not collide: the fixture crate `shared-resources`
//! holds a fixed port, a fixed path under /tmp and a named POSIX semaphore
//! (each test fails if another copy holds it). By default two seeds of one
//! test never run at once, which the jobs' start and end times show; with
//! `--isolate` they do run at once, each in namespaces of its own, and
//! still pass. A test group keeps two different tests that share a port
//! apart.

use crate::support::*;
use serde_json::Value;

const SEEDS: usize = 16;

/// The fixture's port, path and semaphore are the host's: the tests of
/// this file (run at once, as threads of the e2e binary) take turns, or
/// one's copies would collide with another's.
fn host_resources() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// (start, end) in milliseconds of each job of `test`, by start.
fn spans(run: &Run, test: &str) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = run
        .finished(test)
        .iter()
        .map(|e| {
            let start = e["start_ms"].as_u64().expect("start_ms");
            (
                start,
                start + e["duration_ms"].as_u64().expect("duration_ms"),
            )
        })
        .collect();
    spans.sort();
    spans
}

/// Whether any two of `spans` (sorted by start) overlap.
fn overlapping(spans: &[(u64, u64)]) -> bool {
    spans.windows(2).any(|w| w[1].0 < w[0].1)
}

fn run_started(run: &Run) -> &Value {
    run.events
        .iter()
        .find(|e| e["type"] == "run-started")
        .expect("a run-started event")
}

/// `test` of `shared-resources` alone under seeds 0..16 on two jobs.
fn holder_run(test: &str, extra: &[&str]) -> Run {
    let mut args = vec!["-p", "shared-resources", "--seeds", "0..16", "--jobs", "2"];
    args.extend_from_slice(extra);
    args.extend(["--exact", test]);
    run_json(&args)
}

const HOLDERS: [&str; 3] = [
    "tests::fixed_port",
    "tests::fixed_path_under_tmp",
    "tests::named_semaphore",
];

#[test]
fn seeds_of_a_test_holding_a_port_a_path_or_a_semaphore_never_run_at_once() {
    let _turn = host_resources();
    for test in HOLDERS {
        let run = holder_run(test, &[]);
        assert_each_passed_clean(&run, &[test], SEEDS);
        assert!(
            !overlapping(&spans(&run, test)),
            "{test}: {:?}",
            spans(&run, test)
        );
        assert_eq!(run_started(&run)["isolate"], false);
        assert_eq!(run.summary()["isolate"], false);
    }
}

#[test]
fn one_test_under_many_seeds_says_once_that_they_run_one_at_a_time() {
    let _turn = host_resources();
    let run = run_human(&[
        "-p",
        "shared-resources",
        "--seeds",
        "0..3",
        "--jobs",
        "2",
        "--exact",
        "tests::fixed_port",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("with 2 job(s), seeds of a test one at a time"),
        "{}",
        run.stderr
    );
    let note = "seeds of one test never run at once (a fixed port or path would collide), \
                so 1 of 2 jobs can run; --isolate runs them at once";
    assert_eq!(run.stderr.matches(note).count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("note: seeds of a test ran one at a time (--isolate runs them at once"),
        "{}",
        run.stderr
    );
}

#[test]
fn isolated_seeds_of_a_test_run_at_once_and_do_not_collide() {
    let _turn = host_resources();
    for test in HOLDERS {
        let run = holder_run(test, &["--isolate"]);
        if run.code == 96 && run.stderr.contains("--isolate is not available here") {
            eprintln!("skipping: {}", run.stderr);
            return;
        }
        assert_each_passed_clean(&run, &[test], SEEDS);
        assert!(
            overlapping(&spans(&run, test)),
            "{test}: {:?}",
            spans(&run, test)
        );
        assert_eq!(run_started(&run)["isolate"], true);
        assert_eq!(run.summary()["isolate"], true);
    }
}

#[test]
fn a_test_group_keeps_two_tests_that_share_a_port_apart() {
    let _turn = host_resources();
    let out = ffi_check()
        .env(
            "FFI_CHECK_CONFIG",
            fixtures().join("shared-resources/groups.toml"),
        )
        .args(["--message-format", "json", "-p", "shared-resources"])
        .args(["--seeds", "0..8", "--jobs", "2", "tests::port_shared_"])
        .output()
        .unwrap();
    let run = parse_output(out);
    let tests = ["tests::port_shared_a", "tests::port_shared_b"];
    assert_each_passed_clean(&run, &tests, 8);
    // Two different tests may run at once; the group's limit of one keeps
    // these two apart.
    let mut both: Vec<(u64, u64)> = tests.iter().flat_map(|t| spans(&run, t)).collect();
    both.sort();
    assert!(!overlapping(&both), "{both:?}");
}

#[test]
fn a_test_group_naming_no_defined_group_is_a_setup_error() {
    let _turn = host_resources();
    let config = scratch("bad-groups").join("ffi-check.toml");
    std::fs::write(
        &config,
        "[[profile.default.overrides]]\nfilter = \"test(=x)\"\ntest-group = \"nowhere\"\n",
    )
    .unwrap();
    let out = ffi_check()
        .env("FFI_CHECK_CONFIG", &config)
        .args(["-p", "shared-resources"])
        .output()
        .unwrap();
    let run = parse_output(out);
    assert_eq!(run.code, 96, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`nowhere` is not defined in [test-groups]"),
        "{}",
        run.stderr
    );
}
