//! Where Rust's default global allocator enters malloc, so that the guard
//! allocator can give Rust allocations the alignment their layout asks for
//! instead of the alignment a C caller of malloc may rely on.
//!
//! Rust code allocates by calling the shims `__rust_alloc`,
//! `__rust_alloc_zeroed` and `__rust_realloc`, which (without a
//! `#[global_allocator]`) jump to std's `__rdl_alloc`, `__rdl_alloc_zeroed`
//! and `__rdl_realloc`. For layouts with an alignment of at most 16 and at
//! most the size, these tail-call `malloc(size)`, `calloc(size, 1)` and
//! `realloc(ptr, size)`: the return address the allocator sees is then the
//! instruction after the call to the shim, and `__rdl_alloc` and
//! `__rdl_realloc` leave the layout's alignment in the register of their
//! own alignment argument (rsi for alloc, rdx for realloc).
//!
//! [`RustAllocator::find`] reads the shims' addresses from an executable's
//! symbol table and checks, by decoding std's functions, that each one
//! really does that (on another toolchain, or with a `#[global_allocator]`,
//! an entry is left out and those allocations are treated like C's). The
//! preloaded library recognises the calls from the return address
//! (`preload/alloc/rust_alloc.c`).

use crate::linux::fault::decode;
use capstone::arch::x86::X86Reg;
use capstone::{Capstone, RegId};
use object::read::ReadCache;
use object::{Object, ObjectSection, ObjectSymbol, ObjectSymbolTable, RelocationTarget};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The bytes of an `__rdl_*` function decoded at most while looking for its
/// tail call.
const SCAN_BYTES: u64 = 256;

/// The entry points of Rust's default allocator in one executable, as ELF
/// virtual addresses of the shims (0: that entry is not recognised).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RustAllocator {
    /// `__rust_alloc`: reaches `malloc` with the layout's alignment in rsi.
    pub alloc: u64,
    /// `__rust_alloc_zeroed`: reaches `calloc(size, 1)`.
    pub alloc_zeroed: u64,
    /// `__rust_realloc`: reaches `realloc` with the alignment in rdx.
    pub realloc: u64,
}

/// One `__rust_*` shim and the std function and libc call it must reach.
struct Entry {
    shim: &'static str,
    std: &'static str,
    libc: &'static str,
    /// The register that must still hold the alignment at the tail call;
    /// `None`: no register is relied on.
    keeps: Option<u32>,
}

const ENTRIES: [Entry; 3] = [
    Entry {
        shim: "__rust_alloc",
        std: "__rdl_alloc",
        libc: "malloc",
        keeps: Some(X86Reg::X86_REG_RSI),
    },
    Entry {
        shim: "__rust_alloc_zeroed",
        std: "__rdl_alloc_zeroed",
        libc: "calloc",
        keeps: None,
    },
    Entry {
        shim: "__rust_realloc",
        std: "__rdl_realloc",
        libc: "realloc",
        keeps: Some(X86Reg::X86_REG_RDX),
    },
];

impl RustAllocator {
    /// The entries of the executable at `path` that behave as described in
    /// the module's documentation; `None` if none does (not a Rust program,
    /// a `#[global_allocator]`, stripped symbols, an unreadable file).
    pub fn find(path: &Path) -> Option<RustAllocator> {
        let cache = ReadCache::new(File::open(path).ok()?);
        let file = object::File::parse(&cache).ok()?;
        let symbols: HashMap<&str, (u64, u64)> = file
            .symbols()
            .filter_map(|s| {
                let name = s.name().ok()?;
                let base = ENTRIES
                    .iter()
                    .flat_map(|e| [e.shim, e.std])
                    .find(|want| internal_name_is(name, want))?;
                Some((base, (s.address(), s.size())))
            })
            .collect();
        let got = got_slots(&file);
        let cs = decode::capstone().ok()?;
        let mut found = RustAllocator::default();
        for (entry, out) in ENTRIES.iter().zip([
            &mut found.alloc,
            &mut found.alloc_zeroed,
            &mut found.realloc,
        ]) {
            let (Some(&(shim, _)), Some(&(std, std_size))) =
                (symbols.get(entry.shim), symbols.get(entry.std))
            else {
                continue;
            };
            let reaches_std = shim == std || jump_target(&file, shim) == Some(std);
            let len = if std_size == 0 {
                SCAN_BYTES
            } else {
                std_size.min(SCAN_BYTES)
            };
            if reaches_std
                && section_bytes(&file, std, len)
                    .is_some_and(|code| tail_calls(&cs, code, std, entry, &got))
            {
                *out = shim;
            }
        }
        (found != RustAllocator::default()).then_some(found)
    }
}

