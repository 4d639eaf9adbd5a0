//! Facts about tracee threads read from /proc: names, thread groups,
//! scheduler state, CPU time and the system call a thread is blocked in.

use crate::linux::syscalls::Syscall;
use crate::ThreadInfo;

/// The name of thread `tid` of process `pid` (`/proc/PID/task/TID/comm`).
pub fn name(pid: i32, tid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// Thread info for a finding.
pub fn info(pid: i32, tid: i32) -> ThreadInfo {
    ThreadInfo {
        pid,
        tid,
        name: name(pid, tid),
    }
}

/// The thread group (process) id of `tid`, while it is alive.
pub fn tgid(tid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A thread's signal masks, from `/proc/PID/task/TID/status`: bit
/// `signo - 1` of each is that signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalMasks {
    /// Blocked (`SigBlk`): a handler that is running blocks its own signal.
    pub blocked: u64,
    /// Caught by a handler (`SigCgt`; the process's dispositions).
    pub caught: u64,
}

impl SignalMasks {
    /// Whether `mask` has signal `signo`.
    pub fn has(mask: u64, signo: i32) -> bool {
        (1..=64).contains(&signo) && mask & (1u64 << (signo - 1)) != 0
    }
}

/// The hexadecimal mask `name` (`"SigBlk:"`) of a `status` file's text.
fn mask(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// The signal masks of thread `tid` of process `pid`, while it exists.
pub fn signal_masks(pid: i32, tid: i32) -> Option<SignalMasks> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
    Some(SignalMasks {
        blocked: mask(&status, "SigBlk:")?,
        caught: mask(&status, "SigCgt:")?,
    })
}

/// Whether process `pid` has ended or is being killed: gone, a zombie, or
/// with a SIGKILL pending (for the process or its main thread).
pub fn ending(pid: i32) -> bool {
    if state(pid, pid).is_none_or(|s| s == 'Z' || s == 'X') {
        return true;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    ["ShdPnd:", "SigPnd:"]
        .iter()
        .any(|name| mask(&status, name).is_some_and(|m| SignalMasks::has(m, libc::SIGKILL)))
}

/// Parses one line of `/proc/PID/task/TID/syscall` ("202 0x7f.. 0x80 ...");
/// `None` for "running" or a thread not in a system call.
fn parse_syscall(text: &str) -> Option<Syscall> {
    let mut fields = text.split_whitespace();
    let nr: i64 = fields.next()?.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let mut args = [0u64; 6];
    for a in &mut args {
        let f = fields.next()?;
        *a = u64::from_str_radix(f.trim_start_matches("0x"), 16).ok()?;
    }
    Some(Syscall { nr, args })
}

/// The system call thread `tid` is in, or `None` if it is running.
pub fn current_syscall(pid: i32, tid: i32) -> Option<Syscall> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
    parse_syscall(&text)
}

/// The scheduler state letter of thread `tid` (`R` running, `S` sleeping,
/// `D` uninterruptible, `T` stopped, `t` traced, `Z` zombie).
pub fn state(pid: i32, tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    // The name in parentheses may contain spaces and ')'; the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Nanoseconds thread `tid` has spent on a CPU (`schedstat`).
pub fn cpu_ns(pid: i32, tid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live process is not ending; killed and not yet reaped (a zombie)
    /// it is; reaped (gone), too.
    #[test]
    fn a_process_is_ending_once_killed() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(!ending(pid));
        child.kill().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while state(pid, pid) != Some('Z') && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(ending(pid));
        child.wait().unwrap();
        assert!(ending(pid));
    }

    #[test]
    fn parses_a_blocked_futex() {
        let line = "202 0x7ffd1234 0x80 0x2 0x0 0x0 0x0 0x7ffd1000 0x7f0011223344\n";
        let sys = parse_syscall(line).unwrap();
        assert_eq!(sys.nr, 202);
        assert_eq!(sys.args, [0x7ffd1234, 0x80, 2, 0, 0, 0]);
    }

    #[test]
    fn running_threads_have_no_syscall() {
        assert_eq!(parse_syscall("running\n"), None);
        assert_eq!(parse_syscall("-1 0x7ffd1000 0x401000\n"), None);
    }

    #[test]
    fn reads_the_signal_masks_of_a_thread() {
        let me = std::process::id() as i32;
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        // SAFETY: a valid, zeroed sigset for this thread's mask, restored below.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            let masks = signal_masks(me, tid).unwrap();
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            assert!(SignalMasks::has(masks.blocked, libc::SIGUSR2));
            assert!(!SignalMasks::has(masks.blocked, libc::SIGUSR1));
        }
        // libtest's harness installs no SIGUSR1 handler.
        let masks = signal_masks(me, tid).unwrap();
        assert!(!SignalMasks::has(masks.caught, libc::SIGUSR1));
    }

    #[test]
    fn reads_our_own_thread_group() {
        let me = std::process::id() as i32;
        assert_eq!(tgid(me), Some(me));
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        assert_eq!(state(me, tid), Some('R'));
        assert!(cpu_ns(me, tid).is_some());
    }
}
