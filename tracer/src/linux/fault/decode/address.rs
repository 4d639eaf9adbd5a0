//! Registers and effective addresses: capstone register ids to
//! `user_regs_struct` values (64-, 32-, 16- and 8-bit names, rip/eip), and
//! segment base + base + index * scale + disp of an explicit memory
//! operand, truncated to the address size. Which operand is accessed, and
//! how, is decided elsewhere.

use crate::linux::fault::registers::{self, Reg, Regs};
use capstone::arch::x86::{X86OpMem, X86Reg};
use capstone::RegId;

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
pub(super) fn gp_register(reg: RegId) -> Option<Reg> {
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
pub(super) fn truncate_to_address_size(offset: u64, addr_size: u8) -> u64 {
    offset & registers::mask(addr_size)
}

/// Segment base + base + index * scale + disp, the offset wrapped to the
/// address size; rip-relative operands count from `next_rip`. `None` if a
/// register is not a general-purpose one (a vector index).
pub(super) fn effective_address(
    mem: &X86OpMem,
    regs: &Regs,
    next_rip: u64,
    addr_size: u8,
) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::register_value;
    use crate::linux::fault::decode::tests::{regs, RIP, RSP};
    use capstone::arch::x86::X86Reg;
    use capstone::RegId;

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
}
