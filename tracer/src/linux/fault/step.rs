//! Performing an instruction the supervisor cannot emulate (a vector load
//! or store in `memcpy`, `strlen`'s `vpcmpeqb`, a legacy SSE instruction
//! with an aligned memory operand) on a copy of its memory: the bytes of
//! its memory operand are copied to the guard allocator's scratch area
//! (in its header page, 64-byte aligned, written only by the supervisor),
//! the base register is moved so that the operand addresses the copy, the
//! thread executes the one instruction (`PTRACE_SINGLESTEP`), the base
//! register is put back, and what a store wrote is copied back.
//!
//! Bytes the copy cannot read (a guard region, a PROT_NONE page) read as
//! zeros and writes to them are dropped, as plain loads and stores in
//! [`crate::linux::fault::emulate`]: the access past the end is reported
//! once and the test goes on as natively, with a hole where the
//! neighbouring memory would have been.

use crate::linux::fault::decode::Relocatable;
use crate::linux::fault::emulate::{read_forgiving, write_forgiving};
use crate::linux::fault::registers::{self, Regs};
use crate::linux::process::ptrace::{self, Wait};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Stops a single step may take before the instruction has run (signals
/// that arrive in between are deferred, not delivered).
const MAX_STOPS: usize = 16;

/// Executes the instruction `op` describes in thread `tid` of `pid`
/// (stopped with `regs`, at the instruction) on a copy of its memory
/// operand at `scratch`. Returns the registers after it (rip past it);
/// on error the thread is left with `regs` as it was.
pub fn through_scratch(
    mem: &File,
    pid: i32,
    tid: i32,
    regs: &Regs,
    op: &Relocatable,
    scratch: u64,
) -> io::Result<Regs> {
    let size = op.size as usize;
    let mut bytes = vec![0u8; size];
    read_forgiving(mem, &mut bytes, op.address);
    mem.write_all_at(&bytes, scratch)?;
    let base = registers::read(regs, op.base);
    let mut moved = *regs;
    registers::write(
        &mut moved,
        op.base,
        base.wrapping_add(scratch.wrapping_sub(op.address)),
    );
    ptrace::setregs(tid, &moved)?;
    let stepped = single_step(pid, tid);
    let mut after = match stepped.and_then(|()| ptrace::getregs(tid)) {
        Ok(after) if after.rip == regs.rip.wrapping_add(u64::from(op.len)) => after,
        Ok(_) | Err(_) => {
            let _ = ptrace::setregs(tid, regs);
            return Err(io::Error::other("the instruction did not complete"));
        }
    };
    registers::write(&mut after, op.base, base);
    ptrace::setregs(tid, &after)?;
    if op.writes {
        mem.read_exact_at(&mut bytes, scratch)?;
        write_forgiving(mem, &bytes, op.address);
    }
    Ok(after)
}

/// Runs one instruction of stopped thread `tid` and waits until it has.
/// Signals that arrive first are sent again once it has run (their
/// details, such as the sender, are lost; their order among themselves is
/// kept); other stops are passed over.
fn single_step(pid: i32, tid: i32) -> io::Result<()> {
    let mut deferred = Vec::new();
    let result = (|| {
        for _ in 0..MAX_STOPS {
            // SAFETY: PTRACE_SINGLESTEP on a stopped tracee of this thread
            // with no address and no signal to deliver.
            let r = unsafe { libc::ptrace(libc::PTRACE_SINGLESTEP, tid, 0, 0) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            match ptrace::wait_for(tid)? {
                Wait::Signal {
                    signal: libc::SIGTRAP,
                    ..
                } => return Ok(()),
                Wait::Signal { signal, .. } => deferred.push(signal),
                Wait::Event { .. } | Wait::SyscallExit { .. } => {}
                Wait::Exited { .. } | Wait::Killed { .. } => {
                    return Err(io::Error::other("the thread ended during a single step"))
                }
            }
        }
        Err(io::Error::other("the single step did not complete"))
    })();
    for signal in deferred {
        // SAFETY: tgkill with plain integers; a thread that is gone makes
        // it fail with ESRCH, which is fine.
        unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signal) };
    }
    result
}
