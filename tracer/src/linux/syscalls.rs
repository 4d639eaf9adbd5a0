//! Everything the supervisor knows about the system calls it meets, in one
//! table: each call's name and argument count (for reports and journals),
//! whether the seccomp filter stops it for the supervisor, and when a
//! thread blocked in it waits for good (hang detection).
//!
//! A call that is not in the table is shown as `syscall_NR(...)` with six
//! arguments, is not trapped and never waits for good.

use std::borrow::Cow;

/// When a thread blocked in a call waits for good: only another thread or
/// process of the test can end the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forever {
    /// Never (sleeps and timed waits end by themselves, and
    /// `restart_syscall` hides what it restarts).
    No,
    /// Always.
    Yes,
    /// When the argument at this index (a timeout pointer) is NULL.
    NullArg(usize),
    /// When the argument at this index (a timeout in ms, as `int`) is negative.
    NegativeArg(usize),
    /// A futex wait (see [`is_futex_wait`]) with a NULL timeout (argument 3).
    FutexWaitWithoutTimeout,
}

/// One row of the table.
struct Info {
    nr: i64,
    name: &'static str,
    args: usize,
    /// The seccomp filter stops it: the supervisor must see it (a timer is
    /// armed; the test traces a process).
    trapped: bool,
    forever: Forever,
}

const fn row(nr: i64, name: &'static str, args: usize, trapped: bool, forever: Forever) -> Info {
    Info {
        nr,
        name,
        args,
        trapped,
        forever,
    }
}

