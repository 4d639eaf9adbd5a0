//! The unaligned twin of an aligned vector move, of the same length.
//!
//! Byte-exact placement gives an allocation the natural alignment of its
//! size (at most 16), so a table whose size is not a multiple of 16 but
//! which is read with aligned SSE loads (hashbrown's control bytes) can sit
//! at an address the program did not expect. On x86-64 only the aligned
//! vector moves and legacy SSE instructions with a memory operand fault on
//! that (SIGSEGV, `SI_KERNEL`). For the moves, the supervisor rewrites the
//! instruction in the process's private copy of the code to its unaligned
//! form, which has the same length and the same effect on aligned data:
//!
//! | aligned                        | unaligned            | change            |
//! |--------------------------------|----------------------|-------------------|
//! | `movdqa` (66 0f 6f/7f)         | `movdqu` (f3 0f ..)  | prefix 66 -> f3   |
//! | `movaps` (0f 28/29)            | `movups` (0f 10/11)  | opcode            |
//! | `movapd` (66 0f 28/29)         | `movupd` (66 0f ..)  | opcode            |
//! | `movntdq` (66 0f e7)           | `movdqu` store       | prefix and opcode |
//! | `movntps`/`movntpd` (0f 2b)    | `movups`/`movupd`    | opcode            |
//!
//! and the same for their VEX (`c5`, `c4`) and EVEX (`62`) forms, where the
//! prefix is the `pp` field (`01` = 66, `10` = f3) of the VEX or EVEX
//! payload. The non-temporal stores lose only their cache hint. Anything
//! else (a legacy SSE arithmetic instruction with a memory operand) has no
//! twin of the same length; the supervisor performs those instead
//! ([`crate::linux::fault::step`]).

/// One byte to change: at this offset in the instruction, this value.
pub type Patch = (usize, u8);

/// Legacy prefixes that may precede the opcode (besides REX).
fn is_legacy_prefix(b: u8) -> bool {
    matches!(
        b,
        0x66 | 0xf2 | 0xf3 | 0xf0 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65 | 0x67
    )
}

/// The opcode (in the 0f map) of the unaligned twin of aligned move
/// `opcode` under mandatory prefix `prefix` (0, 0x66), and the prefix it
/// needs; `None` if `opcode` is not an aligned move.
fn twin(opcode: u8, prefix: u8) -> Option<(u8, u8)> {
    match (prefix, opcode) {
        // movdqa -> movdqu, movntdq -> movdqu store.
        (0x66, 0x6f | 0x7f) => Some((opcode, 0xf3)),
        (0x66, 0xe7) => Some((0x7f, 0xf3)),
        // movaps/movapd -> movups/movupd, their non-temporal stores too.
        (0x00 | 0x66, 0x28) => Some((0x10, prefix)),
        (0x00 | 0x66, 0x29 | 0x2b) => Some((0x11, prefix)),
        _ => None,
    }
}

/// The `pp` field's value for a mandatory prefix.
fn pp_of(prefix: u8) -> u8 {
    match prefix {
        0x66 => 1,
        0xf3 => 2,
        0xf2 => 3,
        _ => 0,
    }
}

/// The mandatory prefix a `pp` field stands for.
fn prefix_of(pp: u8) -> u8 {
    [0x00, 0x66, 0xf3, 0xf2][usize::from(pp & 3)]
}

/// The bytes to change to turn the aligned vector move at the start of
/// `code` into its unaligned twin of the same length; `None` if it is not
/// one (or is cut short).
pub fn unaligned_form(code: &[u8]) -> Option<Vec<Patch>> {
    let mut i = 0;
    let mut mandatory: Option<usize> = None;
    while i < code.len() && is_legacy_prefix(code[i]) {
        if matches!(code[i], 0x66 | 0xf2 | 0xf3) {
            mandatory = Some(i);
        }
        i += 1;
    }
    if i < code.len() && (0x40..=0x4f).contains(&code[i]) {
        i += 1; // REX
    }
    match *code.get(i)? {
        0x0f => {
            let opcode_at = i + 1;
            let opcode = *code.get(opcode_at)?;
            let prefix = mandatory.map_or(0, |m| code[m]);
            let (new_opcode, new_prefix) = twin(opcode, prefix)?;
            let mut patches = Vec::new();
            if new_prefix != prefix {
                // 66 -> f3: the prefix byte is there to change.
                patches.push((mandatory?, new_prefix));
            }
            if new_opcode != opcode {
                patches.push((opcode_at, new_opcode));
            }
            Some(patches)
        }
        // Two-byte VEX: c5 [R vvvv L pp] opcode; the map is 0f.
        0xc5 => vex(code, i + 1, i + 2),
        // Three-byte VEX: c4 [RXB mmmmm] [W vvvv L pp] opcode.
        0xc4 => {
            if code.get(i + 1)? & 0x1f != 1 {
                return None; // not the 0f map
            }
            vex(code, i + 2, i + 3)
        }
        // EVEX: 62 [RXBR' 0 mmm] [W vvvv 1 pp] [z L'L b V' aaa] opcode.
        0x62 => {
            if code.get(i + 1)? & 0x07 != 1 {
                return None;
            }
            vex(code, i + 2, i + 4)
        }
        _ => None,
    }
}

