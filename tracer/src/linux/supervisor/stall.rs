//! A test-only switch: with `FFI_CHECK_TEST_STALL_SUPERVISOR=1` in the
//! tool's environment, the supervisor stalls at the test's first stop in a
//! wait that ignores the job's deadline, as a supervisor bug would. It is
//! for this repository's tests of the watchdog (only the watchdog killing
//! the job's processes ends such a wait); never set it otherwise.

/// The environment variable of the switch.
pub const STALL_VARIABLE: &str = "FFI_CHECK_TEST_STALL_SUPERVISOR";

/// Whether the switch is on.
pub fn requested() -> bool {
    std::env::var_os(STALL_VARIABLE).is_some_and(|v| v == "1")
}

/// Waits until process `pid` has ended, ignoring the wake signal and
/// leaving every other tracee stopped: a supervisor that stalls.
pub fn stall_until_gone(pid: i32) {
    let _mark = crate::linux::process::watchdog::waiting_for(pid);
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::__WNOTHREAD) };
        if got == pid && (libc::WIFEXITED(status) || libc::WIFSIGNALED(status)) {
            return;
        }
        if got == pid {
            // A stop on the way out (the exit event after SIGKILL).
            // SAFETY: PTRACE_CONT of our stopped tracee; no pointers.
            unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, 0) };
        } else if got < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}
