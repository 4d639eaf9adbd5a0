//! Tests that trace their own children (debuggers, profilers, the nix
//! crate): a process has one tracer, so before a test's `PTRACE_TRACEME`,
//! `PTRACE_ATTACH` or `PTRACE_SEIZE` goes through, the supervisor lets go
//! of the process it names, and the test traces it as natively. A request
//! naming the caller's own process (or a thread of it) is left to the
//! kernel, which refuses it with EPERM.
//!
//! The process keeps the supervisor's seccomp filter, and without a tracer
//! that asked for seccomp stops every call it selects would fail with
//! `ENOSYS`. So first the process is made to install a second filter,
//! selecting the same calls for a listener the supervisor answers with
//! "go on" ([`notify`]); it takes precedence over the first.

use super::{resume, Supervisor};
use crate::linux::fault::guard_table;
use crate::linux::fault::registers::Regs;
use crate::linux::process::ptrace::{self, Wait};
use crate::linux::process::seccomp::{Action, Filter};
use crate::linux::process::{inject, memory, notify};
use crate::linux::syscalls::Syscall;
use crate::preload::protocol::{Header, GUARD_HEADER_ADDR};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// A thread of the process being let go, stopped, and what to deliver to
/// it when it goes.
struct Stopped {
    tid: i32,
    regs: Regs,
    /// Stopped at a system call's entry (a seccomp stop).
    at_entry: bool,
    signals: inject::Deferred,
}

impl Supervisor {
    /// A test's `ptrace` call, at its seccomp stop in thread `tid` of
    /// `pid`: lets go of the process it is about to trace, if that is one
    /// of the supervisor's, then lets the call go on.
    pub(super) fn on_ptrace(&mut self, pid: i32, tid: i32, call: &Syscall, regs: &Regs) {
        let request = call.args[0] as libc::c_uint;
        match request {
            libc::PTRACE_TRACEME => {
                let caller = Stopped {
                    tid,
                    regs: *regs,
                    at_entry: true,
                    signals: Vec::new(),
                };
                self.release(pid, Some(caller), "PTRACE_TRACEME");
            }
            libc::PTRACE_ATTACH | libc::PTRACE_SEIZE => {
                let target = call.args[1] as i32;
                // A process cannot trace itself or a thread of itself: the
                // kernel refuses with EPERM, whoever traces the caller, so
                // the call goes through as it is (releasing the caller
                // would stop the very thread that is stopped here).
                let target_pid = self.tasks.get(target).map(|t| t.pid);
                if let Some(target_pid) = target_pid.filter(|&p| p != pid) {
                    let how = if request == libc::PTRACE_ATTACH {
                        "PTRACE_ATTACH"
                    } else {
                        "PTRACE_SEIZE"
                    };
                    self.release(target_pid, None, &format!("{how} by process {pid}"));
                }
                resume(tid, 0);
            }
            _ => resume(tid, 0),
        }
    }

    /// Lets go of every thread of process `pid` after giving it the
    /// pass-through filter; `caller`, if given, is the thread of `pid`
    /// stopped at its own `ptrace` call, which it then makes again.
    fn release(&mut self, pid: i32, caller: Option<Stopped>, why: &str) {
        let mut stopped: Vec<Stopped> = caller.into_iter().collect();
        let threads: Vec<i32> = self
            .tasks
            .tids()
            .into_iter()
            .filter(|&t| self.tasks.get(t).is_some_and(|task| task.pid == pid))
            .collect();
        for t in threads {
            if stopped.iter().any(|s| s.tid == t) {
                continue;
            }
            if let Some(s) = self.stop_for_release(t) {
                stopped.push(s);
            }
        }
        let filtered = self.install_pass_through(pid, &mut stopped);
        mark_handed_over(pid);
        for s in &stopped {
            let regs = inject::resume_state(&s.regs, s.at_entry);
            let _ = ptrace::setregs(s.tid, &regs);
            let signal = s.signals.first().copied().unwrap_or(0);
            let _ = ptrace::detach(s.tid, signal);
            self.tasks.remove(s.tid);
        }
        let mut note = format!("process {pid} was handed over to the test's own tracer ({why}) and is no longer supervised");
        if let Err(e) = filtered {
            note.push_str(&format!(
                "; its system calls the supervisor's filter selects may now fail ({e})"
            ));
        }
        self.notes.push(note);
    }

