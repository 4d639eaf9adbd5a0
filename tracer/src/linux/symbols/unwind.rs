//! Walking a stopped thread's stack with `framehop`, reading the stack
//! remotely.
//!
//! Unwind information comes from the ELF files behind the tracee's
//! executable mappings (`.eh_frame` with its `.eh_frame_hdr` index), read
//! from disk; the vDSO, which has no file, is read from the tracee's memory.
//! framehop holds the modules of the process being unwound only (each
//! process maps its libraries at addresses of its own); the sections read
//! from each file are kept for the most recently used files, so memory stays
//! flat across thousands of processes while a file is read once.

use crate::linux::process::memory;
use crate::linux::symbols::maps::{self, LoadSegment, Mapping};
use crate::linux::symbols::recent::Recent;
use crate::linux::symbols::symbolize::Symbolizer;
use crate::Frame;
use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder as _};
use object::read::ReadCache;
use object::{Object, ObjectSection, ReadRef};
use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

/// Files whose unwind sections are kept.
const FILES_KEPT: usize = 32;

/// Section data as framehop holds it, shared between the modules built
/// from one file.
type Data = Arc<[u8]>;

/// Unwinds stacks of traced threads; keeps parsed unwind tables across calls.
pub struct Unwinder {
    /// framehop's unwinder with the modules of the process last unwound.
    inner: UnwinderX86_64<Data>,
    /// framehop's cache of unwind rules (fixed size).
    cache: CacheX86_64,
    /// The modules handed to `inner` (or found unusable), in no order.
    modules: Vec<AddedModule>,
    /// What was read from each file: its unwind sections and load segments.
    files: Recent<String, Option<Sections>>,
}

/// A file's unwind sections and `PT_LOAD` segments.
#[derive(Clone)]
struct Sections {
    info: ExplicitModuleSectionInfo<Data>,
    segments: Vec<LoadSegment>,
}

/// A mapping that was turned into a framehop module (or tried to be).
struct AddedModule {
    /// Mapping path (`[vdso]` for the vDSO).
    path: String,
    /// The mapping's address range.
    range: Range<u64>,
    /// Whether framehop has it (building it can fail, e.g. unreadable file).
    in_framehop: bool,
}

impl Default for Unwinder {
    fn default() -> Self {
        Self::new()
    }
}

impl Unwinder {
    /// An unwinder that knows no modules yet.
    pub fn new() -> Self {
        Unwinder {
            inner: UnwinderX86_64::new(),
            cache: CacheX86_64::new(),
            modules: Vec::new(),
            files: Recent::new(FILES_KEPT),
        }
    }

    /// Return addresses of the stack of thread `tid` (its memory is read
    /// through `tid`), innermost first: `[rip, caller1_ra - 1, caller2_ra -
    /// 1, ...]`, at most `max_frames`. Stops at a return address that is 0
    /// or not in an executable mapping, or when the unwinder fails.
    ///
    /// If `rip` itself is not executable (a call through a bad function
    /// pointer), the caller is found from the return address at `rsp`.
    pub fn unwind(
        &mut self,
        tid: i32,
        maps: &[Mapping],
        regs: &libc::user_regs_struct,
        max_frames: usize,
    ) -> Vec<u64> {
        self.add_modules(tid, maps);
        if max_frames == 0 {
            return Vec::new();
        }
        let mut pcs = vec![regs.rip];
        let mut unwind_regs = UnwindRegsX86_64::new(regs.rip, regs.rsp, regs.rbp);
        let mut address = FrameAddress::from_instruction_pointer(regs.rip);
        if !is_code(maps, regs.rip) {
            let Some(caller) = wild_call_caller(tid, maps, &mut unwind_regs) else {
                return pcs;
            };
            pcs.push(caller.address_for_lookup());
            address = caller;
        }
        let mut read_stack = |addr: u64| memory::read_u64(tid, addr).ok_or(());
        while pcs.len() < max_frames {
            let next = self.inner.unwind_frame(
                address,
                &mut unwind_regs,
                &mut self.cache,
                &mut read_stack,
            );
            let Some(frame) = next.ok().flatten().and_then(|ra| caller_frame(maps, ra)) else {
                break;
            };
            pcs.push(frame.address_for_lookup());
            address = frame;
        }
        pcs.truncate(max_frames);
        pcs
    }

