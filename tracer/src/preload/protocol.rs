//! What the supervisor and the preloaded guard allocator agree on, mirroring
//! `preload/guard.h` (see `preload/README.md`): where the metadata table
//! is, its layout, the error records the allocator traps with, and the
//! environment variables that steer it. A unit test checks each against the
//! C header.

/// `GUARD_MAGIC`: the header is initialised.
pub const GUARD_MAGIC: u64 = 0x3164_7261_7567_63ff;
/// `GUARD_VERSION`.
pub const GUARD_VERSION: u32 = 1;
/// `GUARD_ERROR_MAGIC`: an error record.
pub const GUARD_ERROR_MAGIC: u64 = 0x726f_7272_6567_6666;
/// Where the header is in every process.
pub const GUARD_HEADER_ADDR: u64 = 0x6000_0000_0000;
/// Offset of the page index (u32 per arena page: slot + 1, or 0).
pub const GUARD_INDEX_OFFSET: u64 = 4096;
/// Size of the arena.
pub const GUARD_ARENA_SIZE: u64 = 64 << 30;
/// Offset of the slot array.
pub const GUARD_SLOTS_OFFSET: u64 = GUARD_INDEX_OFFSET + (GUARD_ARENA_SIZE / 4096) * 4;
/// Return addresses kept per allocation and per free.
pub const GUARD_FRAMES: usize = 8;

/// `struct guard_header`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Header {
    /// `GUARD_MAGIC` once initialised.
    pub magic: u64,
    /// `GUARD_VERSION`.
    pub version: u32,
    /// `size_of::<Slot>()`.
    pub slot_size: u32,
    /// First arena address.
    pub arena_start: u64,
    /// End of the arena.
    pub arena_end: u64,
    /// First never-used arena address.
    pub next: u64,
    /// The seed.
    pub seed: u64,
    /// Most live guarded allocations.
    pub budget: u64,
    /// Every allocation request.
    pub allocations: u64,
    /// Of which guarded.
    pub guarded: u64,
    /// Guarded and not yet freed.
    pub live: u64,
    /// Guarded frees.
    pub frees: u64,
    /// Slots used.
    pub slot_count: u64,
}

/// `enum guard_state`: live.
pub const SLOT_LIVE: u32 = 1;
/// `enum guard_state`: freed.
pub const SLOT_FREED: u32 = 2;

/// `struct guard_slot`: one guarded allocation.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// First page of the slot (guard included).
    pub start: u64,
    /// Pages, guard included.
    pub pages: u64,
    /// The pointer handed out.
    pub user: u64,
    /// Bytes requested.
    pub size: u64,
    /// Alignment used.
    pub align: u64,
    /// `SLOT_LIVE` or `SLOT_FREED`.
    pub state: u32,
    /// 1 if the guard page is before the data.
    pub underflow: u32,
    /// Thread that allocated it.
    pub alloc_tid: i32,
    /// Thread that freed it.
    pub free_tid: i32,
    /// Allocation call site, innermost first, 0-terminated.
    pub alloc_pcs: [u64; GUARD_FRAMES],
    /// Free call site.
    pub free_pcs: [u64; GUARD_FRAMES],
}

/// `enum guard_error_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// free of a freed pointer.
    DoubleFree,
    /// free of a pointer the allocator did not hand out.
    InvalidFree,
    /// realloc of a freed pointer.
    ReallocFreed,
    /// The bytes between the end of an allocation and its guard were changed.
    SlackCorrupted,
}

impl ErrorKind {
    /// From the record's `kind` field.
    pub fn from_raw(kind: u32) -> Option<ErrorKind> {
        Some(match kind {
            1 => ErrorKind::DoubleFree,
            2 => ErrorKind::InvalidFree,
            3 => ErrorKind::ReallocFreed,
            4 => ErrorKind::SlackCorrupted,
            _ => return None,
        })
    }
}

/// `struct guard_error`, on the stack of the thread that hit the error.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorRecord {
    /// `GUARD_ERROR_MAGIC`.
    pub magic: u64,
    /// `enum guard_error_kind`.
    pub kind: u32,
    /// Unused.
    pub reserved: u32,
    /// The pointer passed to free/realloc.
    pub ptr: u64,
    /// Its slot, or -1.
    pub slot: i64,
}

/// The environment variables the supervisor sets in every test process
/// to steer the guard allocator (`GUARD_ENV_*` in `guard.h`). Whatever the
/// user's environment holds under these names is replaced, never inherited.
pub mod env {
    /// The seed (decimal): placement decisions derive from it. Tests may
    /// read it too.
    pub const SEED: &str = "FFI_CHECK_SEED";
    /// `after` or `before` forces the side of every guard page; unset: seeded.
    pub const GUARD_SIDE: &str = "FFI_CHECK_GUARD_SIDE";
    /// Set: a supervisor handles the allocator's traps (otherwise it prints
    /// the error and aborts).
    pub const SUPERVISED: &str = "FFI_CHECK_SUPERVISED";
    /// `1`: a libtest harness whose main thread only runs the harness; its
    /// allocations go to glibc. The allocator removes it from its own
    /// environment, so programs the test executes do not see it.
    pub const HARNESS_MAIN: &str = "FFI_CHECK_HARNESS_MAIN";
    /// Every variable above.
    pub const ALL: [&str; 4] = [SEED, GUARD_SIDE, SUPERVISED, HARNESS_MAIN];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_c_header() {
        assert_eq!(std::mem::size_of::<Header>(), 12 * 8);
        assert_eq!(
            std::mem::size_of::<Slot>(),
            5 * 8 + 4 * 4 + 2 * 8 * GUARD_FRAMES
        );
        assert_eq!(std::mem::size_of::<ErrorRecord>(), 32);
        let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/preload/guard.h"))
            .unwrap();
        assert!(h.contains("#define GUARD_HEADER_ADDR 0x600000000000UL"));
        assert!(h.contains("#define GUARD_FRAMES 8"));
        assert!(h.contains("#define GUARD_ARENA_SIZE (64UL << 30)"));
        assert!(h.contains("#define GUARD_VERSION 1u"));
        for (name, value) in [
            ("SEED", env::SEED),
            ("GUARD_SIDE", env::GUARD_SIDE),
            ("SUPERVISED", env::SUPERVISED),
            ("HARNESS_MAIN", env::HARNESS_MAIN),
        ] {
            let define = format!("#define GUARD_ENV_{name} \"{value}\"");
            assert!(h.contains(&define), "guard.h lacks {define}");
        }
    }
}
