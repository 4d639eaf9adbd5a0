//! The guard allocator that is preloaded into every test process, embedded
//! in the binary, and the layout of its metadata table (mirroring
//! `preload/guard.h`; see `preload/README.md`).

use std::io::Write;
use std::path::PathBuf;

/// The compiled guard allocator (empty on platforms that cannot trace).
pub const GUARD_SO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libffi_check_guard.so"));

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

/// Writes the allocator to a private, content-addressed path (once per
/// content; concurrent runs are safe: write to a temporary file, then
/// rename) and returns that path, for `LD_PRELOAD`.
pub fn install() -> std::io::Result<PathBuf> {
    let hash = crate::hash::fnv1a(GUARD_SO);
    let dir = cache_dir();
    let path = dir.join(format!("guard-{hash:016x}.so"));
    if std::fs::read(&path).is_ok_and(|b| b == GUARD_SO) {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let tmp = dir.join(format!("guard-{hash:016x}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(GUARD_SO)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// `$XDG_CACHE_HOME/cargo-ffi-check`, `~/.cache/cargo-ffi-check`, or a
/// per-user directory under the temporary directory.
fn cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("cargo-ffi-check");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache/cargo-ffi-check");
    }
    // SAFETY: getuid has no preconditions.
    #[cfg(unix)]
    let uid = unsafe { libc::getuid() };
    #[cfg(not(unix))]
    let uid = 0;
    std::env::temp_dir().join(format!("cargo-ffi-check-{uid}"))
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
    }

    #[test]
    fn installs_once_under_a_content_address() {
        let dir = std::env::temp_dir().join(format!("ffc-install-test-{}", std::process::id()));
        std::env::set_var("XDG_CACHE_HOME", &dir);
        let a = install().unwrap();
        let b = install().unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), GUARD_SO);
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("guard-"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