    /// Makes framehop's modules those of `maps`: one for every executable
    /// file mapping (and the vDSO), none for mappings of other processes.
    fn add_modules(&mut self, tid: i32, maps: &[Mapping]) {
        let wanted: Vec<(&Mapping, &str)> = maps
            .iter()
            .filter(|m| m.executable)
            .filter_map(|m| Some((m, unwindable_path(m)?)))
            .collect();
        let inner = &mut self.inner;
        self.modules.retain(|m| {
            let keep = wanted
                .iter()
                .any(|(w, path)| *path == m.path && (w.start..w.end) == m.range);
            if !keep && m.in_framehop {
                inner.remove_module(m.range.start);
            }
            keep
        });
        for (mapping, path) in wanted {
            let range = mapping.start..mapping.end;
            if self
                .modules
                .iter()
                .any(|m| m.path == path && m.range == range)
            {
                continue;
            }
            let sections = self
                .files
                .get_or_insert_with(path.to_owned(), || read_sections(tid, maps, mapping))
                .clone();
            let module = sections.map(|s| module_for(s, maps, mapping, path));
            let in_framehop = module.is_some();
            if let Some(module) = module {
                self.inner.add_module(module);
            }
            self.modules.push(AddedModule {
                path: path.to_owned(),
                range,
                in_framehop,
            });
        }
    }
}

/// Unwinds and symbolizes the stack of the stopped thread `tid` (whose
/// registers are `regs`), flattening inlined frames: innermost first, at
/// most `max_frames` physical frames (each may expand into several inlined
/// ones).
pub fn backtrace(
    unwinder: &mut Unwinder,
    symbolizer: &mut Symbolizer,
    tid: i32,
    regs: &libc::user_regs_struct,
    max_frames: usize,
) -> Vec<Frame> {
    let maps = maps::read_maps(tid).unwrap_or_default();
    unwinder
        .unwind(tid, &maps, regs, max_frames)
        .into_iter()
        .flat_map(|pc| symbolizer.symbolize(&maps, pc))
        .collect()
}

/// Whether `addr` is in an executable mapping.
fn is_code(maps: &[Mapping], addr: u64) -> bool {
    maps::find(maps, addr).is_some_and(|m| m.executable)
}

/// The frame for a return address, if it is a plausible one (non-zero and
/// in an executable mapping).
fn caller_frame(maps: &[Mapping], return_address: u64) -> Option<FrameAddress> {
    FrameAddress::from_return_address(return_address).filter(|_| is_code(maps, return_address))
}

/// The caller of a function that was entered at a pc that is not code (a
/// call through a bad function pointer): nothing ran there, so the return
/// address is at the stack pointer. Pops it from `regs`.
fn wild_call_caller(
    tid: i32,
    maps: &[Mapping],
    regs: &mut UnwindRegsX86_64,
) -> Option<FrameAddress> {
    let sp = regs.sp();
    let caller = caller_frame(maps, memory::read_u64(tid, sp)?)?;
    regs.set_sp(sp.wrapping_add(8));
    Some(caller)
}

/// The name to key an executable mapping's module by, if unwind info can be
/// found for it: a file that can be opened, or the vDSO.
fn unwindable_path(mapping: &Mapping) -> Option<&str> {
    mapping
        .file_path()
        .or_else(|| mapping.path.as_deref().filter(|p| *p == "[vdso]"))
}

