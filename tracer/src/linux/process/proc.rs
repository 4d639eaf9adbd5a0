//! Facts about tracee threads read from /proc: names, thread groups and the
//! system call a thread is blocked in.

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

/// A system call a thread is in, as `/proc/PID/task/TID/syscall` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syscall {
    /// The system call number.
    pub nr: i64,
    /// Its six argument registers.
    pub args: [u64; 6],
}

impl Syscall {
    /// Parses one line of `/proc/PID/task/TID/syscall` ("202 0x7f.. 0x80 ...");
    /// `None` for "running" or a thread not in a system call.
    pub fn parse(text: &str) -> Option<Syscall> {
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

    /// `name(arg1, arg2, ...)` with as many arguments as the call takes.
    pub fn describe(&self) -> String {
        let shown = arg_count(self.nr);
        let args: Vec<String> = self.args[..shown]
            .iter()
            .map(|a| {
                if *a < 4096 {
                    a.to_string()
                } else {
                    format!("{a:#x}")
                }
            })
            .collect();
        format!("{}({})", syscall_name(self.nr), args.join(", "))
    }
}

/// The system call thread `tid` is in, or `None` if it is running.
pub fn current_syscall(pid: i32, tid: i32) -> Option<Syscall> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
    Syscall::parse(&text)
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

/// Names of the system calls a blocked or trapped thread is usually in.
pub fn syscall_name(nr: i64) -> String {
    let name = match nr {
        0 => "read",
        1 => "write",
        7 => "poll",
        19 => "readv",
        20 => "writev",
        23 => "select",
        24 => "sched_yield",
        34 => "pause",
        35 => "nanosleep",
        43 => "accept",
        44 => "sendto",
        45 => "recvfrom",
        46 => "sendmsg",
        47 => "recvmsg",
        56 => "clone",
        57 => "fork",
        58 => "vfork",
        61 => "wait4",
        62 => "kill",
        128 => "rt_sigtimedwait",
        129 => "rt_sigqueueinfo",
        130 => "rt_sigsuspend",
        200 => "tkill",
        202 => "futex",
        219 => "restart_syscall",
        230 => "clock_nanosleep",
        232 => "epoll_wait",
        234 => "tgkill",
        247 => "waitid",
        270 => "pselect6",
        271 => "ppoll",
        281 => "epoll_pwait",
        288 => "accept4",
        297 => "rt_tgsigqueueinfo",
        299 => "recvmmsg",
        307 => "sendmmsg",
        424 => "pidfd_send_signal",
        435 => "clone3",
        441 => "epoll_pwait2",
        449 => "futex_waitv",
        _ => return format!("syscall_{nr}"),
    };
    name.to_string()
}

fn arg_count(nr: i64) -> usize {
    match nr {
        24 | 34 | 57 | 58 | 219 => 0,
        35 | 62 | 130 | 200 | 435 => 2,
        0 | 1 | 7 | 19 | 20 | 43 | 46 | 47 | 129 | 234 | 424 => 3,
        128 | 230 | 61 | 232 | 288 | 297 => 4,
        23 | 247 | 271 | 281 | 299 | 307 | 441 | 449 => 5,
        _ => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_blocked_futex() {
        let line = "202 0x7ffd1234 0x80 0x2 0x0 0x0 0x0 0x7ffd1000 0x7f0011223344\n";
        let sys = Syscall::parse(line).unwrap();
        assert_eq!(sys.nr, 202);
        assert_eq!(sys.args[1], 0x80);
        assert_eq!(sys.describe(), "futex(0x7ffd1234, 128, 2, 0, 0, 0)");
    }

    #[test]
    fn running_threads_have_no_syscall() {
        assert_eq!(Syscall::parse("running\n"), None);
        assert_eq!(Syscall::parse("-1 0x7ffd1000 0x401000\n"), None);
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
