//! Thin, typed wrappers over the raw ptrace and wait calls the supervisor uses.
//!
//! nix's `Signal` enum cannot represent real-time signals, and a test may use
//! them, so waiting and continuing go through libc with plain signal numbers.

use super::watchdog;
use std::io;

/// The PTRACE_O_* options every tracee gets.
pub const OPTIONS: libc::c_int = libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEEXIT
    | libc::PTRACE_O_EXITKILL
    | libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_TRACESYSGOOD;

/// `si_code` of a signal the kernel raised itself: SIGTRAP from `int3`,
/// SIGSEGV from a general-protection fault (a non-canonical address, or an
/// aligned vector instruction on a misaligned operand).
pub const SI_KERNEL: i32 = 0x80;

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Issues one ptrace request. Requests that write through `data` must pass a
/// pointer to memory of the size the request writes.
fn request(req: libc::c_uint, tid: i32, addr: usize, data: usize) -> io::Result<libc::c_long> {
    super::vanish::strike(tid);
    // SAFETY: ptrace with these requests either reads plain integers or writes
    // through `data`, which every caller points at a live, correctly sized
    // value owned by the caller for the duration of the call.
    check(unsafe {
        libc::ptrace(
            req,
            tid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    })
}

/// Attaches to `tid` without stopping it, with [`OPTIONS`].
pub fn seize(tid: i32) -> io::Result<()> {
    request(libc::PTRACE_SEIZE, tid, 0, OPTIONS as usize).map(drop)
}

/// Resumes a stopped tracee, delivering signal `sig` (0 for none).
pub fn cont(tid: i32, sig: i32) -> io::Result<()> {
    request(libc::PTRACE_CONT, tid, 0, sig as usize).map(drop)
}

/// Resumes a stopped tracee until its next system-call stop: from a
/// seccomp stop, that is the exit of the system call it entered.
pub fn syscall(tid: i32, sig: i32) -> io::Result<()> {
    request(libc::PTRACE_SYSCALL, tid, 0, sig as usize).map(drop)
}

/// Stops tracing `tid`, which goes on with signal `sig` (0 for none).
pub fn detach(tid: i32, sig: i32) -> io::Result<()> {
    request(libc::PTRACE_DETACH, tid, 0, sig as usize).map(drop)
}

/// Keeps a tracee in group-stop while letting the tracer see further events.
pub fn listen(tid: i32) -> io::Result<()> {
    request(libc::PTRACE_LISTEN, tid, 0, 0).map(drop)
}

/// Asks a running (seized) tracee to stop with a `PTRACE_EVENT_STOP`.
pub fn interrupt(tid: i32) -> io::Result<()> {
    request(libc::PTRACE_INTERRUPT, tid, 0, 0).map(drop)
}

/// The general-purpose registers of a stopped tracee.
pub fn getregs(tid: i32) -> io::Result<libc::user_regs_struct> {
    let mut regs = crate::linux::fault::registers::zeroed();
    request(libc::PTRACE_GETREGS, tid, 0, &mut regs as *mut _ as usize)?;
    Ok(regs)
}

/// Sets the general-purpose registers of a stopped tracee.
pub fn setregs(tid: i32, regs: &libc::user_regs_struct) -> io::Result<()> {
    request(libc::PTRACE_SETREGS, tid, 0, regs as *const _ as usize).map(drop)
}

/// The siginfo of the signal a tracee is stopped for.
pub fn getsiginfo(tid: i32) -> io::Result<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    request(
        libc::PTRACE_GETSIGINFO,
        tid,
        0,
        &mut info as *mut _ as usize,
    )?;
    Ok(info)
}

/// The message of the last ptrace event (the new tid for clone/fork/vfork).
pub fn geteventmsg(tid: i32) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    request(
        libc::PTRACE_GETEVENTMSG,
        tid,
        0,
        &mut msg as *mut _ as usize,
    )?;
    Ok(msg as u64)
}

/// What `waitpid` reported for one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The task exited with a status code.
    Exited {
        /// The task.
        tid: i32,
        /// Its exit status.
        code: i32,
    },
    /// The task was killed by a signal.
    Killed {
        /// The task.
        tid: i32,
        /// The signal that killed it.
        signal: i32,
    },
    /// Signal-delivery-stop: the task is about to receive a signal.
    Signal {
        /// The task.
        tid: i32,
        /// The signal to be delivered.
        signal: i32,
    },
    /// A ptrace event stop (`PTRACE_EVENT_*`).
    Event {
        /// The task.
        tid: i32,
        /// Which event.
        event: Event,
    },
    /// A syscall-exit-stop (`PTRACE_SYSCALL` after a seccomp stop).
    SyscallExit {
        /// The task.
        tid: i32,
    },
}

impl Wait {
    /// The task the report is about.
    pub fn tid(&self) -> i32 {
        match *self {
            Wait::Exited { tid, .. }
            | Wait::Killed { tid, .. }
            | Wait::Signal { tid, .. }
            | Wait::Event { tid, .. }
            | Wait::SyscallExit { tid } => tid,
        }
    }

    /// Whether the task is stopped (and must be resumed), rather than gone.
    pub fn is_stop(&self) -> bool {
        !matches!(self, Wait::Exited { .. } | Wait::Killed { .. })
    }
}

