//! Decoding the faulting instruction: which memory it accessed, how many
//! bytes, READ or WRITE, at which effective address.
//!
//! capstone (x86-64, Intel syntax, detail on) does the decoding; its access
//! flags are not trusted. On this machine it reports `movups [rdi], xmm0` and
//! `vmovups` stores as reads, `lock cmpxchg [mem]` as a read, gives string
//! instructions' implicit operands inconsistently and calls `fxsave` an
//! 8-byte access. So the READ/WRITE decision and the sizes of the special
//! cases come from the rules below, keyed on the mnemonic and the operand
//! position, and the unit tests pin them on a table of real encodings.

use crate::linux::emulate::{Extend, Op, Plan, Reg};
use crate::{Access, AccessKind};
use capstone::arch::x86::{ArchMode, ArchSyntax, X86OpMem, X86OperandType, X86Reg};
use capstone::arch::{ArchOperand, BuildsCapstone, BuildsCapstoneSyntax};
use capstone::{Capstone, RegId};

/// A decoded instruction and the memory it accesses.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The instruction as text, Intel syntax (`mov dword ptr [rax], 0x2a`).
    pub text: String,
    /// Every memory access it makes, explicit and implicit.
    pub accesses: Vec<Access>,
}

/// An x86-64 decoder, built once per supervisor (capstone setup is not free).
pub struct Decoder {
    cs: Capstone,
}

/// Prefixes capstone folds into the mnemonic.
const PREFIXES: [&str; 6] = ["lock ", "rep ", "repe ", "repne ", "notrack ", "bnd "];

/// Mnemonics whose memory operand, even in first position, is only read.
const READ_ONLY: [&str; 22] = [
    "cmp", "test", "bt", "ptest", "vptest", "ucomiss", "ucomisd", "comiss", "comisd", "vucomiss",
    "vucomisd", "vcomiss", "vcomisd", "push", "call", "jmp", "mul", "imul", "div", "idiv", "fld",
    "fild",
];

/// Mnemonics that access no memory although they have a memory operand.
const NO_ACCESS: [&str; 7] = [
    "lea",
    "nop",
    "prefetch",
    "prefetcht0",
    "prefetcht1",
    "prefetcht2",
    "prefetchnta",
];

impl Decoder {
    /// Builds the decoder.
    pub fn new() -> Result<Decoder, String> {
        let cs = Capstone::new()
            .x86()
            .mode(ArchMode::Mode64)
            .syntax(ArchSyntax::Intel)
            .detail(true)
            .build()
            .map_err(|e| format!("initializing capstone: {e}"))?;
        Ok(Decoder { cs })
    }

    /// Disassembles the instruction at the start of `code` (read at `rip`):
    /// `None` if undecodable or cut short.
    fn disassemble(&self, code: &[u8], rip: u64) -> Option<Insn> {
        let insns = self.cs.disasm_count(code, rip, 1).ok()?;
        let insn = insns.iter().next()?;
        let detail = self.cs.insn_detail(insn).ok()?;
        if insn.len() > code.len() {
            return None;
        }
        Some(Insn {
            mnemonic: insn.mnemonic()?.to_string(),
            ops_text: insn.op_str().unwrap_or("").to_string(),
            len: insn.len(),
            operands: detail
                .arch_detail()
                .operands()
                .into_iter()
                .filter_map(|op| match op {
                    ArchOperand::X86Operand(o) => Some((o.op_type, o.size)),
                    _ => None,
                })
                .collect(),
        })
    }

