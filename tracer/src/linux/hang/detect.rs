//! Early hang detection: a test is hung when every thread of every process
//! of it is blocked in a wait that only another thread of the test could
//! end (a futex without timeout, a read on a pipe, wait4, pause, ...), and
//! none of them has used any CPU for a grace period. A test that sleeps,
//! spins or waits with a timeout is not hung; the per-test timeout still
//! ends those.

use crate::linux::process::proc;
use std::time::{Duration, Instant};

/// One traced thread, as the detector needs to see it.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// Its process.
    pub pid: i32,
    /// The thread.
    pub tid: i32,
    /// In a group-stop (SIGSTOP and friends) that the supervisor keeps:
    /// only a SIGCONT from someone else ends it.
    pub group_stopped: bool,
}

/// Watches for the moment the whole test has been blocked for the grace period.
pub struct HangDetector {
    grace: Duration,
    /// Since when every thread has been blocked indefinitely, with their
    /// CPU time and number then.
    quiet: Option<(Instant, u64, usize)>,
}

impl HangDetector {
    /// A detector that declares a hang after `grace` of total blockage.
    pub fn new(grace: Duration) -> HangDetector {
        HangDetector { grace, quiet: None }
    }

    /// The grace period.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Forgets what it saw (a thread was released by the supervisor).
    pub fn reset(&mut self) {
        self.quiet = None;
    }

    /// Looks at every thread now; true once all of them have been blocked
    /// indefinitely, without CPU use, for the grace period.
    pub fn check(&mut self, threads: &[Seen], now: Instant) -> bool {
        if threads.is_empty() || !threads.iter().all(blocked_indefinitely) {
            self.quiet = None;
            return false;
        }
        let cpu: u64 = threads
            .iter()
            .map(|t| proc::cpu_ns(t.pid, t.tid).unwrap_or(0))
            .sum();
        match self.quiet {
            Some((since, was, n)) if was == cpu && n == threads.len() => {
                now.duration_since(since) >= self.grace
            }
            _ => {
                self.quiet = Some((now, cpu, threads.len()));
                false
            }
        }
    }
}

/// Whether a thread is in a wait that nothing but another thread ends.
pub fn blocked_indefinitely(t: &Seen) -> bool {
    if t.group_stopped {
        return true;
    }
    match proc::state(t.pid, t.tid) {
        // Gone, or a zombie waiting to be reaped: it is not going to act.
        None | Some('Z') | Some('X') => true,
        Some('S') => proc::current_syscall(t.pid, t.tid).is_some_and(|s| s.waits_forever()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child blocked reading a pipe nobody writes is hung once the grace
    /// period has passed; a sleeping child is not.
    #[test]
    fn sees_a_blocked_child_and_not_a_sleeping_one() {
        let mut fds = [0; 2];
        // SAFETY: fds has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let spawn = |sleep: bool| {
            // SAFETY: the child only makes system calls and exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: forked child; raw system calls only.
                unsafe {
                    let mut b = 0u8;
                    if sleep {
                        libc::sleep(30);
                    } else {
                        libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
                    }
                    libc::_exit(0);
                }
            }
            pid
        };
        for (sleep, expect) in [(false, true), (true, false)] {
            let pid = spawn(sleep);
            let seen = [Seen {
                pid,
                tid: pid,
                group_stopped: false,
            }];
            let mut d = HangDetector::new(Duration::from_millis(100));
            let start = Instant::now();
            let mut hung = false;
            while start.elapsed() < Duration::from_secs(1) && !hung {
                hung = d.check(&seen, Instant::now());
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: kill and reap our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            assert_eq!(hung, expect, "sleeping child: {sleep}");
        }
    }
}