/// A ptrace event stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A new thread (`PTRACE_EVENT_CLONE`); its tid is the event message.
    Clone,
    /// A new process by fork (`PTRACE_EVENT_FORK`).
    Fork,
    /// A new process by vfork (`PTRACE_EVENT_VFORK`).
    Vfork,
    /// A successful execve (`PTRACE_EVENT_EXEC`); the former tid is the
    /// event message.
    Exec,
    /// The task is about to exit (`PTRACE_EVENT_EXIT`), memory still intact.
    Exit,
    /// A system call the seccomp filter traps (`PTRACE_EVENT_SECCOMP`).
    Seccomp,
    /// `PTRACE_EVENT_STOP`: a group-stop for `signal` (SIGSTOP and friends),
    /// a new task's first stop, or a `PTRACE_INTERRUPT`.
    Stop {
        /// The stop signal.
        signal: i32,
    },
    /// Any other event number.
    Other(i32),
}

impl Event {
    fn from_raw(event: i32, signal: i32) -> Event {
        match event {
            libc::PTRACE_EVENT_CLONE => Event::Clone,
            libc::PTRACE_EVENT_FORK => Event::Fork,
            libc::PTRACE_EVENT_VFORK => Event::Vfork,
            libc::PTRACE_EVENT_EXEC => Event::Exec,
            libc::PTRACE_EVENT_EXIT => Event::Exit,
            libc::PTRACE_EVENT_SECCOMP => Event::Seccomp,
            libc::PTRACE_EVENT_STOP => Event::Stop { signal },
            other => Event::Other(other),
        }
    }
}

/// Waits for the next state change of any tracee of the calling thread.
/// `Err` with `EINTR` when the wake signal interrupted the wait, `ECHILD`
/// when nothing is left to wait for.
pub fn wait_any() -> io::Result<Wait> {
    let _mark = watchdog::waiting_for(watchdog::WAITING_ANY);
    loop {
        if let Some(w) = waitpid(-1, 0)?.and_then(|(got, status)| decode(got, status)) {
            return Ok(w);
        }
    }
}

/// Waits for a state change of `tid`. The supervisor's wake-up signal
/// does not end this wait (only [`wait_any`]'s, which the event loop uses),
/// unless the job's watchdog has fired: then it ends with `TimedOut`, so no
/// wait outlasts the job's deadline.
pub fn wait_for(tid: i32) -> io::Result<Wait> {
    let _mark = watchdog::waiting_for(tid);
    loop {
        match waitpid(tid, 0) {
            Ok(Some((got, status))) => {
                if let Some(w) = decode(got, status) {
                    return Ok(w);
                }
            }
            Ok(None) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) && watchdog::expired() => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the job's deadline passed while waiting for thread {tid}"),
                ))
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The next state change of any tracee of the calling thread, if one is
/// there already; `Err` with `ECHILD` when nothing is left to wait for.
pub fn wait_any_nohang() -> io::Result<Option<Wait>> {
    while let Some((got, status)) = waitpid(-1, libc::WNOHANG)? {
        if let Some(w) = decode(got, status) {
            return Ok(Some(w));
        }
    }
    Ok(None)
}

/// The next state change of `tid`, if there is one already.
pub fn wait_for_nohang(tid: i32) -> io::Result<Option<Wait>> {
    while let Some((got, status)) = waitpid(tid, libc::WNOHANG)? {
        if let Some(w) = decode(got, status) {
            return Ok(Some(w));
        }
    }
    Ok(None)
}

/// One `waitpid` of the calling thread's tracees (`__WALL | __WNOTHREAD`,
/// plus `flags`): the task and its status, or `None` under `WNOHANG` when
/// nothing changed.
fn waitpid(tid: i32, flags: i32) -> io::Result<Option<(i32, i32)>> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer; __WNOTHREAD limits the wait
    // to tasks of this thread, so supervisors on other threads never see
    // each other's tracees.
    let got = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::__WNOTHREAD | flags) };
    match got {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        got => Ok(Some((got, status))),
    }
}

/// What a `waitpid` status of `got` means; `None` for `WIFCONTINUED` and
/// anything else of no interest.
fn decode(got: i32, status: i32) -> Option<Wait> {
    let tid = got;
    if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        return Some(Wait::Exited { tid, code });
    }
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        return Some(Wait::Killed { tid, signal });
    }
    if libc::WIFSTOPPED(status) {
        let event = status >> 16;
        let signal = libc::WSTOPSIG(status);
        return Some(if event != 0 {
            let event = Event::from_raw(event, signal);
            Wait::Event { tid, event }
        } else if signal == libc::SIGTRAP | 0x80 {
            Wait::SyscallExit { tid }
        } else {
            Wait::Signal { tid, signal }
        });
    }
    // WIFCONTINUED and anything else: not interesting.
    None
}

/// The name of a signal number (`SIGSEGV`, `SIGRTMIN+2`, `signal 99`).
pub fn signal_name(sig: i32) -> String {
    if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
        return s.as_str().to_string();
    }
    let rtmin = libc::SIGRTMIN();
    if (rtmin..=libc::SIGRTMAX()).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - rtmin);
    }
    format!("signal {sig}")
}
