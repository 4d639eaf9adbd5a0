//! Decoding the faulting instruction: which memory it accessed, how many
//! bytes, READ or WRITE, at which effective address.
//!
//! capstone (x86-64, Intel syntax, detail on) does the decoding: length,
//! text, operands, prefixes, address size. What the instruction does to
//! memory is then worked out in layers, each a small function below:
//!
//! 1. registers: capstone register ids to `user_regs_struct` values
//!    (`register_value`), 64-, 32-, 16- and 8-bit names alike;
//! 2. addresses: segment base + base + index * scale + disp, rip-relative
//!    from the next instruction, truncated under a 0x67 address-size prefix
//!    (`effective_address`);
//! 3. implicit accesses capstone gives no (or no usable) operand for: the
//!    stack slot of push/pop/call/ret/leave/enter (`stack_access`), the
//!    current element of string instructions (`string_accesses`), `xlat`
//!    and `maskmovdqu` (`other_implicit_accesses`);
//! 4. corrections: READ or WRITE of an explicit memory operand from the
//!    mnemonic and the operand's position (`operand_kind`), and its size
//!    where capstone's is wrong (`operand_size`).
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

use crate::linux::fault::emulate::{Extend, Op, Plan};
use crate::linux::fault::registers::{self, Reg, Regs};
use crate::{Access, AccessKind};
use capstone::arch::x86::{ArchMode, ArchSyntax, X86OpMem, X86Operand, X86OperandType, X86Reg};
use capstone::arch::{ArchOperand, BuildsCapstone, BuildsCapstoneSyntax};
use capstone::{AccessType, Capstone, RegId};

/// The lock prefix, as capstone reports it in `prefix()[0]`.
const PREFIX_LOCK: u8 = 0xf0;
/// The fs segment-override prefix, as reported in `prefix()[1]`.
const PREFIX_FS: u8 = 0x64;
/// The gs segment-override prefix, as reported in `prefix()[1]`.
const PREFIX_GS: u8 = 0x65;
/// The operand-size prefix, as reported in `prefix()[2]`.
const PREFIX_OPSIZE: u8 = 0x66;

/// Bytes an `xsave`-family instruction is taken to access: the legacy
/// area (512), the XSAVE header (64) and the AVX upper halves (256). This is
/// an approximation: the true size depends on XCR0 and, for the compacted
/// and optimized forms, on which components are in use (CPUID leaf 0xD
/// tells). It covers the common x86-64 desktop configuration without
/// AVX-512 and is only used to report the access.
const XSAVE_AREA_APPROX: u32 = 512 + 64 + 256;

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

/// One disassembled instruction, as the rules below need it.
struct Insn {
    /// The instruction as text, with capstone's prefixes (`rep movsb ...`).
    text: String,
    /// The mnemonic without prefixes (`lock cmpxchg` gives `cmpxchg`).
    mnemonic: String,
    /// Length in bytes.
    len: usize,
    /// The explicit operands, in Intel order (destination first).
    operands: Vec<X86Operand>,
    /// Legacy prefixes: lock/rep, segment, operand size, address size.
    prefix: [u8; 4],
    /// Opcode bytes (the first is the primary opcode of one-byte opcodes).
    opcode: [u8; 4],
    /// Address size in bytes: 8, or 4 under a 0x67 prefix.
    addr_size: u8,
}

impl Insn {
    /// Whether the instruction carries a lock prefix.
    fn locked(&self) -> bool {
        self.prefix[0] == PREFIX_LOCK
    }

    /// Whether the operand-size prefix makes a push or pop 16-bit.
    fn opsize_16(&self) -> bool {
        self.prefix[2] == PREFIX_OPSIZE
    }

    /// The base of the segment named by an fs:/gs: override prefix, else 0
    /// (cs, ds, es and ss have base 0 in 64-bit mode).
    fn segment_override_base(&self, regs: &Regs) -> u64 {
        match self.prefix[1] {
            PREFIX_FS => regs.fs_base,
            PREFIX_GS => regs.gs_base,
            _ => 0,
        }
    }
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

    /// Disassembles the instruction at the start of `code` (read at `rip`):
    /// `None` if undecodable or cut short.
    fn disassemble(&self, code: &[u8], rip: u64) -> Option<Insn> {
        let insns = self.cs.disasm_count(code, rip, 1).ok()?;
        let insn = insns.iter().next()?;
        if insn.len() == 0 || insn.len() > code.len() {
            return None;
        }
        let detail = self.cs.insn_detail(insn).ok()?;
        let arch = detail.arch_detail();
        let x86 = arch.x86()?;
        let full_mnemonic = insn.mnemonic()?;
        let ops_text = insn.op_str().unwrap_or("");
        let text = if ops_text.is_empty() {
            full_mnemonic.to_string()
        } else {
            format!("{full_mnemonic} {ops_text}")
        };
        Some(Insn {
            text,
            // capstone folds prefixes into the mnemonic: `lock cmpxchg`,
            // `rep movsb`, `notrack call`, `xacquire lock add`.
            mnemonic: full_mnemonic.rsplit(' ').next()?.to_string(),
            len: insn.len(),
            operands: arch
                .operands()
                .into_iter()
                .filter_map(|op| match op {
                    ArchOperand::X86Operand(o) => Some(o),
                    _ => None,
                })
                .collect(),
            prefix: *x86.prefix(),
            opcode: *x86.opcode(),
            addr_size: x86.addr_size(),
        })
    }
}

/// `movs`/`stos` with or without a rep prefix, 64-bit addresses and no
/// segment override: what memcpy and memset use for long runs.
fn string_op(insn: &Insn) -> Option<Op> {
    let size = match insn.opcode {
        [0xa4 | 0xaa, 0, 0, 0] => 1,
        [0xa5 | 0xab, 0, 0, 0] => match insn.mnemonic.as_str() {
            "movsw" | "stosw" => 2,
            "movsd" | "stosd" => 4,
            "movsq" | "stosq" => 8,
            _ => return None,
        },
        _ => return None,
    };
    if insn.addr_size != 8 || insn.prefix[1] != 0 {
        return None;
    }
    // f2 (repne) repeats movs and stos the way f3 does.
    let rep = matches!(insn.prefix[0], 0xf3 | 0xf2);
    Some(if matches!(insn.opcode[0], 0xa4 | 0xa5) {
        Op::Movs { size, rep }
    } else {
        Op::Stos { size, rep }
    })
}

