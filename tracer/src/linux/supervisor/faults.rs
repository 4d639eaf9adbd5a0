//! Faults, allocator errors and fatal signals: each is explained while the
//! thread is stopped (decoded, classified, unwound and symbolized by the
//! [`Analyzer`]), and a heap access that faulted on a guard page is
//! performed for the test so it goes on as it would natively (keep-going).

use super::Supervisor;
use crate::linux::fault::analyzer::{crash_finding, Signal};
use crate::linux::fault::emulate::{self, Op};
use crate::linux::fault::guard_table;
use crate::linux::fault::realign;
use crate::linux::fault::registers::Regs;
use crate::linux::fault::step;
use crate::linux::fault::Analyzer;
use crate::linux::process::proc::{self, SignalMasks};
use crate::linux::process::ptrace;
use crate::linux::process::watchdog::Extender;
use crate::linux::PAGE;
use crate::preload::protocol::{
    Header, GUARD_HEADER_ADDR, GUARD_SCRATCH_OFFSET, GUARD_SCRATCH_SIZE, SLOT_LIVE,
};
use crate::Finding;
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::time::Instant;

thread_local! {
    /// The analyzer of the last run on this thread: its parsed debug info and
    /// unwind tables stay valid for the next test of the same binary, so only
    /// the first finding of a thread pays for loading them.
    static CACHED_ANALYZER: RefCell<Option<Analyzer>> = const { RefCell::new(None) };
}

/// What the run knows about faults so far.
pub struct Faults {
    /// Built on first use (or taken from the thread's cache); handed back
    /// to the cache by [`Faults::finish`].
    analyzer: Option<Analyzer>,
    /// At most this many frames per backtrace.
    max_frames: usize,
    /// Processes with a decoded access violation: their death by signal is
    /// explained already and needs no separate crash finding.
    violated: HashSet<i32>,
    /// Per process: a crash finding built (while the thread was stopped)
    /// when a signal that kills unless handled was about to be delivered,
    /// reported if the process then dies of it.
    pending_crash: HashMap<i32, Fatal>,
    /// Per thread: access violations outside the guard allocator's memory
    /// delivered to a handler of the program's own, reported only if the
    /// handler does not resolve them (see [`Supervisor::settle_faults`]).
    handled: HashMap<i32, Vec<Handled>>,
    /// Per process: the guard allocator's header, once read.
    headers: HashMap<i32, Header>,
    /// Heap faults already reported, by (process, rip): the finding's index.
    /// A recurrence is performed and counted without a new finding.
    heap_faults: HashMap<(i32, u64), usize>,
    /// `/proc/PID/mem` of processes whose heap accesses were performed.
    mem_files: HashMap<i32, File>,
    /// Aligned vector moves rewritten to their unaligned twins (see
    /// [`realign`]), by (process, rip).
    realigned: HashSet<(i32, u64)>,
    /// The time spent explaining a fault is added to the test's deadline.
    extender: Extender,
}

/// A signal about to be delivered that kills the process unless handled.
struct Fatal {
    signo: i32,
    /// Raised by the kernel for what the thread did (a fault, an illegal
    /// instruction), not sent by a process.
    synchronous: bool,
    finding: Finding,
}

/// An access violation delivered to the program (to a handler of its own,
/// or to kill it).
struct Handled {
    signo: i32,
    /// (rip, si_addr): the same fault again is not analysed again.
    key: (u64, u64),
    /// To report if the handler does not resolve it; `None` once reported.
    finding: Option<Finding>,
}

/// Whether a signal raised by the kernel for what a thread did is a fault
/// of that thread: a memory fault, an illegal instruction, an arithmetic
/// error, a breakpoint or a forbidden system call.
fn is_fault_signal(signo: i32) -> bool {
    matches!(
        signo,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP | libc::SIGSYS
    )
}

