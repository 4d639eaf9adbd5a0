//! The guard allocator's tables in a child forked while other threads
//! allocate and free (preload/tests/fork_test.c): the child inherits them
//! whole, never half-updated, in every one of 200 forks.

mod preloaded;

#[test]
fn a_child_forked_while_threads_allocate_inherits_whole_tables() {
    let Some((library, exe)) = preloaded::build("fork_test") else {
        return;
    };
    for seed in ["0", "1"] {
        preloaded::run_ok(&library, &exe, seed, &[]);
    }
}
