//! Heap bugs found by the guard allocator: kind, access, offset against the
//! allocation, faulting line, and where the memory was allocated and freed.

use crate::support::*;
use serde_json::Value;

const C: &str = "heap-bugs/csrc/heap.c";
const RS: &str = "heap-bugs/src/lib.rs";

/// Runs one heap-bugs test with the guard page on the given side.
fn heap_finding(test: &str, side: &str) -> (Value, Value) {
    let run = run_json(&["-p", "heap-bugs", "--guard-side", side, "--exact", test]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let ev = run.one(test).clone();
    let f = only_finding(&ev).clone();
    (ev, f)
}

fn assert_location(f: &Value, file: &str, line: u64) {
    assert_eq!(f["location"]["file"], file, "{f:#}");
    assert_eq!(f["location"]["line"], line, "{f:#}");
}

#[test]
fn c_writing_one_byte_past_a_rust_vec() {
    let (ev, f) = heap_finding("tests::c_writes_past_a_rust_vec", "after");
    // The write was performed for the test, which then finished normally.
    assert_eq!(ev["exit"], "exit status: 0");
    assert_eq!(ev["status"], "findings");
    assert_eq!(f["occurrences"], 1);
    assert_eq!(f["kind"], "heap-buffer-overflow");
    assert_eq!(f["access"]["kind"], "WRITE");
    assert_eq!(f["access"]["size"], 1);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with("1 byte past the end of a 64-byte allocation"),
        "{f:#}"
    );
    assert_location(&f, C, line_of(C, "BUG: writes buf[len]"));
    assert_eq!(f["location"]["function"], "fill_one_too_many");
    let a = &f["allocation"];
    assert_eq!(a["size"], 64);
    assert_eq!(a["freed_tid"], Value::Null);
    assert!(
        functions(&a["allocated_at"])
            .iter()
            .any(|n| n.ends_with("tests::c_writes_past_a_rust_vec")),
        "{a:#}"
    );
}

#[test]
fn rust_reading_past_a_c_buffer_names_the_c_allocation_site() {
    let (_, f) = heap_finding("tests::rust_reads_past_a_c_buffer", "after");
    assert_eq!(f["kind"], "heap-buffer-overflow");
    assert_eq!(f["access"]["kind"], "READ");
    assert_eq!(f["access"]["size"], 1);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with("1 byte past the end of a 32-byte allocation"),
        "{f:#}"
    );
    assert_eq!(f["location"]["file"], RS);
    assert_eq!(
        f["location"]["line"],
        line_of(RS, "BUG: reads byte 32 of 32")
    );
    assert!(
        functions(&f["allocation"]["allocated_at"]).contains(&"make_buffer".to_string()),
        "{f:#}"
    );
}

#[test]
fn cstr_on_a_buffer_without_nul_reads_past_its_end() {
    let (_, f) = heap_finding("tests::cstr_from_a_buffer_without_nul", "after");
    assert_eq!(f["kind"], "heap-buffer-overflow");
    assert_eq!(f["access"]["kind"], "READ");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("past the end of a 16-byte allocation"),
        "{f:#}"
    );
    assert_eq!(
        f["location"]["line"],
        line_of(RS, "BUG: no NUL in the 16 bytes")
    );
}

#[test]
fn c_using_a_dropped_cstring_is_a_use_after_free_with_both_sites() {
    let (_, f) = heap_finding("tests::c_keeps_a_pointer_to_a_dropped_cstring", "after");
    assert_eq!(f["kind"], "heap-use-after-free");
    assert_eq!(f["access"]["kind"], "READ");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with("0 bytes into a 8-byte allocation freed earlier"),
        "{f:#}"
    );
    assert_location(&f, C, line_of(C, "BUG: the string was freed"));
    let a = &f["allocation"];
    assert!(a["freed_tid"].is_i64(), "{a:#}");
    let freed = functions(&a["freed_at"]);
    assert!(
        freed
            .iter()
            .any(|n| n.ends_with("c_keeps_a_pointer_to_a_dropped_cstring")),
        "{freed:?}"
    );
}

