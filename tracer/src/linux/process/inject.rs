//! Making a stopped tracee run a system call for the supervisor, as
//! debuggers do for calls in the inferior: its registers are set up for the
//! call at a `syscall` instruction, it runs to the call's end (stopping at
//! its entry and exit), and the result is read. The caller saves the
//! registers before and restores them after ([`resume_state`]).

use crate::linux::fault::registers::Regs;
use crate::linux::process::memory;
use crate::linux::process::ptrace::{self, Wait};
use crate::linux::symbols::maps;
use std::io;

/// The bytes of `syscall`.
const SYSCALL: [u8; 2] = [0x0f, 0x05];

/// The kernel's "restart the call" results (`-ERESTARTSYS` and friends)
/// and `-ERESTART_RESTARTBLOCK`.
const ERESTARTSYS: i64 = 512;
const ERESTARTNOINTR: i64 = 513;
const ERESTARTNOHAND: i64 = 514;
const ERESTART_RESTARTBLOCK: i64 = 516;

/// Where thread `tid` of `pid`, stopped with `regs`, can execute a
/// `syscall` instruction: the one it just executed (when it is in a system
/// call), or one in the vDSO or another executable mapping.
pub fn syscall_instruction(pid: i32, tid: i32, regs: &Regs) -> Option<u64> {
    let mut bytes = [0u8; 2];
    let before = regs.rip.wrapping_sub(2);
    if memory::read(tid, before, &mut bytes) == 2 && bytes == SYSCALL {
        return Some(before);
    }
    let maps = maps::read_maps(pid).ok()?;
    let mut code = maps.iter().filter(|m| m.executable).collect::<Vec<_>>();
    // The vDSO first: small, and the same in every process.
    code.sort_by_key(|m| m.path.as_deref() != Some("[vdso]"));
    for m in code.into_iter().take(8) {
        let len = usize::try_from((m.end - m.start).min(4 << 20)).ok()?;
        let mut text = vec![0u8; len];
        let n = memory::read(tid, m.start, &mut text);
        if let Some(i) = text[..n].windows(2).position(|w| w == SYSCALL) {
            return Some(m.start + i as u64);
        }
    }
    None
}

/// Signals that arrived for the thread while it ran an injected call; they
/// are delivered when the supervisor lets the thread go.
pub type Deferred = Vec<i32>;

/// Runs `nr(args...)` in thread `tid`, stopped with `regs`, at the
/// `syscall` instruction `at`. `at_entry`: the thread is stopped at a
/// system call's entry (a seccomp stop), whose call is replaced. Returns
/// the call's result (`-errno` on failure) and leaves the thread stopped at
/// the call's exit, its registers changed.
pub fn syscall(
    tid: i32,
    regs: &Regs,
    at: u64,
    at_entry: bool,
    nr: i64,
    args: &[u64],
    deferred: &mut Deferred,
) -> io::Result<i64> {
    let mut r = *regs;
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] = a;
    if at_entry {
        r.orig_rax = nr as u64;
    } else {
        r.rip = at;
        r.rax = nr as u64;
        r.orig_rax = u64::MAX;
    }
    ptrace::setregs(tid, &r)?;
    let mut stops = if at_entry { 1 } else { 2 };
    while stops > 0 {
        ptrace::syscall(tid, 0)?;
        match ptrace::wait_for(tid)? {
            Wait::SyscallExit { .. } => stops -= 1,
            Wait::Signal { signal, .. } => deferred.push(signal),
            Wait::Event { .. } => {}
            Wait::Exited { .. } | Wait::Killed { .. } => {
                return Err(io::Error::other("the thread ended during an injected call"))
            }
        }
    }
    Ok(ptrace::getregs(tid)?.rax as i64)
}

/// The registers with which a thread stopped with `regs` goes on as it
/// would have: a system call it was in (or, at a seccomp stop, about to
/// enter) is made again, as the kernel restarts an interrupted one.
pub fn resume_state(regs: &Regs, at_entry: bool) -> Regs {
    let mut r = *regs;
    let in_call = regs.orig_rax as i64 >= 0;
    let restart = matches!(
        -(regs.rax as i64),
        ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK
    );
    if at_entry || (in_call && restart) {
        r.rip = regs.rip.wrapping_sub(2);
        r.rax = if -(regs.rax as i64) == ERESTART_RESTARTBLOCK {
            libc::SYS_restart_syscall as u64
        } else {
            regs.orig_rax
        };
    }
    r.orig_rax = u64::MAX;
    r
}