impl Faults {
    /// Nothing seen yet; backtraces of at most `max_frames` frames.
    pub fn new(max_frames: usize, extender: Extender) -> Faults {
        Faults {
            analyzer: CACHED_ANALYZER.with(|c| c.borrow_mut().take()),
            max_frames,
            violated: HashSet::new(),
            pending_crash: HashMap::new(),
            handled: HashMap::new(),
            headers: HashMap::new(),
            heap_faults: HashMap::new(),
            mem_files: HashMap::new(),
            realigned: HashSet::new(),
            extender,
        }
    }

    /// Runs `explain` with the analyzer; the time it takes (loading debug
    /// info, unwinding) does not count against the test's timeout.
    pub(super) fn explain<T>(&mut self, explain: impl FnOnce(&mut Analyzer) -> T) -> T {
        let start = Instant::now();
        let out = explain(self.analyzer());
        self.extender.extend(start.elapsed());
        out
    }

    /// Hands the analyzer back to the thread's cache for the next run.
    pub fn finish(&mut self) {
        let analyzer = self.analyzer.take();
        CACHED_ANALYZER.with(|c| *c.borrow_mut() = analyzer);
    }

    /// The analyzer, built on first use.
    pub fn analyzer(&mut self) -> &mut Analyzer {
        let max = self.max_frames;
        let analyzer = self
            .analyzer
            .get_or_insert_with(|| Analyzer::new(max).expect("initializing the x86-64 decoder"));
        analyzer.set_max_frames(max);
        analyzer
    }

    /// Process `pid` executed a new program: its code and memory are not
    /// the old ones.
    pub fn forget_process(&mut self, pid: i32) {
        self.pending_crash.remove(&pid);
        self.headers.remove(&pid);
        self.heap_faults.retain(|&(p, _), _| p != pid);
        self.mem_files.remove(&pid);
        self.realigned.retain(|&(p, _)| p != pid);
    }

    /// The guard allocator's header in process `pid`, once read.
    fn header(&mut self, pid: i32) -> Option<Header> {
        match self.headers.get(&pid) {
            Some(h) => Some(*h),
            None => {
                let h = guard_table::header(pid)?;
                Some(*self.headers.entry(pid).or_insert(h))
            }
        }
    }

    /// Whether `size` bytes at `address` lie in the guard allocator's arena
    /// in process `pid` (guard pages, freed pages, slack: only ever the
    /// allocator's): the only memory keep-going ever writes to.
    fn in_guarded_pages(&mut self, pid: i32, address: u64, size: u64) -> bool {
        let Some(header) = self.header(pid) else {
            return false;
        };
        address >= header.arena_start && address.saturating_add(size) <= header.arena_end
    }

