//! Keep-going: performing a faulting heap access on the tracee's behalf so
//! the test continues as it would natively, with one ptrace stop per fault.
//!
//! Only plain loads and stores are emulated (`mov`, `movzx`, `movsx`,
//! `movsxd` between a general-purpose register or an immediate and memory):
//! the supervisor reads or writes the bytes through `/proc/PID/mem`, which
//! reaches PROT_NONE pages, sets the destination register as the CPU would,
//! and moves `rip` past the instruction. Anything else is not emulated and
//! the fault is delivered as before.

use crate::linux::fault::registers::{self, Reg, Regs};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// How a loaded value is widened into its register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extend {
    /// Same width.
    None,
    /// movzx.
    Zero,
    /// movsx, movsxd.
    Sign,
}

/// An emulable instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `size` bytes from memory into `dst`.
    Load {
        /// Destination register.
        dst: Reg,
        /// Bytes read.
        size: u8,
        /// How the value is widened.
        extend: Extend,
    },
    /// `size` bytes of a register into memory.
    StoreReg {
        /// Source register.
        src: Reg,
        /// Bytes written.
        size: u8,
    },
    /// `size` bytes of an immediate into memory.
    StoreImm {
        /// The value (already sign-extended by the encoding).
        value: u64,
        /// Bytes written.
        size: u8,
    },
}

/// An instruction to emulate and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// What it does.
    pub op: Op,
    /// Its length in bytes.
    pub len: u8,
}

impl Op {
    /// The bytes it moves.
    pub fn size(&self) -> u8 {
        match *self {
            Op::Load { size, .. } | Op::StoreReg { size, .. } | Op::StoreImm { size, .. } => size,
        }
    }
}

impl Plan {
    /// The bytes it reads or writes.
    pub fn size(&self) -> u64 {
        u64::from(self.op.size())
    }
}

fn widen(value: u64, size: u8, extend: Extend) -> u64 {
    match extend {
        Extend::Sign if size < 8 => {
            let shift = 64 - u32::from(size) * 8;
            (((value << shift) as i64) >> shift) as u64
        }
        _ => value,
    }
}

/// Performs `plan` at `address` in the process whose memory is `mem`, and
/// updates `regs` (the caller writes them back).
pub fn apply(mem: &File, regs: &mut Regs, plan: &Plan, address: u64) -> io::Result<()> {
    match plan.op {
        Op::Load { dst, size, extend } => {
            let mut buf = [0u8; 8];
            mem.read_exact_at(&mut buf[..size as usize], address)?;
            registers::write(regs, dst, widen(u64::from_le_bytes(buf), size, extend));
        }
        Op::StoreReg { src, size } => {
            let v = registers::read(regs, src).to_le_bytes();
            mem.write_all_at(&v[..size as usize], address)?;
        }
        Op::StoreImm { value, size } => {
            mem.write_all_at(&value.to_le_bytes()[..size as usize], address)?;
        }
    }
    regs.rip += u64::from(plan.len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::linux::fault::registers::{zeroed as regs, RAX, RCX};

    #[test]
    fn loads_widen_as_the_instruction_says() {
        assert_eq!(widen(0x80, 1, Extend::Sign), 0xffff_ffff_ffff_ff80);
        assert_eq!(widen(0x80, 1, Extend::Zero), 0x80);
        assert_eq!(widen(0x8000_0000, 4, Extend::None), 0x8000_0000);
    }

    #[test]
    fn loads_and_stores_go_through_proc_mem_and_advance_rip() {
        let mem = File::options()
            .read(true)
            .write(true)
            .open("/proc/self/mem")
            .unwrap();
        let mut cell: u64 = 0x1122_3344_5566_8788;
        let addr = &mut cell as *mut u64 as u64;
        let mut r = regs();
        r.rip = 100;
        let load = Plan {
            op: Op::Load {
                dst: Reg {
                    index: RAX,
                    width: 4,
                    high: false,
                },
                size: 2,
                extend: Extend::Sign,
            },
            len: 4,
        };
        apply(&mem, &mut r, &load, addr).unwrap();
        assert_eq!(
            r.rax, 0xffff_8788,
            "movsx eax, word ptr: sign-extended to 32 bits, upper half zero"
        );
        assert_eq!(r.rip, 104);
        r.rcx = 0xaabb;
        let store = Plan {
            op: Op::StoreReg {
                src: Reg {
                    index: RCX,
                    width: 2,
                    high: false,
                },
                size: 2,
            },
            len: 3,
        };
        apply(&mem, &mut r, &store, addr).unwrap();
        let imm = Plan {
            op: Op::StoreImm {
                value: 0x42,
                size: 1,
            },
            len: 3,
        };
        apply(&mem, &mut r, &imm, addr + 7).unwrap();
        assert_eq!(
            // SAFETY: `cell` is a live local; the volatile read sees what
            // the writes through /proc/self/mem stored.
            unsafe { std::ptr::read_volatile(&cell) },
            0x4222_3344_5566_aabb
        );
        assert_eq!(r.rip, 110);
    }
}
