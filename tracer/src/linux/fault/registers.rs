//! A stopped thread's general-purpose registers as the supervisor reads and
//! writes them: `user_regs_struct` viewed as its 27 `u64` slots, and the
//! 32-, 16- and 8-bit parts of each register with the CPU's rules for
//! writing them.

/// The registers of a stopped thread (`PTRACE_GETREGS`).
pub type Regs = libc::user_regs_struct;

/// Slot of r15 in [`Regs`] viewed as `[u64; 27]`.
pub const R15: usize = 0;
/// Slot of r14.
pub const R14: usize = 1;
/// Slot of r13.
pub const R13: usize = 2;
/// Slot of r12.
pub const R12: usize = 3;
/// Slot of rbp.
pub const RBP: usize = 4;
/// Slot of rbx.
pub const RBX: usize = 5;
/// Slot of r11.
pub const R11: usize = 6;
/// Slot of r10.
pub const R10: usize = 7;
/// Slot of r9.
pub const R9: usize = 8;
/// Slot of r8.
pub const R8: usize = 9;
/// Slot of rax.
pub const RAX: usize = 10;
/// Slot of rcx.
pub const RCX: usize = 11;
/// Slot of rdx.
pub const RDX: usize = 12;
/// Slot of rsi.
pub const RSI: usize = 13;
/// Slot of rdi.
pub const RDI: usize = 14;
/// Slot of rsp.
pub const RSP: usize = 19;

/// A general-purpose register, or a part of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg {
    /// Slot of the 64-bit register in [`Regs`] viewed as `[u64; 27]`.
    pub index: usize,
    /// Width in bytes: 8, 4, 2 or 1.
    pub width: u8,
    /// The high byte (`ah`, `bh`, `ch`, `dh`).
    pub high: bool,
}

/// All registers zero (a buffer for `PTRACE_GETREGS`, or a start for tests).
pub fn zeroed() -> Regs {
    // SAFETY: user_regs_struct is plain integers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// The registers as an array of their 27 slots.
pub fn words(regs: &Regs) -> &[u64; 27] {
    const _: () = assert!(std::mem::size_of::<Regs>() == 27 * 8);
    // SAFETY: user_regs_struct is repr(C) with exactly 27 u64 fields (the
    // assertion above checks the size), so it has the layout of [u64; 27].
    unsafe { &*(regs as *const Regs).cast::<[u64; 27]>() }
}

/// The registers as a mutable array of their 27 slots.
pub fn words_mut(regs: &mut Regs) -> &mut [u64; 27] {
    // SAFETY: as in `words`: the same layout, borrowed mutably.
    unsafe { &mut *(regs as *mut Regs).cast::<[u64; 27]>() }
}

/// All-ones in the low `width` bytes.
pub fn mask(width: u8) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (width * 8)) - 1
    }
}

/// The value of `r`, zero-extended.
pub fn read(regs: &Regs, r: Reg) -> u64 {
    let v = words(regs)[r.index];
    if r.high {
        (v >> 8) & 0xff
    } else {
        v & mask(r.width)
    }
}

/// Writes `r` as the CPU does: 32-bit writes zero the upper half, 16- and
/// 8-bit writes leave the other bits alone.
pub fn write(regs: &mut Regs, r: Reg, value: u64) {
    let w = &mut words_mut(regs)[r.index];
    *w = match (r.width, r.high) {
        (_, true) => (*w & !0xff00) | ((value & 0xff) << 8),
        (8, _) => value,
        (4, _) => value & 0xffff_ffff,
        (width, _) => (*w & !mask(width)) | (value & mask(width)),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_name_the_fields() {
        let mut r = zeroed();
        r.rax = 1;
        r.rsp = 2;
        r.r15 = 3;
        r.rdi = 4;
        assert_eq!(
            (
                words(&r)[RAX],
                words(&r)[RSP],
                words(&r)[R15],
                words(&r)[RDI]
            ),
            (1, 2, 3, 4)
        );
    }

    #[test]
    fn register_writes_follow_the_cpu() {
        let mut r = zeroed();
        let part = |width, high| Reg {
            index: RAX,
            width,
            high,
        };
        r.rax = u64::MAX;
        write(&mut r, part(4, false), 0x1234);
        assert_eq!(r.rax, 0x1234, "32-bit writes zero the upper half");
        r.rax = u64::MAX;
        write(&mut r, part(1, false), 0x12);
        assert_eq!(r.rax, 0xffff_ffff_ffff_ff12);
        write(&mut r, part(1, true), 0x34);
        assert_eq!(r.rax, 0xffff_ffff_ffff_3412);
        assert_eq!(read(&r, part(1, true)), 0x34);
        assert_eq!(read(&r, part(2, false)), 0x3412);
        assert_eq!(read(&r, part(8, false)), 0xffff_ffff_ffff_3412);
    }
}
