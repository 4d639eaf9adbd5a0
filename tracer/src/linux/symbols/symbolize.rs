//! Turning code addresses of the tracee into functions, files and lines.
//!
//! Each mapped ELF file is opened once (from disk, not from the tracee) and
//! kept while it is among the most recently used files: its DWARF through
//! `addr2line`'s [`Loader`] (which also falls back to
//! `.symtab`, then `.dynsym`, for names) and its `PT_LOAD` segments to turn
//! an address into the file's own (stated) address. If the file has a build
//! id and a separate debug file exists under `/usr/lib/debug/.build-id/`,
//! that file is used instead, so distributions' debug packages give file
//! and line for their libraries too.

use crate::linux::symbols::maps::{self, LoadSegment, Mapping};
use crate::linux::symbols::recent::Recent;
use crate::Frame;
use addr2line::Loader;
use object::read::ReadCache;
use object::Object;
use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Files whose debug info is kept.
const FILES_KEPT: usize = 16;

/// Where separate debug files are looked up by build id.
const DEFAULT_DEBUG_DIR: &str = "/usr/lib/debug";

/// Symbolizes addresses of a traced process, caching parsed debug info per
/// module path for the most recently used files.
pub struct Symbolizer {
    /// The modules asked about most recently, by path; failed loads are
    /// kept too so they are not retried.
    modules: Recent<String, Module>,
    /// Roots of `.build-id/xx/yyyy.debug` trees.
    debug_dirs: Vec<PathBuf>,
}

/// What one ELF file offers for symbolization.
struct Module {
    /// DWARF and symbol tables; `None` if the file could not be parsed.
    loader: Option<Loader>,
    /// `PT_LOAD` segments; empty if the headers could not be read.
    segments: Vec<LoadSegment>,
}

impl Default for Symbolizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Symbolizer {
    /// A symbolizer with an empty cache that looks for separate debug files
    /// under `/usr/lib/debug`.
    pub fn new() -> Self {
        Self::with_debug_dirs(vec![PathBuf::from(DEFAULT_DEBUG_DIR)])
    }

    /// A symbolizer that looks for separate debug files under `debug_dirs`.
    pub(crate) fn with_debug_dirs(debug_dirs: Vec<PathBuf>) -> Self {
        Symbolizer {
            modules: Recent::new(FILES_KEPT),
            debug_dirs,
        }
    }

    /// Frames for one pc (innermost first; inlined frames marked
    /// `inlined = true` except the outermost). Always returns at least one
    /// frame (with `function: None` if unknown). `module` is the mapping's
    /// path, `module_offset` is `pc` minus the module's load base (the value
    /// `addr2line -e MODULE` takes, for executables and shared objects alike).
    pub fn symbolize(&mut self, maps: &[Mapping], pc: u64) -> Vec<Frame> {
        let Some(mapping) = maps::find(maps, pc) else {
            return vec![unknown_frame(pc, None, 0)];
        };
        let Some(path) = mapping.file_path() else {
            // Anonymous memory, [vdso], or a deleted file: no symbols.
            let offset = pc.wrapping_sub(maps::guess_bias(maps, mapping));
            return vec![unknown_frame(pc, mapping.path.clone(), offset)];
        };
        let debug_dirs = &self.debug_dirs;
        let module = self.modules.get_or_insert_with(path.to_owned(), || {
            Module::load(Path::new(path), debug_dirs)
        });
        let svma = module.svma(maps, mapping, pc);
        let mut frames = module.frames(svma);
        for frame in &mut frames {
            frame.pc = pc;
            frame.module = Some(path.to_owned());
            frame.module_offset = svma;
        }
        frames
    }
}

impl Module {
    /// Opens `path` (or its separate debug file); never fails, but what could
    /// not be read is missing.
    fn load(path: &Path, debug_dirs: &[PathBuf]) -> Module {
        let (segments, build_id) = read_headers(path).unwrap_or_default();
        let loader = build_id
            .and_then(|id| debug_file(debug_dirs, &id))
            .and_then(|debug| Loader::new(debug).ok())
            .or_else(|| Loader::new(path).ok());
        Module { loader, segments }
    }