#[test]
fn a_pointer_into_a_vec_that_grew_dangles() {
    let (_, f) = heap_finding("tests::c_keeps_a_pointer_into_a_vec_that_grows", "after");
    assert_eq!(f["kind"], "heap-use-after-free");
    assert_eq!(f["access"]["size"], 4);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with("a 16-byte allocation freed earlier"),
        "{f:#}"
    );
    assert_location(&f, C, line_of(C, "BUG: the vector grew and moved"));
}

#[test]
fn c_freeing_then_rust_freeing_again_is_a_double_free_and_the_test_goes_on() {
    let (ev, f) = heap_finding("tests::c_frees_then_rust_frees_again", "after");
    // The allocator refuses the second free and the test finishes normally.
    assert_eq!(ev["exit"], "exit status: 0");
    assert_eq!(f["kind"], "double-free");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("a 48-byte allocation that was already freed"),
        "{f:#}"
    );
    assert_location(&f, RS, line_of(RS, "BUG: second free"));
    assert!(
        functions(&f["allocation"]["freed_at"]).contains(&"free_buffer".to_string()),
        "{f:#}"
    );
}

#[test]
fn c_freeing_an_interior_pointer_is_an_invalid_free() {
    let (_, f) = heap_finding("tests::c_frees_an_interior_pointer", "after");
    assert_eq!(f["kind"], "invalid-free");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("4 bytes into a 32-byte allocation"),
        "{f:#}"
    );
    assert_location(&f, C, line_of(C, "BUG: not the start of the allocation"));
}

#[test]
fn a_write_before_the_start_is_an_underflow() {
    let (_, f) = heap_finding("tests::c_writes_before_the_start", "before");
    assert_eq!(f["kind"], "heap-buffer-underflow");
    assert_eq!(f["access"]["kind"], "WRITE");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with("1 byte before the start of a 32-byte allocation"),
        "{f:#}"
    );
    assert_location(&f, C, line_of(C, "BUG: one byte before the start"));
}

/// The headline case: C writes one byte past a 10-byte `Vec<u8>`.
/// Rust's allocations get their layout's alignment (1 here), so it ends
/// flush against its guard and the write faults at the instruction (C
/// allocations of such sizes keep slack: heap_exact.rs).
#[test]
fn a_c_overrun_of_an_odd_sized_rust_vec_is_found_at_the_instruction() {
    let (ev, f) = heap_finding("tests::c_writes_past_an_odd_sized_rust_vec", "after");
    assert_eq!(ev["exit"], "exit status: 0");
    assert_eq!(f["kind"], "heap-buffer-overflow");
    assert_eq!(f["access"]["kind"], "WRITE");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .ends_with("1 byte past the end of a 10-byte allocation"),
        "{f:#}"
    );
    assert_location(&f, C, line_of(C, "BUG: writes buf[len]"));
}

#[test]
fn the_bug_on_a_c_thread_and_in_a_forked_child_is_found_too() {
    let (_, f) = heap_finding("tests::c_thread_writes_past_a_buffer", "after");
    assert_eq!(f["kind"], "heap-buffer-overflow");
    assert_location(&f, C, line_of(C, "BUG: writes buf[len]"));
    let (ev, f) = heap_finding("tests::forked_child_writes_past_a_buffer", "after");
    // The child goes on (the write is performed for it), but the finding
    // fails the test's result all the same.
    assert_eq!(ev["status"], "findings");
    assert_eq!(f["kind"], "heap-buffer-overflow");
    // In the child: its only thread is its main thread, whereas libtest runs
    // the test itself on a thread of its own.
    assert_eq!(f["thread"]["pid"], f["thread"]["tid"], "{f:#}");
}

#[test]
fn a_recurring_overrun_is_one_finding_counted_and_the_test_goes_on() {
    let (ev, f) = heap_finding("tests::the_same_overrun_a_thousand_times", "after");
    assert_eq!(ev["exit"], "exit status: 0");
    assert_eq!(f["kind"], "heap-buffer-overflow");
    assert_eq!(f["access"]["kind"], "READ");
    assert_eq!(f["occurrences"], 1000);
    assert_location(&f, C, line_of(C, "BUG: reads buf[len]"));
}

