//! The seccomp-bpf filter that makes the system calls the supervisor must
//! see stop for it (`SECCOMP_RET_TRACE`): those that arm timers (for hang
//! detection) and `ptrace` (a test tracing its own child); everything else
//! runs at full speed.
//!
//! The filter is built before the fork (the child must not allocate) and
//! installed by the child between `PTRACE_SEIZE` and `execve`, so it covers
//! the test from its first instruction and is inherited by every thread and
//! process it creates.

use crate::linux::process::raw;
use crate::linux::syscalls;
use std::io;

/// `struct seccomp_data` offsets (see `linux/seccomp.h`).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// x32 system calls have this bit set in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// What the filter does with the calls it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop for the tracer (`SECCOMP_RET_TRACE`).
    Trace,
    /// Ask a listener (`SECCOMP_RET_USER_NOTIF`): the pass-through filter
    /// of a process handed to the test's own ptrace, whose listener lets
    /// every call go on. It takes precedence over `Trace`, which without a
    /// tracer that asked for seccomp stops would fail the call (`ENOSYS`).
    Notify,
}

// Classic BPF opcodes.
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// A BPF instruction that does not jump.
fn stmt(code: u16, k: u32) -> libc::sock_filter {
    jump(code, k, 0, 0)
}

/// A conditional BPF jump: on true skip `jt` instructions, else `jf`.
fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A compiled filter, ready to install.
pub struct Filter {
    program: Vec<libc::sock_filter>,
}

impl Filter {
    /// The filter for the calls [`syscalls::trapped`] lists.
    pub fn new() -> Filter {
        Filter::build(Action::Trace)
    }

    /// The filter that selects the same calls with `action`.
    pub fn build(action: Action) -> Filter {
        let selected = match action {
            Action::Trace => SECCOMP_RET_TRACE,
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
        };
        let trapped: Vec<i64> = syscalls::trapped().collect();
        // Layout: check the architecture, load the number, one conditional
        // jump per trapped call to the last instruction, allow, select.
        let mut program = vec![
            stmt(LD_W_ABS, DATA_ARCH),
            jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
            stmt(RET_K, SECCOMP_RET_ALLOW),
            stmt(LD_W_ABS, DATA_NR),
            jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
            stmt(RET_K, SECCOMP_RET_ALLOW),
        ];
        for (i, &nr) in trapped.iter().enumerate() {
            // Jumps are relative to the next instruction: past the rest of
            // the comparisons and the allow.
            let past = u8::try_from(trapped.len() - i).expect("a short filter");
            program.push(jump(JEQ_K, nr as u32, past, 0));
        }
        program.push(stmt(RET_K, SECCOMP_RET_ALLOW));
        program.push(stmt(RET_K, selected));
        Filter { program }
    }

    /// Installs the filter on the calling thread (and what it will create
    /// and exec). Sets `no_new_privs`, which an unprivileged filter needs.
    ///
    /// # Safety
    /// Async-signal-safe (two raw system calls on memory built before, no
    /// `errno`): it may run in the child that shares the supervisor's
    /// memory until it execs.
    pub unsafe fn install(&self) -> io::Result<()> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prctl reads no memory; seccomp reads `prog`, which points
        // at the program owned by `self`, alive for the call.
        let failed = unsafe {
            let r = raw::syscall(
                libc::SYS_prctl,
                [libc::PR_SET_NO_NEW_PRIVS as usize, 1, 0, 0, 0, 0],
            );
            if r != 0 {
                r
            } else {
                raw::syscall(
                    libc::SYS_seccomp,
                    [
                        SECCOMP_SET_MODE_FILTER as usize,
                        0,
                        &prog as *const libc::sock_fprog as usize,
                        0,
                        0,
                        0,
                    ],
                )
            }
        };
        match raw::errno_of(failed) {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    /// The program's instructions, as the kernel takes them.
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// Number of instructions.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.program.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter in a forked child: installs it, then (without a
    /// tracer) a trapped system call fails with ENOSYS while others,
    /// those where threads hand over included, work. The child reports
    /// what it saw in its exit status.
    #[test]
    fn traps_exactly_the_listed_calls() {
        let filter = Filter::new();
        assert!(filter.len() < 20, "only what the supervisor must see");
        // SAFETY: the child only makes raw system calls and _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: freshly forked child; only system calls follow.
            unsafe {
                if filter.install().is_err() {
                    libc::_exit(10);
                }
                let mut bits = 0;
                // Untraced RET_TRACE fails the call with ENOSYS.
                if libc::syscall(libc::SYS_alarm, 0) == -1
                    && *libc::__errno_location() == libc::ENOSYS
                {
                    bits |= 1;
                }
                if libc::syscall(libc::SYS_getpid) > 0 {
                    bits |= 2;
                }
                // The schedule's calls are the preloaded library's business.
                if libc::syscall(libc::SYS_kill, libc::getpid(), 0) == 0 {
                    bits |= 4;
                }
                let mut fds = [0; 2];
                libc::pipe(fds.as_mut_ptr());
                if libc::write(fds[1], b"x".as_ptr().cast(), 1) == 1 {
                    bits |= 8;
                }
                libc::_exit(bits);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 1 | 2 | 4 | 8);
    }
}