    /// Decodes the instruction at the start of `code` (read at `rip`) and
    /// computes its accesses from the registers. `None` if undecodable.
    pub fn decode(&self, code: &[u8], rip: u64, regs: &libc::user_regs_struct) -> Option<Decoded> {
        let insn = self.disassemble(code, rip)?;
        let text = if insn.ops_text.is_empty() {
            insn.mnemonic.clone()
        } else {
            format!("{} {}", insn.mnemonic, insn.ops_text)
        };
        let mnemonic = PREFIXES.iter().fold(insn.mnemonic.as_str(), |m, p| {
            m.strip_prefix(p).unwrap_or(m)
        });
        let next_rip = rip + insn.len as u64;
        let accesses = accesses(mnemonic, &insn.ops_text, &insn.operands, regs, next_rip);
        Some(Decoded { text, accesses })
    }
}

/// One disassembled instruction, as the rules below need it.
struct Insn {
    /// The mnemonic with capstone's prefixes (`lock cmpxchg`).
    mnemonic: String,
    /// The operands as text.
    ops_text: String,
    /// Length in bytes.
    len: usize,
    /// Operand types and sizes, in Intel order.
    operands: Vec<(X86OperandType, u8)>,
}

impl Decoder {
    /// How to emulate the instruction at `rip` (a plain load or store
    /// between a general-purpose register or an immediate and memory), and
    /// the address it accesses; `None` for anything else.
    pub fn plan(
        &self,
        code: &[u8],
        rip: u64,
        regs: &libc::user_regs_struct,
    ) -> Option<(Plan, u64)> {
        let insn = self.disassemble(code, rip)?;
        let len = u8::try_from(insn.len).ok()?;
        let mnemonic = insn.mnemonic.as_str();
        let ops = insn.operands.as_slice();
        let next_rip = rip + u64::from(len);
        let (op, mem) = match (mnemonic, ops) {
            ("mov", [(X86OperandType::Reg(r), _), (X86OperandType::Mem(m), size)]) => {
                let dst = gp_register(*r)?;
                (
                    Op::Load {
                        dst,
                        size: *size,
                        extend: Extend::None,
                    },
                    m,
                )
            }
            (
                "movzx" | "movsx" | "movsxd",
                [(X86OperandType::Reg(r), _), (X86OperandType::Mem(m), size)],
            ) => {
                let extend = if mnemonic == "movzx" {
                    Extend::Zero
                } else {
                    Extend::Sign
                };
                (
                    Op::Load {
                        dst: gp_register(*r)?,
                        size: *size,
                        extend,
                    },
                    m,
                )
            }
            ("mov", [(X86OperandType::Mem(m), size), (X86OperandType::Reg(r), _)]) => (
                Op::StoreReg {
                    src: gp_register(*r)?,
                    size: *size,
                },
                m,
            ),
            ("mov", [(X86OperandType::Mem(m), size), (X86OperandType::Imm(i), _)]) => (
                Op::StoreImm {
                    value: *i as u64,
                    size: *size,
                },
                m,
            ),
            _ => return None,
        };
        if !matches!(op_size(&op), 1 | 2 | 4 | 8) {
            return None;
        }
        Some((Plan { op, len }, effective_address(mem, regs, next_rip)))
    }
}

fn op_size(op: &Op) -> u8 {
    match *op {
        Op::Load { size, .. } | Op::StoreReg { size, .. } | Op::StoreImm { size, .. } => size,
    }
}

/// A general-purpose register as an index into `user_regs_struct` (viewed
/// as 27 u64), its width, and whether it is a high byte register.
fn gp_register(reg: RegId) -> Option<Reg> {
    use X86Reg::*;
    // user_regs_struct order: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi ...
    const FAMILIES: [[u32; 4]; 16] = [
        [X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B],
        [X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B],
        [X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B],
        [X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B],
        [X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL],
        [X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL],
        [X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B],
        [X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B],
        [X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B],
        [X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B],
        [X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL],
        [X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL],
        [X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL],
        [X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL],
        [X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL],
        [0, 0, 0, 0],
    ];
    let id = u32::from(reg.0);
    let high = [
        (X86_REG_AH, 10),
        (X86_REG_CH, 11),
        (X86_REG_DH, 12),
        (X86_REG_BH, 5),
    ];
    if let Some(&(_, index)) = high.iter().find(|(r, _)| *r == id) {
        return Some(Reg {
            index,
            width: 1,
            high: true,
        });
    }
    if id == X86_REG_RSP || id == X86_REG_ESP || id == X86_REG_SP || id == X86_REG_SPL {
        let width = [8, 4, 2, 1][[X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL]
            .iter()
            .position(|&r| r == id)?];
        return Some(Reg {
            index: 19,
            width,
            high: false,
        });
    }
    FAMILIES
        .iter()
        .take(15)
        .enumerate()
        .find_map(|(index, family)| {
            family.iter().position(|&r| r == id).map(|w| Reg {
                index,
                width: [8, 4, 2, 1][w],
                high: false,
            })
        })
}

