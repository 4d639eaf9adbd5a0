//! The guard allocator's quarantine of freed slots past its ring of
//! records (preload/tests/quarantine_test.c): a live allocation made after
//! the ring turned over is freed cleanly, never reported as an invalid
//! free (as crossbeam-channel's `linearizable_try` once showed, on
//! libtest's own channel block).

mod preloaded;

#[test]
fn a_free_after_the_quarantine_ring_turned_over_is_clean() {
    let Some((library, exe)) = preloaded::build("quarantine_test") else {
        return;
    };
    preloaded::run_ok(
        &library,
        &exe,
        "0",
        &[("FFI_CHECK_GUARD_PROTECT", "poison")],
    );
}