/// A file's unwind sections, from the file on disk (or, for the vDSO, the
/// tracee's memory); `None` if they cannot be read.
fn read_sections(tid: i32, maps: &[Mapping], mapping: &Mapping) -> Option<Sections> {
    match mapping.file_path() {
        Some(path) => {
            let cache = ReadCache::new(File::open(path).ok()?);
            sections_of(&cache)
        }
        None => sections_of(read_image(tid, maps, mapping)?.as_slice()),
    }
}

/// The in-memory ELF image of a module without a file (the vDSO): all
/// mappings of that name, which are adjacent, read from the tracee.
fn read_image(tid: i32, maps: &[Mapping], mapping: &Mapping) -> Option<Vec<u8>> {
    let same = || maps.iter().filter(|m| m.path == mapping.path);
    let start = same().map(|m| m.start).min()?;
    let end = same().map(|m| m.end).max()?;
    let mut image = vec![0; usize::try_from(end - start).ok()?];
    let n = memory::read(tid, start, &mut image);
    image.truncate(n);
    Some(image)
}

/// The framehop module for `mapping` of the file whose sections are `s`.
fn module_for(s: Sections, maps: &[Mapping], mapping: &Mapping, path: &str) -> Module<Data> {
    let bias =
        maps::bias_of(&s.segments, mapping).unwrap_or_else(|| maps::guess_bias(maps, mapping));
    Module::new(path.to_owned(), mapping.start..mapping.end, bias, s.info)
}

