//! `leak` findings (tests/fixtures/leaks): every leak class (a C string
//! Rust never gives back, a CString and a Box turned into raw pointers and
//! dropped, a struct and its member, a member of a freed struct, a leak on a
//! thread and in a forked child that calls `_exit`) is found at its
//! allocation site with the right size and "directly"/"indirectly";
//! memory that stays reachable, memory freed in time and a program the
//! test runs that leaks give nothing;
//! `--leaks off` turns it off.

use crate::support::*;

const C: &str = "leaks/csrc/leaks.c";
const RS: &str = "leaks/src/lib.rs";

#[test]
fn every_leak_class_is_found_at_its_allocation_site_and_reachable_memory_is_not() {
    let run = run_json(&["-p", "leaks", "--seeds", "0..2"]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    // (test, [(file, marker, bytes, direct)])
    type Site = (&'static str, &'static str, u64, bool);
    let cases: [(&str, &[Site]); 10] = [
        (
            "tests::leak_on_a_thread_that_left_it_on_its_stack",
            &[(RS, "BUG: leaked Box", 32, true)],
        ),
        // Past the first allocations, where most are glibc blocks the
        // allocator wraps rather than guards.
        (
            "tests::box_leaked_past_the_sample",
            &[(RS, "BUG: leaked Box", 32, true)],
        ),
        (
            "tests::leak_pointed_to_only_from_freed_memory",
            &[(RS, "BUG: leaked past a freed holder", 24, true)],
        ),
        (
            "tests::c_string_never_freed",
            &[(C, "BUG: leaked C string", 14, true)],
        ),
        (
            "tests::cstring_into_raw_never_taken_back",
            &[(RS, "BUG: leaked CString", 10, true)],
        ),
        (
            "tests::box_into_raw_never_taken_back",
            &[(RS, "BUG: leaked Box", 32, true)],
        ),
        (
            "tests::leak_on_a_thread",
            &[(RS, "BUG: leaked Box", 32, true)],
        ),
        (
            "tests::struct_and_member_leaked",
            &[
                (C, "BUG: leaked struct", 16, true),
                (C, "BUG: leaked member", 7, false),
            ],
        ),
        (
            "tests::member_of_a_freed_struct",
            &[(C, "BUG: member of a freed struct", 24, true)],
        ),
        (
            "tests::leak_in_a_forked_child",
            &[(C, "BUG: leaked in a forked child", 40, true)],
        ),
    ];
    for (test, want) in cases {
        let events = run.finished(test);
        assert_eq!(events.len(), 2, "{test}: one per seed");
        for ev in events {
            // Leaks change nothing the test sees: it passed its asserts.
            assert_eq!(ev["status"], "findings", "{ev:#}");
            assert_eq!(ev["exit"], "exit status: 0", "{ev:#}");
            let findings = ev["findings"].as_array().unwrap();
            assert_eq!(findings.len(), want.len(), "{test}: {ev:#}");
            for &(file, marker, bytes, direct) in want {
                let line = line_of(file, marker);
                let f = findings
                    .iter()
                    .find(|f| f["location"]["line"] == line)
                    .unwrap_or_else(|| panic!("{test}: no finding at {file}:{line}: {ev:#}"));
                assert_eq!(f["kind"], "leak", "{f:#}");
                assert_eq!(f["location"]["file"], file, "{f:#}");
                let how = if direct { "directly" } else { "indirectly" };
                let message = f["message"].as_str().unwrap();
                assert!(
                    message.starts_with(&format!("{bytes} bytes in 1 allocation leaked {how}")),
                    "{f:#}"
                );
                assert_eq!(f["allocation"]["size"], bytes, "{f:#}");
            }
        }
    }
    for test in [
        "tests::clean_c_string_given_back",
        "tests::clean_reachable_memory",
        "tests::clean_list_past_the_sample",
        "tests::clean_nested_harness",
    ] {
        let events = run.finished(test);
        assert_eq!(events.len(), 2, "{test}: one per seed");
        for ev in events {
            assert_eq!(ev["status"], "passed", "{ev:#}");
        }
    }
}

#[test]
fn leaks_off_reports_none() {
    let run = run_json(&["-p", "leaks", "--leaks", "off"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bad = ffi_check()
        .args(["-p", "leaks", "--leaks", "maybe"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid value 'maybe' for '--leaks <on|report|off>'")
            && stderr.contains("on, report, off"),
        "{stderr}"
    );
}
