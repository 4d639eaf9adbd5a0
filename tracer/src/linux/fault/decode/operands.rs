//! Explicit memory operands: their accesses (`explicit_accesses`), with
//! READ or WRITE from the mnemonic and the operand's position
//! (`operand_kind`, x87 and FPU-state rules included) and the size where
//! capstone's is wrong (`operand_size`, FPU/SSE/XSAVE state areas).
//! Addresses come from `address.rs`; implicit accesses are elsewhere.

use super::address::effective_address;
use super::implicit::stack_slot_size;
use super::insn::Insn;
use crate::linux::fault::registers::Regs;
use crate::{Access, AccessKind};
use capstone::arch::x86::X86OperandType;
use capstone::AccessType;

/// Bytes an `xsave`-family instruction is taken to access: the legacy
/// area (512), the XSAVE header (64) and the AVX upper halves (256). This is
/// an approximation: the true size depends on XCR0 and, for the compacted
/// and optimized forms, on which components are in use (CPUID leaf 0xD
/// tells). It covers the common x86-64 desktop configuration without
/// AVX-512 and is only used to report the access.
pub(super) const XSAVE_AREA_APPROX: u32 = 512 + 64 + 256;

/// The accesses of the instruction's memory operands, with READ/WRITE and
/// size corrected (see `operand_kind` and `operand_size`). Operands
/// whose address cannot be computed (gathers, scatters) are left out.
pub(super) fn explicit_accesses(insn: &Insn, regs: &Regs, next_rip: u64) -> Vec<Access> {
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
pub(super) fn operand_kind(
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
pub(super) fn operand_size(mnemonic: &str, capstone_size: u8) -> u32 {
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
