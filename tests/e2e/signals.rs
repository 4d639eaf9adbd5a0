//! `signal-unsafe-call` findings (tests/fixtures/signal-unsafe): handlers
//! that call malloc, printf or format a String are found at that call, on
//! any thread, with the signal and the handler named; safe handlers, calls
//! after a handler left by siglongjmp and the query of installed handlers
//! give nothing; every test's own asserts pass (the calls proceed).

use crate::support::*;

const C: &str = "signal-unsafe/csrc/handlers.c";
const RS: &str = "signal-unsafe/src/lib.rs";
const FORTIFIED: &str = "signal-unsafe/csrc/fortified.c";

#[test]
fn unsafe_calls_in_handlers_are_found_at_the_call_and_safe_handlers_are_clean() {
    let run = run_json(&["-p", "signal-unsafe", "--seeds", "0..2"]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let cases = [
        (
            "tests::c_handler_calls_malloc",
            "malloc",
            "SIGUSR1",
            "mallocs",
            C,
            line_of(C, "BUG: malloc in a signal handler"),
        ),
        (
            "tests::handler_on_another_thread_calls_malloc",
            "malloc",
            "SIGUSR1",
            "mallocs",
            C,
            line_of(C, "BUG: malloc in a signal handler"),
        ),
        (
            "tests::c_handler_calls_printf",
            "printf",
            "SIGUSR2",
            "prints",
            C,
            line_of(C, "BUG: printf in a signal handler"),
        ),
        (
            "tests::c_fortified_handler_calls_printf",
            "printf",
            "SIGUSR2",
            "prints_fortified",
            FORTIFIED,
            line_of(FORTIFIED, "BUG: fortified printf in a signal handler"),
        ),
        (
            "tests::rust_handler_formats_a_string_in_a_handler",
            "malloc",
            "SIGUSR1",
            "signal_unsafe::formats",
            RS,
            line_of(RS, "BUG: a String formatted in a signal handler"),
        ),
    ];
    for (test, call, signal, handler, file, line) in cases {
        let events = run.finished(test);
        assert_eq!(events.len(), 2, "{test}: one per seed");
        for ev in events {
            // The handler ran to its end: the test's own assert passed.
            assert_eq!(ev["status"], "findings", "{ev:#}");
            assert_eq!(ev["exit"], "exit status: 0", "{ev:#}");
            // One finding per handler: its first unsafe call.
            let f = only_finding(ev);
            assert_eq!(f["kind"], "signal-unsafe-call", "{f:#}");
            assert_eq!(f["signal"], signal, "{f:#}");
            let message = f["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!(
                    "{call} called in a signal handler ({handler}, for {signal})"
                )),
                "{f:#}"
            );
            assert_eq!(f["location"]["file"], file, "{f:#}");
            assert_eq!(f["location"]["line"], line, "{f:#}");
        }
    }
    for test in [
        "tests::clean_safe_handler",
        "tests::clean_after_siglongjmp",
        "tests::clean_handler_queries",
    ] {
        let events = run.finished(test);
        assert_eq!(events.len(), 2, "{test}: one per seed");
        for ev in events {
            assert_eq!(ev["status"], "passed", "{ev:#}");
        }
    }
}
