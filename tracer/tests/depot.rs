//! The guard allocator's stack depot (preload/alloc/depot.c) under two threads
//! recording the same stacks at once: preload/tests/depot_test.c checks
//! that a stack gets one id, distinct stacks distinct ids, and that 40 000
//! allocations from 8 stacks make a handful of entries; and that such a
//! program ends cleanly (glibc's malloc initialised before any thread).

mod preloaded;

#[test]
fn the_depot_gives_one_id_per_stack_across_threads() {
    let Some((library, exe)) = preloaded::build("depot_test") else {
        return;
    };
    // Twenty runs: the two threads' first unguarded allocations come at the
    // same moment, and before the allocator initialised glibc's malloc
    // itself that made a few runs in a hundred abort at thread exit
    // (glibc's "a->attached_threads > 0").
    for _ in 0..20 {
        preloaded::run_ok(&library, &exe, "0", &[]);
    }
}
