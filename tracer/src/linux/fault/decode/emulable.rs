//! The plain loads and stores `Decoder::plan` can emulate: `mov`,
//! `movzx`, `movsx` and `movsxd` between a general-purpose register or an
//! immediate and memory (the `movs`/`stos` it emulates are in
//! `strings.rs`). How they are emulated is `emulate`'s business.

use super::address::gp_register;
use super::insn::Insn;
use crate::linux::fault::emulate::{Extend, Op};
use capstone::arch::x86::{X86OpMem, X86OperandType};

/// The emulable operation of a plain `mov`/`movzx`/`movsx`/`movsxd` between
/// a general-purpose register or an immediate and memory, with its memory
/// operand.
pub(super) fn emulable_op(insn: &Insn) -> Option<(Op, &X86OpMem)> {
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

#[cfg(test)]
mod tests {
    use crate::linux::fault::decode::tests::{regs, DST, FS_BASE, RAX, RIP, SRC};
    use crate::linux::fault::decode::Decoder;
    use crate::linux::fault::emulate::{Extend, Op, Plan};
    use crate::linux::fault::registers::Reg;

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
}
