//! Decoding the faulting instruction: which memory it accessed, how many
//! bytes, READ or WRITE, at which effective address.
//!
//! capstone (x86-64, Intel syntax, detail on) does the decoding: length,
//! text, operands, prefixes, address size. What the instruction does to
//! memory is then worked out in layers, small functions in the files of
//! this module:
//!
//! 1. registers: capstone register ids to `user_regs_struct` values
//!    (`register_value`), 64-, 32-, 16- and 8-bit names alike (in
//!    `address.rs`);
//! 2. addresses: segment base + base + index * scale + disp, rip-relative
//!    from the next instruction, truncated under a 0x67 address-size prefix
//!    (`effective_address`, in `address.rs`);
//! 3. implicit accesses capstone gives no (or no usable) operand for: the
//!    stack slot of push/pop/call/ret/leave/enter (`stack_access`, in
//!    `implicit.rs`), the current element of string instructions
//!    (`string_accesses`, in `strings.rs`), `xlat` and `maskmovdqu`
//!    (`other_implicit_accesses`, in `implicit.rs`);
//! 4. corrections: READ or WRITE of an explicit memory operand from the
//!    mnemonic and the operand's position (`operand_kind`), and its size
//!    where capstone's is wrong (`operand_size`), both in `operands.rs`
//!    with the explicit accesses they correct (`explicit_accesses`).
//!
//! capstone's own access flags are consulted only as a last resort (a
//! single memory operand of a mnemonic no rule knows). On this machine
//! (capstone 0.14, capstone-sys 0.18) they are wrong for, among others:
//! stores through `movups`, `vmovups`, `vmovdqu`, `vmovaps`, `vmovdqa64`,
//! `vmovss`, `movq`, `vmovq`, `movhps`, `movlpd`, `movnti`, `movntdq`,
//! `vextractf128`, `vmaskmovps`, `pextrb`, `vpextrq`, `kmovw` (all reported
//! as reads); `cmpxchg` with or without `lock`, `cmpxchg8b`, `cmpxchg16b`
//! (reads); `rol`/`ror`/`rcl` on memory (reads, while `shl` is read-write);
//! the x87 stores `fst`, `fstp`, `fistp`, `fisttp`, `fnstcw` and `stmxcsr`
//! (reads) and `frstor` (a write); `lea`, `nop` and `prefetch*` (reads, yet
//! they access nothing); and sizes: `fxsave`/`fxrstor`/`xsave*`/`xrstor*` as
//! 8 bytes, `fnsave`/`frstor` as 4. Push, pop, call and ret carry no stack
//! operand at all, and the string `cmpsd` has no access flags. The unit
//! tests pin every rule on a table of real encodings (assembled with GNU
//! `as`).
//!
//! The other files: `insn.rs` reduces capstone's output to what the rules
//! need (mnemonic, operands, prefixes, opcode, address size); `emulable.rs`
//! picks the plain loads and stores [`Decoder::plan`] emulates (the
//! `movs`/`stos` it emulates are in `strings.rs`); `faulting.rs` tells
//! which of an instruction's accesses faulted ([`faulting_access`]);
//! `tests.rs` holds the table of real encodings and the tests of the whole
//! decoder. This file holds the public types and entry points and puts the
//! layers together (`accesses`).

mod address;
mod emulable;
mod faulting;
mod implicit;
mod insn;
mod operands;
mod strings;

pub use faulting::faulting_access;

use crate::linux::fault::emulate::Plan;
use crate::linux::fault::registers::{self, Reg, Regs};
use crate::{Access, AccessKind};
use address::{effective_address, gp_register};
use capstone::arch::x86::{ArchMode, ArchSyntax, X86OpMem, X86Operand, X86OperandType};
use capstone::arch::{BuildsCapstone, BuildsCapstoneSyntax};
use capstone::{Capstone, RegId};
use emulable::emulable_op;
use implicit::{other_implicit_accesses, stack_access};
use insn::Insn;
use operands::{explicit_accesses, operand_kind, operand_size};
use strings::{string_accesses, string_op};

/// A decoded instruction and the memory it accesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The instruction as text, Intel syntax (`mov dword ptr [rax], 0x2a`).
    pub text: String,
    /// The instruction's length in bytes.
    pub len: usize,
    /// Every memory access it makes, explicit and implicit, in the order
    /// the CPU performs them (`push qword ptr [rax]`: the read of `[rax]`,
    /// then the write of the stack slot).
    pub accesses: Vec<Access>,
}

/// An instruction whose one memory operand is addressed through a base
/// register it does not otherwise use: it can be performed on a copy of
/// that memory by moving the base register (see
/// [`crate::linux::fault::step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relocatable {
    /// The operand's effective address.
    pub address: u64,
    /// Its size in bytes.
    pub size: u32,
    /// Whether the instruction writes it (read-modify-write included).
    pub writes: bool,
    /// The 64-bit base register of the address.
    pub base: Reg,
    /// The instruction's length.
    pub len: u8,
}

/// Instructions with a memory operand that also use rax, rbx, rcx or rdx
/// without naming them (capstone's register lists cannot tell those from
/// the registers of the operands).
const IMPLICIT_GP: [&str; 8] = [
    "cmpxchg",
    "cmpxchg8b",
    "cmpxchg16b",
    "mul",
    "imul",
    "div",
    "idiv",
    "mulx",
];