/// The emulable operation of a plain `mov`/`movzx`/`movsx`/`movsxd` between
/// a general-purpose register or an immediate and memory, with its memory
/// operand.
fn emulable_op(insn: &Insn) -> Option<(Op, &X86OpMem)> {
    let mnemonic = insn.mnemonic.as_str();
    let ops: Vec<(&X86OperandType, u8)> =
        insn.operands.iter().map(|o| (&o.op_type, o.size)).collect();
    match (mnemonic, ops.as_slice()) {
        (
            "mov" | "movzx" | "movsx" | "movsxd",
            [(X86OperandType::Reg(r), _), (X86OperandType::Mem(m), size)],
        ) => {
            let extend = match mnemonic {
                "mov" => Extend::None,
                "movzx" => Extend::Zero,
                _ => Extend::Sign,
            };
            let dst = gp_register(*r)?;
            Some((
                Op::Load {
                    dst,
                    size: *size,
                    extend,
                },
                m,
            ))
        }
        ("mov", [(X86OperandType::Mem(m), size), (X86OperandType::Reg(r), _)]) => Some((
            Op::StoreReg {
                src: gp_register(*r)?,
                size: *size,
            },
            m,
        )),
        ("mov", [(X86OperandType::Mem(m), size), (X86OperandType::Imm(i), _)]) => Some((
            Op::StoreImm {
                // The immediate is already sign-extended by capstone; the
                // bit pattern is what gets stored.
                value: *i as u64,
                size: *size,
            },
            m,
        )),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Registers
// ---------------------------------------------------------------------------

/// The general-purpose registers: the slot of the 64-bit register in
/// [`Regs`] (see [`registers`]), and its 64-, 32-, 16- and low 8-bit
/// capstone names.
const GP_REGISTERS: [(usize, [u32; 4]); 16] = {
    use registers::*;
    use X86Reg::*;
    [
        (R15, [X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B]),
        (R14, [X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B]),
        (R13, [X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B]),
        (R12, [X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B]),
        (RBP, [X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL]),
        (RBX, [X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL]),
        (R11, [X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B]),
        (R10, [X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B]),
        (R9, [X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B]),
        (R8, [X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B]),
        (RAX, [X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL]),
        (RCX, [X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL]),
        (RDX, [X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL]),
        (RSI, [X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL]),
        (RDI, [X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL]),
        (RSP, [X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL]),
    ]
};

/// The legacy high-byte registers and the slot of the register they are
/// bits 8..16 of.
const HIGH_BYTE_REGISTERS: [(u32, usize); 4] = [
    (X86Reg::X86_REG_AH, registers::RAX),
    (X86Reg::X86_REG_CH, registers::RCX),
    (X86Reg::X86_REG_DH, registers::RDX),
    (X86Reg::X86_REG_BH, registers::RBX),
];

/// A general-purpose register of any width as a `user_regs_struct` slot;
/// `None` for anything else (rip, segment, vector, mask registers).
fn gp_register(reg: RegId) -> Option<Reg> {
    let id = u32::from(reg.0);
    if let Some(&(_, index)) = HIGH_BYTE_REGISTERS.iter().find(|(r, _)| *r == id) {
        return Some(Reg {
            index,
            width: 1,
            high: true,
        });
    }
    GP_REGISTERS.iter().find_map(|(index, names)| {
        let position = names.iter().position(|&r| r == id)?;
        Some(Reg {
            index: *index,
            width: [8, 4, 2, 1][position],
            high: false,
        })
    })
}

/// The value of a register usable in an address: a general-purpose
/// register of any width (`eax` under a 0x67 prefix), or rip/eip, which in
/// an address means the next instruction. `None` for registers whose value
/// is not an address (the vector index of a gather or scatter).
fn register_value(reg: RegId, regs: &Regs, next_rip: u64) -> Option<u64> {
    match u32::from(reg.0) {
        X86Reg::X86_REG_RIP => return Some(next_rip),
        X86Reg::X86_REG_EIP => return Some(next_rip & registers::mask(4)),
        _ => {}
    }
    Some(registers::read(regs, gp_register(reg)?))
}

// ---------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------

/// The base of the segment a memory operand names: fs and gs from the
/// registers, every other segment has base 0 in 64-bit mode.
fn segment_base(segment: RegId, regs: &Regs) -> u64 {
    match u32::from(segment.0) {
        X86Reg::X86_REG_FS => regs.fs_base,
        X86Reg::X86_REG_GS => regs.gs_base,
        _ => 0,
    }
}

/// An offset computed at `addr_size` bytes (4 under a 0x67 prefix): the
/// CPU drops the carry out of the address size.
fn truncate_to_address_size(offset: u64, addr_size: u8) -> u64 {
    offset & registers::mask(addr_size)
}

/// Segment base + base + index * scale + disp, the offset wrapped to the
/// address size; rip-relative operands count from `next_rip`. `None` if a
/// register is not a general-purpose one (a vector index).
fn effective_address(mem: &X86OpMem, regs: &Regs, next_rip: u64, addr_size: u8) -> Option<u64> {
    let value = |reg: RegId| {
        if u32::from(reg.0) == X86Reg::X86_REG_INVALID {
            Some(0) // no base, or no index
        } else {
            register_value(reg, regs, next_rip)
        }
    };
    let scaled_index = value(mem.index())?.wrapping_mul(mem.scale() as u64);
    let offset = value(mem.base())?
        .wrapping_add(scaled_index)
        .wrapping_add(mem.disp() as u64);
    Some(
        segment_base(mem.segment(), regs).wrapping_add(truncate_to_address_size(offset, addr_size)),
    )
}

// ---------------------------------------------------------------------------
// Accesses
// ---------------------------------------------------------------------------

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

/// The accesses of the instruction's memory operands, with READ/WRITE and
/// size corrected (see `operand_kind` and `operand_size`). Operands
/// whose address cannot be computed (gathers, scatters) are left out.
fn explicit_accesses(insn: &Insn, regs: &Regs, next_rip: u64) -> Vec<Access> {
    let mnemonic = insn.mnemonic.as_str();
    // `pop` computes an rsp-based destination address after incrementing
    // rsp (Intel SDM, POP): `pop qword ptr [rsp + 8]` writes [old rsp + 16].
    let mut regs = *regs;
    if mnemonic == "pop" {
        regs.rsp = regs.rsp.wrapping_add(stack_slot_size(insn));
    }
    let count = insn.operands.len();
    let mut out = Vec::new();
    for (position, op) in insn.operands.iter().enumerate() {
        let X86OperandType::Mem(mem) = &op.op_type else {
            continue;
        };
        let Some(kind) = operand_kind(mnemonic, position, count, insn.locked(), op.access) else {
            continue;
        };
        let Some(address) = effective_address(mem, &regs, next_rip, insn.addr_size) else {
            continue;
        };
        out.push(Access {
            kind,
            address,
            size: operand_size(mnemonic, op.size),
        });
    }
    out
}

/// Bytes a push or pop moves: 8, or 2 under the operand-size prefix.
fn stack_slot_size(insn: &Insn) -> u64 {
    if insn.opsize_16() {
        2
    } else {
        8
    }
}

/// The implicit stack access of push, pop, call, ret, leave, enter and
/// iretq, which capstone lists no operand for. Near call and ret are always
/// 8 bytes in 64-bit mode.
fn stack_access(insn: &Insn, regs: &Regs) -> Option<Access> {
    let slot = stack_slot_size(insn);
    let rsp = regs.rsp;
    let (kind, address, size) = match insn.mnemonic.as_str() {
        "push" | "pushf" | "pushfq" => (AccessKind::Write, rsp.wrapping_sub(slot), slot),
        "pop" | "popf" | "popfq" => (AccessKind::Read, rsp, slot),
        // enter pushes rbp first; nested levels (rare) read more frames.
        "call" | "enter" => (AccessKind::Write, rsp.wrapping_sub(8), 8),
        "ret" => (AccessKind::Read, rsp, 8),
        // leave = mov rsp, rbp; pop rbp.
        "leave" => (AccessKind::Read, regs.rbp, 8),
        // rip, cs, rflags, rsp, ss.
        "iretq" => (AccessKind::Read, rsp, 40),
        _ => return None,
    };
    Some(Access {
        kind,
        address,
        size: size as u32,
    })
}

/// movs/stos/lods/cmps/scas (one-byte opcodes a4-a7, aa-af), with or
/// without a rep prefix: the element at the current rsi/rdi, its size from
/// the mnemonic's suffix. A rep instruction advances rsi/rdi (and counts
/// rcx down) per element, so at a fault they point at the element that
/// faulted. The direction flag (eflags bit 10) only changes which way they
/// advance: the element is `[rsi, rsi + size)` either way. The source may
/// take a segment override, the destination is always es (base 0); under a
/// 0x67 prefix the addresses are esi/edi.
fn string_accesses(insn: &Insn, regs: &Regs) -> Option<Vec<Access>> {
    if !matches!(insn.opcode, [0xa4..=0xa7 | 0xaa..=0xaf, 0, 0, 0]) {
        return None;
    }
    let mnemonic = insn.mnemonic.as_str();
    let (family, suffix) = mnemonic.split_at(mnemonic.len().checked_sub(1)?);
    let size = match suffix {
        "b" => 1,
        "w" => 2,
        "d" => 4,
        "q" => 8,
        _ => return None,
    };
    let source = Access {
        kind: AccessKind::Read,
        address: insn
            .segment_override_base(regs)
            .wrapping_add(truncate_to_address_size(regs.rsi, insn.addr_size)),
        size,
    };
    let destination = |kind| Access {
        kind,
        address: truncate_to_address_size(regs.rdi, insn.addr_size),
        size,
    };
    Some(match family {
        "movs" => vec![source, destination(AccessKind::Write)],
        "stos" => vec![destination(AccessKind::Write)],
        "lods" => vec![source],
        "cmps" => vec![source, destination(AccessKind::Read)],
        "scas" => vec![destination(AccessKind::Read)],
        _ => return None,
    })
}

/// Implicit operands of other instructions capstone lists none for: `xlat`
/// reads the byte at rbx + al; `maskmovdqu` writes (selected bytes of) 16
/// bytes at rdi.
fn other_implicit_accesses(insn: &Insn, regs: &Regs) -> Option<Vec<Access>> {
    let segment = insn.segment_override_base(regs);
    let (kind, offset, size) = match insn.mnemonic.as_str() {
        "xlatb" | "xlat" => (AccessKind::Read, regs.rbx.wrapping_add(regs.rax & 0xff), 1),
        "maskmovdqu" | "vmaskmovdqu" => (AccessKind::Write, regs.rdi, 16),
        _ => return None,
    };
    let address = segment.wrapping_add(truncate_to_address_size(offset, insn.addr_size));
    Some(vec![Access {
        kind,
        address,
        size,
    }])
}

// ---------------------------------------------------------------------------
// Corrections
// ---------------------------------------------------------------------------

/// Mnemonics that access no memory although they have a memory operand:
/// address computations, hints, bound checks. (Prefetches never fault.)
const NO_ACCESS: [&str; 6] = ["lea", "nop", "bndmk", "bndcl", "bndcu", "bndcn"];

/// Read-modify-write instructions whose memory operand is written wherever
/// it stands (capstone reports the cmpxchg family as reads).
const ALWAYS_WRITE: [&str; 5] = ["xchg", "xadd", "cmpxchg", "cmpxchg8b", "cmpxchg16b"];

/// Mnemonics that only read their memory operand, even in first position.
#[rustfmt::skip]
const READ_ONLY: [&str; 33] = [
    "cmp", "test", "bt", "ptest", "vptest", "vtestps", "vtestpd",
    "ucomiss", "ucomisd", "comiss", "comisd", "vucomiss", "vucomisd", "vcomiss", "vcomisd",
    "push", "call", "jmp", "ljmp", "lcall",
    "mul", "imul", "div", "idiv",
    "ldmxcsr", "vldmxcsr", "clflush", "clflushopt", "clwb",
    "verr", "verw", "lgdt", "lidt",
];

/// Single-operand mnemonics that write (or read and write) their memory
/// operand. `set*` and `xsave*` are matched by prefix.
const SINGLE_OPERAND_WRITE: [&str; 11] = [
    "pop", "inc", "dec", "neg", "not", "stmxcsr", "vstmxcsr", "sgdt", "sidt", "sldt", "str",
];

/// x87 and FPU-state mnemonic prefixes that store to memory; every other
/// x87 memory operand (`fld`, `fild`, `fadd`, `fcom`, `fldcw`, `frstor`,
/// `fxrstor`, ...) is read.
const X87_STORES: [&str; 7] = ["fst", "fist", "fbstp", "fnst", "fnsave", "fsave", "fxsave"];

/// READ or WRITE for the memory operand at `position` of `count` operands
/// of `mnemonic` (prefixes stripped); `None` if the instruction does not
/// touch it. The rules, first match wins:
///
/// - `lea`, `nop`, `prefetch*`, bound checks: no access;
/// - lock-prefixed instructions and xchg/xadd/cmpxchg*: WRITE (a
///   read-modify-write faults on write permission, so one write access);
/// - x87: stores WRITE, the rest READ;
/// - compares, tests, push/call/jmp through memory, mul/div, ...: READ;
/// - any operand after the first: READ (in Intel syntax only the first
///   operand is a destination) -- loads, sources of arithmetic;
/// - the first of two or more operands: WRITE -- stores, including every
///   vector store (`movups [rdi], xmm0`, `vmovdqu ymmword ptr [rdi], ymm1`,
///   `vextractf128`, `pextrb`, ...) and read-modify-write arithmetic
///   (`add [rdi], eax`, `shl`, `rol`, `bts`, ...);
/// - a single operand: WRITE for pop, inc/dec/neg/not, setcc, stmxcsr,
///   xsave*, ...; READ for xrstor*; otherwise capstone's flag, READ if it
///   has none.
fn operand_kind(
    mnemonic: &str,
    position: usize,
    count: usize,
    locked: bool,
    capstone: Option<AccessType>,
) -> Option<AccessKind> {
    use AccessKind::{Read, Write};
    if NO_ACCESS.contains(&mnemonic) || mnemonic.starts_with("prefetch") {
        return None;
    }
    if locked || ALWAYS_WRITE.contains(&mnemonic) {
        return Some(Write);
    }
    if let Some(kind) = x87_kind(mnemonic) {
        return Some(kind);
    }
    if READ_ONLY.contains(&mnemonic) || mnemonic.starts_with("xrstor") {
        return Some(Read);
    }
    if position > 0 {
        return Some(Read);
    }
    if count >= 2
        || SINGLE_OPERAND_WRITE.contains(&mnemonic)
        || mnemonic.starts_with("set")
        || mnemonic.starts_with("xsave")
    {
        return Some(Write);
    }
    Some(match capstone {
        Some(access) if access.is_writable() => Write,
        _ => Read,
    })
}

/// READ or WRITE for an x87 or FPU-state instruction (mnemonic starting
/// with `f`), `None` for anything else.
fn x87_kind(mnemonic: &str) -> Option<AccessKind> {
    if !mnemonic.starts_with('f') {
        return None;
    }
    Some(if X87_STORES.iter().any(|p| mnemonic.starts_with(p)) {
        AccessKind::Write
    } else {
        AccessKind::Read
    })
}

/// The size of a memory operand: capstone's, except where it is wrong or
/// unspecified (FPU/SSE state areas) or worth pinning.
fn operand_size(mnemonic: &str, capstone_size: u8) -> u32 {
    match mnemonic {
        // capstone says 8.
        "fxsave" | "fxsave64" | "fxrstor" | "fxrstor64" => 512,
        // capstone says 8; see XSAVE_AREA_APPROX.
        m if m.starts_with("xsave") || m.starts_with("xrstor") => XSAVE_AREA_APPROX,
        // capstone says 4; 108 bytes with a 32-bit operand size.
        "fnsave" | "fsave" | "frstor" => 108,
        "fnstenv" | "fstenv" | "fldenv" => 28,
        "cmpxchg16b" => 16,
        "cmpxchg8b" => 8,
        _ => u32::from(capstone_size),
    }
}

// ---------------------------------------------------------------------------
// The faulting access
// ---------------------------------------------------------------------------

/// The start of the 4 KiB page holding `address`.
fn page_of(address: u64) -> u64 {
    address & !0xfff
}

/// Of the accesses an instruction makes, the one that faulted given
/// siginfo's `si_addr`: prefer an access whose byte range contains
/// `si_addr`, else one whose range touches the same 4 KiB page as `si_addr`
/// (an access straddling into a guard page reports the page start), else
/// the first write (a general-protection fault reports 0), else the first.
/// `None` only if there are no accesses.
pub fn faulting_access(accesses: &[Access], si_addr: u64) -> Option<&Access> {
    // The last byte of an access; an empty access counts as one byte.
    let last = |a: &Access| a.address.saturating_add(u64::from(a.size.max(1)) - 1);
    let contains = |a: &&Access| a.address <= si_addr && si_addr <= last(a);
    let touches_page = |a: &&Access| {
        page_of(a.address) <= page_of(si_addr) && page_of(si_addr) <= page_of(last(a))
    };
    accesses
        .iter()
        .find(contains)
        .or_else(|| accesses.iter().find(touches_page))
        .or_else(|| accesses.iter().find(|a| a.kind == AccessKind::Write))
        .or_else(|| accesses.first())
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessKind::{Read as R, Write as W};

    /// Where the table's instructions sit; high bits set so that eip-relative
    /// addressing visibly truncates.
    const RIP: u64 = 0x5555_5555_0000;
    const RAX: u64 = 0x1020;
    const RBX: u64 = 0xffff_ffff_0000_2000;
    const SRC: u64 = 0x7fff_0000_3000;
    const DST: u64 = 0x7fff_0000_4000;
    const RSP: u64 = 0x7000;
    const RBP: u64 = 0x7100;
    const FS_BASE: u64 = 0x9000;
    const GS_BASE: u64 = 0xa000;
    const ABS: u64 = 0x1122_3344_5566_7788;
    /// The direction flag in eflags.
    const DF: u64 = 1 << 10;

    fn regs() -> Regs {
        let mut r = registers::zeroed();
        r.rax = RAX;
        r.rbx = RBX;
        r.rcx = 3;
        r.rsi = SRC;
        r.rdi = DST;
        r.rsp = RSP;
        r.rbp = RBP;
        r.r8 = 0xdead_0000_0000_6000;
        r.r12 = 0x8000;
        r.r13 = 2;
        r.fs_base = FS_BASE;
        r.gs_base = GS_BASE;
        r.eflags = 0x202;
        r
    }

    fn acc(kind: AccessKind, address: u64, size: u32) -> Access {
        Access {
            kind,
            address,
            size,
        }
    }

    /// Accesses as `WRITE 0x4000+16, ...`, for failure messages.
    fn show(accesses: &[Access]) -> String {
        let each = accesses
            .iter()
            .map(|a| format!("{} {:#x}+{}", a.kind, a.address, a.size));
        format!("[{}]", each.collect::<Vec<_>>().join(", "))
    }

    /// (encoding from GNU as, start of capstone's text, accesses with the
    /// registers of `regs()` at `RIP`). Rows marked "capstone:" are ones
    /// whose raw capstone flags or sizes are wrong.
    #[rustfmt::skip]
    fn table() -> Vec<(&'static [u8], &'static str, Vec<Access>)> {
        vec![
            // Plain loads and stores of 1, 2, 4 and 8 bytes.
            (&[0xc6, 0x07, 0x01], "mov byte ptr [rdi], 1", vec![acc(W, DST, 1)]),
            (&[0x66, 0x89, 0x07], "mov word ptr [rdi], ax", vec![acc(W, DST, 2)]),
            (&[0xc7, 0x00, 0x2a, 0x00, 0x00, 0x00], "mov dword ptr [rax], 0x2a", vec![acc(W, RAX, 4)]),
            (&[0x48, 0x89, 0x47, 0x08], "mov qword ptr [rdi + 8], rax", vec![acc(W, DST + 8, 8)]),
            (&[0x8a, 0x06], "mov al, byte ptr [rsi]", vec![acc(R, SRC, 1)]),
            (&[0x66, 0x8b, 0x06], "mov ax, word ptr [rsi]", vec![acc(R, SRC, 2)]),
            (&[0x8b, 0x44, 0x8e, 0x10], "mov eax, dword ptr [rsi + rcx*4 + 0x10]", vec![acc(R, SRC + 12 + 0x10, 4)]),
            (&[0x48, 0x8b, 0x00], "mov rax, qword ptr [rax]", vec![acc(R, RAX, 8)]),
            (&[0x4f, 0x8b, 0x4c, 0xec, 0xf8], "mov r9, qword ptr [r12 + r13*8 - 8]", vec![acc(R, 0x8000 + 16 - 8, 8)]),
            (&[0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11], "movabs al, byte ptr [0x1122334455667788]", vec![acc(R, ABS, 1)]),
            (&[0xa2, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11], "movabs byte ptr [0x1122334455667788], al", vec![acc(W, ABS, 1)]),
            // Widening loads.
            (&[0x0f, 0xb6, 0x07], "movzx eax, byte ptr [rdi]", vec![acc(R, DST, 1)]),
            (&[0x0f, 0xb7, 0x47, 0x02], "movzx eax, word ptr [rdi + 2]", vec![acc(R, DST + 2, 2)]),
            (&[0x48, 0x0f, 0xbe, 0x07], "movsx rax, byte ptr [rdi]", vec![acc(R, DST, 1)]),
            (&[0x0f, 0xbf, 0x07], "movsx eax, word ptr [rdi]", vec![acc(R, DST, 2)]),
            (&[0x48, 0x63, 0x07], "movsxd rax, dword ptr [rdi]", vec![acc(R, DST, 4)]),
            // rip-relative (from the next instruction), segments, 0x67.
            (&[0x48, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00], "mov rax, qword ptr [rip + 0x100]", vec![acc(R, RIP + 7 + 0x100, 8)]),
            (&[0x80, 0x05, 0x10, 0x00, 0x00, 0x00, 0x01], "add byte ptr [rip + 0x10], 1", vec![acc(W, RIP + 7 + 0x10, 1)]),
            (&[0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00], "mov rax, qword ptr fs:[0x28]", vec![acc(R, FS_BASE + 0x28, 8)]),
            (&[0x65, 0x48, 0x8b, 0x40, 0x08], "mov rax, qword ptr gs:[rax + 8]", vec![acc(R, GS_BASE + RAX + 8, 8)]),
            (&[0x67, 0x8b, 0x03], "mov eax, dword ptr [ebx]", vec![acc(R, 0x2000, 4)]),
            (&[0x67, 0x8b, 0x44, 0x8b, 0x10], "mov eax, dword ptr [ebx + ecx*4 + 0x10]", vec![acc(R, 0x2000 + 12 + 0x10, 4)]),
            (&[0x67, 0x41, 0x8b, 0x00], "mov eax, dword ptr [r8d]", vec![acc(R, 0x6000, 4)]),
            (&[0x67, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00], "mov eax, dword ptr [eip + 0x10]", vec![acc(R, (RIP + 7 + 0x10) & 0xffff_ffff, 4)]),
            // SSE/AVX moves: capstone: the stores are "reads" (not movaps/movdqu).
            (&[0x0f, 0x11, 0x07], "movups xmmword ptr [rdi], xmm0", vec![acc(W, DST, 16)]),
            (&[0x0f, 0x10, 0x0e], "movups xmm1, xmmword ptr [rsi]", vec![acc(R, SRC, 16)]),
            (&[0x0f, 0x29, 0x17], "movaps xmmword ptr [rdi], xmm2", vec![acc(W, DST, 16)]),
            (&[0x0f, 0x28, 0x16], "movaps xmm2, xmmword ptr [rsi]", vec![acc(R, SRC, 16)]),
            (&[0xf3, 0x0f, 0x7f, 0x1f], "movdqu xmmword ptr [rdi], xmm3", vec![acc(W, DST, 16)]),
            (&[0x66, 0x0f, 0x6f, 0x1e], "movdqa xmm3, xmmword ptr [rsi]", vec![acc(R, SRC, 16)]),
            (&[0xc5, 0xfc, 0x11, 0x07], "vmovups ymmword ptr [rdi], ymm0", vec![acc(W, DST, 32)]),
            (&[0xc5, 0xf8, 0x11, 0x07], "vmovups xmmword ptr [rdi], xmm0", vec![acc(W, DST, 16)]),
            (&[0xc5, 0xfe, 0x6f, 0x0e], "vmovdqu ymm1, ymmword ptr [rsi]", vec![acc(R, SRC, 32)]),
            (&[0xc5, 0xfe, 0x7f, 0x0f], "vmovdqu ymmword ptr [rdi], ymm1", vec![acc(W, DST, 32)]),
            (&[0xc5, 0xfc, 0x29, 0x0f], "vmovaps ymmword ptr [rdi], ymm1", vec![acc(W, DST, 32)]),
            (&[0x62, 0xf1, 0xfd, 0x48, 0x7f, 0x0f], "vmovdqa64 zmmword ptr [rdi], zmm1", vec![acc(W, DST, 64)]),
            (&[0x62, 0xf1, 0x7f, 0x49, 0x7f, 0x07], "vmovdqu8 zmmword ptr [rdi] {k1}, zmm0", vec![acc(W, DST, 64)]),
            (&[0x62, 0xf1, 0x7c, 0x89, 0x10, 0x06], "vmovups xmm0 {k1} {z}, xmmword ptr [rsi]", vec![acc(R, SRC, 16)]),
            (&[0xf3, 0x0f, 0x11, 0x07], "movss dword ptr [rdi], xmm0", vec![acc(W, DST, 4)]),
            (&[0xf3, 0x0f, 0x10, 0x06], "movss xmm0, dword ptr [rsi]", vec![acc(R, SRC, 4)]),
            (&[0xf2, 0x0f, 0x11, 0x07], "movsd qword ptr [rdi], xmm0", vec![acc(W, DST, 8)]),
            (&[0xf2, 0x0f, 0x10, 0x06], "movsd xmm0, qword ptr [rsi]", vec![acc(R, SRC, 8)]),
            (&[0xc5, 0xfa, 0x11, 0x07], "vmovss dword ptr [rdi], xmm0", vec![acc(W, DST, 4)]),
            (&[0x66, 0x0f, 0xd6, 0x07], "movq qword ptr [rdi], xmm0", vec![acc(W, DST, 8)]),
            (&[0xf3, 0x0f, 0x7e, 0x06], "movq xmm0, qword ptr [rsi]", vec![acc(R, SRC, 8)]),
            (&[0x66, 0x0f, 0x7e, 0x07], "movd dword ptr [rdi], xmm0", vec![acc(W, DST, 4)]),
            (&[0x66, 0x0f, 0x6e, 0x06], "movd xmm0, dword ptr [rsi]", vec![acc(R, SRC, 4)]),
            (&[0x0f, 0x17, 0x07], "movhps qword ptr [rdi], xmm0", vec![acc(W, DST, 8)]),
            (&[0x0f, 0x12, 0x06], "movlps xmm0, qword ptr [rsi]", vec![acc(R, SRC, 8)]),
            (&[0x66, 0x0f, 0xe7, 0x07], "movntdq xmmword ptr [rdi], xmm0", vec![acc(W, DST, 16)]),
            (&[0x0f, 0xc3, 0x07], "movnti dword ptr [rdi], eax", vec![acc(W, DST, 4)]),
            (&[0xc4, 0xe3, 0x7d, 0x19, 0x07, 0x01], "vextractf128 xmmword ptr [rdi], ymm0, 1", vec![acc(W, DST, 16)]),
            (&[0xc4, 0xe2, 0x75, 0x2e, 0x17], "vmaskmovps ymmword ptr [rdi], ymm1, ymm2", vec![acc(W, DST, 32)]),
            (&[0x66, 0x0f, 0x3a, 0x14, 0x07, 0x01], "pextrb byte ptr [rdi], xmm0, 1", vec![acc(W, DST, 1)]),
            (&[0xc4, 0xe3, 0xf9, 0x16, 0x07, 0x01], "vpextrq qword ptr [rdi], xmm0, 1", vec![acc(W, DST, 8)]),
            (&[0xc5, 0xf8, 0x91, 0x0f], "kmovw word ptr [rdi], k1", vec![acc(W, DST, 2)]),
            (&[0xc4, 0xe2, 0x7d, 0x18, 0x07], "vbroadcastss ymm0, dword ptr [rdi]", vec![acc(R, DST, 4)]),
            (&[0xc5, 0xf4, 0x58, 0x07], "vaddps ymm0, ymm1, ymmword ptr [rdi]", vec![acc(R, DST, 32)]),
            // capstone: no memory operand; the store goes to [rdi].
            (&[0x66, 0x0f, 0xf7, 0xc1], "maskmovdqu xmm0, xmm1", vec![acc(W, DST, 16)]),
            // Per-element addresses from a vector index: not computable.
            (&[0xc4, 0xe2, 0x6d, 0x90, 0x04, 0x8f], "vpgatherdd", vec![]),
            // String instructions: the current element at rsi/rdi.
            (&[0xf3, 0xa4], "rep movsb", vec![acc(R, SRC, 1), acc(W, DST, 1)]),
            (&[0xf3, 0x48, 0xa5], "rep movsq", vec![acc(R, SRC, 8), acc(W, DST, 8)]),
            (&[0xa4], "movsb", vec![acc(R, SRC, 1), acc(W, DST, 1)]),
            (&[0xa5], "movsd dword ptr [rdi], dword ptr [rsi]", vec![acc(R, SRC, 4), acc(W, DST, 4)]),
            (&[0x66, 0xa5], "movsw", vec![acc(R, SRC, 2), acc(W, DST, 2)]),
            (&[0x64, 0xa4], "movsb byte ptr [rdi], byte ptr fs:[rsi]", vec![acc(R, FS_BASE + SRC, 1), acc(W, DST, 1)]),
            (&[0x67, 0xf3, 0xa4], "rep movsb byte ptr [edi], byte ptr [esi]", vec![acc(R, 0x3000, 1), acc(W, 0x4000, 1)]),
            (&[0xf3, 0x48, 0xab], "rep stosq", vec![acc(W, DST, 8)]),
            (&[0x66, 0xab], "stosw", vec![acc(W, DST, 2)]),
            (&[0xa6], "cmpsb", vec![acc(R, SRC, 1), acc(R, DST, 1)]),
            (&[0xf3, 0xa6], "repe cmpsb", vec![acc(R, SRC, 1), acc(R, DST, 1)]),
            // capstone: no access flags at all.
            (&[0xa7], "cmpsd dword ptr [rsi], dword ptr [rdi]", vec![acc(R, SRC, 4), acc(R, DST, 4)]),
            (&[0xac], "lodsb", vec![acc(R, SRC, 1)]),
            (&[0x48, 0xad], "lodsq", vec![acc(R, SRC, 8)]),
            (&[0xae], "scasb", vec![acc(R, DST, 1)]),
            (&[0xf2, 0xae], "repne scasb", vec![acc(R, DST, 1)]),
            // capstone: no operands; reads [rbx + al].
            (&[0xd7], "xlatb", vec![acc(R, RBX + (RAX & 0xff), 1)]),
            // Atomics: capstone: the cmpxchg family "reads".
            (&[0xf0, 0x0f, 0xb1, 0x0f], "lock cmpxchg dword ptr [rdi], ecx", vec![acc(W, DST, 4)]),
            (&[0x0f, 0xb0, 0x0f], "cmpxchg byte ptr [rdi], cl", vec![acc(W, DST, 1)]),
            (&[0xf0, 0x48, 0x0f, 0xc7, 0x0f], "lock cmpxchg16b", vec![acc(W, DST, 16)]),
            (&[0x0f, 0xc7, 0x0f], "cmpxchg8b qword ptr [rdi]", vec![acc(W, DST, 8)]),
            (&[0x87, 0x07], "xchg dword ptr [rdi], eax", vec![acc(W, DST, 4)]),
            (&[0xf0, 0x48, 0x0f, 0xc1, 0x07], "lock xadd qword ptr [rdi], rax", vec![acc(W, DST, 8)]),
            // Stack: capstone lists no stack operand.
            (&[0xff, 0x30], "push qword ptr [rax]", vec![acc(R, RAX, 8), acc(W, RSP - 8, 8)]),
            (&[0x8f, 0x00], "pop qword ptr [rax]", vec![acc(R, RSP, 8), acc(W, RAX, 8)]),
            (&[0xff, 0x10], "call qword ptr [rax]", vec![acc(R, RAX, 8), acc(W, RSP - 8, 8)]),
            (&[0xff, 0x20], "jmp qword ptr [rax]", vec![acc(R, RAX, 8)]),
            (&[0x50], "push rax", vec![acc(W, RSP - 8, 8)]),
            (&[0x58], "pop rax", vec![acc(R, RSP, 8)]),
            (&[0x6a, 0x01], "push 1", vec![acc(W, RSP - 8, 8)]),
            (&[0xc3], "ret", vec![acc(R, RSP, 8)]),
            (&[0xc2, 0x08, 0x00], "ret 8", vec![acc(R, RSP, 8)]),
            (&[0xc9], "leave", vec![acc(R, RBP, 8)]),
            (&[0x9c], "pushfq", vec![acc(W, RSP - 8, 8)]),
            (&[0x66, 0xff, 0x30], "push word ptr [rax]", vec![acc(R, RAX, 2), acc(W, RSP - 2, 2)]),
            // The destination address is computed after rsp moves up.
            (&[0x8f, 0x44, 0x24, 0x08], "pop qword ptr [rsp + 8]", vec![acc(R, RSP, 8), acc(W, RSP + 16, 8)]),
            (&[0xff, 0x14, 0x24], "call qword ptr [rsp]", vec![acc(R, RSP, 8), acc(W, RSP - 8, 8)]),
            (&[0xe8, 0x00, 0x00, 0x00, 0x00], "call", vec![acc(W, RSP - 8, 8)]),
            // FPU/SSE state: capstone: 8-byte (fxsave, xsave) and 4-byte
            // (fnsave) accesses; frstor a "write", fstp/fistp/fnstcw/stmxcsr "reads".
            (&[0x0f, 0xae, 0x00], "fxsave [rax]", vec![acc(W, RAX, 512)]),
            (&[0x0f, 0xae, 0x08], "fxrstor [rax]", vec![acc(R, RAX, 512)]),
            (&[0x0f, 0xae, 0x20], "xsave", vec![acc(W, RAX, XSAVE_AREA_APPROX)]),
            (&[0x0f, 0xae, 0x28], "xrstor", vec![acc(R, RAX, XSAVE_AREA_APPROX)]),
            (&[0xdd, 0x37], "fnsave", vec![acc(W, DST, 108)]),
            (&[0xdd, 0x27], "frstor", vec![acc(R, DST, 108)]),
            (&[0xd9, 0x07], "fld dword ptr [rdi]", vec![acc(R, DST, 4)]),
            (&[0xdc, 0x07], "fadd qword ptr [rdi]", vec![acc(R, DST, 8)]),
            (&[0xdd, 0x1f], "fstp qword ptr [rdi]", vec![acc(W, DST, 8)]),
            (&[0xdb, 0x1f], "fistp dword ptr [rdi]", vec![acc(W, DST, 4)]),
            (&[0xd9, 0x3f], "fnstcw word ptr [rdi]", vec![acc(W, DST, 2)]),
            (&[0x0f, 0xae, 0x1f], "stmxcsr dword ptr [rdi]", vec![acc(W, DST, 4)]),
            (&[0x0f, 0xae, 0x17], "ldmxcsr dword ptr [rdi]", vec![acc(R, DST, 4)]),
            // Read-modify-write: one write. capstone: rol/ror "read".
            (&[0x01, 0x07], "add dword ptr [rdi], eax", vec![acc(W, DST, 4)]),
            (&[0x03, 0x07], "add eax, dword ptr [rdi]", vec![acc(R, DST, 4)]),
            (&[0xf0, 0x83, 0x07, 0x01], "lock add dword ptr [rdi], 1", vec![acc(W, DST, 4)]),
            (&[0xfe, 0x07], "inc byte ptr [rdi]", vec![acc(W, DST, 1)]),
            (&[0x48, 0xff, 0x0f], "dec qword ptr [rdi]", vec![acc(W, DST, 8)]),
            (&[0xf7, 0x1f], "neg dword ptr [rdi]", vec![acc(W, DST, 4)]),
            (&[0xf7, 0x17], "not dword ptr [rdi]", vec![acc(W, DST, 4)]),
            (&[0xd1, 0x27], "shl dword ptr [rdi], 1", vec![acc(W, DST, 4)]),
            (&[0xd1, 0x07], "rol dword ptr [rdi], 1", vec![acc(W, DST, 4)]),
            (&[0x66, 0xc1, 0x0f, 0x02], "ror word ptr [rdi], 2", vec![acc(W, DST, 2)]),
            (&[0x0f, 0xab, 0x07], "bts dword ptr [rdi], eax", vec![acc(W, DST, 4)]),
            (&[0x0f, 0x94, 0x07], "sete byte ptr [rdi]", vec![acc(W, DST, 1)]),
            // Reads only.
            (&[0x0f, 0xa3, 0x07], "bt dword ptr [rdi], eax", vec![acc(R, DST, 4)]),
            (&[0x48, 0x83, 0x3f, 0x00], "cmp qword ptr [rdi], 0", vec![acc(R, DST, 8)]),
            (&[0x48, 0x3b, 0x07], "cmp rax, qword ptr [rdi]", vec![acc(R, DST, 8)]),
            (&[0xf6, 0x07, 0x01], "test byte ptr [rdi], 1", vec![acc(R, DST, 1)]),
            (&[0x6b, 0x07, 0x03], "imul eax, dword ptr [rdi], 3", vec![acc(R, DST, 4)]),
            (&[0x48, 0xf7, 0x37], "div qword ptr [rdi]", vec![acc(R, DST, 8)]),
            // No access at all. capstone: "reads".
            (&[0x48, 0x8d, 0x47, 0x08], "lea rax, [rdi + 8]", vec![]),
            (&[0x0f, 0x1f, 0x00], "nop dword ptr [rax]", vec![]),
            (&[0x66, 0x0f, 0x1f, 0x04, 0x00], "nop word ptr [rax + rax]", vec![]),
            (&[0x0f, 0x18, 0x0f], "prefetcht0 byte ptr [rdi]", vec![]),
            (&[0x0f, 0x0d, 0x0f], "prefetchw byte ptr [rdi]", vec![]),
        ]
    }

    #[test]
    fn decodes_the_access_table() {
        let d = Decoder::new().unwrap();
        let r = regs();
        let table = table();
        assert!(table.len() >= 30);
        let mut wrong = Vec::new();
        for (bytes, text, expected) in table {
            // Trailing bytes (as read from the tracee) must not change anything.
            let mut code = bytes.to_vec();
            code.resize(16, 0xcc);
            let Some(got) = d.decode(&code, RIP, &r) else {
                wrong.push(format!("{text}: does not decode"));
                continue;
            };
            if !got.text.starts_with(text) || got.len != bytes.len() || got.accesses != expected {
                let got_text = &got.text;
                let (got, expected) = (show(&got.accesses), show(&expected));
                wrong.push(format!(
                    "{text}: got {got_text:?} {got}, expected {expected}"
                ));
            }
            // Exactly the instruction's bytes decode the same.
            if d.decode(bytes, RIP, &r).as_ref() != Some(&got) {
                wrong.push(format!("{text}: differs without trailing bytes"));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} wrong:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn text_and_length_are_capstones() {
        let d = Decoder::new().unwrap();
        let got = d
            .decode(&[0xc7, 0x00, 0x2a, 0, 0, 0, 0x90], RIP, &regs())
            .unwrap();
        assert_eq!(got.text, "mov dword ptr [rax], 0x2a");
        assert_eq!(got.len, 6);
        assert_eq!(d.decode(&[0xc3], RIP, &regs()).unwrap().text, "ret");
    }

    #[test]
    fn string_elements_are_at_rsi_and_rdi_whatever_the_direction() {
        let d = Decoder::new().unwrap();
        let mut r = regs();
        r.eflags |= DF;
        let movsb = d.decode(&[0xf3, 0xa4], RIP, &r).unwrap();
        assert_eq!(movsb.accesses, vec![acc(R, SRC, 1), acc(W, DST, 1)]);
        let stosq = d.decode(&[0xf3, 0x48, 0xab], RIP, &r).unwrap();
        assert_eq!(stosq.accesses, vec![acc(W, DST, 8)]);
    }

    #[test]
    fn sub_registers_read_their_bits() {
        let mut r = regs();
        r.rax = 0x1122_3344_5566_7788;
        let value = |id: u32| register_value(RegId(id as u16), &r, RIP);
        assert_eq!(value(X86Reg::X86_REG_RAX), Some(0x1122_3344_5566_7788));
        assert_eq!(value(X86Reg::X86_REG_EAX), Some(0x5566_7788));
        assert_eq!(value(X86Reg::X86_REG_AX), Some(0x7788));
        assert_eq!(value(X86Reg::X86_REG_AL), Some(0x88));
        assert_eq!(value(X86Reg::X86_REG_AH), Some(0x77));
        assert_eq!(value(X86Reg::X86_REG_ESP), Some(RSP));
        assert_eq!(value(X86Reg::X86_REG_R8D), Some(0x6000));
        assert_eq!(value(X86Reg::X86_REG_RIP), Some(RIP));
        assert_eq!(value(X86Reg::X86_REG_EIP), Some(RIP & 0xffff_ffff));
        assert_eq!(value(X86Reg::X86_REG_XMM1), None);
    }

    #[test]
    fn garbage_does_not_decode() {
        let d = Decoder::new().unwrap();
        let r = regs();
        // `push es` does not exist in 64-bit mode.
        assert!(d.decode(&[0x06], RIP, &r).is_none());
        assert!(d.decode(&[], RIP, &r).is_none());
        // A lone REX prefix.
        assert!(d.decode(&[0x48], RIP, &r).is_none());
        // `mov rax, qword ptr [rip + 0x100]` cut short by the end of a mapping.
        assert!(d.decode(&[0x48, 0x8b, 0x05, 0x00, 0x01], RIP, &r).is_none());
        // Sixteen prefixes and no opcode.
        assert!(d.decode(&[0x66; 16], RIP, &r).is_none());
    }

    #[test]
    fn random_bytes_never_panic() {
        let d = Decoder::new().unwrap();
        // xorshift64: deterministic, no dependency.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut decoded = 0;
        for _ in 0..20_000 {
            let mut r = regs();
            for slot in [
                &mut r.rax, &mut r.rbx, &mut r.rsi, &mut r.rdi, &mut r.rsp, &mut r.r8,
            ] {
                *slot = next();
            }
            let mut code = [0u8; 16];
            for pair in code.chunks_mut(8) {
                pair.copy_from_slice(&next().to_le_bytes()[..pair.len()]);
            }
            let n = (next() % 17) as usize;
            if let Some(got) = d.decode(&code[..n], next(), &r) {
                decoded += 1;
                assert!((1..=n).contains(&got.len), "{}", got.text);
                let _ = faulting_access(&got.accesses, next());
            }
        }
        assert!(decoded > 1000, "only {decoded} decoded");
    }

    #[test]
    fn plans_plain_loads_and_stores_only() {
        let d = Decoder::new().unwrap();
        let r = regs();
        let plan = |bytes: &[u8]| d.plan(bytes, RIP, &r);
        let reg = |index, width| Reg {
            index,
            width,
            high: false,
        };
        // mov al, byte ptr [rsi]
        let load = Op::Load {
            dst: reg(10, 1),
            size: 1,
            extend: Extend::None,
        };
        assert_eq!(plan(&[0x8a, 0x06]), Some((Plan { op: load, len: 2 }, SRC)));
        // movsx rax, byte ptr [rdi]
        let (p, _) = plan(&[0x48, 0x0f, 0xbe, 0x07]).unwrap();
        let sign = Op::Load {
            dst: reg(10, 8),
            size: 1,
            extend: Extend::Sign,
        };
        assert_eq!(p.op, sign);
        // movzx eax, word ptr [rdi + 2]
        let (p, addr) = plan(&[0x0f, 0xb7, 0x47, 0x02]).unwrap();
        let zero = Op::Load {
            dst: reg(10, 4),
            size: 2,
            extend: Extend::Zero,
        };
        assert_eq!((p.op, addr), (zero, DST + 2));
        // mov qword ptr [rdi + 8], rax
        let (p, addr) = plan(&[0x48, 0x89, 0x47, 0x08]).unwrap();
        let store = Op::StoreReg {
            src: reg(10, 8),
            size: 8,
        };
        assert_eq!((p.op, addr), (store, DST + 8));
        // mov byte ptr [rsi], ah
        let (p, _) = plan(&[0x88, 0x26]).unwrap();
        let high = Op::StoreReg {
            src: Reg {
                index: 10,
                width: 1,
                high: true,
            },
            size: 1,
        };
        assert_eq!(p.op, high);
        // mov dword ptr [rax], 0x2a
        let imm = Op::StoreImm {
            value: 0x2a,
            size: 4,
        };
        let code = [0xc7, 0x00, 0x2a, 0, 0, 0];
        assert_eq!(plan(&code), Some((Plan { op: imm, len: 6 }, RAX)));
        // mov rax, qword ptr fs:[0x28]
        let (_, addr) = plan(&[0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0]).unwrap();
        assert_eq!(addr, FS_BASE + 0x28);
        // rep movsb, stosq, rep stosd: emulated at rdi.
        let (p, addr) = plan(&[0xf3, 0xa4]).unwrap();
        assert_eq!((p.op, addr), (Op::Movs { size: 1, rep: true }, DST));
        assert_eq!(
            plan(&[0x48, 0xab]).unwrap().0.op,
            Op::Stos {
                size: 8,
                rep: false
            }
        );
        assert_eq!(
            plan(&[0xf3, 0xab]).unwrap().0.op,
            Op::Stos { size: 4, rep: true }
        );
        // Not emulated: vector stores, read-modify-write, other string
        // instructions (scasb), string instructions with a segment
        // override, moves between registers, garbage.
        assert!(plan(&[0x0f, 0x11, 0x07]).is_none());
        assert!(plan(&[0x01, 0x07]).is_none());
        assert!(plan(&[0xf2, 0xae]).is_none());
        assert!(plan(&[0x64, 0xa4]).is_none());
        assert!(plan(&[0x48, 0x89, 0xc3]).is_none());
        assert!(plan(&[0x06]).is_none());
    }

    #[test]
    fn relocatable_instructions_have_one_operand_on_a_base_they_use_alone() {
        let d = Decoder::new().unwrap();
        let r = regs();
        let rel = |code: &[u8]| d.relocatable(code, RIP, &r, 256);
        // vmovdqu ymm1, ymmword ptr [rsi + rdx - 0x20]: a read at rsi-based.
        let r2 = rel(&[0xc5, 0xfe, 0x6f, 0x4c, 0x16, 0xe0]).unwrap();
        assert_eq!(
            (r2.address, r2.size, r2.writes, r2.base.index, r2.len),
            (SRC.wrapping_sub(0x20), 32, false, registers::RSI, 6)
        );
        // vmovdqu ymmword ptr [rdi], ymm0: a store.
        let w = rel(&[0xc5, 0xfe, 0x7f, 0x07]).unwrap();
        assert_eq!(
            (w.address, w.writes, w.base.index),
            (DST, true, registers::RDI)
        );
        // pcmpeqb xmm0, xmmword ptr [rdi]; add dword ptr [rax], ecx.
        assert_eq!(rel(&[0x66, 0x0f, 0x74, 0x07]).unwrap().size, 16);
        assert!(rel(&[0x01, 0x08]).unwrap().writes);
        // Not relocatable: the base is also an operand (add [rax], eax) or
        // the index (mov rcx, [rax + rax]); rsp-based; cmpxchg [rax], ecx
        // (rax implicit); string instructions; push [rax] (a stack
        // access); fs-relative; an operand larger than the scratch
        // (fxsave, 512 bytes); no memory operand.
        assert!(rel(&[0x01, 0x00]).is_none());
        assert!(rel(&[0x48, 0x8b, 0x0c, 0x00]).is_none());
        assert!(rel(&[0x48, 0x8b, 0x04, 0x24]).is_none());
        assert!(rel(&[0x0f, 0xb1, 0x08]).is_none());
        assert!(rel(&[0xf3, 0xa4]).is_none());
        assert!(rel(&[0xff, 0x30]).is_none());
        assert!(rel(&[0x64, 0x48, 0x8b, 0x07]).is_none());
        assert!(rel(&[0x0f, 0xae, 0x07]).is_none());
        assert!(rel(&[0x48, 0x89, 0xc3]).is_none());
    }

    #[test]
    fn the_access_containing_si_addr_faulted() {
        // movsb whose destination faulted.
        let movsb = [acc(R, 0x3000, 1), acc(W, 0x8000, 1)];
        assert_eq!(faulting_access(&movsb, 0x8000), Some(&movsb[1]));
        assert_eq!(faulting_access(&movsb, 0x3000), Some(&movsb[0]));
        // Containment beats touching the page.
        let two = [acc(R, 0x4010, 4), acc(W, 0x4000, 8)];
        assert_eq!(faulting_access(&two, 0x4004), Some(&two[1]));
    }

    #[test]
    fn a_straddling_access_faults_at_the_page_start() {
        // A 4-byte read at 0x1ffe straddles into the guard page at 0x2000:
        // si_addr is the page start, inside the access.
        let straddle = [acc(R, 0x1ffe, 4)];
        assert_eq!(faulting_access(&straddle, 0x2000), Some(&straddle[0]));
        // movsq whose source is fine and whose destination straddles.
        let movsq = [acc(R, 0x5ffc, 8), acc(W, 0x8ffc, 8)];
        assert_eq!(faulting_access(&movsq, 0x9000), Some(&movsq[1]));
        // si_addr rounded down to a page start the access only touches.
        let fxsave = [acc(R, 0x3000, 8), acc(W, 0x5100, 512)];
        assert_eq!(faulting_access(&fxsave, 0x5000), Some(&fxsave[1]));
    }

    #[test]
    fn without_a_match_the_first_write_faulted() {
        // A general-protection fault (non-canonical address) reports 0.
        let push = [acc(R, 0x1000, 8), acc(W, 0x6ff8, 8)];
        assert_eq!(faulting_access(&push, 0), Some(&push[1]));
        let reads = [acc(R, 0x1000, 8), acc(R, 0x2000, 8)];
        assert_eq!(faulting_access(&reads, 0), Some(&reads[0]));
        assert_eq!(faulting_access(&[], 0), None);
        // Ranges at the top of the address space do not overflow.
        let top = [acc(W, u64::MAX - 1, 8), acc(R, 0, 0)];
        assert_eq!(faulting_access(&top, u64::MAX), Some(&top[0]));
        assert_eq!(faulting_access(&top, 0), Some(&top[1]));
    }
}