    /// The stated address of `pc`, which `mapping` (a mapping of this
    /// module) contains.
    fn svma(&self, maps: &[Mapping], mapping: &Mapping, pc: u64) -> u64 {
        maps::svma_of(&self.segments, mapping.file_offset(pc), mapping.executable)
            .unwrap_or_else(|| pc.wrapping_sub(maps::guess_bias(maps, mapping)))
    }

    /// Frames at `svma`, innermost first, with `pc`/`module` left for the
    /// caller to fill in. At least one frame.
    fn frames(&self, svma: u64) -> Vec<Frame> {
        let Some(loader) = &self.loader else {
            return vec![unknown_frame(0, None, 0)];
        };
        let mut frames = dwarf_frames(loader, svma);
        if frames.is_empty() {
            frames.push(unknown_frame(0, None, 0));
        }
        let outermost = frames.len() - 1;
        for frame in &mut frames[..outermost] {
            frame.inlined = true;
        }
        if frames[outermost].function.is_none() {
            // No DWARF function here (no debug info, or assembly): use the
            // symbol table, falling back to the dynamic symbol table.
            frames[outermost].function = loader.find_symbol(svma).map(demangle_symbol);
        }
        frames
    }
}

/// The `PT_LOAD` segments and build id of an ELF file, reading only the
/// parts of the file that hold them.
fn read_headers(path: &Path) -> Option<(Vec<LoadSegment>, Option<Vec<u8>>)> {
    let cache = ReadCache::new(File::open(path).ok()?);
    let file = object::File::parse(&cache).ok()?;
    let build_id = file.build_id().ok().flatten().map(<[u8]>::to_vec);
    Some((maps::load_segments(&file), build_id))
}

/// The separate debug file for a build id, as debuginfod clients and
/// distributions' `-dbg`/`-dbgsym` packages lay them out:
/// `DIR/.build-id/ab/cdef....debug`.
fn debug_file(debug_dirs: &[PathBuf], build_id: &[u8]) -> Option<PathBuf> {
    let (first, rest) = build_id.split_first()?;
    let hex: String = rest.iter().map(|b| format!("{b:02x}")).collect();
    debug_dirs
        .iter()
        .map(|dir| dir.join(format!(".build-id/{first:02x}/{hex}.debug")))
        .find(|p| p.is_file())
}

/// DWARF frames (inlined ones first) at `svma`; empty if there is no DWARF
/// for it or it cannot be read.
fn dwarf_frames(loader: &Loader, svma: u64) -> Vec<Frame> {
    let mut frames = Vec::new();
    let Ok(mut iter) = loader.find_frames(svma) else {
        return frames;
    };
    while let Ok(Some(f)) = iter.next() {
        let location = f.location.as_ref();
        frames.push(Frame {
            function: f
                .function
                .as_ref()
                .and_then(|name| name.demangle().ok())
                .map(Cow::into_owned),
            file: location.and_then(|l| l.file).map(str::to_owned),
            line: location.and_then(|l| l.line),
            column: location.and_then(|l| l.column).filter(|&c| c != 0),
            ..unknown_frame(0, None, 0)
        });
    }
    frames
}

/// A symbol table name, demangled (Rust without the hash, C++), C names as
/// they are.
fn demangle_symbol(name: &str) -> String {
    addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned()
}

