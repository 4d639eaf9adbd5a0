//! Waking the supervisor out of its blocking `waitpid` on timeout or Ctrl-C.
//!
//! The supervisor blocks in `waitpid` so that handling a stop costs one system
//! call. A watchdog thread per run waits for the deadline or the cancel flag
//! and then signals the supervisor thread with [`WAKE_SIGNAL`], whose no-op
//! handler is installed without `SA_RESTART`, so `waitpid` returns `EINTR`.
//! The signal is repeated every few milliseconds until the run ends, so a wake
//! that lands just before `waitpid` is entered is never lost.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The signal used to interrupt the supervisor thread. SIGURG is ignored by
/// default, so a stray one is harmless.
pub const WAKE_SIGNAL: i32 = libc::SIGURG;

/// Why the watchdog woke the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The timeout passed.
    Timeout,
    /// The cancel flag was set.
    Cancel,
}

struct Shared {
    done: Mutex<bool>,
    cv: Condvar,
    reason: AtomicU8,
    /// Nanoseconds added to the deadline (see [`Extender`]).
    extra_ns: AtomicU64,
}

/// Moves a watchdog's deadline later: the supervisor's own work while the
/// test is stopped for it (explaining a fault: decoding, unwinding and
/// loading debug info, which can take a second on a large binary) is not
/// the test's time.
#[derive(Clone)]
pub struct Extender(Arc<Shared>);

impl Extender {
    /// Adds `d` to the deadline.
    pub fn extend(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.extra_ns.fetch_add(ns, Ordering::SeqCst);
    }
}

/// A running watchdog; dropping it stops the thread.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

extern "C" fn on_wake(_: libc::c_int) {}

/// Installs the no-op handler of [`WAKE_SIGNAL`] (once per process).
pub fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: installs an async-signal-safe no-op handler; sa_flags
        // without SA_RESTART is the point (blocking calls return EINTR).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_wake as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(WAKE_SIGNAL, &sa, std::ptr::null_mut());
        }
    });
}

impl Watchdog {
    /// Starts watching for the calling thread, which must be the supervisor.
    pub fn start(timeout: Duration, cancel: Arc<AtomicBool>) -> Watchdog {
        install_handler();
        // SAFETY: getpid/gettid have no preconditions.
        let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
        let shared = Arc::new(Shared {
            done: Mutex::new(false),
            cv: Condvar::new(),
            reason: AtomicU8::new(0),
            extra_ns: AtomicU64::new(0),
        });
        // A timeout too long to represent is no deadline at all.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ffi-check-watchdog".into())
            .spawn(move || watch(&s, deadline, &cancel, pid, tid))
            .expect("spawning the watchdog thread");
        Watchdog {
            shared,
            thread: Some(thread),
        }
    }

    /// A handle that moves this watchdog's deadline later.
    pub fn extender(&self) -> Extender {
        Extender(Arc::clone(&self.shared))
    }

    /// Why the supervisor was woken, if it was.
    pub fn reason(&self) -> Option<Reason> {
        match self.shared.reason.load(Ordering::SeqCst) {
            1 => Some(Reason::Timeout),
            2 => Some(Reason::Cancel),
            _ => None,
        }
    }
}

fn watch(s: &Shared, deadline: Instant, cancel: &AtomicBool, pid: i32, tid: i32) {
    let mut done = s.done.lock().unwrap_or_else(|e| e.into_inner());
    while !*done {
        let extra = Duration::from_nanos(s.extra_ns.load(Ordering::SeqCst));
        let deadline = deadline.checked_add(extra).unwrap_or(deadline);
        if s.reason.load(Ordering::SeqCst) == 0 {
            if cancel.load(Ordering::SeqCst) {
                s.reason.store(2, Ordering::SeqCst);
            } else if Instant::now() >= deadline {
                s.reason.store(1, Ordering::SeqCst);
            }
        }
        let tick = if s.reason.load(Ordering::SeqCst) != 0 {
            // SAFETY: tgkill to a thread of our own process; the handler is installed.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, WAKE_SIGNAL) };
            Duration::from_millis(10)
        } else {
            deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50))
        };
        done =
            s.cv.wait_timeout(done, tick)
                .unwrap_or_else(|e| e.into_inner())
                .0;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.shared.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extended_deadline_passes_later() {
        let w = Watchdog::start(Duration::from_millis(100), Arc::new(AtomicBool::new(false)));
        w.extender().extend(Duration::from_millis(400));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(w.reason(), None, "the deadline moved to 500 ms");
        let give_up = Instant::now() + Duration::from_secs(5);
        while w.reason().is_none() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(w.reason(), Some(Reason::Timeout));
    }
}
