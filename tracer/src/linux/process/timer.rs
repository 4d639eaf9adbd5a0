//! A timer that interrupts the supervisor thread's blocking `waitpid`, so it
//! can release threads the schedule holds and look for hangs.
//!
//! It is a POSIX timer delivering the watchdog's [`WAKE_SIGNAL`] to this
//! thread only (`SIGEV_THREAD_ID`); the handler is installed without
//! `SA_RESTART`, so `waitpid` returns `EINTR`. The timer repeats at its
//! interval, so a signal that lands just before `waitpid` is entered delays
//! the supervisor by one interval at most, never forever.

use crate::linux::process::watchdog::WAKE_SIGNAL;
use std::io;
use std::time::Duration;

/// A per-thread interval timer; deleted on drop.
pub struct Timer {
    id: libc::timer_t,
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

impl Timer {
    /// A disarmed timer for the calling thread.
    pub fn new() -> io::Result<Timer> {
        crate::linux::process::watchdog::install_handler();
        // SAFETY: sigevent is plain data; all-zero is a valid start.
        let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
        sev.sigev_notify = libc::SIGEV_THREAD_ID;
        sev.sigev_signo = WAKE_SIGNAL;
        // SAFETY: gettid has no preconditions.
        sev.sigev_notify_thread_id = unsafe { libc::gettid() };
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: sev and id are valid for the call; the kernel copies sev.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut id) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Timer { id })
    }

    /// Fires first after `first` (at least 20 µs), then every `interval`.
    pub fn arm(&mut self, first: Duration, interval: Duration) {
        let first = first.max(Duration::from_micros(20));
        let spec = libc::itimerspec {
            it_interval: timespec(interval),
            it_value: timespec(first),
        };
        // SAFETY: id is our live timer; spec is valid for the call.
        unsafe { libc::timer_settime(self.id, 0, &spec, std::ptr::null_mut()) };
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: id is our live timer, deleted exactly once.
        unsafe { libc::timer_delete(self.id) };
    }
}
