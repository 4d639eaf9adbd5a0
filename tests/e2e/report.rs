//! What people see: status lines, the finding block, the summary line.

use crate::support::*;

#[test]
fn human_output_shows_the_finding_once_with_its_location_and_a_summary() {
    let run = run_human(&[
        "-p",
        "ffi-bugs",
        "--seeds",
        "0..2",
        "null_write",
        "clean_c_call",
    ]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    let e = &run.stderr;
    let line = bug_line("ffi-bugs/csrc/bugs.c", "write_result");
    assert_eq!(
        e.matches("error[null-dereference]: WRITE of size 4 at 0x0")
            .count(),
        1,
        "{e}"
    );
    // Paths are relative to the workspace root, as in rustc's diagnostics.
    assert!(
        e.contains(&format!("--> ffi-bugs/csrc/bugs.c:{line}:")),
        "{e}"
    );
    assert!(e.contains("in write_result"), "{e}");
    // Printed when first seen (by whichever seed finished first), with what
    // selects the same binary from the same place.
    let manifest = fixtures().join("Cargo.toml");
    let rerun = |seed| {
        format!(
            "rerun: cargo ffi-check --manifest-path {} -p ffi-bugs --seeds {seed} --exact tests::null_write_through_out_pointer",
            manifest.display()
        )
    };
    assert!(e.contains(&rerun(0)) || e.contains(&rerun(1)), "{e}");
    assert!(e.contains("SIGSEGV [") && e.contains("PASS ["), "{e}");
    assert!(
        e.contains("2 tests x 2 seeds: 2 passed, 0 failed, 2 with findings, 0 hung"),
        "{e}"
    );
}
