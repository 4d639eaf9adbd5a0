//! The guard allocator's second version (tests/fixtures/heap-exact):
//! placement flush against the guard finds one-byte overflows and
//! over-reads at the instruction for Rust buffers of every size (they get
//! their layout's alignment) and for C buffers of sizes that are multiples
//! of 8 (others keep up to 7 bytes of slack for C's alignment: writes found
//! at free), in threads and forked children; slack of live
//! allocations is checked when the process exits; an overrun with the guard
//! before is blamed on its allocation; keep-going goes through memcpy,
//! memset, strcpy and strlen; and code that needs more alignment than an
//! allocation's size implies (std's hash maps, aligned SSE) works with no
//! finding.

use crate::support::*;
use serde_json::Value;
use std::sync::OnceLock;

const C: &str = "heap-exact/csrc/exact.c";
const RS: &str = "heap-exact/src/lib.rs";

/// One run of the whole fixture crate with the guard after (shared by the
/// tests below: 178 tests, a couple of seconds).
fn after() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| run_json(&["-p", "heap-exact", "--guard-side", "after"]))
}

fn message(f: &Value) -> &str {
    f["message"].as_str().unwrap()
}

fn assert_at(f: &Value, file: &str, line: u64) {
    assert_eq!(
        (
            f["location"]["file"].as_str(),
            f["location"]["line"].as_u64()
        ),
        (Some(file), Some(line)),
        "{f:#}"
    );
}

/// The single finding of `test`, which finished with findings after
/// exiting normally (the access was performed for it).
fn finding<'a>(run: &'a Run, test: &str) -> &'a Value {
    let ev = run.one(test);
    assert_eq!(ev["status"], "findings", "{ev:#}");
    assert_eq!(ev["exit"], "exit status: 0", "{ev:#}");
    only_finding(ev)
}

#[test]
fn one_byte_past_a_rust_buffer_or_a_c_multiple_of_8_is_found_at_the_instruction() {
    let run = after();
    assert_eq!(run.code, 100, "{}", run.stderr);
    // (test, access, file, line, allocated by Rust)
    let cases = [
        (
            "c_overflows_c",
            "WRITE",
            C,
            line_of(C, "BUG: one byte past a C buffer"),
            false,
        ),
        (
            "c_overflows_rust",
            "WRITE",
            C,
            line_of(C, "BUG: one byte past a Rust buffer"),
            true,
        ),
        (
            "rust_over_reads_c",
            "READ",
            RS,
            line_of(RS, "BUG: Rust reads past a C buffer"),
            false,
        ),
        (
            "rust_over_reads_rust",
            "READ",
            RS,
            line_of(RS, "BUG: Rust reads past a Rust buffer"),
            true,
        ),
        (
            "c_overflows_grown_rust",
            "WRITE",
            C,
            line_of(C, "BUG: one byte past a Rust buffer"),
            true,
        ),
    ];
    for (name, kind, file, line, rust) in cases {
        for n in 1..=33 {
            let test = format!("tests::{name}_{n}");
            if rust || n % 8 == 0 {
                // Flush against the guard page: found at the instruction.
                let f = finding(run, &test);
                assert_eq!(f["kind"], "heap-buffer-overflow", "{f:#}");
                assert_eq!(f["access"]["kind"], kind, "{f:#}");
                assert_eq!(f["access"]["size"], 1, "{f:#}");
                let want = format!("1 byte past the end of a {n}-byte allocation");
                assert!(message(f).ends_with(&want), "{name} {n}: {f:#}");
                assert_at(f, file, line);
                assert!(f["instruction"].is_string(), "{f:#}");
            } else if kind == "WRITE" {
                // Up to 7 bytes of slack (allocations are at least
                // 8-aligned, for C): the write is found when the block is
                // freed.
                let f = finding(run, &test);
                assert_eq!(f["kind"], "heap-buffer-overflow", "{f:#}");
                assert!(message(f).contains("found when it was freed"), "{f:#}");
                assert!(
                    message(f).contains(&format!("{n}-byte allocation")),
                    "{f:#}"
                );
            } else {
                // A read of slack changes nothing: the known blind spot.
                assert_eq!(run.one(&test)["status"], "passed");
            }
        }
    }
}

#[test]
fn a_u64_read_past_a_24_byte_c_buffer_is_found() {
    let f = finding(after(), "tests::rust_reads_a_u64_past_a_24_byte_c_buffer");
    assert_eq!(f["access"]["kind"], "READ");
    assert_eq!(f["access"]["size"], 8);
    assert!(
        message(f).ends_with("8 bytes past the end of a 24-byte allocation"),
        "{f:#}"
    );
    assert_at(f, RS, line_of(RS, "BUG: u64 past 24 bytes"));
}