    /// `/proc/PID/mem`, opened once per process.
    fn mem(&mut self, pid: i32) -> Option<&File> {
        match self.mem_files.entry(pid) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(e) => File::options()
                .read(true)
                .write(true)
                .open(format!("/proc/{pid}/mem"))
                .ok()
                .map(|f| &*e.insert(f)),
        }
    }

    /// Performs the faulting heap access for the tracee and writes back the
    /// registers (rip past the instruction, or at the rest of a rep string
    /// instruction); true if done. A plain load or store, `movs` or `stos`
    /// is emulated; any other instruction with one memory operand runs on a
    /// copy of it ([`step`]); false for anything else.
    fn perform(&mut self, pid: i32, tid: i32, regs: &mut Regs) -> bool {
        if let Some((plan, address)) = self.analyzer().plan(tid, regs) {
            let size = plan.size();
            let touches = match plan.op {
                Op::Movs { .. } => {
                    self.in_guarded_pages(pid, regs.rdi, size)
                        || self.in_guarded_pages(pid, regs.rsi, size)
                }
                _ => self.in_guarded_pages(pid, address, size),
            };
            if !touches {
                return false;
            }
            let Some(mem) = self.mem(pid) else {
                return false;
            };
            return emulate::apply(mem, regs, &plan, address).is_ok()
                && ptrace::setregs(tid, regs).is_ok();
        }
        let Some(op) = self
            .analyzer()
            .relocatable(tid, regs, GUARD_SCRATCH_SIZE as u32)
        else {
            return false;
        };
        if !self.in_guarded_pages(pid, op.address, u64::from(op.size)) {
            return false;
        }
        let Some(mem) = self.mem(pid) else {
            return false;
        };
        let scratch = GUARD_HEADER_ADDR + GUARD_SCRATCH_OFFSET;
        match step::through_scratch(mem, pid, tid, regs, &op, scratch) {
            Ok(after) => {
                *regs = after;
                true
            }
            Err(_) => false,
        }
    }

    /// A general-protection fault (SIGSEGV, `SI_KERNEL`) of an aligned
    /// vector instruction on a live guarded allocation that byte-exact
    /// placement left less aligned than malloc would have (the access is at
    /// a multiple of 16 from the allocation's start): not the program's
    /// fault. An aligned move is rewritten in the process's copy of the
    /// code to its unaligned twin ([`realign`]) and the thread resumes at
    /// it: one stop per site and process. Any other such instruction is
    /// performed on an aligned copy ([`step`]), unless the access also runs
    /// past the allocation's accessible memory. The verdict:
    pub(super) fn realign(&mut self, pid: i32, tid: i32, regs: &mut Regs) -> Realign {
        if self.realigned.contains(&(pid, regs.rip)) {
            // Another thread faulted on the old bytes as they changed.
            return Realign::Done;
        }
        let Some((code, decoded)) = self.analyzer().instruction(tid, regs) else {
            return Realign::NotOurs;
        };
        let Some(access) = decoded.accesses.iter().find(|a| a.size >= 16).cloned() else {
            return Realign::NotOurs;
        };
        let Some(h) = self.header(pid) else {
            return Realign::NotOurs;
        };
        let ours = guard_table::slot_of_page(pid, &h, access.address).is_some_and(|s| {
            s.state == SLOT_LIVE
                && s.align < 16
                && access.address >= s.start
                && access.address.wrapping_sub(s.user) % 16 == 0
        });
        if !ours {
            return Realign::NotOurs;
        }
        if let Some(patches) = realign::unaligned_form(&code) {
            let rip = regs.rip;
            let Some(mem) = self.mem(pid) else {
                return Realign::NotOurs;
            };
            use std::os::unix::fs::FileExt;
            let written = patches
                .iter()
                .all(|&(at, byte)| mem.write_all_at(&[byte], rip + at as u64).is_ok());
            if !written {
                return Realign::NotOurs;
            }
            self.realigned.insert((pid, rip));
            return Realign::Done;
        }
        // Performed on a copy: only if all of it can be read, else the
        // access runs past the allocation too and is a finding.
        let mut probe = vec![0u8; access.size as usize];
        let Some(mem) = self.mem(pid) else {
            return Realign::NotOurs;
        };
        use std::os::unix::fs::FileExt;
        if mem.read_exact_at(&mut probe, access.address).is_err() {
            // The first page of the access that cannot be read.
            let last = access.address + u64::from(access.size) - 1;
            let bad = [access.address, last & !(PAGE - 1)]
                .into_iter()
                .find(|&a| mem.read_exact_at(&mut probe[..1], a).is_err())
                .unwrap_or(access.address);
            return Realign::Overrun { addr: bad };
        }
        if self.perform(pid, tid, regs) {
            Realign::Done
        } else {
            Realign::NotOurs
        }
    }
}

/// What [`Faults::realign`] made of a general-protection fault.
pub(super) enum Realign {
    /// Dealt with: resume the thread without the signal.
    Done,
    /// Misaligned by placement, and it also reaches memory that cannot be
    /// accessed at `addr`: a heap access to report.
    Overrun {
        /// The first byte it cannot access.
        addr: u64,
    },
    /// Not caused by placement: the program's own fault.
    NotOurs,
}