/// The accesses of one instruction: string instructions and stack
/// operations by rule, everything else from its memory operands.
fn accesses(
    mnemonic: &str,
    ops_text: &str,
    operands: &[(X86OperandType, u8)],
    regs: &libc::user_regs_struct,
    next_rip: u64,
) -> Vec<Access> {
    if let Some(v) = string_accesses(mnemonic, ops_text, regs) {
        return v;
    }
    if NO_ACCESS.contains(&mnemonic) {
        return Vec::new();
    }
    let mut out = stack_accesses(mnemonic, regs);
    let count = operands.len();
    for (i, (op, size)) in operands.iter().enumerate() {
        let X86OperandType::Mem(mem) = op else {
            continue;
        };
        let address = effective_address(mem, regs, next_rip);
        let kind = memory_operand_kind(mnemonic, i, count);
        let size = corrected_size(mnemonic, *size);
        out.push(Access {
            kind,
            address,
            size,
        });
    }
    out
}

/// READ or WRITE for the memory operand at position `index` of `count`: in
/// Intel syntax the first operand is the destination, written (or read and
/// written, which faults as a write) unless the mnemonic only compares or
/// reads it; any later operand is a source.
fn memory_operand_kind(mnemonic: &str, index: usize, count: usize) -> AccessKind {
    let reads_only = READ_ONLY.contains(&mnemonic)
        || mnemonic.starts_with("fld")
        || (mnemonic.starts_with('j') && count == 1)
        || mnemonic.starts_with("fcom")
        || mnemonic.starts_with("fucom")
        || mnemonic == "fxrstor"
        || mnemonic == "fxrstor64"
        || mnemonic.starts_with("xrstor")
        || mnemonic == "ldmxcsr"
        || mnemonic == "vldmxcsr";
    if index == 0 && !reads_only {
        AccessKind::Write
    } else {
        AccessKind::Read
    }
}

/// Sizes capstone gets wrong.
fn corrected_size(mnemonic: &str, size: u8) -> u32 {
    match mnemonic {
        "fxsave" | "fxsave64" | "fxrstor" | "fxrstor64" => 512,
        // Legacy area, header and the AVX state: the common case on this
        // hardware; the true size depends on XCR0.
        m if m.starts_with("xsave") || m.starts_with("xrstor") => 512 + 64 + 256,
        "cmpxchg16b" => 16,
        "cmpxchg8b" => 8,
        _ => u32::from(size),
    }
}

/// The implicit stack access of push, pop, call, ret and leave.
fn stack_accesses(mnemonic: &str, regs: &libc::user_regs_struct) -> Vec<Access> {
    let (kind, address) = match mnemonic {
        "push" | "call" | "pushfq" => (AccessKind::Write, regs.rsp.wrapping_sub(8)),
        "pop" | "ret" | "popfq" => (AccessKind::Read, regs.rsp),
        "leave" => (AccessKind::Read, regs.rbp),
        _ => return Vec::new(),
    };
    vec![Access {
        kind,
        address,
        size: 8,
    }]
}

