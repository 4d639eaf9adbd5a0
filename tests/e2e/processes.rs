//! Tests that fork, spawn, use signals, panic, hang, or are not libtest.

use crate::support::*;
use std::time::{Duration, Instant};

#[test]
fn forks_signals_threads_and_subprocesses_pass_as_natively() {
    let names = [
        "tests::forks_and_exits",
        "tests::forks_child_crashes",
        "tests::handles_sigusr1",
        "tests::spawns_a_process",
        "tests::threads_and_channels",
        "tests::prints_output",
    ];
    let mut args = vec!["-p", "misc-behaviour", "--exact"];
    args.extend(names);
    let run = run_json(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in names {
        let ev = run.one(name);
        assert_eq!(ev["status"], "passed", "{ev:#}");
        assert_eq!(ev["findings"], serde_json::json!([]), "{ev:#}");
    }
    let out = run.one("tests::prints_output");
    assert!(out["stdout"]
        .as_str()
        .unwrap()
        .contains("hello from prints_output"));
    assert!(out["stderr"]
        .as_str()
        .unwrap()
        .contains("warning from prints_output"));
}

#[test]
fn a_panicking_test_is_a_test_failure_with_its_message_and_line() {
    let run = run_json(&[
        "-p",
        "misc-behaviour",
        "--exact",
        "tests::panics_with_message",
    ]);
    assert_eq!(run.code, 100);
    let ev = run.one("tests::panics_with_message");
    assert_eq!(ev["status"], "failed");
    let f = only_finding(ev);
    assert_eq!(f["kind"], "test-failure");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("arithmetic is broken"),
        "{f:#}"
    );
    assert_eq!(f["location"]["file"], "misc-behaviour/src/lib.rs");
    assert_eq!(
        f["location"]["line"],
        line_of("misc-behaviour/src/lib.rs", "arithmetic is broken")
    );
}

#[test]
fn a_test_that_never_ends_times_out_with_a_thread_dump() {
    let start = Instant::now();
    let run = run_json(&[
        "-p",
        "misc-behaviour",
        "--ignored",
        "--exact",
        "tests::never_ends",
        "--timeout",
        "1s",
    ]);
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(run.code, 100, "{}", run.stderr);
    let ev = run.one("tests::never_ends");
    assert_eq!(ev["status"], "timed-out");
    let f = only_finding(ev);
    assert_eq!(f["kind"], "timeout");
    let threads = f["threads"].as_array().unwrap();
    let test_thread = threads
        .iter()
        .find(|t| {
            t["thread"]["name"]
                .as_str()
                .unwrap()
                .starts_with("tests::never_")
        })
        .unwrap_or_else(|| panic!("no test thread in {f:#}"));
    assert!(
        test_thread["syscall"]
            .as_str()
            .unwrap()
            .contains("nanosleep"),
        "{test_thread:#}"
    );
    let frames = functions(&test_thread["backtrace"]);
    assert!(
        frames.iter().any(|n| n.ends_with("tests::never_ends")),
        "{frames:?}"
    );
    assert_eq!(run.summary()["hung"], 1);
}

#[test]
fn a_binary_without_libtest_runs_as_one_job() {
    let run = run_json(&["-p", "not-libtest"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ev = run.one("not-libtest::plain");
    assert_eq!(ev["status"], "passed");
    assert!(ev["stdout"].as_str().unwrap().contains("plain harness ran"));
}

#[test]
fn ctrl_c_kills_every_test_process() {
    let mut child = start_deadlocks("ctrl-c", false);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    // As cargo-nextest: an interrupted run did not pass.
    assert_eq!(status.code(), Some(100));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        test_processes("ctrl-c"),
        Vec::<i32>::new(),
        "test processes survived Ctrl-C"
    );
}

/// SIGINT and SIGTERM end the run quickly whatever the supervisors do:
/// here each supervisor stalls (the test-only switch) in a wait that
/// ignores the wake signal, so only the watchdog killing the job's
/// processes ends it. The run exits 100 (as cargo-nextest's interrupted
/// run) with a summary that says it was interrupted, and no test process is
/// left.
#[test]
fn signals_end_the_run_even_with_a_stalled_supervisor() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut child = start_deadlocks("signals", true);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let sent = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if sent.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                for pid in test_processes("signals") {
                    // SAFETY: a leftover fixture process of this test.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                panic!("signal {signal}: the run did not end within 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        eprintln!(
            "signal {signal}: the run ended {:?} after it",
            sent.elapsed()
        );
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(100), "signal {signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "signal {signal}: {stderr}");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            test_processes("signals"),
            Vec::<i32>::new(),
            "test processes survived signal {signal}"
        );
    }
}