/// An x86-64 decoder, built once per supervisor (capstone setup is not free).
pub struct Decoder {
    /// capstone in 64-bit mode, Intel syntax, with operand details.
    cs: Capstone,
}

/// capstone for x86-64, Intel syntax, details on (operands, registers
/// read and written).
pub fn capstone() -> Result<Capstone, String> {
    Capstone::new()
        .x86()
        .mode(ArchMode::Mode64)
        .syntax(ArchSyntax::Intel)
        .detail(true)
        .build()
        .map_err(|e| format!("initializing capstone: {e}"))
}

impl Decoder {
    /// Builds the decoder: [`capstone`].
    pub fn new() -> Result<Decoder, String> {
        Ok(Decoder { cs: capstone()? })
    }

    /// Decodes the instruction at the start of `code` (bytes read at `rip`:
    /// up to 16, fewer near the end of a mapping) and computes its memory
    /// accesses from the registers. `None` if the bytes do not decode or
    /// are cut short.
    pub fn decode(&self, code: &[u8], rip: u64, regs: &Regs) -> Option<Decoded> {
        let insn = self.disassemble(code, rip)?;
        let next_rip = rip.wrapping_add(insn.len as u64);
        Some(Decoded {
            accesses: accesses(&insn, regs, next_rip),
            text: insn.text,
            len: insn.len,
        })
    }

    /// How to emulate the instruction at `rip` (a plain load or store
    /// between a general-purpose register or an immediate and memory), and
    /// the address it accesses; `None` for anything else.
    pub fn plan(&self, code: &[u8], rip: u64, regs: &Regs) -> Option<(Plan, u64)> {
        let insn = self.disassemble(code, rip)?;
        let len = u8::try_from(insn.len).ok()?;
        let next_rip = rip.wrapping_add(u64::from(len));
        if let Some(op) = string_op(&insn) {
            return Some((Plan { op, len }, regs.rdi));
        }
        let (op, mem) = emulable_op(&insn)?;
        if !matches!(op.size(), 1 | 2 | 4 | 8) {
            return None;
        }
        let address = effective_address(mem, regs, next_rip, insn.addr_size)?;
        Some((Plan { op, len }, address))
    }

    /// The instruction at `rip` as a [`Relocatable`]: one explicit memory
    /// operand of at most `max_size` bytes, based on a 64-bit
    /// general-purpose register other than rsp that no other operand and
    /// no implicit use names, no index on that same register, no fs/gs
    /// override, no implicit memory access. `None` for anything else.
    pub fn relocatable(
        &self,
        code: &[u8],
        rip: u64,
        regs: &Regs,
        max_size: u32,
    ) -> Option<Relocatable> {
        let insn = self.disassemble(code, rip)?;
        let len = u8::try_from(insn.len).ok()?;
        let next_rip = rip.wrapping_add(u64::from(len));
        if string_accesses(&insn, regs).is_some()
            || other_implicit_accesses(&insn, regs).is_some()
            || stack_access(&insn, regs).is_some()
            || insn.addr_size != 8
            || insn.segment_override_base(regs) != 0
        {
            return None;
        }
        let mems: Vec<(usize, &X86Operand, &X86OpMem)> = insn
            .operands
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.op_type {
                X86OperandType::Mem(m) => Some((i, o, m)),
                _ => None,
            })
            .collect();
        let [(position, op, mem)] = mems.as_slice() else {
            return None;
        };
        let base = gp_register(mem.base())?;
        if base.width != 8 || base.index == registers::RSP {
            return None;
        }
        let same = |r: RegId| gp_register(r).is_some_and(|g| g.index == base.index);
        let others_use_base = insn.operands.iter().any(|o| match &o.op_type {
            X86OperandType::Reg(r) => same(*r),
            _ => false,
        });
        let implicit_use = IMPLICIT_GP.contains(&insn.mnemonic.as_str())
            && [
                registers::RAX,
                registers::RBX,
                registers::RCX,
                registers::RDX,
            ]
            .contains(&base.index);
        if same(mem.index()) || others_use_base || implicit_use {
            return None;
        }
        let kind = operand_kind(
            insn.mnemonic.as_str(),
            *position,
            insn.operands.len(),
            insn.locked(),
            op.access,
        )?;
        let size = operand_size(insn.mnemonic.as_str(), op.size);
        if size == 0 || size > max_size {
            return None;
        }
        Some(Relocatable {
            address: effective_address(mem, regs, next_rip, insn.addr_size)?,
            size,
            writes: kind == AccessKind::Write,
            base,
            len,
        })
    }
}

/// Every memory access of one instruction, in execution order: string
/// instructions, `xlat` and `maskmovdqu` by rule; everything else from its
/// memory operands, with the stack slot of push/pop/call/ret/... around
/// them (a stack read comes first, a stack write last).
fn accesses(insn: &Insn, regs: &Regs, next_rip: u64) -> Vec<Access> {
    if let Some(v) = string_accesses(insn, regs) {
        return v;
    }
    if let Some(v) = other_implicit_accesses(insn, regs) {
        return v;
    }
    let mut out = explicit_accesses(insn, regs, next_rip);
    match stack_access(insn, regs) {
        Some(slot) if slot.kind == AccessKind::Read => out.insert(0, slot),
        Some(slot) => out.push(slot),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests;