impl Supervisor {
    /// Signal `sig` is about to be delivered to `tid`: explain it if it is a
    /// fault or the allocator's trap, describe the thread if the signal is
    /// fatal unless handled. True if the supervisor dealt with it (the heap
    /// access performed, the allocator error reported) and the thread
    /// resumes without it.
    pub(super) fn on_fault_or_trap(&mut self, pid: i32, tid: i32, sig: i32) -> bool {
        match sig {
            libc::SIGTRAP if self.on_allocator_trap(pid, tid) => true,
            libc::SIGSEGV | libc::SIGBUS => self.on_fault(pid, tid, sig),
            libc::SIGABRT | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP | libc::SIGSYS => {
                self.note_fatal_signal(pid, tid, sig);
                false
            }
            _ => false,
        }
    }

    /// Process `pid` was killed by `sig`. The test process's death is a
    /// crash, unless a decoded access violation explains it already; another
    /// process's death by a signal is the business of the test that runs it
    /// (it kills its children, runs pipelines, runs death tests), as
    /// natively, unless the signal is a fault of that process (a memory
    /// fault, an illegal instruction, ...), which is a finding too.
    pub(super) fn report_death(&mut self, pid: i32, sig: i32) {
        if self.faults.violated.contains(&pid) {
            return;
        }
        let fatal = self
            .faults
            .pending_crash
            .remove(&pid)
            .filter(|f| f.signo == sig);
        let fault = fatal
            .as_ref()
            .is_some_and(|f| f.synchronous && is_fault_signal(f.signo));
        if pid != self.main && !fault {
            return;
        }
        let finding = match fatal {
            Some(f) => f.finding,
            None => crash_finding(pid, sig),
        };
        self.report(finding);
    }

    /// Thread `tid` of `pid` is exiting (its memory still intact): the
    /// access violations its own handler was given are settled. One that
    /// killed the process, or whose handler was still running when the
    /// process ended abnormally (Rust's stack-overflow handler aborts, a
    /// crash handler exits non-zero), is reported with the details captured
    /// at the fault; one the handler resolved (returning, or jumping out)
    /// is not a finding.
    pub(super) fn settle_faults(&mut self, pid: i32, tid: i32) {
        let Some(handled) = self.faults.handled.remove(&tid) else {
            return;
        };
        if self.killing {
            return;
        }
        // The exit event's message is the thread's wait status.
        let status = ptrace::geteventmsg(tid).map_or(0, |s| s as i32);
        let killed_by = (libc::WIFSIGNALED(status)).then(|| libc::WTERMSIG(status));
        let abnormal = killed_by.is_some() || libc::WEXITSTATUS(status) != 0;
        let blocked = proc::signal_masks(pid, tid).map_or(0, |m| m.blocked);
        for h in handled {
            let in_handler = SignalMasks::has(blocked, h.signo);
            if let (true, Some(finding)) = (
                killed_by == Some(h.signo) || (abnormal && in_handler),
                h.finding,
            ) {
                self.report(finding);
                self.faults.violated.insert(pid);
            }
        }
    }

    /// A signal that kills unless handled is about to be delivered: describe
    /// the thread now, while it is stopped and its memory readable.
    fn note_fatal_signal(&mut self, pid: i32, tid: i32, sig: i32) {
        let (Ok(info), Ok(regs)) = (ptrace::getsiginfo(tid), ptrace::getregs(tid)) else {
            return;
        };
        let finding = self.faults.explain(|a| a.crash(pid, tid, &regs, sig));
        let fatal = Fatal {
            signo: sig,
            synchronous: info.si_code > 0,
            finding,
        };
        self.faults.pending_crash.insert(pid, fatal);
    }