/// The environment variable that tells apart the `deadlocks` processes of
/// the tests here, which run at the same time: each gives the tool its own
/// value, which the test processes inherit.
const MARK: &str = "FFI_CHECK_E2E_MARK";

/// Starts the tool on the `deadlocks` fixture test (which never ends) with
/// `mark` (and, if `stall`, the test-only switch that makes the supervisor
/// stall), its stderr piped, and returns once the test runs. The fixtures
/// are built first, so that a signal lands while the test runs, not while
/// cargo builds.
fn start_deadlocks(mark: &str, stall: bool) -> std::process::Child {
    use std::process::Stdio;
    let built = run_json(&["-p", "misc-behaviour", "--list"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let mut cmd = ffi_check();
    cmd.args([
        "-p",
        "misc-behaviour",
        "--ignored",
        "--exact",
        "tests::deadlocks",
    ])
    .env(MARK, mark)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if stall {
        cmd.env("FFI_CHECK_TEST_STALL_SUPERVISOR", "1");
    }
    let child = cmd.spawn().unwrap();
    wait_for_the_test_to_start(mark);
    child
}

/// Waits (up to 30 s) until the test runs under its supervisor: exactly one
/// test process with `mark`.
fn wait_for_the_test_to_start(mark: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while test_processes(mark).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(test_processes(mark).len(), 1, "the test never started");
}

/// Live processes running the `deadlocks` fixture test with `mark` in
/// their environment.
fn test_processes(mark: &str) -> Vec<i32> {
    let marked = format!("{MARK}={mark}\0");
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = state
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'));
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&environ).contains(&marked);
        if cmdline.contains("misc_behaviour-")
            && cmdline.contains("tests::deadlocks")
            && ours
            && !zombie
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_test_that_kills_itself_is_a_crash_and_keeps_its_output() {
    let run = run_json(&["-p", "misc-behaviour", "--exact", "tests::kills_itself"]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let ev = run.one("tests::kills_itself");
    assert_eq!(ev["status"], "findings");
    assert_eq!(ev["exit"], "signal: 9 (SIGKILL)");
    assert!(ev["stdout"]
        .as_str()
        .unwrap()
        .contains("about to SIGKILL myself"));
    let f = only_finding(ev);
    assert_eq!(f["kind"], "crash");
    assert_eq!(f["signal"], "SIGKILL");
}

/// Every job has a deadline no code path of the supervisor can outwait:
/// with the test-only switch that makes the supervisor stall in a wait that
/// ignores the deadline, the watchdog kills the job's processes after the
/// timeout and a short grace, each job ends as a `timeout` saying what the
/// supervisor was waiting for, and the run goes on to the next job.
#[test]
fn a_stalled_supervisor_still_ends_its_job_as_a_timeout_and_the_run_goes_on() {
    let names = ["tests::prints_output", "tests::forks_and_exits"];
    let start = Instant::now();
    let out = ffi_check()
        .args(["--message-format", "json", "-p", "misc-behaviour"])
        .args(["-j", "1", "--timeout", "1s", "--exact"])
        .args(names)
        .env("FFI_CHECK_TEST_STALL_SUPERVISOR", "1")
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    let run = parse_output(out);
    assert_eq!(run.code, 100, "{}", run.stderr);
    for name in names {
        let ev = run.one(name);
        assert_eq!(ev["status"], "timed-out", "{ev:#}");
        let f = only_finding(ev);
        assert_eq!(f["kind"], "timeout", "{f:#}");
        let notes = f["notes"].to_string();
        assert!(
            notes.contains("the watchdog killed the job's processes")
                && notes.contains("waiting for a stop of thread"),
            "{f:#}"
        );
    }
    // 2 jobs x (1 s + 5 s grace), generously bounded for a loaded machine.
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

/// Output that never stops ends as a timeout for that job, with the
/// captured output bounded (16 MiB a stream at most, with a line saying
/// what was dropped when more came), and the run goes on to the next job.
#[test]
fn output_that_never_stops_is_a_timeout_with_bounded_output_and_the_run_goes_on() {
    let start = Instant::now();
    let run = run_json(&[
        "-p",
        "misc-behaviour",
        "--include-ignored",
        "-j",
        "1",
        "--timeout",
        "3s",
        "--exact",
        "tests::floods_output",
        "tests::prints_output",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let flood = run.one("tests::floods_output");
    assert_eq!(flood["status"], "timed-out", "{}", flood["findings"]);
    let stdout = flood["stdout"].as_str().unwrap();
    assert!(stdout.contains("xxxx"), "nothing captured");
    assert!(
        stdout.len() <= 16 * 1024 * 1024 + 4096,
        "{} bytes",
        stdout.len()
    );
    assert_eq!(run.one("tests::prints_output")["status"], "passed");
    assert!(
        start.elapsed() < Duration::from_secs(90),
        "took {:?}",
        start.elapsed()
    );
}

/// A tracee that vanishes between two of the supervisor's ptrace requests,
/// at every step: with the test-only switch, the job of seed `s` has the
/// process of its supervisor's (s+1)-th request killed with SIGKILL just
/// before the request (the kernel then answers ESRCH, or lets it through
/// for a thread past its exit event). Over seeds 0..160 every request of
/// three tests (a C overrun found at the instruction, a fork, a test that
/// traces its own child) takes the fault in turn: every job ends, as a
/// finding or a failure of that job (or, killed before its seizure, an
/// error that says so, not "ptrace is not permitted"), none hangs, and
/// past the last request each test has its usual verdict again. (Before, a kill
/// between the fork and the seizure of the test process stopped it at its
/// exit event while the supervisor waited on its report pipe: the run hung
/// for good.)
#[test]
fn a_tracee_that_vanishes_at_any_step_ends_its_job_and_the_run_goes_on() {
    let overrun = "tests::c_writes_past_a_rust_vec";
    let fork = "tests::forks_child_crashes";
    let traces = "tests::a_traced_child_makes_only_its_own_system_calls";
    let out = ffi_check()
        .args([
            "--message-format",
            "json",
            "--seeds",
            "0..160",
            "--timeout",
            "20s",
        ])
        .args([
            "-p",
            "heap-bugs",
            "-p",
            "misc-behaviour",
            "-p",
            "ordinary",
            "--exact",
        ])
        .args([overrun, fork, traces])
        .env("FFI_CHECK_TEST_VANISH", "seed")
        .output()
        .unwrap();
    let run = parse_output(out);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let kinds = |ev: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = ev["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_string())
            .collect();
        k.dedup();
        k
    };
    for (test, usual) in [
        (overrun, vec!["heap-buffer-overflow"]),
        (fork, vec![]),
        (traces, vec![]),
    ] {
        let jobs = run.finished(test);
        assert_eq!(jobs.len(), 160, "{}", run.stderr);
        let mut faulted = 0;
        for ev in jobs {
            let status = ev["status"].as_str().unwrap();
            // Killed before it could be traced (the first request is the
            // seizure): an error for that job, which says so.
            if status == "error" {
                assert!(
                    ev["exit"]
                        .as_str()
                        .unwrap()
                        .contains("ended before it could be traced"),
                    "{test}: {ev:#}"
                );
                faulted += 1;
                continue;
            }
            assert!(
                ["passed", "failed", "findings"].contains(&status),
                "{test}: {ev:#}"
            );
            let k = kinds(ev);
            if k != usual {
                faulted += 1;
                // The vanished process: killed by SIGKILL, or a failure of
                // the test that waited for it.
                let vanished = ev["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["signal"] == "SIGKILL" || f["kind"] == "test-failure");
                assert!(vanished, "{test}: {ev:#}");
            }
            if ev["seed"].as_u64().unwrap() >= 144 {
                assert_eq!(k, usual, "{test} past its last request: {ev:#}");
            }
        }
        assert!(
            faulted >= 5,
            "{test}: the switch faulted only {faulted} jobs"
        );
    }
}

/// A test that forks faster than its processes can be traced (4 threads x
/// 200 children, half of which orphan a grandchild) passes as natively,
/// with no finding, and the run goes on to the next test.
#[test]
fn a_fork_storm_passes_as_natively_and_the_run_goes_on() {
    let names = ["tests::fork_storm", "tests::forks_and_exits"];
    let mut args = vec![
        "-p",
        "misc-behaviour",
        "-j",
        "1",
        "--seeds",
        "0..2",
        "--exact",
    ];
    args.extend(names);
    assert_each_passed_clean(&run_json(&args), &names, 2);
}

/// A second Ctrl-C exits at once (130), as cargo's does, without waiting
/// for the jobs to end (here they cannot end sooner than the watchdog's
/// 500 ms: the supervisors stall); the test processes go with the tool
/// (`PTRACE_O_EXITKILL`).
#[test]
fn a_second_ctrl_c_exits_at_once() {
    let mut child = start_deadlocks("second", true);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        test_processes("second"),
        Vec::<i32>::new(),
        "test processes survived a second Ctrl-C"
    );
}
