//! Ordinary tests (tests/fixtures/ordinary) pass with no finding: processes
//! the test ends on purpose, signals the program handles itself, waits that
//! a timer or a peer outside the test ends, tests that trace their own
//! children, and the schedule's cost on many threads. Each group runs under
//! eight seeds with a short hang grace, so a false hang shows.

use crate::support::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

/// The fixture's `WAIT`: how long the peers take to answer.
const WAIT: Duration = Duration::from_secs(1);

/// Peers outside the test process, for the tests that wait on them: a TCP
/// server and a UDP server that answer `ping` with `pong` after [`WAIT`],
/// and a directory in which a file appears [`WAIT`] after a test starts
/// watching it. They live on threads of this (the e2e test's) process.
struct Peers {
    tcp: String,
    udp: String,
    watch: PathBuf,
}

impl Peers {
    fn start(name: &str) -> Peers {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_addr = tcp.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for conn in tcp.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut line = String::new();
                    let mut reader = BufReader::new(&conn);
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        std::thread::sleep(WAIT);
                        let _ = (&conn).write_all(b"pong\n");
                        line.clear();
                    }
                });
            }
        });
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_addr = udp.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok((_, from)) = udp.recv_from(&mut buf) {
                let udp = udp.try_clone().unwrap();
                std::thread::spawn(move || {
                    std::thread::sleep(WAIT);
                    let _ = udp.send_to(b"pong\n", from);
                });
            }
        });
        // A file appears in the watched directory every WAIT / 4, so one
        // appears within WAIT of any test starting to watch.
        let watch = scratch(&format!("ordinary-watch-{name}"));
        let dir = watch.clone();
        std::thread::spawn(move || {
            for i in 0u64.. {
                std::thread::sleep(WAIT / 4);
                if std::fs::write(dir.join(format!("f{i}")), b"x").is_err() {
                    return;
                }
            }
        });
        Peers {
            tcp: tcp_addr,
            udp: udp_addr,
            watch,
        }
    }
}

/// Runs the `ordinary` tests whose names contain one of `filters` under
/// seeds 0..8 (and a short hang grace), with the peers outside the test;
/// asserts each passed under every seed with no finding.
fn all_pass(group: &str, filters: &[&str]) -> Run {
    all_pass_with(group, filters, &[])
}

