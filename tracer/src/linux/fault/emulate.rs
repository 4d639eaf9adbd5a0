//! Keep-going: performing a faulting heap access on the tracee's behalf so
//! the test continues as it would natively, with one ptrace stop per fault.
//!
//! Only plain loads and stores are emulated (`mov`, `movzx`, `movsx`,
//! `movsxd` between a general-purpose register or an immediate and memory):
//! the supervisor reads or writes the bytes through `/proc/PID/mem`, which
//! reaches PROT_NONE pages, sets the destination register as the CPU would,
//! and moves `rip` past the instruction. Anything else is not emulated and
//! the fault is delivered as before.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Where an emulated load's value goes, or where a store's comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg {
    /// Index of the 64-bit register in `user_regs_struct` viewed as `[u64; 27]`.
    pub index: usize,
    /// Width in bytes: 8, 4, 2 or 1.
    pub width: u8,
    /// The high byte (`ah`, `bh`, `ch`, `dh`).
    pub high: bool,
}

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

/// The registers as an array: `user_regs_struct` is 27 `u64` fields.
fn words(regs: &mut libc::user_regs_struct) -> &mut [u64; 27] {
    const _: () = assert!(std::mem::size_of::<libc::user_regs_struct>() == 27 * 8);
    // SAFETY: user_regs_struct is repr(C) with exactly 27 u64 fields (the
    // assertion above checks the size), so it has the layout of [u64; 27].
    unsafe { &mut *(regs as *mut libc::user_regs_struct).cast::<[u64; 27]>() }
}

fn read_reg(regs: &mut libc::user_regs_struct, r: Reg) -> u64 {
    let v = words(regs)[r.index];
    if r.high {
        (v >> 8) & 0xff
    } else {
        v & mask(r.width)
    }
}

fn mask(width: u8) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (width * 8)) - 1
    }
}

/// Writes a register as the CPU does: 32-bit writes zero the upper half,
/// 16- and 8-bit writes leave the other bits alone.
fn write_reg(regs: &mut libc::user_regs_struct, r: Reg, value: u64) {
    let w = &mut words(regs)[r.index];
    *w = match (r.width, r.high) {
        (_, true) => (*w & !0xff00) | ((value & 0xff) << 8),
        (8, _) => value,
        (4, _) => value & 0xffff_ffff,
        (width, _) => (*w & !mask(width)) | (value & mask(width)),
    };
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
pub fn apply(
    mem: &File,
    regs: &mut libc::user_regs_struct,
    plan: &Plan,
    address: u64,
) -> io::Result<()> {
    match plan.op {
        Op::Load { dst, size, extend } => {
            let mut buf = [0u8; 8];
            mem.read_exact_at(&mut buf[..size as usize], address)?;
            write_reg(regs, dst, widen(u64::from_le_bytes(buf), size, extend));
        }
        Op::StoreReg { src, size } => {
            let v = read_reg(regs, src).to_le_bytes();
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

    fn regs() -> libc::user_regs_struct {
        // SAFETY: plain integers; all-zero is valid.
        unsafe { std::mem::zeroed() }
    }

    const RAX: usize = 10;

    #[test]
    fn register_writes_follow_the_cpu() {
        let mut r = regs();
        r.rax = 0xffff_ffff_ffff_ffff;
        write_reg(
            &mut r,
            Reg {
                index: RAX,
                width: 4,
                high: false,
            },
            0x1234,
        );
        assert_eq!(r.rax, 0x1234, "32-bit writes zero the upper half");
        r.rax = 0xffff_ffff_ffff_ffff;
        write_reg(
            &mut r,
            Reg {
                index: RAX,
                width: 1,
                high: false,
            },
            0x12,
        );
        assert_eq!(r.rax, 0xffff_ffff_ffff_ff12);
        write_reg(
            &mut r,
            Reg {
                index: RAX,
                width: 1,
                high: true,
            },
            0x34,
        );
        assert_eq!(r.rax, 0xffff_ffff_ffff_3412);
        assert_eq!(
            read_reg(
                &mut r,
                Reg {
                    index: RAX,
                    width: 1,
                    high: true
                }
            ),
            0x34
        );
        assert_eq!(widen(0x80, 1, Extend::Sign), 0xffff_ffff_ffff_ff80);
        assert_eq!(widen(0x80, 1, Extend::Zero), 0x80);
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
                    index: 11,
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
            unsafe { std::ptr::read_volatile(&cell) },
            0x4222_3344_5566_aabb
        );
        assert_eq!(r.rip, 110);
    }
}