/// movs/stos/lods/cmps/scas, with or without rep: the element at the
/// current rsi/rdi (the registers advance per element, so after a fault they
/// point at the element that faulted).
fn string_accesses(
    mnemonic: &str,
    ops_text: &str,
    regs: &libc::user_regs_struct,
) -> Option<Vec<Access>> {
    let (base, suffix) = mnemonic.split_at(mnemonic.len().checked_sub(1)?);
    if !matches!(base, "movs" | "stos" | "lods" | "cmps" | "scas") {
        return None;
    }
    // `movsd xmm0, [rsi]` and `cmpsd xmm0, xmm1, 0` are SSE, not string ops.
    if ops_text.contains("xmm") {
        return None;
    }
    let size = match suffix {
        "b" => 1,
        "w" => 2,
        "d" => 4,
        "q" => 8,
        _ => return None,
    };
    let src = Access {
        kind: AccessKind::Read,
        address: regs.rsi,
        size,
    };
    let dst = |kind| Access {
        kind,
        address: regs.rdi,
        size,
    };
    Some(match base {
        "movs" => vec![src, dst(AccessKind::Write)],
        "stos" => vec![dst(AccessKind::Write)],
        "lods" => vec![src],
        "cmps" => vec![src, dst(AccessKind::Read)],
        _ => vec![dst(AccessKind::Read)], // scas
    })
}

/// segment base + base + index * scale + disp; rip-relative from the next
/// instruction.
fn effective_address(mem: &X86OpMem, regs: &libc::user_regs_struct, next_rip: u64) -> u64 {
    let segment = match u32::from(mem.segment().0) {
        X86Reg::X86_REG_FS => regs.fs_base,
        X86Reg::X86_REG_GS => regs.gs_base,
        _ => 0,
    };
    let base = register(mem.base(), regs, next_rip);
    let index = register(mem.index(), regs, next_rip).wrapping_mul(mem.scale() as u64);
    segment
        .wrapping_add(base)
        .wrapping_add(index)
        .wrapping_add(mem.disp() as u64)
}

/// The value of a register usable in an address (64- or 32-bit).
fn register(reg: RegId, r: &libc::user_regs_struct, next_rip: u64) -> u64 {
    use X86Reg::*;
    let low32 = |v: u64| v & 0xffff_ffff;
    match u32::from(reg.0) {
        X86_REG_RAX => r.rax,
        X86_REG_RBX => r.rbx,
        X86_REG_RCX => r.rcx,
        X86_REG_RDX => r.rdx,
        X86_REG_RSI => r.rsi,
        X86_REG_RDI => r.rdi,
        X86_REG_RBP => r.rbp,
        X86_REG_RSP => r.rsp,
        X86_REG_R8 => r.r8,
        X86_REG_R9 => r.r9,
        X86_REG_R10 => r.r10,
        X86_REG_R11 => r.r11,
        X86_REG_R12 => r.r12,
        X86_REG_R13 => r.r13,
        X86_REG_R14 => r.r14,
        X86_REG_R15 => r.r15,
        X86_REG_RIP => next_rip,
        X86_REG_EAX => low32(r.rax),
        X86_REG_EBX => low32(r.rbx),
        X86_REG_ECX => low32(r.rcx),
        X86_REG_EDX => low32(r.rdx),
        X86_REG_ESI => low32(r.rsi),
        X86_REG_EDI => low32(r.rdi),
        X86_REG_EBP => low32(r.rbp),
        X86_REG_ESP => low32(r.rsp),
        X86_REG_R8D => low32(r.r8),
        X86_REG_R9D => low32(r.r9),
        X86_REG_R10D => low32(r.r10),
        X86_REG_R11D => low32(r.r11),
        X86_REG_R12D => low32(r.r12),
        X86_REG_R13D => low32(r.r13),
        X86_REG_R14D => low32(r.r14),
        X86_REG_R15D => low32(r.r15),
        X86_REG_EIP => low32(next_rip),
        _ => 0,
    }
}