#[test]
fn the_overflow_is_found_in_a_thread_and_in_a_forked_child_that_calls_exit() {
    let run = after();
    let f = finding(run, "tests::overflow_in_a_thread");
    assert!(message(f).ends_with("1 byte past the end of a 16-byte allocation"));
    assert_at(f, C, line_of(C, "BUG: one byte past a Rust buffer"));
    assert_ne!(f["thread"]["tid"], f["thread"]["pid"], "{f:#}");
    let f = finding(run, "tests::overflow_in_a_forked_child");
    assert_eq!(f["access"]["kind"], "WRITE");
    assert!(message(f).ends_with("1 byte past the end of a 16-byte allocation"));
    assert_at(f, C, line_of(C, "BUG: one byte past in a forked child"));
}

#[test]
fn slack_overwritten_in_a_live_allocation_is_found_when_the_process_exits() {
    let run = after();
    for test in [
        "tests::slack_overwrite_found_at_exit",
        "tests::slack_overwrite_found_at_a_childs_exit",
    ] {
        let f = finding(run, test);
        assert_eq!(f["kind"], "heap-buffer-overflow", "{f:#}");
        assert!(message(f).contains("100-byte allocation"), "{f:#}");
        assert!(
            message(f).contains("found when the process exited"),
            "{f:#}"
        );
        assert!(
            functions(&f["allocation"]["allocated_at"])
                .contains(&"exact_slack_overwrite_never_freed".to_string()),
            "{f:#}"
        );
    }
}

#[test]
fn keep_going_reports_an_overflow_inside_the_c_library_once_and_the_test_passes_its_asserts() {
    let run = after();
    for (test, marker) in [
        (
            "tests::memcpy_overflow_goes_on",
            "BUG: memcpy 20 bytes into 16",
        ),
        (
            "tests::memset_overflow_goes_on",
            "BUG: memset 24 bytes of 16",
        ),
        (
            "tests::strcpy_overflow_goes_on",
            "BUG: strcpy 13 bytes into 8",
        ),
        (
            "tests::strlen_overflow_goes_on",
            "BUG: strlen of an unterminated buffer",
        ),
    ] {
        // finding(): exactly one finding, and the test process exited 0,
        // so the test's own assertions on the results held.
        let f = finding(run, test);
        assert_eq!(f["kind"], "heap-buffer-overflow", "{test}: {f:#}");
        assert!(message(f).contains("past the end"), "{test}: {f:#}");
        // The finding points at the call in the fixture, below the C
        // library's frames.
        let frames = &f["backtrace"];
        let at_marker = frames.as_array().unwrap().iter().any(|fr| {
            fr["file"].as_str() == Some(C) && fr["line"].as_u64() == Some(line_of(C, marker))
        });
        assert!(at_marker, "{test}: {f:#}");
    }
    let strlen = finding(run, "tests::strlen_overflow_goes_on");
    assert_eq!(strlen["access"]["kind"], "READ");
    let memset = finding(run, "tests::memset_overflow_goes_on");
    assert_eq!(memset["access"]["kind"], "WRITE");
}

