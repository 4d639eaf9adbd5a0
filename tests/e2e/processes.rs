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
    use std::process::Stdio;
    // Build first so the interrupt lands while tests run, not while cargo builds.
    let built = run_json(&["-p", "misc-behaviour", "--list"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    let mut child = ffi_check()
        .args([
            "-p",
            "misc-behaviour",
            "--ignored",
            "--exact",
            "tests::deadlocks",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_the_test_to_start();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        test_processes(),
        Vec::<i32>::new(),
        "test processes survived Ctrl-C"
    );
}

/// SIGINT and SIGTERM end the run quickly whatever the supervisors do:
/// here each supervisor stalls (the test-only switch) in a wait that
/// ignores the wake signal, so only the watchdog killing the job's
/// processes ends it. The run exits 130 with a summary that says it was
/// interrupted, and no test process is left.
#[test]
fn signals_end_the_run_even_with_a_stalled_supervisor() {
    use std::process::Stdio;
    let built = run_json(&["-p", "misc-behaviour", "--list"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let mut child = ffi_check()
            .args(["-p", "misc-behaviour", "--ignored", "--exact"])
            .arg("tests::deadlocks")
            .env("FFI_CHECK_TEST_STALL_SUPERVISOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_the_test_to_start();
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
                for pid in test_processes() {
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
        assert_eq!(status.code(), Some(130), "signal {signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "signal {signal}: {stderr}");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            test_processes(),
            Vec::<i32>::new(),
            "test processes survived signal {signal}"
        );
    }
}

/// Waits (up to 30 s) until the test runs under its supervisor: exactly one
/// test process.
fn wait_for_the_test_to_start() {
    let deadline = Instant::now() + Duration::from_secs(30);
    while test_processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(test_processes().len(), 1, "the test never started");
}

/// Live processes running the `deadlocks` fixture test.
fn test_processes() -> Vec<i32> {
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
        if cmdline.contains("misc_behaviour-") && cmdline.contains("tests::deadlocks") && !zombie {
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
