//! Faults, allocator errors and fatal signals: each is explained while the
//! thread is stopped (decoded, classified, unwound and symbolized by the
//! [`Analyzer`]), and a heap access that faulted on a guard page is
//! performed for the test so it goes on as it would natively (keep-going).

use super::Supervisor;
use crate::linux::fault::analyzer::{crash_finding, Signal};
use crate::linux::fault::emulate;
use crate::linux::fault::registers::Regs;
use crate::linux::fault::Analyzer;
use crate::linux::process::ptrace;
use crate::linux::process::watchdog::Extender;
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
    /// Per process: the signal and a crash finding built (while the thread
    /// was stopped) when a fatal signal was about to be delivered, reported
    /// if the process then dies of it.
    pending_crash: HashMap<i32, (i32, Finding)>,
    /// Heap faults already reported, by (process, rip): the finding's index.
    /// A recurrence is performed and counted without a new finding.
    heap_faults: HashMap<(i32, u64), usize>,
    /// `/proc/PID/mem` of processes whose heap accesses were performed.
    mem_files: HashMap<i32, File>,
    /// The time spent explaining a fault is added to the test's deadline.
    extender: Extender,
}

impl Faults {
    /// Nothing seen yet; backtraces of at most `max_frames` frames.
    pub fn new(max_frames: usize, extender: Extender) -> Faults {
        Faults {
            analyzer: CACHED_ANALYZER.with(|c| c.borrow_mut().take()),
            max_frames,
            violated: HashSet::new(),
            pending_crash: HashMap::new(),
            heap_faults: HashMap::new(),
            mem_files: HashMap::new(),
            extender,
        }
    }

    /// Runs `explain` with the analyzer; the time it takes (loading debug
    /// info, unwinding) does not count against the test's timeout.
    fn explain<T>(&mut self, explain: impl FnOnce(&mut Analyzer) -> T) -> T {
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
        self.heap_faults.retain(|&(p, _), _| p != pid);
        self.mem_files.remove(&pid);
    }

    /// Performs the faulting access for the tracee if it is a plain load or
    /// store, writes back the registers (rip past the instruction), and
    /// returns true; false if it cannot be emulated.
    fn perform(&mut self, pid: i32, tid: i32, regs: &mut Regs) -> bool {
        let Some((plan, address)) = self.analyzer().plan(tid, regs) else {
            return false;
        };
        let mem = match self.mem_files.entry(pid) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                match File::options()
                    .read(true)
                    .write(true)
                    .open(format!("/proc/{pid}/mem"))
                {
                    Ok(f) => e.insert(f),
                    Err(_) => return false,
                }
            }
        };
        emulate::apply(mem, regs, &plan, address).is_ok() && ptrace::setregs(tid, regs).is_ok()
    }
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

    /// Process `pid` was killed by `sig`: a crash, unless a decoded access
    /// violation explains it already; with the details captured when the
    /// signal was about to be delivered, if it was that signal.
    pub(super) fn report_death(&mut self, pid: i32, sig: i32) {
        if self.faults.violated.contains(&pid) {
            return;
        }
        let finding = match self.faults.pending_crash.remove(&pid) {
            Some((signo, finding)) if signo == sig => finding,
            _ => crash_finding(pid, sig),
        };
        self.report(finding);
    }

    /// A signal that kills unless handled is about to be delivered: describe
    /// the thread now, while it is stopped and its memory readable.
    fn note_fatal_signal(&mut self, pid: i32, tid: i32, sig: i32) {
        if let Ok(regs) = ptrace::getregs(tid) {
            let finding = self.faults.explain(|a| a.crash(pid, tid, &regs, sig));
            self.faults.pending_crash.insert(pid, (sig, finding));
        }
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

    /// A SIGSEGV or SIGBUS: report it. Returns true if it was a heap access
    /// that the supervisor performed for the tracee (resume without the
    /// signal); false to deliver the signal.
    fn on_fault(&mut self, pid: i32, tid: i32, sig: i32) -> bool {
        let (Ok(info), Ok(mut regs)) = (ptrace::getsiginfo(tid), ptrace::getregs(tid)) else {
            return false;
        };
        // Sent with kill/tgkill/sigqueue: not a fault, but fatal if unhandled.
        if info.si_code <= 0 {
            self.note_fatal_signal(pid, tid, sig);
            return false;
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
        let addr = unsafe { info.si_addr() } as u64;
        let key = (regs.rip, addr);
        if let Some(task) = self.tasks.get_mut(tid) {
            if task.last_fault == Some(key) {
                return false; // The same fault again after a handler returned.
            }
            task.last_fault = Some(key);
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
        self.report(finding);
        let rip = regs.rip;
        if heap && self.faults.perform(pid, tid, &mut regs) {
            let index = self.findings.len() - 1;
            self.faults.heap_faults.insert((pid, rip), index);
            return true;
        }
        self.faults.violated.insert(pid);
        false
    }
}
