//! The decoder's table of real encodings (assembled with GNU `as`), the
//! register values they are decoded with (shared with the other files'
//! tests), and the tests of the whole decoder: accesses, text and length,
//! undecodable and random bytes, relocatable instructions.

use super::operands::XSAVE_AREA_APPROX;
use super::{faulting_access, Decoder};
use crate::linux::fault::registers::{self, Regs};
use crate::{Access, AccessKind};
use AccessKind::{Read as R, Write as W};

/// Where the table's instructions sit; high bits set so that eip-relative
/// addressing visibly truncates.
pub(super) const RIP: u64 = 0x5555_5555_0000;
pub(super) const RAX: u64 = 0x1020;
const RBX: u64 = 0xffff_ffff_0000_2000;
pub(super) const SRC: u64 = 0x7fff_0000_3000;
pub(super) const DST: u64 = 0x7fff_0000_4000;
pub(super) const RSP: u64 = 0x7000;
const RBP: u64 = 0x7100;
pub(super) const FS_BASE: u64 = 0x9000;
const GS_BASE: u64 = 0xa000;
const ABS: u64 = 0x1122_3344_5566_7788;
/// The direction flag in eflags.
pub(super) const DF: u64 = 1 << 10;

pub(super) fn regs() -> Regs {
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

pub(super) fn acc(kind: AccessKind, address: u64, size: u32) -> Access {
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
