//! A test-only switch: with `FFI_CHECK_TEST_VANISH=seed` in the tool's
//! environment, the job of seed `s` loses a tracee just before its
//! supervisor's (s+1)-th ptrace request: the process the request is for is
//! killed with SIGKILL (as by the OOM killer, or by the test itself), and
//! the request then goes to the kernel, which answers it as it would: ESRCH
//! from a tracee that the kill woke from its stop, success from one that
//! stays stopped (a thread past its exit event). A run with `--seeds 0..N`
//! thus takes the fault at each of the first N requests in turn. It is for
//! this repository's tests of how the supervisor copes (each job must still
//! end, as a finding or an error); never set it otherwise.

use std::cell::Cell;

/// The environment variable of the switch.
pub const VANISH_VARIABLE: &str = "FFI_CHECK_TEST_VANISH";

thread_local! {
    /// Requests left before the fault on this supervisor thread (0: none).
    static COUNTDOWN: Cell<u64> = const { Cell::new(0) };
}

/// Arms the switch for the job of `seed` that this thread is about to
/// supervise, if the switch is on; the returned value disarms it when
/// dropped (the job ended, or the supervisor unwound).
pub fn arm(seed: u64) -> Armed {
    if std::env::var_os(VANISH_VARIABLE).is_some_and(|v| v == "seed") {
        COUNTDOWN.with(|c| c.set(seed.saturating_add(1)));
    }
    Armed(())
}

/// Disarms the switch on drop.
pub struct Armed(());

impl Drop for Armed {
    fn drop(&mut self) {
        COUNTDOWN.with(|c| c.set(0));
    }
}

/// Called before each ptrace request for `tid`: if this one is the request
/// at which the tracee vanishes, sends `tid`'s process SIGKILL.
pub(super) fn strike(tid: i32) {
    let due = COUNTDOWN.with(|c| match c.get() {
        0 => false,
        n => {
            c.set(n - 1);
            n == 1
        }
    });
    if due {
        // SAFETY: kill has no memory effects; on Linux a thread's id names
        // its whole process, which is one of this job's tracees.
        unsafe { libc::kill(tid, libc::SIGKILL) };
    }
}
