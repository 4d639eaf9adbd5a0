//! Keep-going: performing a faulting heap access on the tracee's behalf so
//! the test continues as it would natively, with one ptrace stop per fault.
//!
//! Plain loads and stores (`mov`, `movzx`, `movsx`, `movsxd` between a
//! general-purpose register or an immediate and memory) and the string
//! instructions of memcpy and memset (`movs`, `stos`, with or without
//! `rep`) are emulated here; any other instruction with one memory operand
//! runs on a copy of it ([`crate::linux::fault::step`]). The supervisor
//! reads or writes the bytes through `/proc/PID/mem`, which
//! reaches PROT_NONE pages, sets the destination register as the CPU would,
//! and moves `rip` past the instruction. Pages under a guard region
//! (`MADV_GUARD_INSTALL`) cannot be reached even so: there a load reads
//! zeros and a store is dropped, page by page, as if the memory past the
//! allocation were a hole.

use crate::linux::fault::registers::{self, Reg, Regs};
use crate::linux::PAGE;
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
    /// `movs`: elements of `size` bytes from [rsi] to [rdi], rcx of them
    /// under `rep`.
    Movs {
        /// Bytes per element.
        size: u8,
        /// Under a rep prefix.
        rep: bool,
    },
    /// `stos`: rax's low `size` bytes to [rdi], rcx times under `rep`.
    Stos {
        /// Bytes per element.
        size: u8,
        /// Under a rep prefix.
        rep: bool,
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
            Op::Load { size, .. }
            | Op::StoreReg { size, .. }
            | Op::StoreImm { size, .. }
            | Op::Movs { size, .. }
            | Op::Stos { size, .. } => size,
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

/// The pieces of `[address, address + len)` within one page each.
fn by_page(address: u64, len: usize) -> impl Iterator<Item = (u64, std::ops::Range<usize>)> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= len {
            return None;
        }
        let a = address + at as u64;
        let n = ((PAGE - a % PAGE) as usize).min(len - at);
        let piece = (a, at..at + n);
        at += n;
        Some(piece)
    })
}

/// Reads `buf.len()` bytes at `address`; a page that cannot be read (a
/// guard region) reads as zeros.
pub fn read_forgiving(mem: &File, buf: &mut [u8], address: u64) {
    if mem.read_exact_at(buf, address).is_ok() {
        return;
    }
    for (a, range) in by_page(address, buf.len()) {
        if mem.read_exact_at(&mut buf[range.clone()], a).is_err() {
            buf[range].fill(0);
        }
    }
}

/// Writes `bytes` at `address`; a page that cannot be written (a guard
/// region) is left out.
pub fn write_forgiving(mem: &File, bytes: &[u8], address: u64) {
    if mem.write_all_at(bytes, address).is_ok() {
        return;
    }
    for (a, range) in by_page(address, bytes.len()) {
        let _ = mem.write_all_at(&bytes[range], a);
    }
}

/// Performs `plan` at `address` (in the guard allocator's arena: see the
/// module's doc) in the process whose memory is `mem`, and updates `regs`
/// (the caller writes them back).
pub fn apply(mem: &File, regs: &mut Regs, plan: &Plan, address: u64) -> io::Result<()> {
    match plan.op {
        Op::Load { dst, size, extend } => {
            let mut buf = [0u8; 8];
            read_forgiving(mem, &mut buf[..size as usize], address);
            registers::write(regs, dst, widen(u64::from_le_bytes(buf), size, extend));
        }
        Op::StoreReg { src, size } => {
            let v = registers::read(regs, src).to_le_bytes();
            write_forgiving(mem, &v[..size as usize], address);
        }
        Op::StoreImm { value, size } => {
            write_forgiving(mem, &value.to_le_bytes()[..size as usize], address);
        }
        Op::Movs { size, rep } | Op::Stos { size, rep } => {
            let movs = matches!(plan.op, Op::Movs { .. });
            return string(mem, regs, movs, size, rep, plan.len);
        }
    }
    regs.rip += u64::from(plan.len);
    Ok(())
}

