//! Processes started with `posix_spawnp` (std's `Command`) and replaced
//! with `execve` are hand-over points of the seeded schedule: the journal
//! records both, under every seed, and the program runs as natively.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::Path;
use tracer::{Command, Exit, Options, Schedule};

#[test]
fn posix_spawn_and_execve_are_schedule_points() {
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spawns");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/spawns.c");
    let Ok(built) = std::process::Command::new("cc")
        .args(["-O1", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(&source)
        .status()
    else {
        eprintln!("skipping: no C compiler");
        return;
    };
    assert!(built.success());
    for seed in 0..4 {
        let options = Options {
            seed,
            schedule: Some(Schedule {
                salt: "spawns".into(),
                budget_percent: 25,
            }),
            ..Options::default()
        };
        let command = Command {
            program: exe.clone(),
            args: Vec::new(),
            env: std::env::vars_os().collect(),
            cwd: std::env::current_dir().unwrap(),
        };
        let outcome = tracer::run(&command, &options).unwrap();
        assert_eq!(outcome.exit, Exit::Code(0), "seed {seed}");
        let whats: Vec<&str> = outcome
            .schedule_events
            .iter()
            .map(|e| e.what.as_str())
            .collect();
        assert!(
            whats.iter().any(|w| w.starts_with("posix_spawn(")),
            "seed {seed}: {whats:?}"
        );
        assert!(
            whats.iter().any(|w| w.starts_with("execve(")),
            "seed {seed}: {whats:?}"
        );
    }
}