/// [`all_pass`] with more options.
fn all_pass_with(group: &str, filters: &[&str], options: &[&str]) -> Run {
    let peers = Peers::start(group);
    let mut cmd = ffi_check();
    cmd.args(["--message-format", "json", "-p", "ordinary"])
        .args(["--seeds", "0..8", "--hang-grace", "250ms"])
        .args(options)
        .args(filters)
        .env("ORDINARY_TCP_SERVER", &peers.tcp)
        .env("ORDINARY_UDP_SERVER", &peers.udp)
        .env("ORDINARY_WATCH_DIR", &peers.watch);
    let run = parse_output(cmd.output().unwrap());
    let finished: Vec<_> = run
        .events
        .iter()
        .filter(|e| e["type"] == "test-finished")
        .collect();
    assert!(!finished.is_empty(), "nothing ran: {}", run.stderr);
    let wrong: Vec<String> = finished
        .iter()
        .filter(|e| e["status"] != "passed" || e["findings"] != serde_json::json!([]))
        .map(|e| {
            let kinds: Vec<&str> = e["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["kind"].as_str().unwrap())
                .collect();
            format!(
                "{} seed {}: {} {kinds:?}",
                e["test"], e["seed"], e["status"]
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "false verdicts:\n{}\n{}",
        wrong.join("\n"),
        run.stderr
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

#[test]
fn processes_the_test_ends_on_purpose_are_not_findings() {
    all_pass(
        "processes",
        &[
            "children_killed",
            "children_terminated",
            "child_stopped",
            "shell_pipeline",
            "forked_child_dies",
            "forked_child_killed",
            "death_test",
        ],
    );
}

#[test]
fn signals_the_program_handles_are_not_findings() {
    all_pass(
        "signals",
        &[
            "segv_handler",
            "implicit_null_check",
            "sigbus_on_truncated",
            "rust_sigsegv_handler",
            "sigill_handler",
        ],
    );
}

#[test]
fn waits_that_a_timer_or_an_outside_peer_ends_are_not_hangs() {
    all_pass(
        "waits",
        &[
            "alarm_then_pause",
            "setitimer_then_sigsuspend",
            "posix_timer_and_sigwaitinfo",
            "timerfd_read",
            "signalfd_with_alarm",
            "tcp_read_from",
            "udp_recv_from",
            "epoll_wait_on",
            "poll_forever_on",
            "inotify_waits",
        ],
    );
}

#[test]
fn tests_that_trace_their_own_children_work_and_say_so_with_verbose() {
    all_pass(
        "ptrace",
        &[
            "ptrace_traceme",
            "ptrace_seize",
            "ptrace_attach",
            "nix_ptrace_traceme",
        ],
    );
    let out = ffi_check()
        .args([
            "-p",
            "ordinary",
            "-v",
            "--exact",
            "tests::ptrace_traceme_in_a_forked_child",
        ])
        .output()
        .unwrap();
    let run = parse_output(out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("was handed over to the test's own tracer (PTRACE_TRACEME)"),
        "{}",
        run.stderr
    );
}

/// `PTRACE_ATTACH`/`PTRACE_SEIZE` of the test's own process or threads (a
/// common probe of whether ptrace is allowed) is refused with EPERM at once,
/// as natively, and the test goes on supervised. Before, the supervisor
/// tried to let go of the caller itself and waited for good: with the short
/// `--timeout` a regression shows as a timeout, not a stalled suite.
#[test]
fn ptrace_of_itself_is_eperm_at_once() {
    let start = std::time::Instant::now();
    let run = run_json(&[
        "-p",
        "ordinary",
        "--seeds",
        "0..2",
        "--timeout",
        "5s",
        "--exact",
        "tests::ptrace_self_attach_is_eperm",
    ]);
    for ev in run.finished("tests::ptrace_self_attach_is_eperm") {
        assert_eq!(ev["status"], "passed", "{ev:#}");
        assert_eq!(ev["findings"], serde_json::json!([]), "{ev:#}");
    }
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.finished("tests::ptrace_self_attach_is_eperm").len(), 2);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
}

/// A process the test traces makes only its own system calls, whether it
/// asked for it (`PTRACE_TRACEME`) or the test attached to it
/// (`PTRACE_ATTACH`): the fixtures' tracer records its child's calls after
/// a marker (`getpid`, `kill`, `raise`, `write`, `malloc`/`free`, a mutex,
/// `_exit`) and prints them; under every seed the list is the one a native
/// run of the same binary prints (before, the tracer saw the library's
/// `gettid`, `getpid`, `fstat` and `process_madvise` too).
#[test]
fn a_process_the_test_traces_makes_only_its_own_system_calls() {
    let calls = |stdout: &str| {
        stdout
            .lines()
            .find_map(|l| l.split_once("system calls of the traced child: "))
            .unwrap_or_else(|| panic!("no list of calls in {stdout}"))
            .1
            .to_string()
    };
    let tests = [
        "tests::a_traced_child_makes_only_its_own_system_calls",
        "tests::an_attached_child_makes_only_its_own_system_calls",
    ];
    let mut args = vec!["-p", "ordinary", "--seeds", "0..4", "--exact"];
    args.extend(tests);
    let run = run_json(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for test in tests {
        let native = calls(&native_stdout("ordinary", test));
        let jobs = run.finished(test);
        assert_eq!(jobs.len(), 4, "{}", run.stderr);
        for ev in jobs {
            assert_eq!(ev["status"], "passed", "{ev:#}");
            assert_eq!(calls(ev["stdout"].as_str().unwrap()), native, "{ev:#}");
        }
    }
}

/// A process the guard allocator could not be loaded into is never
/// silently unchecked: the summary and the JSON say how many and why.
#[test]
fn processes_without_the_guard_allocator_are_reported_with_why() {
    let args = ["-p", "ordinary", "runs_a_"];
    let run = run_json(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let reasons = |test: &str| run.one(test)["allocations"]["not_loaded"].clone();
    assert_eq!(
        reasons("tests::runs_a_statically_linked_program"),
        serde_json::json!({"a statically linked program": 1})
    );
    let cleared = reasons("tests::runs_a_child_with_a_cleared_environment");
    assert!(
        cleared
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains("cleared or replaced environment")),
        "{cleared}"
    );
    let limited = reasons("tests::runs_a_child_with_a_small_address_space");
    assert!(
        limited
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains("ulimit -v")),
        "{limited}"
    );
    assert_eq!(
        run.summary()["guard_not_loaded"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>(),
        3
    );
    let human = run_human(&args);
    assert!(
        human
            .stderr
            .contains("guard: not loaded in 3 processes: a statically linked program (1)"),
        "{}",
        human.stderr
    );
}

/// The tests whose threads hand over all the time (hundreds of idle
/// threads, spinning on a starved thread, busy-polling a channel, timing
/// itself) pass under the schedule, and what the schedule charges stays
/// within the budget: 10 ms (20 ms for holds aimed at a window) plus 25 %
/// of the test's own time (its duration less the holds), at most 2 s.
/// Holds last at most four times what they
/// are charged (one until another thread's clock runs out is charged its
/// margin and a quarter of its wait); with `--schedule-budget 0` nothing
/// is held.
#[test]
fn the_schedule_holds_threads_within_its_budget() {
    let filters = [
        "many_idle_threads",
        "spin_wait",
        "busy_polling",
        "measures_its_own_timing",
    ];
    let held = |run: &Run| -> Vec<(String, u64, u64, u64)> {
        run.events
            .iter()
            .filter(|e| e["type"] == "test-finished")
            .map(|e| {
                let name = format!("{} seed {}", e["test"], e["seed"]);
                let held = e["schedule_held_ms"].as_u64().unwrap();
                let charged = e["schedule_charged_ms"].as_u64().unwrap();
                (name, held, e["duration_ms"].as_u64().unwrap(), charged)
            })
            .collect()
    };
    let run = all_pass("schedule", &filters);
    let jobs = held(&run);
    assert_eq!(jobs.len(), 4 * 8);
    for (job, held, duration, charged) in &jobs {
        let own = duration.saturating_sub(*held);
        // Slack: milliseconds are truncated, and the budget's clock starts
        // just before the test is spawned.
        let allowed = (20 + own / 4).min(2000) + 2;
        assert!(
            charged <= &allowed,
            "{job}: charged {charged} ms, held {held} ms of {duration} ms"
        );
        assert!(
            *held <= 4 * charged + 2,
            "{job}: held {held} ms, charged {charged} ms"
        );
    }
    let total: u64 = jobs.iter().map(|j| j.1).sum();
    assert!(total > 0, "the schedule held nothing: {jobs:?}");
    assert_eq!(run.summary()["schedule_held_ms"], total);
    let off = all_pass_with("schedule-off", &filters, &["--schedule-budget", "0"]);
    assert!(held(&off).iter().all(|j| j.1 == 0), "{:?}", held(&off));
    // A test whose only thread hands over to nobody (libtest's harness
    // thread just waits for it) is never held, under any seed.
    let single = all_pass("schedule-single", &["single_thread_hand_overs"]);
    let jobs = held(&single);
    assert_eq!(jobs.len(), 8);
    assert!(jobs.iter().all(|j| j.1 == 0), "{jobs:?}");
}

/// The preloaded library behaves as glibc does where a program can tell:
/// growing a buffer with `realloc` in 64 KiB steps to 128 MiB takes about
/// native time (before: 107 s, each step a copy; here bounded by a 60 s
/// timeout, natively well under a second); `calloc` of 2 GiB leaves
/// resident only what the test touches (before: all of it, zeroed by
/// hand); a thread with a `PTHREAD_STACK_MIN` stack starts (before: EINVAL,
/// the library's 48 KiB of static TLS did not fit); after
/// `siginterrupt(sig, 1)`, `signal(sig, h)` installs without SA_RESTART and
/// a blocked read returns EINTR (before: restarted); a shared library whose
/// constructor calls `setenv` before the preloaded library's has run lets
/// the process start (before: the library's start-up, inside that setenv's
/// malloc, called unsetenv and deadlocked on glibc's environment lock); a
/// test that lowers its own address-space limit to 2 GiB can still
/// allocate 64 MiB from C and start a thread (before: the 64 GiB arena
/// reservation counted against it and malloc failed). Under every seed.
#[test]
fn the_preloaded_library_behaves_as_glibc_does() {
    let tests = [
        "tests::realloc_grows_a_large_buffer_in_small_steps",
        "tests::calloc_of_two_gib_makes_resident_only_what_is_touched",
        "tests::a_thread_with_the_smallest_stack_starts",
        "tests::siginterrupt_then_signal_makes_a_read_return_eintr",
        "tests::a_library_constructor_that_sets_the_environment_runs",
        "allocates_and_starts_a_thread_under_a_lowered_address_space_limit",
    ];
    let mut args = vec![
        "-p",
        "ordinary",
        "--seeds",
        "0..2",
        "--timeout",
        "60s",
        "--exact",
    ];
    args.extend(tests);
    assert_each_passed_clean(&run_json(&args), &tests, 2);
}