#[test]
fn code_that_needs_more_alignment_than_the_size_implies_works_without_findings() {
    let run = after();
    for test in [
        "tests::clean_hash_maps",
        "tests::clean_aligned_sse",
        "tests::clean_odd_sizes",
    ] {
        let ev = run.one(test);
        assert_eq!(ev["status"], "passed", "{ev:#}");
    }
    // And under other seeds (seeded guard side, seeded sampling).
    let run = run_json(&["-p", "heap-exact", "--seeds", "0..6", "clean_"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary()["passed"], 18, "{}", run.stderr);
    assert!(run.findings().is_empty(), "{:#?}", run.findings());
}

#[test]
fn with_the_guard_before_an_overrun_past_the_end_is_blamed_on_its_allocation() {
    let run = run_json(&[
        "-p",
        "heap-exact",
        "--guard-side",
        "before",
        "--exact",
        "tests::page_sized_overflow",
    ]);
    let f = finding(&run, "tests::page_sized_overflow");
    assert_eq!(f["kind"], "heap-buffer-overflow", "{f:#}");
    assert!(
        message(f).ends_with("1 byte past the end of a 4096-byte allocation"),
        "{f:#}"
    );
    assert_eq!(f["allocation"]["size"], 4096, "{f:#}");
    assert_at(f, C, line_of(C, "BUG: one past a 4096-byte allocation"));
}

/// Runs `tests` of heap-exact (exact names) under seeds 0..8, with `extra`
/// arguments: the run has findings and each test ran under all 8 seeds.
fn under_eight_seeds(tests: &[&str], extra: &[&str]) -> Run {
    let mut args = vec!["-p", "heap-exact", "--seeds", "0..8", "--exact"];
    args.extend_from_slice(tests);
    args.extend_from_slice(extra);
    let run = run_json(&args);
    assert_eq!(run.code, 100, "{}", run.stderr);
    for test in tests {
        assert_eq!(run.finished(test).len(), 8, "{test}: {}", run.stderr);
    }
    run
}

/// Guards are cheap (a recycled slot costs no system call), so every
/// allocation is guarded however late in its thread: an overflow of an
/// allocation made after 2000 others is found at the instruction under
/// every seed (it was one seed in 16 while guards were sampled).
#[test]
fn a_late_allocation_is_guarded_under_every_seed() {
    let test = "tests::late_overflow_in_the_seeded_sample";
    let run = under_eight_seeds(&[test], &["--guard-side", "after"]);
    for ev in run.finished(test) {
        let f = only_finding(ev);
        assert!(
            message(f).ends_with("1 byte past the end of a 20-byte allocation"),
            "{f:#}"
        );
        assert_at(f, C, line_of(C, "BUG: one byte past a Rust buffer"));
    }
}

/// C reading one byte past a Rust `String` made after 5,000 and after
/// 50,000 other allocations of its thread (one in ten kept live) is found
/// at the instruction under every seed, with the seeded guard side (a call
/// site's first guarded allocation always has its guard after).
#[test]
fn an_over_read_after_thousands_of_allocations_is_found_at_the_instruction_under_every_seed() {
    for n in ["5000", "50000"] {
        let test = format!("tests::c_over_reads_a_string_after_{n}_allocations");
        let run = under_eight_seeds(&[&test], &[]);
        for ev in run.finished(&test) {
            let f = only_finding(ev);
            assert_eq!(f["kind"], "heap-buffer-overflow", "{f:#}");
            assert_eq!(f["access"]["kind"], "READ", "{f:#}");
            assert!(
                message(f).ends_with("1 byte past the end of a 14-byte allocation"),
                "{f:#}"
            );
            assert_at(
                f,
                C,
                line_of(C, "BUG: one byte past a buffer that has no terminator"),
            );
        }
    }
}

/// A write after free and a double free of a thread's 3,000th allocation
/// are found under every seed, with where it was freed.
#[test]
fn a_write_after_free_and_a_double_free_of_a_late_allocation_are_found_under_every_seed() {
    let run = under_eight_seeds(
        &[
            "tests::write_after_free_of_the_3000th_allocation",
            "tests::double_free_of_the_3000th_allocation",
        ],
        &[],
    );
    for (test, kind, line) in [
        (
            "tests::write_after_free_of_the_3000th_allocation",
            "heap-use-after-free",
            line_of(C, "BUG: write after free"),
        ),
        (
            "tests::double_free_of_the_3000th_allocation",
            "double-free",
            line_of(C, "BUG: double free"),
        ),
    ] {
        for ev in run.finished(test) {
            let f = only_finding(ev);
            assert_eq!(f["kind"], kind, "{f:#}");
            if message(f).contains("written after it was freed") {
                // Past the budget the block was poisoned, not protected:
                // found later, at the free.
                assert_at(f, C, line_of(C, "where the written block was freed"));
            } else {
                assert_at(f, C, line);
            }
            assert!(!functions(&f["allocation"]["freed_at"]).is_empty(), "{f:#}");
        }
    }
}

/// Freed memory that is not protected is poisoned and checked: guarded
/// slots past the budget (forced here with FFI_CHECK_GUARD_PROTECT=poison)
/// and unguarded (wrapped) blocks (forced with =wrap). A write after free
/// is found when the block leaves its quarantine or when the process
/// exits, at the free with both stacks; a double free of a block in
/// quarantine is refused and reported; a pointer read from poisoned memory
/// and followed is a heap-use-after-free that names the poison. Protected
/// (the default within the budget), the stale read itself faults.
#[test]
fn poisoned_freed_memory_finds_writes_after_free_double_frees_and_followed_stale_pointers() {
    let forced = |mode: &str, args: &[&str]| {
        parse_output(
            ffi_check()
                .env("FFI_CHECK_GUARD_PROTECT", mode)
                .args(["--message-format", "json", "-p", "heap-exact"])
                .args(args)
                .output()
                .expect("running cargo-ffi-check"),
        )
    };
    for mode in ["poison", "wrap"] {
        for (test, when) in [
            (
                "tests::write_after_free_then_churn",
                "found when it left the quarantine",
            ),
            (
                "tests::write_after_free_of_the_3000th_allocation",
                "found when the process exited",
            ),
        ] {
            let run = forced(mode, &["--exact", test]);
            let f = finding(&run, test);
            assert_eq!(f["kind"], "heap-use-after-free", "{mode}: {f:#}");
            assert!(
                message(f).starts_with("1 byte at offset 20 of the freed 24-byte allocation")
                    && message(f).contains(when),
                "{mode}: {f:#}"
            );
            assert_at(f, C, line_of(C, "where the written block was freed"));
            assert!(f["allocation"]["freed_tid"].as_u64().unwrap() > 0, "{f:#}");
        }
        let test = "tests::double_free_of_the_3000th_allocation";
        let run = forced(mode, &["--exact", test]);
        let f = only_finding(run.one(test));
        assert_eq!(f["kind"], "double-free", "{mode}: {f:#}");
        assert_at(f, C, line_of(C, "BUG: double free"));
        assert!(
            !functions(&f["allocation"]["freed_at"]).is_empty(),
            "{mode}: {f:#}"
        );
    }
    let test = "tests::c_follows_a_pointer_read_from_freed_memory";
    let run = forced("poison", &["--ignored", "--exact", test]);
    let f = only_finding(run.one(test));
    assert_eq!(f["kind"], "heap-use-after-free", "{f:#}");
    assert!(message(f).contains("0xa5a5a5a5a5a5a5a5"), "{f:#}");
    assert_at(
        f,
        C,
        line_of(C, "BUG: follows a pointer read from freed memory"),
    );
    let run = run_json(&["-p", "heap-exact", "--ignored", "--exact", test]);
    let f = &run.one(test)["findings"][0];
    assert_eq!(f["kind"], "heap-use-after-free", "{f:#}");
    assert_at(f, C, line_of(C, "stale read of freed memory"));
}

/// An overrun found when its allocation is freed (the guard before a
/// zeroed Rust buffer) names who freed it, with the stack.
#[test]
fn an_overrun_found_at_free_names_the_freeing_thread_and_stack() {
    let test = "tests::c_overflows_rust_17";
    let run = run_json(&[
        "-p",
        "heap-exact",
        "--guard-side",
        "before",
        "--exact",
        test,
    ]);
    let f = finding(&run, test);
    assert!(message(f).contains("found when it was freed"), "{f:#}");
    let a = &f["allocation"];
    assert_eq!(a["freed_tid"], a["allocated_tid"], "{f:#}");
    assert!(a["freed_tid"].as_u64().unwrap() > 0, "{f:#}");
    let freed = functions(&a["freed_at"]);
    assert!(
        freed.iter().any(|f| f.contains("c_overflows_rust")),
        "{freed:?}"
    );
}

/// Unguarded (wrapped) blocks, forced here with FFI_CHECK_GUARD_PROTECT=wrap,
/// as glibc would have them fail but with findings instead of its abort: a
/// double free after the block left its quarantine, a double free of a
/// large block (given back to glibc at once) and a write of the 8 bytes
/// right before a block (its header's key) are a `double-free` at the
/// second free and a `heap-buffer-underflow` at the block's free (with its
/// allocation's stack), the test going on to exit 0
/// (before: each a `crash` by SIGABRT in glibc).
#[test]
fn double_frees_and_a_write_before_unguarded_blocks_are_findings_not_aborts() {
    let cases = [
        (
            "tests::double_free_after_churn",
            "double-free",
            "BUG: freed again after the churn",
        ),
        (
            "tests::double_free_of_a_large_block",
            "double-free",
            "BUG: a large block freed again",
        ),
        (
            "tests::write_of_the_8_bytes_before_a_block",
            "heap-buffer-underflow",
            "where the written-before block was freed",
        ),
    ];
    let run = parse_output(
        ffi_check()
            .env("FFI_CHECK_GUARD_PROTECT", "wrap")
            .args(["--message-format", "json", "-p", "heap-exact", "--exact"])
            .args(cases.map(|(test, _, _)| test))
            .output()
            .expect("running cargo-ffi-check"),
    );
    for (test, kind, marker) in cases {
        let f = finding(&run, test);
        assert_eq!(f["kind"], kind, "{f:#}");
        assert_at(f, C, line_of(C, marker));
    }
    let f = finding(&run, "tests::write_of_the_8_bytes_before_a_block");
    assert!(
        message(f).starts_with("the 8 bytes before the start of the 48-byte allocation"),
        "{f:#}"
    );
    assert!(
        !functions(&f["allocation"]["allocated_at"]).is_empty(),
        "{f:#}"
    );
}
