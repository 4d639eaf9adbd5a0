//! String instructions (movs/stos/lods/cmps/scas, with or without a rep
//! prefix): the current element they access at rsi/rdi, and the
//! `movs`/`stos` forms `Decoder::plan` emulates. Every other instruction is
//! left to the other files.

use super::address::truncate_to_address_size;
use super::insn::Insn;
use crate::linux::fault::emulate::Op;
use crate::linux::fault::registers::Regs;
use crate::{Access, AccessKind};

/// movs/stos/lods/cmps/scas (one-byte opcodes a4-a7, aa-af), with or
/// without a rep prefix: the element at the current rsi/rdi, its size from
/// the mnemonic's suffix. A rep instruction advances rsi/rdi (and counts
/// rcx down) per element, so at a fault they point at the element that
/// faulted. The direction flag (eflags bit 10) only changes which way they
/// advance: the element is `[rsi, rsi + size)` either way. The source may
/// take a segment override, the destination is always es (base 0); under a
/// 0x67 prefix the addresses are esi/edi.
pub(super) fn string_accesses(insn: &Insn, regs: &Regs) -> Option<Vec<Access>> {
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

/// `movs`/`stos` with or without a rep prefix, 64-bit addresses and no
/// segment override: what memcpy and memset use for long runs.
pub(super) fn string_op(insn: &Insn) -> Option<Op> {
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

#[cfg(test)]
mod tests {
    use crate::linux::fault::decode::tests::{acc, regs, DF, DST, RIP, SRC};
    use crate::linux::fault::decode::Decoder;
    use crate::AccessKind::{Read as R, Write as W};

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
}