    /// Stops thread `t` (if it is not stopped already) so it can be let go.
    fn stop_for_release(&mut self, t: i32) -> Option<Stopped> {
        let held = self.holds.as_mut().and_then(|h| {
            h.held
                .iter()
                .position(|x| x.tid == t)
                .map(|i| h.held.swap_remove(i))
        });
        let mut signals = Vec::new();
        let at_entry = match held {
            Some(h) => {
                signals.push(h.signal);
                false
            }
            None => {
                ptrace::interrupt(t).ok()?;
                match ptrace::wait_for(t).ok()? {
                    Wait::Signal { signal, .. } => {
                        signals.push(signal);
                        false
                    }
                    Wait::Event {
                        event: ptrace::Event::Seccomp,
                        ..
                    } => true,
                    Wait::Event { .. } | Wait::SyscallExit { .. } => false,
                    Wait::Exited { .. } | Wait::Killed { .. } => {
                        self.tasks.remove(t);
                        return None;
                    }
                }
            }
        };
        Some(Stopped {
            tid: t,
            regs: ptrace::getregs(t).ok()?,
            at_entry,
            signals,
        })
    }

    /// Makes process `pid` install the pass-through filter (for all its
    /// threads) and hands its listener to the notify server.
    fn install_pass_through(&mut self, pid: i32, stopped: &mut [Stopped]) -> io::Result<()> {
        let Some(s) = stopped.first_mut() else {
            return Err(io::Error::other("no thread of it could be stopped"));
        };
        let at = inject::syscall_instruction(pid, s.tid, &s.regs)
            .ok_or_else(|| io::Error::other("no syscall instruction found"))?;
        let filter = Filter::build(Action::Notify);
        let program = filter.program();
        // The program and its `sock_fprog` go on the thread's stack, below
        // the red zone.
        let bytes: Vec<u8> = program
            .iter()
            .flat_map(|f| {
                let mut b = [0u8; 8];
                b[..2].copy_from_slice(&f.code.to_ne_bytes());
                b[2] = f.jt;
                b[3] = f.jf;
                b[4..].copy_from_slice(&f.k.to_ne_bytes());
                b
            })
            .collect();
        let prog_at = (s.regs.rsp - 256 - bytes.len() as u64 - 16) & !15;
        let fprog_at = prog_at + bytes.len() as u64;
        let mut fprog = [0u8; 16];
        fprog[..2].copy_from_slice(&(program.len() as u16).to_ne_bytes());
        fprog[8..].copy_from_slice(&prog_at.to_ne_bytes());
        memory::write(s.tid, prog_at, &bytes)?;
        memory::write(s.tid, fprog_at, &fprog)?;
        let flags = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        let listener = inject::syscall(
            s.tid,
            &s.regs,
            at,
            s.at_entry,
            libc::SYS_seccomp,
            &[1, flags, fprog_at],
            &mut s.signals,
        )?;
        if listener < 0 {
            return Err(io::Error::from_raw_os_error(-listener as i32));
        }
        let ours = take_fd(pid, listener as i32);
        // Its copy in the process is closed again, from the injected call's
        // exit (no longer at an entry).
        let exit_regs = ptrace::getregs(s.tid)?;
        inject::syscall(
            s.tid,
            &exit_regs,
            at,
            false,
            libc::SYS_close,
            &[listener as u64],
            &mut s.signals,
        )?;
        notify::pass_through(ours?)
    }
}

/// A copy of descriptor `fd` of process `pid` (`pidfd_getfd`).
/// Tells the preloaded library in process `pid` (stopped) that it is being
/// handed over, so that it makes no system call of its own there any more
/// (the guard header's `handed_over`; nothing to do without the header).
fn mark_handed_over(pid: i32) {
    if guard_table::header(pid).is_some() {
        let field = GUARD_HEADER_ADDR + std::mem::offset_of!(Header, handed_over) as u64;
        let _ = memory::write(pid, field, &1u32.to_ne_bytes());
    }
}

fn take_fd(pid: i32, fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open has no memory-safety preconditions.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd has no memory-safety preconditions.
    let got = unsafe {
        libc::syscall(
            libc::SYS_pidfd_getfd,
            std::os::fd::AsRawFd::as_raw_fd(&pidfd),
            fd,
            0,
        )
    };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(got as i32) })
}