/// Whether symbol `name` is the Rust-internal symbol `want`: plain (older
/// toolchains) or mangled as rustc mangles them today
/// (`_RNvCs..._7___rustc12___rust_alloc`).
fn internal_name_is(name: &str, want: &str) -> bool {
    name == want
        || name.strip_prefix("_R").is_some_and(|_| {
            name.strip_suffix(want)
                // v0 writes an identifier that starts with `_` as its
                // length, `_`, then the identifier.
                .is_some_and(|head| head.ends_with(&format!("{}_", want.len())))
        })
}

/// The GOT slots of `file` that the dynamic loader fills with a symbol's
/// address: slot address to symbol name.
fn got_slots<'data, R: object::ReadRef<'data>>(
    file: &object::File<'data, R>,
) -> HashMap<u64, String> {
    let Some(relocations) = file.dynamic_relocations() else {
        return HashMap::new();
    };
    relocations
        .filter_map(|(slot, r)| match r.target() {
            RelocationTarget::Symbol(i) => {
                let sym = file.dynamic_symbol_table()?.symbol_by_index(i).ok()?;
                Some((slot, sym.name().ok()?.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// `len` bytes of the section holding virtual address `addr`.
fn section_bytes<'data, R: object::ReadRef<'data>>(
    file: &object::File<'data, R>,
    addr: u64,
    len: u64,
) -> Option<&'data [u8]> {
    let section = file
        .sections()
        .find(|s| s.address() <= addr && addr < s.address() + s.size())?;
    let len = len.min(section.address() + section.size() - addr);
    section.data_range(addr, len).ok().flatten()
}

/// Where the `jmp rel32` or `jmp rel8` at `addr` goes.
fn jump_target<'data, R: object::ReadRef<'data>>(
    file: &object::File<'data, R>,
    addr: u64,
) -> Option<u64> {
    let code = section_bytes(file, addr, 5)?;
    match code {
        [0xe9, a, b, c, d, ..] => {
            Some((addr + 5).wrapping_add_signed(i64::from(i32::from_le_bytes([*a, *b, *c, *d]))))
        }
        [0xeb, d, ..] => Some((addr + 2).wrapping_add_signed(i64::from(*d as i8))),
        _ => None,
    }
}

/// Whether the code of std's function at `addr` reaches `entry.libc` by a
/// `jmp` through its GOT slot with no call and no write of `entry.keeps`
/// before it (in address order: these functions have no loops, so every
/// path to the jump runs only instructions before it).
fn tail_calls(
    cs: &Capstone,
    code: &[u8],
    addr: u64,
    entry: &Entry,
    got: &HashMap<u64, String>,
) -> bool {
    let Ok(insns) = cs.disasm_all(code, addr) else {
        return false;
    };
    for insn in insns.iter() {
        let Ok(detail) = cs.insn_detail(insn) else {
            return false;
        };
        let bytes = insn.bytes();
        let next = insn.address() + bytes.len() as u64;
        // jmp qword ptr [rip + disp32]
        if let [0xff, 0x25, a, b, c, d] = bytes {
            let slot = next.wrapping_add_signed(i64::from(i32::from_le_bytes([*a, *b, *c, *d])));
            return got.get(&slot).is_some_and(|name| name == entry.libc);
        }
        let mnemonic = insn.mnemonic().unwrap_or_default();
        if mnemonic.starts_with("call") || mnemonic == "ret" || mnemonic == "jmp" {
            return false;
        }
        // capstone's written registers include explicit operands and
        // implicit writes (`rep movsb` moving rsi, say).
        if let Some(reg) = entry.keeps {
            if detail.regs_write().iter().any(|&w| same_register(w, reg)) {
                return false;
            }
        }
    }
    false
}

/// Whether `a` is `full` (rsi or rdx) or one of its parts.
fn same_register(a: RegId, full: u32) -> bool {
    use X86Reg::*;
    let family: &[u32] = if full == X86_REG_RSI {
        &[X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL]
    } else {
        &[X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH]
    };
    family.contains(&u32::from(a.0))
}

/// The value of the preloaded library's `FFI_CHECK_RUST_ALLOC` for the
/// executable at `program`: its device and inode (so that programs it runs
/// do not take the addresses for theirs) and the three entries, in hex;
/// `None` when it has none. Worked out once per file.
pub fn spec(program: &Path) -> Option<String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Option<String>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().ok()?;
    cache
        .entry(program.to_path_buf())
        .or_insert_with(|| {
            let meta = std::fs::metadata(program).ok()?;
            let found = RustAllocator::find(program)?;
            Some(format!(
                "{:x}:{:x}:{:x}:{:x}:{:x}",
                meta.dev(),
                meta.ino(),
                found.alloc,
                found.alloc_zeroed,
                found.realloc
            ))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_default_allocator_entries_are_found_in_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let found = RustAllocator::find(&exe).expect("this binary uses std's allocator");
        assert_ne!(found.alloc, 0, "{found:?}");
        assert_ne!(found.alloc_zeroed, 0, "{found:?}");
        assert_ne!(found.realloc, 0, "{found:?}");
        // They are the shims' own addresses.
        let data = std::fs::read(&exe).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let shim = file
            .symbols()
            .find(|s| s.name().is_ok_and(|n| internal_name_is(n, "__rust_alloc")))
            .unwrap();
        assert_eq!(shim.address(), found.alloc);
    }

    #[test]
    fn programs_without_rusts_allocator_have_none() {
        assert_eq!(RustAllocator::find(Path::new("/bin/sh")), None);
        assert_eq!(RustAllocator::find(Path::new("/nonexistent")), None);
        assert_eq!(spec(Path::new("/bin/sh")), None);
    }

    #[test]
    fn internal_names_mangled_or_plain_are_recognised() {
        assert!(internal_name_is("__rust_alloc", "__rust_alloc"));
        assert!(internal_name_is(
            "_RNvCsfLfy6EI15iL_7___rustc12___rust_alloc",
            "__rust_alloc"
        ));
        assert!(!internal_name_is(
            "_RNvCsfLfy6EI15iL_7___rustc19___rust_alloc_zeroed",
            "__rust_alloc"
        ));
        assert!(!internal_name_is("my__rust_alloc", "__rust_alloc"));
    }

    #[test]
    fn a_write_of_the_alignment_register_before_the_tail_call_disqualifies() {
        let cs = decode::capstone().unwrap();
        let entry = &ENTRIES[0];
        let got = HashMap::from([(0x1000 + 6 + 0x100, "malloc".to_string())]);
        // jmp qword ptr [rip + 0x100]
        let clean = [0xff, 0x25, 0x00, 0x01, 0x00, 0x00];
        assert!(tail_calls(&cs, &clean, 0x1000, entry, &got));
        // mov esi, 1; jmp qword ptr [rip + 0xfb]
        let clobbers = [
            0xbe, 0x01, 0x00, 0x00, 0x00, 0xff, 0x25, 0xfb, 0x00, 0x00, 0x00,
        ];
        assert!(!tail_calls(&cs, &clobbers, 0x1000, entry, &got));
        // cmp rsi, 0x11; jmp qword ptr [rip + 0xfc]: reads only.
        let reads = [0x48, 0x83, 0xfe, 0x11, 0xff, 0x25, 0xfc, 0x00, 0x00, 0x00];
        assert!(tail_calls(&cs, &reads, 0x1000, entry, &got));
        // A jump through a slot that is not malloc's.
        let elsewhere = HashMap::from([(0x1000 + 6 + 0x100, "free".to_string())]);
        assert!(!tail_calls(&cs, &clean, 0x1000, entry, &elsewhere));
    }
}
