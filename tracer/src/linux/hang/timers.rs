//! The timers each process of the test has armed: `alarm`, `setitimer`'s
//! real-time timer and POSIX timers, as the supervisor sees them armed at
//! the filter's stops (no interface of the kernel shows them). A thread that
//! waits for a signal while a timer is armed waits for the timer, not for
//! the test: it is not hung.

use crate::linux::process::memory;
use crate::linux::syscalls::Syscall;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// When an armed timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// Once, then.
    At(Instant),
    /// Again and again.
    Periodic,
    /// At an absolute time on a clock the supervisor does not follow:
    /// taken as armed until disarmed.
    Unknown,
}

impl Expiry {
    fn pending(self, now: Instant) -> bool {
        match self {
            Expiry::At(t) => t > now,
            Expiry::Periodic | Expiry::Unknown => true,
        }
    }

    /// From an interval and a value (`it_interval`, `it_value`) set `now`;
    /// `None` when the value disarms the timer.
    fn from(interval: Duration, value: Duration, absolute: bool, now: Instant) -> Option<Expiry> {
        if value.is_zero() {
            None
        } else if !interval.is_zero() {
            Some(Expiry::Periodic)
        } else if absolute {
            Some(Expiry::Unknown)
        } else {
            Some(Expiry::At(now + value))
        }
    }
}

/// One process's timers.
#[derive(Debug, Default)]
struct Armed {
    /// `ITIMER_REAL`, which `alarm` sets too.
    real: Option<Expiry>,
    /// POSIX timers by id.
    posix: HashMap<u64, Expiry>,
}

/// The armed timers of every process of the run.
#[derive(Debug, Default)]
pub struct Timers {
    by_process: HashMap<i32, Armed>,
}

/// Reads `[u64; N]` from the tracee; `None` if unreadable.
fn words<const N: usize>(tid: i32, addr: u64) -> Option<[u64; N]> {
    let mut bytes = vec![0u8; N * 8];
    (memory::read(tid, addr, &mut bytes) == bytes.len()).then(|| {
        let mut out = [0u64; N];
        for (w, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        }
        out
    })
}

/// A `timeval` (seconds, microseconds) or `timespec` (seconds,
/// nanoseconds) as a duration.
fn duration(secs: u64, fraction: u64, per_second: u64) -> Duration {
    let nanos = fraction.saturating_mul(1_000_000_000 / per_second);
    Duration::from_secs(secs).saturating_add(Duration::from_nanos(nanos))
}

impl Timers {
    /// Thread `tid` of process `pid` is making `call` (at its entry, before
    /// the kernel runs it): note the timer it arms or disarms.
    pub fn on_call(&mut self, pid: i32, tid: i32, call: &Syscall, now: Instant) {
        let a = call.args;
        let armed = self.by_process.entry(pid).or_default();
        match call.nr {
            libc::SYS_alarm => {
                armed.real = Expiry::from(Duration::ZERO, Duration::from_secs(a[0]), false, now);
            }
            libc::SYS_setitimer if a[0] == libc::ITIMER_REAL as u64 => {
                // struct itimerval { timeval it_interval, it_value }.
                if let Some([isec, iusec, vsec, vusec]) = words::<4>(tid, a[1]) {
                    let interval = duration(isec, iusec, 1_000_000);
                    let value = duration(vsec, vusec, 1_000_000);
                    armed.real = Expiry::from(interval, value, false, now);
                }
            }
            libc::SYS_timer_settime => {
                // struct itimerspec { timespec it_interval, it_value }.
                if let Some([isec, insec, vsec, vnsec]) = words::<4>(tid, a[2]) {
                    let interval = duration(isec, insec, 1_000_000_000);
                    let value = duration(vsec, vnsec, 1_000_000_000);
                    let absolute = a[1] & libc::TIMER_ABSTIME as u64 != 0;
                    match Expiry::from(interval, value, absolute, now) {
                        Some(e) => armed.posix.insert(a[0], e),
                        None => armed.posix.remove(&a[0]),
                    };
                }
            }
            libc::SYS_timer_delete => {
                armed.posix.remove(&a[0]);
            }
            _ => {}
        }
    }

    /// Process `pid` executed a new program: its POSIX timers are gone,
    /// its real-time timer stays (as `execve` keeps it).
    pub fn exec(&mut self, pid: i32) {
        if let Some(a) = self.by_process.get_mut(&pid) {
            a.posix.clear();
        }
    }

    /// Process `pid` is gone.
    pub fn exit(&mut self, pid: i32) {
        self.by_process.remove(&pid);
    }

    /// Whether a timer of process `pid` will fire after `now`.
    pub fn armed(&self, pid: i32, now: Instant) -> bool {
        self.by_process.get(&pid).is_some_and(|a| {
            a.real.is_some_and(|e| e.pending(now)) || a.posix.values().any(|e| e.pending(now))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(nr: i64, args: [u64; 6]) -> Syscall {
        Syscall { nr, args }
    }

    #[test]
    fn alarm_arms_and_disarms_the_real_timer() {
        let mut t = Timers::default();
        let now = Instant::now();
        let me = std::process::id() as i32;
        t.on_call(me, me, &call(libc::SYS_alarm, [2, 0, 0, 0, 0, 0]), now);
        assert!(t.armed(me, now + Duration::from_secs(1)));
        assert!(!t.armed(me, now + Duration::from_secs(3)), "it fired");
        t.on_call(me, me, &call(libc::SYS_alarm, [0; 6]), now);
        assert!(!t.armed(me, now));
        assert!(!t.armed(me + 1, now), "another process has none");
    }

    #[test]
    fn setitimer_and_timer_settime_are_read_from_the_tracee() {
        let mut t = Timers::default();
        let now = Instant::now();
        let me = std::process::id() as i32;
        // A one-shot itimerval of 1.5 s, read from this process's memory.
        let itimerval: [u64; 4] = [0, 0, 1, 500_000];
        let args = [
            libc::ITIMER_REAL as u64,
            itimerval.as_ptr() as u64,
            0,
            0,
            0,
            0,
        ];
        t.on_call(me, me, &call(libc::SYS_setitimer, args), now);
        assert!(t.armed(me, now + Duration::from_millis(1400)));
        assert!(!t.armed(me, now + Duration::from_millis(1600)));
        // A periodic POSIX timer stays armed; deleting it disarms it.
        let itimerspec: [u64; 4] = [0, 1_000_000, 0, 1_000_000];
        let args = [7, 0, itimerspec.as_ptr() as u64, 0, 0, 0];
        t.on_call(me, me, &call(libc::SYS_timer_settime, args), now);
        assert!(t.armed(me, now + Duration::from_secs(3600)));
        t.on_call(
            me,
            me,
            &call(libc::SYS_timer_delete, [7, 0, 0, 0, 0, 0]),
            now,
        );
        assert!(!t.armed(me, now + Duration::from_secs(3600)));
    }
}