/// A frame with nothing known but its address.
fn unknown_frame(pc: u64, module: Option<String>, module_offset: u64) -> Frame {
    Frame {
        pc,
        function: None,
        file: None,
        line: None,
        column: None,
        module,
        module_offset,
        inlined: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_maps() -> Vec<Mapping> {
        maps::read_maps(std::process::id() as i32).unwrap()
    }

    #[inline(never)]
    fn marker() -> u64 {
        std::hint::black_box(7)
    }

    #[test]
    fn symbolizes_a_function_of_this_test_binary() {
        let pc = marker as *const () as u64;
        let maps = own_maps();
        let frames = Symbolizer::new().symbolize(&maps, pc);
        let outer = frames.last().unwrap();
        let name = outer.function.as_deref().unwrap();
        assert!(name.ends_with("symbolize::tests::marker"), "{name}");
        assert!(!name.contains("::h"), "hash not stripped: {name}");
        assert!(outer.file.as_deref().unwrap().ends_with("symbolize.rs"));
        assert!(outer.line.is_some());
        assert_eq!(
            outer.module.as_deref(),
            std::env::current_exe().unwrap().to_str()
        );
        assert_eq!(outer.pc, pc);
        // The module offset is the stated address: the executable's own
        // symbol table agrees.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let exe = object::File::parse(&*exe).unwrap();
        let stated = object::Object::symbol_map(&exe)
            .symbols()
            .iter()
            .find(|s| demangle_symbol(s.name()).ends_with("symbolize::tests::marker"))
            .map(|s| s.address())
            .unwrap();
        assert_eq!(outer.module_offset, stated);
    }

    #[test]
    fn symbolizes_libc_through_its_dynamic_symbols() {
        let pc = libc::getpid as *const () as u64;
        let maps = own_maps();
        // No separate debug files, so only the dynamic symbols are left.
        let frames = Symbolizer::with_debug_dirs(Vec::new()).symbolize(&maps, pc);
        assert_eq!(frames.len(), 1);
        let frame = &frames[0];
        assert!(
            frame.module.as_deref().unwrap().contains("libc"),
            "{frame:?}"
        );
        let name = frame.function.as_deref().unwrap();
        assert!(name.contains("getpid"), "{name}");
    }

    #[test]
    fn unknown_addresses_still_give_one_frame() {
        let maps = own_maps();
        let mut symbolizer = Symbolizer::new();
        let frames = symbolizer.symbolize(&maps, 0x10);
        assert_eq!(frames, vec![unknown_frame(0x10, None, 0)]);
        let stack = maps
            .iter()
            .find(|m| m.path.as_deref() == Some("[stack]"))
            .unwrap();
        let frames = symbolizer.symbolize(&maps, stack.start + 8);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].module.as_deref(), Some("[stack]"));
        assert_eq!(frames[0].module_offset, 8);
        assert_eq!(frames[0].function, None);
    }

    #[test]
    fn a_module_that_fails_to_load_gives_module_and_offset() {
        let maps = vec![
            Mapping {
                start: 0x10000,
                end: 0x11000,
                readable: true,
                writable: false,
                executable: false,
                offset: 0,
                path: Some("/nonexistent/libgone.so".into()),
            },
            Mapping {
                start: 0x11000,
                end: 0x12000,
                readable: true,
                writable: false,
                executable: true,
                offset: 0x1000,
                path: Some("/nonexistent/libgone.so".into()),
            },
        ];
        let frames = Symbolizer::new().symbolize(&maps, 0x11234);
        assert_eq!(
            frames,
            vec![unknown_frame(
                0x11234,
                Some("/nonexistent/libgone.so".into()),
                0x1234
            )]
        );
    }

    #[test]
    fn build_id_debug_file_paths() {
        let dir = std::env::temp_dir().join(format!("symbolize-debug-{}", std::process::id()));
        let want = dir.join(".build-id/ab/cdef.debug");
        std::fs::create_dir_all(want.parent().unwrap()).unwrap();
        std::fs::write(&want, b"").unwrap();
        let found = debug_file(
            &[PathBuf::from("/nonexistent"), dir.clone()],
            &[0xab, 0xcd, 0xef],
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, Some(want));
        assert_eq!(debug_file(&[dir], &[]), None);
    }
}