/// The calls the supervisor knows, sorted by number.
#[rustfmt::skip]
const TABLE: &[Info] = {
    use Forever as F;
    const T: bool = true;
    const N: bool = false;
    &[
        row(libc::SYS_read, "read", 3, N, F::Yes),
        row(libc::SYS_write, "write", 3, N, F::Yes),
        row(libc::SYS_poll, "poll", 3, N, F::NegativeArg(2)),
        row(libc::SYS_readv, "readv", 3, N, F::Yes),
        row(libc::SYS_writev, "writev", 3, N, F::Yes),
        row(libc::SYS_select, "select", 5, N, F::NullArg(4)),
        row(libc::SYS_sched_yield, "sched_yield", 0, N, F::No),
        row(libc::SYS_pause, "pause", 0, N, F::Yes),
        row(libc::SYS_nanosleep, "nanosleep", 2, N, F::No),
        row(libc::SYS_alarm, "alarm", 1, T, F::No),
        row(libc::SYS_setitimer, "setitimer", 3, T, F::No),
        row(libc::SYS_socket, "socket", 3, N, F::No),
        row(libc::SYS_connect, "connect", 3, N, F::No),
        row(libc::SYS_accept, "accept", 3, N, F::Yes),
        row(libc::SYS_sendto, "sendto", 6, N, F::Yes),
        row(libc::SYS_recvfrom, "recvfrom", 6, N, F::Yes),
        row(libc::SYS_sendmsg, "sendmsg", 3, N, F::Yes),
        row(libc::SYS_recvmsg, "recvmsg", 3, N, F::Yes),
        row(libc::SYS_shutdown, "shutdown", 2, N, F::No),
        row(libc::SYS_bind, "bind", 3, N, F::No),
        row(libc::SYS_listen, "listen", 2, N, F::No),
        row(libc::SYS_clone, "clone", 5, N, F::No),
        row(libc::SYS_fork, "fork", 0, N, F::No),
        row(libc::SYS_vfork, "vfork", 0, N, F::No),
        row(libc::SYS_execve, "execve", 3, N, F::No),
        row(libc::SYS_wait4, "wait4", 4, N, F::Yes),
        row(libc::SYS_kill, "kill", 2, N, F::No),
        row(libc::SYS_semop, "semop", 3, N, F::Yes),
        row(libc::SYS_msgsnd, "msgsnd", 4, N, F::No),
        row(libc::SYS_msgrcv, "msgrcv", 5, N, F::Yes),
        row(libc::SYS_ptrace, "ptrace", 4, T, F::No),
        row(libc::SYS_rt_sigtimedwait, "rt_sigtimedwait", 4, N, F::NullArg(2)),
        row(libc::SYS_rt_sigqueueinfo, "rt_sigqueueinfo", 3, N, F::No),
        row(libc::SYS_rt_sigsuspend, "rt_sigsuspend", 2, N, F::Yes),
        row(libc::SYS_tkill, "tkill", 2, N, F::No),
        row(libc::SYS_futex, "futex", 6, N, F::FutexWaitWithoutTimeout),
        row(libc::SYS_restart_syscall, "restart_syscall", 0, N, F::No),
        row(libc::SYS_semtimedop, "semtimedop", 4, N, F::NullArg(3)),
        row(libc::SYS_timer_settime, "timer_settime", 4, T, F::No),
        row(libc::SYS_timer_delete, "timer_delete", 1, T, F::No),
        row(libc::SYS_clock_nanosleep, "clock_nanosleep", 4, N, F::No),
        row(libc::SYS_epoll_wait, "epoll_wait", 4, N, F::NegativeArg(3)),
        row(libc::SYS_tgkill, "tgkill", 3, N, F::No),
        row(libc::SYS_mq_timedsend, "mq_timedsend", 5, N, F::No),
        row(libc::SYS_mq_timedreceive, "mq_timedreceive", 5, N, F::No),
        row(libc::SYS_waitid, "waitid", 5, N, F::Yes),
        row(libc::SYS_pselect6, "pselect6", 6, N, F::NullArg(4)),
        row(libc::SYS_ppoll, "ppoll", 5, N, F::NullArg(2)),
        row(libc::SYS_epoll_pwait, "epoll_pwait", 6, N, F::NegativeArg(3)),
        row(libc::SYS_accept4, "accept4", 4, N, F::Yes),
        row(libc::SYS_rt_tgsigqueueinfo, "rt_tgsigqueueinfo", 4, N, F::No),
        row(libc::SYS_recvmmsg, "recvmmsg", 5, N, F::NullArg(4)),
        row(libc::SYS_sendmmsg, "sendmmsg", 4, N, F::No),
        row(libc::SYS_pidfd_send_signal, "pidfd_send_signal", 4, N, F::No),
        row(libc::SYS_clone3, "clone3", 2, N, F::No),
        row(libc::SYS_epoll_pwait2, "epoll_pwait2", 6, N, F::NullArg(3)),
        row(libc::SYS_futex_waitv, "futex_waitv", 5, N, F::NullArg(3)),
    ]
};

fn info(nr: i64) -> Option<&'static Info> {
    TABLE
        .binary_search_by_key(&nr, |i| i.nr)
        .ok()
        .map(|i| &TABLE[i])
}

/// Every call the seccomp filter stops.
pub fn trapped() -> impl Iterator<Item = i64> {
    TABLE.iter().filter(|i| i.trapped).map(|i| i.nr)
}

/// The name of call `nr` (`syscall_NR` for one the table does not know).
pub fn name(nr: i64) -> Cow<'static, str> {
    match info(nr) {
        Some(i) => Cow::Borrowed(i.name),
        None => Cow::Owned(format!("syscall_{nr}")),
    }
}

/// Whether a futex operation (the `op` argument) waits.
pub fn is_futex_wait(op: u64) -> bool {
    const CMD_MASK: u64 = !(libc::FUTEX_PRIVATE_FLAG as u64 | libc::FUTEX_CLOCK_REALTIME as u64);
    matches!(
        (op & CMD_MASK) as i32,
        libc::FUTEX_WAIT
            | libc::FUTEX_WAIT_BITSET
            | libc::FUTEX_LOCK_PI
            | libc::FUTEX_WAIT_REQUEUE_PI
            | libc::FUTEX_LOCK_PI2
    )
}

