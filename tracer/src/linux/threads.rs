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

/// The system call thread `tid` is blocked in, formatted as
/// `name(arg1, arg2, ...)`, or `None` if it is running or unknown.
pub fn blocked_syscall(pid: i32, tid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
    format_syscall(&text)
}

/// Formats one line of `/proc/PID/task/TID/syscall` ("202 0x7f.. 0x80 ...").
pub fn format_syscall(text: &str) -> Option<String> {
    let mut fields = text.split_whitespace();
    let nr: i64 = fields.next()?.parse().ok()?;
    if nr < 0 {
        return None;
    }
    let args: Vec<&str> = fields.take(6).collect();
    let shown = args.len().min(arg_count(nr));
    Some(format!(
        "{}({})",
        syscall_name(nr),
        args[..shown].join(", ")
    ))
}

/// Names of the system calls a blocked thread is usually in.
pub fn syscall_name(nr: i64) -> String {
    let name = match nr {
        0 => "read",
        1 => "write",
        7 => "poll",
        23 => "select",
        24 => "sched_yield",
        34 => "pause",
        35 => "nanosleep",
        43 => "accept",
        45 => "recvfrom",
        47 => "recvmsg",
        61 => "wait4",
        130 => "rt_sigsuspend",
        202 => "futex",
        219 => "restart_syscall",
        230 => "clock_nanosleep",
        232 => "epoll_wait",
        247 => "waitid",
        270 => "pselect6",
        271 => "ppoll",
        281 => "epoll_pwait",
        288 => "accept4",
        449 => "futex_waitv",
        _ => return format!("syscall_{nr}"),
    };
    name.to_string()
}

fn arg_count(nr: i64) -> usize {
    match nr {
        24 | 34 | 219 => 0,
        35 | 130 => 2,
        0 | 1 | 7 | 43 => 3,
        230 | 61 | 47 | 288 | 232 => 4,
        23 | 247 | 271 | 281 => 5,
        _ => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_blocked_futex() {
        let line = "202 0x7ffd1234 0x80 0x2 0x0 0x0 0x0 0x7ffd1000 0x7f0011223344\n";
        assert_eq!(
            format_syscall(line).as_deref(),
            Some("futex(0x7ffd1234, 0x80, 0x2, 0x0, 0x0, 0x0)")
        );
    }

    #[test]
    fn running_threads_have_no_syscall() {
        assert_eq!(format_syscall("running\n"), None);
        assert_eq!(format_syscall("-1 0x7ffd1000 0x401000\n"), None);
    }

    #[test]
    fn reads_our_own_thread_group() {
        let me = std::process::id() as i32;
        assert_eq!(tgid(me), Some(me));
    }
}
