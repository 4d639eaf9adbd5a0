//! One disassembled instruction as the rules of the other files need it:
//! capstone's output reduced to text, mnemonic without prefixes, length,
//! explicit operands, legacy prefixes, opcode bytes and address size
//! ([`Insn`], built by `Decoder::disassemble`). What the instruction does to
//! memory is not worked out here.

use super::Decoder;
use crate::linux::fault::registers::Regs;
use capstone::arch::x86::X86Operand;
use capstone::arch::ArchOperand;

/// The lock prefix, as capstone reports it in `prefix()[0]`.
const PREFIX_LOCK: u8 = 0xf0;
/// The fs segment-override prefix, as reported in `prefix()[1]`.
const PREFIX_FS: u8 = 0x64;
/// The gs segment-override prefix, as reported in `prefix()[1]`.
const PREFIX_GS: u8 = 0x65;
/// The operand-size prefix, as reported in `prefix()[2]`.
const PREFIX_OPSIZE: u8 = 0x66;

/// One disassembled instruction, as the rules in the other files need it.
pub(super) struct Insn {
    /// The instruction as text, with capstone's prefixes (`rep movsb ...`).
    pub(super) text: String,
    /// The mnemonic without prefixes (`lock cmpxchg` gives `cmpxchg`).
    pub(super) mnemonic: String,
    /// Length in bytes.
    pub(super) len: usize,
    /// The explicit operands, in Intel order (destination first).
    pub(super) operands: Vec<X86Operand>,
    /// Legacy prefixes: lock/rep, segment, operand size, address size.
    pub(super) prefix: [u8; 4],
    /// Opcode bytes (the first is the primary opcode of one-byte opcodes).
    pub(super) opcode: [u8; 4],
    /// Address size in bytes: 8, or 4 under a 0x67 prefix.
    pub(super) addr_size: u8,
}

impl Insn {
    /// Whether the instruction carries a lock prefix.
    pub(super) fn locked(&self) -> bool {
        self.prefix[0] == PREFIX_LOCK
    }

    /// Whether the operand-size prefix makes a push or pop 16-bit.
    pub(super) fn opsize_16(&self) -> bool {
        self.prefix[2] == PREFIX_OPSIZE
    }

    /// The base of the segment named by an fs:/gs: override prefix, else 0
    /// (cs, ds, es and ss have base 0 in 64-bit mode).
    pub(super) fn segment_override_base(&self, regs: &Regs) -> u64 {
        match self.prefix[1] {
            PREFIX_FS => regs.fs_base,
            PREFIX_GS => regs.gs_base,
            _ => 0,
        }
    }
}

impl Decoder {
    /// Disassembles the instruction at the start of `code` (read at `rip`):
    /// `None` if undecodable or cut short.
    pub(super) fn disassemble(&self, code: &[u8], rip: u64) -> Option<Insn> {
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