/// One system call with its six argument registers, as a thread enters it
/// or is blocked in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syscall {
    /// The system call number.
    pub nr: i64,
    /// Its six argument registers.
    pub args: [u64; 6],
}

impl Syscall {
    /// The call a stopped thread is entering, from its registers.
    pub fn from_regs(regs: &libc::user_regs_struct) -> Syscall {
        Syscall {
            nr: regs.orig_rax as i64,
            args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
        }
    }

    /// `name(arg1, arg2, ...)` with as many arguments as the call takes.
    pub fn describe(&self) -> String {
        let shown = info(self.nr).map_or(6, |i| i.args);
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
        format!("{}({})", name(self.nr), args.join(", "))
    }

    /// Whether a thread blocked in it waits without a timeout, for
    /// something only another thread or process can do.
    pub fn waits_forever(&self) -> bool {
        let a = &self.args;
        match info(self.nr).map_or(Forever::No, |i| i.forever) {
            Forever::No => false,
            Forever::Yes => true,
            Forever::NullArg(i) => a[i] == 0,
            Forever::NegativeArg(i) => (a[i] as i32) < 0,
            Forever::FutexWaitWithoutTimeout => is_futex_wait(a[1]) && a[3] == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(nr: i64, args: [u64; 6]) -> Syscall {
        Syscall { nr, args }
    }

    #[test]
    fn the_table_is_sorted_and_has_no_duplicates() {
        assert!(TABLE.windows(2).all(|w| w[0].nr < w[1].nr));
    }

    #[test]
    fn formats_a_blocked_futex_and_an_unknown_call() {
        let futex = sys(202, [0x7ffd1234, 0x80, 2, 0, 0, 0]);
        assert_eq!(futex.describe(), "futex(0x7ffd1234, 128, 2, 0, 0, 0)");
        assert_eq!(sys(libc::SYS_pause, [7; 6]).describe(), "pause()");
        assert_eq!(
            sys(9999, [1; 6]).describe(),
            "syscall_9999(1, 1, 1, 1, 1, 1)"
        );
    }

    #[test]
    fn waits_without_timeout_are_forever() {
        let wait_private = (libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as u64;
        assert!(sys(libc::SYS_futex, [0x1000, wait_private, 2, 0, 0, 0]).waits_forever());
        assert!(!sys(libc::SYS_futex, [0x1000, wait_private, 2, 0x7ffd0000, 0, 0]).waits_forever());
        assert!(sys(libc::SYS_read, [5, 0x1000, 1, 0, 0, 0]).waits_forever());
        assert!(sys(libc::SYS_wait4, [0; 6]).waits_forever());
        assert!(sys(libc::SYS_poll, [0x1000, 1, u32::MAX as u64, 0, 0, 0]).waits_forever());
        assert!(!sys(libc::SYS_poll, [0x1000, 1, 100, 0, 0, 0]).waits_forever());
        assert!(sys(libc::SYS_epoll_wait, [3, 0x1000, 8, u32::MAX as u64, 0, 0]).waits_forever());
        assert!(!sys(libc::SYS_ppoll, [0x1000, 1, 0x7ffd0000, 0, 0, 0]).waits_forever());
        assert!(!sys(libc::SYS_clock_nanosleep, [0; 6]).waits_forever());
        assert!(!sys(libc::SYS_nanosleep, [0x1000, 0, 0, 0, 0, 0]).waits_forever());
        assert!(!sys(libc::SYS_restart_syscall, [0; 6]).waits_forever());
    }

    #[test]
    fn the_filter_stops_what_arms_timers_and_traces_processes_only() {
        let trapped: Vec<i64> = trapped().collect();
        for nr in [
            libc::SYS_alarm,
            libc::SYS_setitimer,
            libc::SYS_timer_settime,
            libc::SYS_ptrace,
        ] {
            assert!(trapped.contains(&nr), "{}", name(nr));
        }
        for nr in [
            libc::SYS_futex,
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_accept,
        ] {
            assert!(!trapped.contains(&nr), "{}", name(nr));
        }
    }
}
