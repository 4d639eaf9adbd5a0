//! Waking the supervisor out of its blocking `waitpid` on timeout or Ctrl-C.
//!
//! The supervisor blocks in `waitpid` so that handling a stop costs one system
//! call. A watchdog thread per run waits for the deadline or the cancel flag
//! and then signals the supervisor thread with [`WAKE_SIGNAL`], whose no-op
//! handler is installed without `SA_RESTART`, so `waitpid` returns `EINTR`.
//! The signal is repeated every few milliseconds until the run ends, so a wake
//! that lands just before `waitpid` is entered is never lost.
//!
//! The deadline is also enforced from outside the supervisor: every wait of
//! the supervisor thread ends once the watchdog has fired ([`expired`]), and
//! if the run has still not ended [`HARD_GRACE`] later, the watchdog itself
//! SIGKILLs the job's processes (its process group and every process the
//! supervisor thread traces), so whatever the supervisor waits for happens.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering};
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

/// How long after the deadline the watchdog waits for the supervisor to end
/// the job itself before it kills the job's processes: more than the thread
/// dump's own wait for stops (2 s) and some symbolizing.
pub const HARD_GRACE: Duration = Duration::from_secs(5);

/// The same after a cancel (Ctrl-C, SIGTERM): the run must end within 2 s.
pub const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// What the supervisor thread waits for, for the note of a hard kill.
const WAITING_NOTHING: i32 = 0;
/// Waiting for an event of any tracee (the event loop).
pub const WAITING_ANY: i32 = -1;

struct Shared {
    done: Mutex<bool>,
    /// The watchdog killed the job's processes itself.
    hard_killed: AtomicBool,
    /// The tid whose stop the supervisor waited for when the watchdog
    /// killed (or [`WAITING_ANY`]); set while it waits.
    waiting: AtomicI32,
    /// What it waited for when the watchdog killed.
    waited_at_kill: AtomicI32,
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

thread_local! {
    /// The watchdog of the supervisor running on this thread.
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Whether the watchdog of the supervisor on this thread has fired (its
/// deadline passed, or the run was cancelled): a wait interrupted then must
/// return rather than wait again.
pub fn expired() -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|s| s.reason.load(Ordering::SeqCst) != 0)
    })
}

/// Records that the supervisor on this thread is about to wait for `tid`
/// ([`WAITING_ANY`] for any tracee); the guard clears it.
pub fn waiting_for(tid: i32) -> WaitMark {
    CURRENT.with(|c| {
        if let Some(s) = c.borrow().as_ref() {
            s.waiting.store(tid, Ordering::SeqCst);
        }
    });
    WaitMark
}

/// Clears the mark of [`waiting_for`] when dropped.
pub struct WaitMark;

impl Drop for WaitMark {
    fn drop(&mut self) {
        CURRENT.with(|c| {
            if let Some(s) = c.borrow().as_ref() {
                s.waiting.store(WAITING_NOTHING, Ordering::SeqCst);
            }
        });
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
    /// Starts watching for the calling thread, which must be the supervisor
    /// of the job whose first process (and process group) is `job`.
    pub fn start(timeout: Duration, cancel: Arc<AtomicBool>, job: i32) -> Watchdog {
        install_handler();
        // SAFETY: getpid/gettid have no preconditions.
        let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
        let shared = Arc::new(Shared {
            done: Mutex::new(false),
            cv: Condvar::new(),
            reason: AtomicU8::new(0),
            extra_ns: AtomicU64::new(0),
            hard_killed: AtomicBool::new(false),
            waiting: AtomicI32::new(WAITING_NOTHING),
            waited_at_kill: AtomicI32::new(WAITING_NOTHING),
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(&shared)));
        // A timeout too long to represent is no deadline at all.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ffi-check-watchdog".into())
            .spawn(move || watch(&s, deadline, &cancel, pid, tid, job))
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

    /// If the watchdog had to kill the job's processes itself (the
    /// supervisor did not end the job within [`HARD_GRACE`] of the
    /// deadline), what the supervisor was waiting for then.
    pub fn hard_kill(&self) -> Option<String> {
        if !self.shared.hard_killed.load(Ordering::SeqCst) {
            return None;
        }
        Some(match self.shared.waited_at_kill.load(Ordering::SeqCst) {
            WAITING_NOTHING => "not in a wait of its own".to_string(),
            WAITING_ANY => "waiting for an event of any of its tracees".to_string(),
            tid => format!("waiting for a stop of thread {tid}"),
        })
    }
}

/// SIGKILLs the job's processes from outside the supervisor: its process
/// group and every process the supervisor thread `tracer` traces (a
/// process that left the group).
fn kill_job(job: i32, tracer: i32) {
    // SAFETY: kill has no memory-safety preconditions; the group is the job's.
    unsafe { libc::kill(-job, libc::SIGKILL) };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let traced_by_us = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("TracerPid:"))
                    .and_then(|v| v.trim().parse::<i32>().ok())
            })
            == Some(tracer);
        if traced_by_us {
            // SAFETY: as above; the process is traced by the supervisor thread.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn watch(s: &Shared, deadline: Instant, cancel: &AtomicBool, pid: i32, tid: i32, job: i32) {
    let mut done = s.done.lock().unwrap_or_else(|e| e.into_inner());
    let mut fired_at: Option<Instant> = None;
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
        if s.reason.load(Ordering::SeqCst) != 0 {
            let fired = *fired_at.get_or_insert_with(Instant::now);
            let grace = if s.reason.load(Ordering::SeqCst) == 2 {
                CANCEL_GRACE
            } else {
                HARD_GRACE
            };
            if fired.elapsed() >= grace {
                if !s.hard_killed.swap(true, Ordering::SeqCst) {
                    let waiting = s.waiting.load(Ordering::SeqCst);
                    s.waited_at_kill.store(waiting, Ordering::SeqCst);
                }
                // Again at every tick: a process forked meanwhile dies too.
                kill_job(job, tid);
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
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            if c.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.shared)) {
                *c = None;
            }
        });
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
        let w = Watchdog::start(
            Duration::from_millis(100),
            Arc::new(AtomicBool::new(false)),
            i32::MAX,
        );
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