/// Of an instruction's accesses, the one that faulted: the one whose bytes
/// contain `si_addr`, else one touching `si_addr`'s page (si_addr is the page
/// start when an access straddles into a guard page), else the first write,
/// else the first.
pub fn faulting_access(accesses: &[Access], si_addr: u64) -> Option<&Access> {
    let page = |a: u64| a & !0xfff;
    let contains =
        |a: &&Access| si_addr >= a.address && si_addr - a.address < u64::from(a.size.max(1));
    let touches = |a: &&Access| {
        let last = a.address.saturating_add(u64::from(a.size.max(1)) - 1);
        page(a.address) <= page(si_addr) && page(si_addr) <= page(last)
    };
    accesses
        .iter()
        .find(contains)
        .or_else(|| accesses.iter().find(touches))
        .or_else(|| accesses.iter().find(|a| a.kind == AccessKind::Write))
        .or_else(|| accesses.first())
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessKind::{Read as R, Write as W};

    const RIP: u64 = 0x40_0000;

    fn regs() -> libc::user_regs_struct {
        // SAFETY: plain integers; all-zero is valid.
        let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        r.rax = 0x1000;
        r.rbx = 0xffff_ffff_0000_2000;
        r.rcx = 3;
        r.rsi = 0x3000;
        r.rdi = 0x4000;
        r.rsp = 0x7000;
        r.rbp = 0x7100;
        r.fs_base = 0x9000;
        r
    }

    fn acc(kind: AccessKind, address: u64, size: u32) -> Access {
        Access {
            kind,
            address,
            size,
        }
    }

    /// (bytes, mnemonic prefix of the text, expected accesses).
    #[rustfmt::skip]
    fn table() -> Vec<(&'static [u8], &'static str, Vec<Access>)> {
        vec![
            (&[0xc6, 0x07, 0x01], "mov byte ptr [rdi]", vec![acc(W, 0x4000, 1)]),
            (&[0x66, 0x89, 0x07], "mov word ptr [rdi]", vec![acc(W, 0x4000, 2)]),
            (&[0xc7, 0x00, 0x2a, 0, 0, 0], "mov dword ptr [rax], 0x2a", vec![acc(W, 0x1000, 4)]),
            (&[0x48, 0x89, 0x47, 0x08], "mov qword ptr [rdi + 8]", vec![acc(W, 0x4008, 8)]),
            (&[0x8a, 0x06], "mov al, byte ptr [rsi]", vec![acc(R, 0x3000, 1)]),
            (&[0x8b, 0x44, 0x8e, 0x10], "mov eax, dword ptr [rsi + rcx*4 + 0x10]", vec![acc(R, 0x3000 + 12 + 0x10, 4)]),
            (&[0x48, 0x8b, 0x00], "mov rax, qword ptr [rax]", vec![acc(R, 0x1000, 8)]),
            (&[0x0f, 0xb6, 0x07], "movzx eax, byte ptr [rdi]", vec![acc(R, 0x4000, 1)]),
            (&[0x0f, 0xb7, 0x47, 0x02], "movzx eax, word ptr [rdi + 2]", vec![acc(R, 0x4002, 2)]),
            (&[0x48, 0x0f, 0xbe, 0x07], "movsx rax, byte ptr [rdi]", vec![acc(R, 0x4000, 1)]),
            (&[0x48, 0x63, 0x07], "movsxd rax, dword ptr [rdi]", vec![acc(R, 0x4000, 4)]),
            (&[0x48, 0x8b, 0x05, 0x00, 0x01, 0, 0], "mov rax, qword ptr [rip + 0x100]", vec![acc(R, RIP + 7 + 0x100, 8)]),
            (&[0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0], "mov rax, qword ptr fs:[0x28]", vec![acc(R, 0x9028, 8)]),
            (&[0x0f, 0x11, 0x07], "movups xmmword ptr [rdi], xmm0", vec![acc(W, 0x4000, 16)]),
            (&[0x0f, 0x10, 0x0e], "movups xmm1, xmmword ptr [rsi]", vec![acc(R, 0x3000, 16)]),
            (&[0x0f, 0x29, 0x17], "movaps xmmword ptr [rdi], xmm2", vec![acc(W, 0x4000, 16)]),
            (&[0xf3, 0x0f, 0x7f, 0x1f], "movdqu xmmword ptr [rdi], xmm3", vec![acc(W, 0x4000, 16)]),
            (&[0xc5, 0xfc, 0x11, 0x07], "vmovups ymmword ptr [rdi], ymm0", vec![acc(W, 0x4000, 32)]),
            (&[0xc5, 0xfe, 0x6f, 0x0e], "vmovdqu ymm1, ymmword ptr [rsi]", vec![acc(R, 0x3000, 32)]),
            (&[0xf3, 0x0f, 0x11, 0x07], "movss dword ptr [rdi], xmm0", vec![acc(W, 0x4000, 4)]),
            (&[0xf2, 0x0f, 0x10, 0x06], "movsd xmm0, qword ptr [rsi]", vec![acc(R, 0x3000, 8)]),
            (&[0xf3, 0xa4], "rep movsb", vec![acc(R, 0x3000, 1), acc(W, 0x4000, 1)]),
            (&[0xf3, 0x48, 0xab], "rep stosq", vec![acc(W, 0x4000, 8)]),
            (&[0xa4], "movsb", vec![acc(R, 0x3000, 1), acc(W, 0x4000, 1)]),
            (&[0xa6], "cmpsb", vec![acc(R, 0x3000, 1), acc(R, 0x4000, 1)]),
            (&[0xac], "lodsb", vec![acc(R, 0x3000, 1)]),
            (&[0xae], "scasb", vec![acc(R, 0x4000, 1)]),
            (&[0xf0, 0x0f, 0xb1, 0x0f], "lock cmpxchg dword ptr [rdi], ecx", vec![acc(W, 0x4000, 4)]),
            (&[0xf0, 0x48, 0x0f, 0xc7, 0x0f], "lock cmpxchg16b", vec![acc(W, 0x4000, 16)]),
            (&[0x87, 0x07], "xchg dword ptr [rdi], eax", vec![acc(W, 0x4000, 4)]),
            (&[0xf0, 0x48, 0x0f, 0xc1, 0x07], "lock xadd qword ptr [rdi], rax", vec![acc(W, 0x4000, 8)]),
            (&[0xff, 0x30], "push qword ptr [rax]", vec![acc(W, 0x7000 - 8, 8), acc(R, 0x1000, 8)]),
            (&[0x8f, 0x00], "pop qword ptr [rax]", vec![acc(R, 0x7000, 8), acc(W, 0x1000, 8)]),
            (&[0xff, 0x10], "call qword ptr [rax]", vec![acc(W, 0x7000 - 8, 8), acc(R, 0x1000, 8)]),
            (&[0x50], "push rax", vec![acc(W, 0x7000 - 8, 8)]),
            (&[0xc3], "ret", vec![acc(R, 0x7000, 8)]),
            (&[0x0f, 0xae, 0x00], "fxsave", vec![acc(W, 0x1000, 512)]),
            (&[0x01, 0x07], "add dword ptr [rdi], eax", vec![acc(W, 0x4000, 4)]),
            (&[0xfe, 0x07], "inc byte ptr [rdi]", vec![acc(W, 0x4000, 1)]),
            (&[0x48, 0x83, 0x3f, 0x00], "cmp qword ptr [rdi], 0", vec![acc(R, 0x4000, 8)]),
            (&[0xf6, 0x07, 0x01], "test byte ptr [rdi], 1", vec![acc(R, 0x4000, 1)]),
            (&[0x48, 0x8d, 0x47, 0x08], "lea rax, [rdi + 8]", vec![]),
            (&[0x0f, 0x1f, 0x00], "nop dword ptr [rax]", vec![]),
            (&[0x67, 0x8b, 0x03], "mov eax, dword ptr [ebx]", vec![acc(R, 0x2000, 4)]),
        ]
    }

    #[test]
    fn decodes_the_access_table() {
        let d = Decoder::new().unwrap();
        let r = regs();
        let table = table();
        assert!(table.len() >= 25);
        for (bytes, text, expected) in table {
            let got = d
                .decode(bytes, RIP, &r)
                .unwrap_or_else(|| panic!("cannot decode {text}"));
            assert!(got.text.starts_with(text), "text {:?} for {text}", got.text);
            assert_eq!(got.accesses, expected, "accesses of {text}");
        }
    }

    #[test]
    fn plans_plain_loads_and_stores_only() {
        let d = Decoder::new().unwrap();
        let r = regs();
        let plan = |bytes: &[u8]| d.plan(bytes, RIP, &r);
        // mov al, byte ptr [rsi]
        let (p, addr) = plan(&[0x8a, 0x06]).unwrap();
        assert_eq!(addr, 0x3000);
        assert_eq!(
            p,
            Plan {
                op: Op::Load {
                    dst: Reg {
                        index: 10,
                        width: 1,
                        high: false
                    },
                    size: 1,
                    extend: Extend::None
                },
                len: 2
            }
        );
        // movsx rax, byte ptr [rdi]
        let (p, _) = plan(&[0x48, 0x0f, 0xbe, 0x07]).unwrap();
        assert_eq!(
            p.op,
            Op::Load {
                dst: Reg {
                    index: 10,
                    width: 8,
                    high: false
                },
                size: 1,
                extend: Extend::Sign
            }
        );
        // mov qword ptr [rdi + 8], rax
        let (p, addr) = plan(&[0x48, 0x89, 0x47, 0x08]).unwrap();
        assert_eq!(
            (p.op, addr),
            (
                Op::StoreReg {
                    src: Reg {
                        index: 10,
                        width: 8,
                        high: false
                    },
                    size: 8
                },
                0x4008
            )
        );
        // mov dword ptr [rax], 0x2a
        let (p, _) = plan(&[0xc7, 0x00, 0x2a, 0, 0, 0]).unwrap();
        assert_eq!(
            p,
            Plan {
                op: Op::StoreImm {
                    value: 0x2a,
                    size: 4
                },
                len: 6
            }
        );
        // Not emulated: vector stores, read-modify-write, string instructions.
        assert!(plan(&[0x0f, 0x11, 0x07]).is_none());
        assert!(plan(&[0x01, 0x07]).is_none());
        assert!(plan(&[0xf3, 0xa4]).is_none());
    }

    #[test]
    fn garbage_does_not_decode() {
        let d = Decoder::new().unwrap();
        // `push es` does not exist in 64-bit mode.
        assert!(d.decode(&[0x06], RIP, &regs()).is_none());
        assert!(d.decode(&[], RIP, &regs()).is_none());
        assert!(d.decode(&[0x48], RIP, &regs()).is_none());
    }

    #[test]
    fn the_faulting_access_is_found_from_si_addr() {
        // A 4-byte read at 0x1ffe straddles into the page at 0x2000: si_addr
        // is the page start, the access is what faulted.
        let straddle = [acc(R, 0x1ffe, 4)];
        assert_eq!(faulting_access(&straddle, 0x2000), Some(&straddle[0]));
        // movsb whose destination faulted.
        let movsb = [acc(R, 0x3000, 1), acc(W, 0x8000, 1)];
        assert_eq!(faulting_access(&movsb, 0x8000), Some(&movsb[1]));
        // A general-protection fault reports si_addr 0: prefer the write.
        let push = [acc(R, 0x1000, 8), acc(W, 0x6ff8, 8)];
        assert_eq!(faulting_access(&push, 0), Some(&push[1]));
        assert_eq!(faulting_access(&[], 0), None);
    }
}
