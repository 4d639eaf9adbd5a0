//! Implicit accesses capstone lists no (or no usable) operand for, other
//! than those of string instructions (see `strings.rs`): the stack slot of
//! push/pop/call/ret/leave/enter/iretq, the byte `xlat` reads and the 16
//! bytes `maskmovdqu` writes.

use super::address::truncate_to_address_size;
use super::insn::Insn;
use crate::linux::fault::registers::Regs;
use crate::{Access, AccessKind};

/// Bytes a push or pop moves: 8, or 2 under the operand-size prefix.
pub(super) fn stack_slot_size(insn: &Insn) -> u64 {
    if insn.opsize_16() {
        2
    } else {
        8
    }
}

/// The implicit stack access of push, pop, call, ret, leave, enter and
/// iretq, which capstone lists no operand for. Near call and ret are always
/// 8 bytes in 64-bit mode.
pub(super) fn stack_access(insn: &Insn, regs: &Regs) -> Option<Access> {
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

/// Implicit operands of other instructions capstone lists none for: `xlat`
/// reads the byte at rbx + al; `maskmovdqu` writes (selected bytes of) 16
/// bytes at rdi.
pub(super) fn other_implicit_accesses(insn: &Insn, regs: &Regs) -> Option<Vec<Access>> {
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
