//! The seeded schedule reaches windows that open at calls it did not hold
//! at before (tests/fixtures/race-corpus): a client connecting between
//! `bind` and `listen`, a timer's signal interrupting a read the program
//! thought would have its byte, a file read between its creation and its
//! writing, a slot cleared 20 ms after a semaphore handed it over (a hold
//! after the wait, until the producer's sleep runs out), a child's message
//! sent after its younger sibling's (a hold in one process until another
//! process's sleep runs out), a fork while another thread holds a lock (a
//! thread inside a critical section held across the forking thread's
//! aimed hold), a signal landing between a flag's check and `pause()` (a
//! first wait for a signal, held until the sender's sleep runs out), a
//! child reaped by a SIGCHLD handler before its parent waits for it (the
//! parent's hold waits for the new child to set its clock). Each race is
//! exposed by some seed of the range (the bench,
//! tests/bench/race-corpus.sh, measures how many: a quarter of the seeds or
//! more), and its correct twin by none.

use crate::support::*;

/// The seeds of `0..seeds` under which `test` did not pass.
fn exposing(test: &str, seeds: u64) -> Vec<u64> {
    let range = format!("0..{seeds}");
    let run = run_json(&["-p", "race-corpus", "--seeds", &range, "--exact", test]);
    let finished = run.finished(test);
    assert_eq!(finished.len() as u64, seeds, "{}", run.stderr);
    finished
        .iter()
        .filter(|e| e["status"] != "passed")
        .map(|e| e["seed"].as_u64().unwrap())
        .collect()
}

#[test]
fn windows_at_listen_a_timer_a_file_a_semaphore_and_a_queue_are_exposed_twins_never() {
    for (race, seeds) in [
        ("tests::unix_socket_connect_before_listen", 64),
        ("tests::timer_interrupts_read", 32),
        ("tests::file_visible_before_written", 32),
        ("tests::semaphore_slot_cleared", 32),
        ("tests::msgqueue_spawn_order", 32),
        ("tests::fork_while_locked", 64),
        ("tests::pause_lost_wakeup", 16),
        ("tests::sigchld_reaper_steals_child", 16),
    ] {
        let found = exposing(race, seeds);
        assert!(
            !found.is_empty(),
            "{race}: no seed of 0..{seeds} exposed it"
        );
        let twin = format!("{race}_fixed");
        assert_eq!(exposing(&twin, seeds), Vec::<u64>::new(), "{twin}");
    }
}

/// A window between two instructions of one thread (a table's count
/// published before its entries are filled, no call in between) is opened
/// only by preemption: some seed of 0..16 stops the worker there and holds
/// it until the test's sleep runs out, the failure's events show the
/// preemption, and the twin (filled, then published) passes under every
/// seed.
#[test]
fn preemption_opens_a_window_between_two_instructions() {
    let race = "tests::table_published_before_filled";
    let run = run_json(&["-p", "race-corpus", "--seeds", "0..16", "--exact", race]);
    let failed: Vec<_> = run
        .finished(race)
        .into_iter()
        .filter(|e| e["status"] == "failed")
        .collect();
    assert!(
        !failed.is_empty(),
        "no seed of 0..16 exposed it: {}",
        run.stderr
    );
    let preempted = failed.iter().any(|e| {
        e["findings"].as_array().unwrap().iter().any(|f| {
            f["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|ev| ev["what"] == "preempted" && ev["held_us"].as_u64().unwrap_or(0) > 0)
        })
    });
    assert!(preempted, "no failure shows a preemption: {failed:#?}");
    assert_eq!(exposing(&format!("{race}_fixed"), 16), Vec::<u64>::new());
}
