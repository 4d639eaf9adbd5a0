//! A timeout ends the test whatever its processes are doing at that moment,
//! including exiting: the supervisor always returns.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::sync::mpsc;
use std::time::Duration;
use tracer::{Command, Exit, Options, Schedule};

fn shell(script: &str) -> Command {
    Command {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: std::env::vars_os().collect(),
        cwd: std::env::current_dir().unwrap(),
    }
}

/// Runs `command` on a thread of its own and waits at most `limit` for the
/// supervisor to return, so a supervisor that never returns fails the test
/// instead of hanging the suite.
fn run_within(command: Command, options: Options, limit: Duration) -> tracer::Outcome {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(tracer::run(&command, &options));
    });
    rx.recv_timeout(limit)
        .expect("the supervisor did not return after the timeout")
        .expect("the supervisor failed")
}

/// Processes start and exit all the time; whichever of them are in their
/// exit stop when the timeout dumps the threads must still be let go, or
/// the supervisor waits for them for ever.
#[test]
fn a_timeout_while_processes_exit_returns() {
    for seed in 0..12 {
        let options = Options {
            timeout: Duration::from_millis(300),
            guard: false,
            hang_grace: None,
            seed,
            schedule: (seed % 2 == 0).then(|| Schedule {
                salt: "exits".into(),
                budget_percent: 25,
            }),
            ..Options::default()
        };
        let outcome = run_within(
            shell("while :; do /bin/true & /bin/true; done"),
            options,
            Duration::from_secs(20),
        );
        assert_eq!(outcome.exit, Exit::TimedOut, "seed {seed}");
    }
}