#[test]
fn the_same_seed_places_the_test_threads_allocations_the_same_way() {
    let statuses = || {
        let run = run_json(&[
            "-p",
            "heap-bugs",
            "--seeds",
            "0..8",
            "--exact",
            "tests::c_writes_past_a_rust_vec",
        ]);
        let mut v: Vec<(u64, String)> = run
            .finished("tests::c_writes_past_a_rust_vec")
            .iter()
            .map(|e| {
                (
                    e["seed"].as_u64().unwrap(),
                    e["exit"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let first = statuses();
    assert_eq!(first.len(), 8);
    assert_eq!(first, statuses());
}

#[test]
fn the_tests_allocations_are_guarded_and_counted() {
    // 4097 sizes, each a Vec, a malloc and a strdup, on the test's thread
    // (libtest's own harness thread is not counted): guards are cheap
    // (freed slots are recycled), so every one is guarded under every seed.
    let test = "tests::clean_string_functions_on_exact_sizes";
    let run = run_json(&["-p", "clean", "--seeds", "0..4", "--exact", test]);
    let jobs = run.finished(test);
    assert_eq!(jobs.len(), 4, "{}", run.stderr);
    let total = jobs[0]["allocations"]["total"].as_u64().unwrap();
    assert!(total >= 3 * 4097, "{:#}", jobs[0]);
    for ev in &jobs {
        assert_eq!(ev["allocations"]["total"], total, "{ev:#}");
        assert_eq!(ev["allocations"]["guarded"], total, "{ev:#}");
    }
    let off = run_json(&["-p", "clean", "--no-guard", "--exact", test]);
    assert_eq!(off.one(test)["allocations"]["total"], 0);
}

#[test]
fn each_bug_is_found_on_a_c_thread_and_in_a_forked_child() {
    let run = run_json(&[
        "-p",
        "heap-bugs",
        "--guard-side",
        "after",
        "_on_a_c_thread",
        "_in_a_forked_child",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let cases = [
        ("use_after_free", "heap-use-after-free", "kept_name_length"),
        (
            "double_free",
            "double-free",
            "heap_bugs::tests::everywhere::double_free",
        ),
        ("interior_free", "invalid-free", "free_interior"),
    ];
    for (bug, kind, function) in cases {
        for (place, in_child) in [("on_a_c_thread", false), ("in_a_forked_child", true)] {
            let f = only_finding(run.one(&format!("tests::{bug}_{place}"))).clone();
            assert_eq!(f["kind"], kind, "{bug} {place}: {f:#}");
            assert_eq!(f["location"]["function"], function, "{bug} {place}: {f:#}");
            // A forked child's only thread is its main thread; a thread
            // created by C never is.
            let main_thread = f["thread"]["pid"] == f["thread"]["tid"];
            assert_eq!(main_thread, in_child, "{bug} {place}: {f:#}");
        }
    }
    let f = only_finding(run.one("tests::overflow_on_a_c_thread_through_a_rust_callback")).clone();
    assert_eq!(f["kind"], "heap-buffer-overflow");
    assert_ne!(f["thread"]["pid"], f["thread"]["tid"]);
}

/// Keep-going performs heap accesses only: when the same store that
/// overran a heap buffer later writes to read-only memory, that write is
/// not performed but crashes the test, as natively.
#[test]
fn keep_going_never_writes_outside_the_heap() {
    let run = run_json(&[
        "-p",
        "heap-bugs",
        "--guard-side",
        "after",
        "--exact",
        "tests::one_store_overruns_the_heap_then_writes_read_only_memory",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let ev = run.one("tests::one_store_overruns_the_heap_then_writes_read_only_memory");
    assert_eq!(ev["exit"], "signal: 11 (SIGSEGV)", "{ev:#}");
    assert!(
        !ev["stdout"].as_str().unwrap().contains("still running"),
        "{ev:#}"
    );
    let line = bug_line("heap-bugs/csrc/heap.c", "poke");
    let findings = ev["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["heap-buffer-overflow", "wild-access"], "{ev:#}");
    for f in findings {
        assert_eq!(f["access"]["kind"], "WRITE");
        assert_eq!(f["location"]["line"], line, "{f:#}");
    }
    assert!(
        findings[1]["message"]
            .as_str()
            .unwrap()
            .contains("not permitted on this mapping"),
        "{ev:#}"
    );
}