/// The sections framehop's DWARF CFI unwinding uses: `.eh_frame` and its
/// index `.eh_frame_hdr` (data and addresses), and the addresses of `.text`
/// and `.got` for pointer encodings relative to them; and the file's load
/// segments. `None` without `.eh_frame` (framehop would fall back to frame
/// pointers anyway) or if the file does not parse.
fn sections_of<'data, R: ReadRef<'data>>(data: R) -> Option<Sections> {
    let file = object::File::parse(data).ok()?;
    let svma = |name: &str| {
        let section = file.section_by_name(name)?;
        Some(section.address()..section.address() + section.size())
    };
    let data =
        |name: &str| -> Option<Data> { Some(file.section_by_name(name)?.data().ok()?.into()) };
    let info = ExplicitModuleSectionInfo {
        base_svma: 0,
        text_svma: svma(".text"),
        got_svma: svma(".got"),
        eh_frame_svma: svma(".eh_frame"),
        eh_frame: Some(data(".eh_frame")?),
        eh_frame_hdr_svma: svma(".eh_frame_hdr"),
        eh_frame_hdr: data(".eh_frame_hdr"),
        ..Default::default()
    };
    Some(Sections {
        info,
        segments: maps::load_segments(&file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::ptrace;
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult, Pid};
    use std::path::Path;
    use std::process::Command;

    const MAX_FRAMES: usize = 64;

    /// Line of the `raise` call in `level_c`.
    const LINE_C: u32 = line!() + 6;

    #[inline(never)]
    fn level_c(x: u64) -> u64 {
        // SAFETY: raise only sends a signal to the calling thread; the
        // tracer sees the stop and kills the process.
        let stopped = unsafe { libc::raise(libc::SIGSTOP) };
        std::hint::black_box(x + stopped as u64)
    }

    /// Line of the `level_c` call in `level_b`.
    const LINE_B: u32 = line!() + 3;
    #[inline(never)]
    fn level_b(x: u64) -> u64 {
        std::hint::black_box(level_c(std::hint::black_box(x + 1))) + 1
    }

    /// Line of the `level_b` call in `level_a`.
    const LINE_A: u32 = line!() + 3;
    #[inline(never)]
    fn level_a(x: u64) -> u64 {
        std::hint::black_box(level_b(std::hint::black_box(x + 1))) + 1
    }

    /// Line of the call to address 0x10 in `wild_call`.
    const LINE_WILD: u32 = line!() + 7;

    #[inline(never)]
    fn wild_call() {
        // SAFETY: calls address 0x10, which is never mapped: the process
        // gets SIGSEGV with rip = 0x10 and the return address at [rsp]. The
        // tracer kills it there, so nothing after the call ever runs.
        unsafe { std::arch::asm!("call {0}", in(reg) 0x10_u64, clobber_abi("C")) };
        std::hint::black_box(());
    }

    /// A traced child process, killed and reaped when dropped.
    struct Traced(Pid);

    impl Drop for Traced {
        fn drop(&mut self) {
            let _ = kill(self.0, Signal::SIGKILL);
            let _ = waitpid(self.0, None);
        }
    }

    impl Traced {
        /// Forks a child that asks to be traced and runs `body`, which must
        /// stop or crash. Returns once the child stopped with `signal`.
        fn fork(body: fn(), signal: Signal) -> Traced {
            // SAFETY: the child only calls async-signal-safe functions
            // (ptrace, raise, _exit) and code that does not allocate or take
            // locks, so the other threads of the test harness, which do not
            // exist in the child, cannot hold anything it needs.
            match unsafe { fork() }.expect("fork") {
                ForkResult::Child => {
                    if ptrace::traceme().is_ok() {
                        body();
                    }
                    // SAFETY: _exit ends the child without running the
                    // parent's atexit handlers or destructors.
                    unsafe { libc::_exit(1) }
                }
                ForkResult::Parent { child } => {
                    let traced = Traced(child);
                    traced.expect_stop(signal);
                    traced
                }
            }
        }

        /// Spawns `program` traced; returns once it stopped with `signal`.
        fn spawn(program: &Path, signal: Signal) -> Traced {
            use std::os::unix::process::CommandExt;
            let mut command = Command::new(program);
            // SAFETY: the closure runs in the forked child before exec and
            // only calls ptrace(PTRACE_TRACEME), which is async-signal-safe.
            unsafe {
                command.pre_exec(|| ptrace::traceme().map_err(std::io::Error::from));
            }
            // The child is reaped by `Traced::drop` (waitpid), not `Child`.
            #[allow(clippy::zombie_processes)]
            let child = command.spawn().expect("spawn traced program");
            let traced = Traced(Pid::from_raw(child.id() as i32));
            traced.expect_stop(Signal::SIGTRAP); // the exec
            ptrace::cont(traced.0, None).expect("PTRACE_CONT");
            traced.expect_stop(signal);
            traced
        }

        fn expect_stop(&self, signal: Signal) {
            match waitpid(self.0, None).expect("waitpid") {
                WaitStatus::Stopped(_, got) if got == signal => {}
                other => panic!("expected a {signal} stop, got {other:?}"),
            }
        }

        fn backtrace(&self, unwinder: &mut Unwinder, symbolizer: &mut Symbolizer) -> Vec<Frame> {
            let regs = ptrace::getregs(self.0).expect("PTRACE_GETREGS");
            backtrace(unwinder, symbolizer, self.0.as_raw(), &regs, MAX_FRAMES)
        }
    }

    fn stop_in_level_c() {
        level_a(1);
    }

    fn call_wild_pointer() {
        wild_call();
    }

    /// Index of the first frame at or after `from` whose function ends with
    /// `suffix`.
    fn position(frames: &[Frame], from: usize, suffix: &str) -> usize {
        frames[from..]
            .iter()
            .position(|f| f.function.as_deref().is_some_and(|n| n.ends_with(suffix)))
            .map(|i| from + i)
            .unwrap_or_else(|| panic!("no {suffix} after frame {from} in {frames:#?}"))
    }

    fn assert_at(frame: &Frame, file_suffix: &str, line: u32) {
        let file = frame.file.as_deref().unwrap_or_default();
        assert!(file.ends_with(file_suffix), "{frame:?}");
        assert_eq!(frame.line, Some(line), "{frame:?}");
    }

    #[test]
    fn backtrace_through_libc_and_rust_frames() {
        let child = Traced::fork(stop_in_level_c, Signal::SIGSTOP);
        // No separate debug files: libc must be named from its .dynsym.
        let mut symbolizer = Symbolizer::with_debug_dirs(Vec::new());
        let mut unwinder = Unwinder::new();
        let frames = child.backtrace(&mut unwinder, &mut symbolizer);

        let c = position(&frames, 0, "unwind::tests::level_c");
        let b = position(&frames, c, "unwind::tests::level_b");
        let a = position(&frames, b, "unwind::tests::level_a");
        assert_eq!((b, a), (c + 1, c + 2), "{frames:#?}");
        assert_at(&frames[c], "src/linux/symbols/unwind.rs", LINE_C);
        assert_at(&frames[b], "src/linux/symbols/unwind.rs", LINE_B);
        assert_at(&frames[a], "src/linux/symbols/unwind.rs", LINE_A);
        let exe = std::env::current_exe().unwrap();
        assert_eq!(frames[a].module.as_deref(), exe.to_str());
        assert!(frames[..=a].iter().all(|f| !f.inlined));
        position(&frames, a, "stop_in_level_c");

        // Above level_c: libc, named from its dynamic symbols (the innermost
        // frame is in a static function that .dynsym does not cover).
        let libc_names: Vec<_> = frames[..c]
            .iter()
            .filter(|f| f.module.as_deref().is_some_and(|m| m.contains("libc")))
            .map(|f| f.function.as_deref().unwrap_or_default())
            .collect();
        assert!(
            libc_names
                .iter()
                .any(|n| ["raise", "kill", "gsignal"].iter().any(|k| n.contains(k))),
            "{frames:#?}"
        );

        // The caches give the same answer again, and max_frames is honoured.
        assert_eq!(child.backtrace(&mut unwinder, &mut symbolizer), frames);
        let regs = ptrace::getregs(child.0).unwrap();
        let maps = maps::read_maps(child.0.as_raw()).unwrap();
        assert_eq!(unwinder.unwind(child.0.as_raw(), &maps, &regs, 2).len(), 2);
        assert!(unwinder
            .unwind(child.0.as_raw(), &maps, &regs, 0)
            .is_empty());
    }

    #[test]
    fn backtrace_from_a_call_through_a_wild_pointer() {
        let child = Traced::fork(call_wild_pointer, Signal::SIGSEGV);
        let frames = child.backtrace(&mut Unwinder::new(), &mut Symbolizer::new());
        assert_eq!(frames[0].pc, 0x10);
        assert_eq!(frames[0].function, None);
        assert!(frames[1]
            .function
            .as_deref()
            .unwrap()
            .ends_with("unwind::tests::wild_call"));
        assert_at(&frames[1], "src/linux/symbols/unwind.rs", LINE_WILD);
        position(&frames, 2, "unwind::tests::call_wild_pointer");
    }

    #[test]
    fn the_vdso_becomes_a_module_from_memory() {
        let pid = std::process::id() as i32;
        let maps = maps::read_maps(pid).unwrap();
        let Some(vdso) = maps.iter().find(|m| m.path.as_deref() == Some("[vdso]")) else {
            eprintln!("skipping: this process has no [vdso] mapping");
            return;
        };
        let sections = read_sections(pid, &maps, vdso).expect("vdso sections");
        let module = module_for(sections, &maps, vdso, "[vdso]");
        assert_eq!(module.avma_range(), vdso.start..vdso.end);
        assert_eq!(module.base_avma(), vdso.start);
    }

    #[test]
    fn modules_at_reused_addresses_replace_old_ones() {
        let exe = std::env::current_exe().unwrap();
        let exe = exe.to_str().unwrap();
        let pid = std::process::id() as i32;
        let own = maps::read_maps(pid).unwrap();
        let text = own
            .iter()
            .find(|m| m.executable && m.path.as_deref() == Some(exe))
            .unwrap();
        let mut unwinder = Unwinder::new();
        unwinder.add_modules(pid, std::slice::from_ref(text));
        let other = Mapping {
            path: Some("/nonexistent/other.so".into()),
            start: text.start + 0x1000,
            ..text.clone()
        };
        unwinder.add_modules(pid, std::slice::from_ref(&other));
        assert_eq!(unwinder.modules.len(), 1);
        assert_eq!(unwinder.modules[0].path, "/nonexistent/other.so");
        assert!(!unwinder.modules[0].in_framehop);
        assert_eq!(unwinder.inner.max_known_code_address(), 0);
    }

    /// Unwinding process after process (each with its libraries at new
    /// addresses) keeps the modules of the last one only, and the files'
    /// sections for a bounded number of files.
    #[test]
    fn memory_stays_flat_across_processes() {
        let pid = std::process::id() as i32;
        let own = maps::read_maps(pid).unwrap();
        let executable: Vec<Mapping> = own
            .iter()
            .filter(|m| m.executable && m.start < 1 << 46)
            .cloned()
            .collect();
        let mut unwinder = Unwinder::new();
        for shift in 0..200u64 {
            // The same files, mapped elsewhere: another process.
            let moved: Vec<Mapping> = executable
                .iter()
                .map(|m| Mapping {
                    start: m.start.wrapping_add(shift << 28),
                    end: m.end.wrapping_add(shift << 28),
                    ..m.clone()
                })
                .collect();
            unwinder.add_modules(pid, &moved);
            assert!(unwinder.modules.len() <= executable.len());
        }
        assert!(unwinder.files.len() <= FILES_KEPT);
    }

    const LIB_C: &str = r#"
void lib_crash(volatile int *p) {
    *p = 42; /* line 3 */
}
void lib_outer(volatile int *p) {
    lib_crash(p); /* line 6 */
}
"#;

    const MAIN_C: &str = r#"
void lib_outer(volatile int *p);
static void middle(void) {
    lib_outer(0); /* line 4 */
}
int main(void) {
    middle(); /* line 7 */
    return 0;
}
"#;

    /// Runs `cc ARGS`; `None` if there is no `cc`.
    fn cc(dir: &Path, args: &[&str]) -> Option<()> {
        let status = Command::new("cc")
            .current_dir(dir)
            .args(args)
            .status()
            .ok()?;
        assert!(status.success(), "cc {args:?} failed");
        Some(())
    }

    /// A scratch directory, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Builds `libcrash.so` and `main` (PIE or not) in a fresh directory;
    /// `None` if there is no `cc`.
    fn build_c_program(name: &str, pie: bool) -> Option<TempDir> {
        let dir = std::env::temp_dir().join(format!("unwind-c-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dir = TempDir(dir);
        std::fs::write(dir.0.join("libcrash.c"), LIB_C).unwrap();
        std::fs::write(dir.0.join("main.c"), MAIN_C).unwrap();
        let common = ["-g", "-O0", "-fno-inline"];
        let lib = ["-shared", "-fPIC", "-o", "libcrash.so", "libcrash.c"];
        cc(&dir.0, &[&common[..], &lib].concat())?;
        let rpath = format!("-Wl,-rpath,{}", dir.0.display());
        let pie_flag = if pie { "-pie" } else { "-no-pie" };
        let main = [pie_flag, "-o", "main", "main.c", "-L.", "-lcrash", &rpath];
        cc(&dir.0, &[&common[..], &main].concat())?;
        Some(dir)
    }

    /// Checks a frame against `addr2line -f -e MODULE OFFSET`, if installed.
    fn agrees_with_addr2line(frame: &Frame) {
        let module = frame.module.as_deref().unwrap();
        let offset = format!("{:#x}", frame.module_offset);
        let Ok(out) = Command::new("addr2line")
            .args(["-f", "-e", module, &offset])
            .output()
        else {
            return;
        };
        let out = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.lines().next(),
            frame.function.as_deref(),
            "addr2line: {out}"
        );
    }

    fn check_c_backtrace(name: &str, pie: bool) {
        let Some(dir) = build_c_program(name, pie) else {
            eprintln!("skipping the C backtrace test: `cc` not found");
            return;
        };
        let child = Traced::spawn(&dir.0.join("main"), Signal::SIGSEGV);
        let frames = child.backtrace(&mut Unwinder::new(), &mut Symbolizer::new());

        let names: Vec<_> = frames
            .iter()
            .take(4)
            .map(|f| f.function.as_deref())
            .collect();
        let expected = ["lib_crash", "lib_outer", "middle", "main"].map(Some);
        assert_eq!(names, expected, "{frames:#?}");
        assert_at(&frames[0], "libcrash.c", 3);
        assert_at(&frames[1], "libcrash.c", 6);
        assert_at(&frames[2], "main.c", 4);
        assert_at(&frames[3], "main.c", 7);
        assert!(frames[0]
            .module
            .as_deref()
            .unwrap()
            .ends_with("/libcrash.so"));
        assert!(frames[3].module.as_deref().unwrap().ends_with("/main"));
        for frame in &frames[..4] {
            agrees_with_addr2line(frame);
        }
    }

    /// Moves the DWARF of `dir/libcrash.so` into `dir/debug/.build-id/..`,
    /// as distributions' debug packages do; `None` without `objcopy`.
    fn split_debug_info(dir: &Path) -> Option<std::path::PathBuf> {
        let lib = dir.join("libcrash.so");
        let data = std::fs::read(&lib).unwrap();
        let id = object::File::parse(&*data)
            .unwrap()
            .build_id()
            .unwrap()?
            .to_vec();
        let hex: String = id[1..].iter().map(|b| format!("{b:02x}")).collect();
        let debug_dir = dir.join("debug");
        let debug_file = debug_dir.join(format!(".build-id/{:02x}/{hex}.debug", id[0]));
        std::fs::create_dir_all(debug_file.parent().unwrap()).unwrap();
        let objcopy = |args: &[&std::ffi::OsStr]| Command::new("objcopy").args(args).status().ok();
        let keep = objcopy(&[
            "--only-keep-debug".as_ref(),
            lib.as_ref(),
            debug_file.as_ref(),
        ])?;
        let strip = objcopy(&["--strip-all".as_ref(), lib.as_ref()])?;
        assert!(keep.success() && strip.success(), "objcopy failed");
        Some(debug_dir)
    }

    #[test]
    fn symbolizes_a_stripped_library_through_its_build_id_debug_file() {
        let Some(dir) = build_c_program("split", true) else {
            eprintln!("skipping the split debug info test: `cc` not found");
            return;
        };
        let Some(debug_dir) = split_debug_info(&dir.0) else {
            eprintln!("skipping the split debug info test: no build id or no `objcopy`");
            return;
        };
        let child = Traced::spawn(&dir.0.join("main"), Signal::SIGSEGV);
        let mut stripped = Symbolizer::with_debug_dirs(Vec::new());
        let frames = child.backtrace(&mut Unwinder::new(), &mut stripped);
        // Only .dynsym is left in the library itself.
        assert_eq!(
            frames[0].function.as_deref(),
            Some("lib_crash"),
            "{frames:#?}"
        );
        assert_eq!(frames[0].file, None, "{:?}", frames[0]);
        let mut with_debug = Symbolizer::with_debug_dirs(vec![debug_dir]);
        let frames = child.backtrace(&mut Unwinder::new(), &mut with_debug);
        assert_eq!(
            frames[0].function.as_deref(),
            Some("lib_crash"),
            "{frames:#?}"
        );
        assert_at(&frames[0], "libcrash.c", 3);
        assert_at(&frames[1], "libcrash.c", 6);
    }

    #[test]
    fn unwinder_and_symbolizer_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Unwinder>();
        assert_send::<Symbolizer>();
    }

    #[test]
    fn backtrace_through_a_c_shared_library_and_pie_executable() {
        check_c_backtrace("pie", true);
    }

    #[test]
    fn backtrace_through_a_c_shared_library_and_non_pie_executable() {
        check_c_backtrace("nopie", false);
    }
}