/// The patches for a VEX or EVEX instruction whose `pp` field is in the
/// low bits of `code[pp_at]` and whose opcode is `code[opcode_at]`.
fn vex(code: &[u8], pp_at: usize, opcode_at: usize) -> Option<Vec<Patch>> {
    let payload = *code.get(pp_at)?;
    let opcode = *code.get(opcode_at)?;
    let prefix = prefix_of(payload);
    let (new_opcode, new_prefix) = twin(opcode, prefix)?;
    let mut patches = Vec::new();
    if new_prefix != prefix {
        patches.push((pp_at, (payload & !3) | pp_of(new_prefix)));
    }
    if new_opcode != opcode {
        patches.push((opcode_at, new_opcode));
    }
    Some(patches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstone::arch::x86::ArchMode;
    use capstone::arch::{BuildsCapstone, BuildsCapstoneSyntax};
    use capstone::Capstone;

    fn text(code: &[u8]) -> String {
        let cs = Capstone::new()
            .x86()
            .mode(ArchMode::Mode64)
            .syntax(capstone::arch::x86::ArchSyntax::Intel)
            .build()
            .unwrap();
        let insns = cs.disasm_count(code, 0, 1).unwrap();
        let i = insns.iter().next().unwrap();
        assert_eq!(i.len(), code.len(), "one whole instruction");
        format!("{} {}", i.mnemonic().unwrap(), i.op_str().unwrap())
    }

    fn patched(code: &[u8]) -> Vec<u8> {
        let mut out = code.to_vec();
        for (at, value) in unaligned_form(code).expect("an aligned move") {
            out[at] = value;
        }
        out
    }

    /// Encodings assembled with GNU as (`.intel_syntax noprefix`), and what
    /// capstone reads after the rewrite: the unaligned move with the same
    /// operands and the same length.
    #[test]
    fn aligned_moves_become_their_unaligned_twins() {
        let table: &[(&[u8], &str, &str)] = &[
            (
                &[0x66, 0x0f, 0x6f, 0x07],
                "movdqa xmm0, xmmword ptr [rdi]",
                "movdqu xmm0, xmmword ptr [rdi]",
            ),
            (
                &[0x66, 0x41, 0x0f, 0x7f, 0x4c, 0x24, 0x10],
                "movdqa xmmword ptr [r12 + 0x10], xmm1",
                "movdqu xmmword ptr [r12 + 0x10], xmm1",
            ),
            (
                &[0x0f, 0x28, 0x06],
                "movaps xmm0, xmmword ptr [rsi]",
                "movups xmm0, xmmword ptr [rsi]",
            ),
            (
                &[0x0f, 0x29, 0x0f],
                "movaps xmmword ptr [rdi], xmm1",
                "movups xmmword ptr [rdi], xmm1",
            ),
            (
                &[0x66, 0x0f, 0x28, 0x10],
                "movapd xmm2, xmmword ptr [rax]",
                "movupd xmm2, xmmword ptr [rax]",
            ),
            (
                &[0x66, 0x0f, 0xe7, 0x07],
                "movntdq xmmword ptr [rdi], xmm0",
                "movdqu xmmword ptr [rdi], xmm0",
            ),
            (
                &[0x0f, 0x2b, 0x07],
                "movntps xmmword ptr [rdi], xmm0",
                "movups xmmword ptr [rdi], xmm0",
            ),
            (
                &[0xc5, 0xfd, 0x6f, 0x07],
                "vmovdqa ymm0, ymmword ptr [rdi]",
                "vmovdqu ymm0, ymmword ptr [rdi]",
            ),
            (
                &[0xc5, 0xf9, 0x7f, 0x0e],
                "vmovdqa xmmword ptr [rsi], xmm1",
                "vmovdqu xmmword ptr [rsi], xmm1",
            ),
            (
                &[0xc4, 0xc1, 0x7c, 0x28, 0x00],
                "vmovaps ymm0, ymmword ptr [r8]",
                "vmovups ymm0, ymmword ptr [r8]",
            ),
            (
                &[0xc5, 0xfd, 0x29, 0x07],
                "vmovapd ymmword ptr [rdi], ymm0",
                "vmovupd ymmword ptr [rdi], ymm0",
            ),
            (
                &[0x62, 0xf1, 0xfd, 0x48, 0x6f, 0x07],
                "vmovdqa64 zmm0, zmmword ptr [rdi]",
                "vmovdqu64 zmm0, zmmword ptr [rdi]",
            ),
            (
                &[0x62, 0xf1, 0x7c, 0x48, 0x29, 0x07],
                "vmovaps zmmword ptr [rdi], zmm0",
                "vmovups zmmword ptr [rdi], zmm0",
            ),
        ];
        for (code, before, after) in table {
            assert_eq!(text(code), *before);
            assert_eq!(text(&patched(code)), *after, "{before}");
        }
    }

    #[test]
    fn other_instructions_have_no_twin() {
        let table: &[&[u8]] = &[
            &[0xf3, 0x0f, 0x6f, 0x07],       // movdqu: already unaligned
            &[0x66, 0x0f, 0x74, 0x07],       // pcmpeqb xmm0, [rdi]: no twin
            &[0x0f, 0x10, 0x06],             // movups
            &[0x48, 0x8b, 0x07],             // mov rax, [rdi]
            &[0xc5, 0xfe, 0x6f, 0x07],       // vmovdqu ymm0, [rdi]
            &[0xc4, 0xe2, 0x7d, 0x2a, 0x07], // vmovntdqa ymm0, [rdi] (0f38 map)
            &[0x66, 0x0f],                   // cut short
        ];
        for code in table {
            assert_eq!(unaligned_form(code), None, "{code:02x?}");
        }
    }
}