/// Performs the elements of a `movs`/`stos` (see [`Op::Movs`]) whose
/// pointers stay within the pages they point into now (the guard page they
/// faulted on), one by one as the CPU does (an overlapping forward copy
/// repeats a pattern), and advances rsi, rdi and rcx as the CPU would. With
/// elements left, rip stays: the CPU resumes the rep instruction from the
/// next page, natively, or faults there again.
fn string(mem: &File, regs: &mut Regs, movs: bool, size: u8, rep: bool, len: u8) -> io::Result<()> {
    let size = u64::from(size);
    let backward = regs.eflags & (1 << 10) != 0;
    let count = if rep { regs.rcx } else { 1 };
    // Elements whose start stays in the page `p` points into.
    let in_page = |p: u64| {
        if backward {
            (p % PAGE) / size + 1
        } else {
            (PAGE - p % PAGE).div_ceil(size)
        }
    };
    let mut n = count.min(in_page(regs.rdi));
    if movs {
        n = n.min(in_page(regs.rsi));
    }
    let step = |p: u64| {
        if backward {
            p.wrapping_sub(size)
        } else {
            p.wrapping_add(size)
        }
    };
    let mut element = [0u8; 8];
    let element = &mut element[..size as usize];
    for _ in 0..n {
        if movs {
            read_forgiving(mem, element, regs.rsi);
            regs.rsi = step(regs.rsi);
        } else {
            element.copy_from_slice(&regs.rax.to_le_bytes()[..size as usize]);
        }
        write_forgiving(mem, element, regs.rdi);
        regs.rdi = step(regs.rdi);
    }
    if rep {
        regs.rcx -= n;
    }
    if !rep || regs.rcx == 0 {
        regs.rip += u64::from(len);
    }
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

    /// /proc/self/mem, as the supervisor opens a tracee's.
    fn self_mem() -> File {
        File::options()
            .read(true)
            .write(true)
            .open("/proc/self/mem")
            .unwrap()
    }

    #[test]
    fn rep_movs_runs_to_the_end_of_the_page_and_leaves_the_rest_to_the_cpu() {
        let mem = self_mem();
        // Two pages, 8 KiB aligned; copy 5000 bytes from `src` into `dst`
        // starting 4000 bytes in: the emulation does the first 96 (to the
        // end of the first page of dst).
        let mut buf = vec![0u8; 4 * 4096];
        let base = (buf.as_mut_ptr() as u64).next_multiple_of(4096);
        let src = base + 2 * 4096;
        let dst = base + 4000;
        for i in 0..200u64 {
            mem.write_all_at(&[i as u8 + 1], src + i).unwrap();
        }
        let mut r = regs();
        (r.rsi, r.rdi, r.rcx, r.rip) = (src, dst, 5000, 10);
        let plan = Plan {
            op: Op::Movs { size: 1, rep: true },
            len: 2,
        };
        apply(&mem, &mut r, &plan, dst).unwrap();
        assert_eq!((r.rsi, r.rdi, r.rcx), (src + 96, dst + 96, 5000 - 96));
        assert_eq!(r.rip, 10, "elements left: the CPU resumes the rep");
        let mut copied = [0u8; 97];
        mem.read_exact_at(&mut copied, dst).unwrap();
        assert_eq!(copied[..96], (1..=96).collect::<Vec<u8>>()[..]);
        assert_eq!(copied[96], 0, "nothing past the page");
        // stosq without rep: one element, rip past it.
        r.rax = 0x0102_0304_0506_0708;
        r.rdi = base;
        let one = Plan {
            op: Op::Stos {
                size: 8,
                rep: false,
            },
            len: 2,
        };
        apply(&mem, &mut r, &one, base).unwrap();
        assert_eq!((r.rdi, r.rip), (base + 8, 12));
        let mut word = [0u8; 8];
        mem.read_exact_at(&mut word, base).unwrap();
        assert_eq!(u64::from_le_bytes(word), 0x0102_0304_0506_0708);
        drop(buf);
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