    /// The guard allocator traps (int3, SI_KERNEL) with its error record's
    /// address in rax. True if this SIGTRAP was that and is reported (the
    /// allocator then returns without freeing and the test goes on).
    fn on_allocator_trap(&mut self, pid: i32, tid: i32) -> bool {
        let (Ok(info), Ok(regs)) = (ptrace::getsiginfo(tid), ptrace::getregs(tid)) else {
            return false;
        };
        if info.si_code != ptrace::SI_KERNEL {
            return false;
        }
        match self.faults.explain(|a| a.allocator_error(pid, tid, &regs)) {
            Some(finding) => {
                self.report(finding);
                true
            }
            None => false,
        }
    }

    /// A SIGSEGV or SIGBUS. A heap access (on the guard allocator's pages)
    /// is reported and performed for the tracee: returns true, resume
    /// without the signal. Any other fault is delivered (false): reported
    /// now if it kills the process, or handed to the program's handler and
    /// settled when the thread exits ([`Supervisor::settle_faults`]).
    fn on_fault(&mut self, pid: i32, tid: i32, sig: i32) -> bool {
        let (Ok(info), Ok(mut regs)) = (ptrace::getsiginfo(tid), ptrace::getregs(tid)) else {
            return false;
        };
        // Sent with kill/tgkill/sigqueue: not a fault, but fatal if unhandled.
        if info.si_code <= 0 {
            self.note_fatal_signal(pid, tid, sig);
            return false;
        }
        // A general-protection fault of an aligned vector instruction that
        // placement misaligned: resumed, or reported as the overrun it is.
        let mut overrun = None;
        if sig == libc::SIGSEGV && info.si_code == ptrace::SI_KERNEL {
            match self.faults.realign(pid, tid, &mut regs) {
                Realign::Done => return true,
                Realign::Overrun { addr } => overrun = Some(addr),
                Realign::NotOurs => {}
            }
        }
        // The same heap access again (a loop running past the end): perform
        // it and count it, without analysing it again.
        if let Some(&index) = self.faults.heap_faults.get(&(pid, regs.rip)) {
            if self.faults.perform(pid, tid, &mut regs) {
                self.findings[index].count += 1;
                return true;
            }
        }
        // SAFETY: for SIGSEGV/SIGBUS with si_code > 0 the kernel filled si_addr.
        let addr = overrun.unwrap_or(unsafe { info.si_addr() } as u64);
        let key = (regs.rip, addr);
        let masks = proc::signal_masks(pid, tid);
        let caught = masks.is_some_and(|m| SignalMasks::has(m.caught, sig));
        let handled = self.faults.handled.entry(tid).or_default();
        // Handlers that have returned or jumped out resolved their faults.
        let blocked = masks.map_or(0, |m| m.blocked);
        handled.retain(|h| h.key == key || SignalMasks::has(blocked, h.signo));
        if let Some(h) = handled.iter_mut().find(|h| h.key == key) {
            // The same fault again once a handler returned: it is settled
            // like the first, unless nothing handles it any more (Rust's
            // handler resets the default and returns): then it kills now.
            if let (false, Some(finding)) = (caught, h.finding.take()) {
                self.report(finding);
                self.faults.violated.insert(pid);
            }
            return false;
        }
        let signal = Signal {
            signo: sig,
            code: info.si_code,
            addr,
        };
        let finding = self
            .faults
            .explain(|a| a.access_violation(pid, tid, &regs, signal));
        let heap = finding.kind.is_heap_access();
        // Faults on the guard allocator's pages are findings whatever the
        // program does about them, and so is any fault nothing handles.
        let finding = if heap || !caught {
            self.report(finding);
            let rip = regs.rip;
            if heap && self.faults.perform(pid, tid, &mut regs) {
                let index = self.findings.len() - 1;
                self.faults.heap_faults.insert((pid, rip), index);
                return true;
            }
            self.faults.violated.insert(pid);
            None
        } else {
            Some(finding)
        };
        let handled = Handled {
            signo: sig,
            key,
            finding,
        };
        self.faults.handled.entry(tid).or_default().push(handled);
        false
    }
}
