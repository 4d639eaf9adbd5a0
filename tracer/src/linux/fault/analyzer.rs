//! Turning a stopped tracee into a finding: decode the faulting access,
//! classify it, unwind and symbolize the stack.

use crate::linux::fault::decode::{self, Decoder, Relocatable};
use crate::linux::fault::emulate::Plan;
use crate::linux::fault::guard_table::{Blame, Overrun};
use crate::linux::fault::registers::Regs;
use crate::linux::fault::{guard_table, leaks};
use crate::linux::process::{memory, proc, ptrace};
use crate::linux::symbols::maps::{self, Mapping};
use crate::linux::symbols::symbolize::Symbolizer;
use crate::linux::symbols::unwind::{self, Unwinder};
use crate::preload::protocol::{ErrorKind, ErrorRecord, Header, Slot, SLOT_FREED, UNSAFE_CALLS};
use crate::{Access, Allocation, Finding, FindingKind, Frame};

/// Addresses below this are "NULL plus a field offset": Linux never maps them
/// (vm.mmap_min_addr defaults to 64 KiB).
const NULL_PAGE_LIMIT: u64 = 0x1_0000;

/// A fault this close to the stack pointer, outside any accessible mapping,
/// is the thread running into its stack guard.
const STACK_GUARD_REACH: u64 = 0x1_0000;

/// What the kernel said about a SIGSEGV/SIGBUS.
#[derive(Debug, Clone, Copy)]
pub struct Signal {
    /// Signal number.
    pub signo: i32,
    /// `si_code` (SEGV_MAPERR, SEGV_ACCERR, SI_KERNEL, ...).
    pub code: i32,
    /// `si_addr`: the page start for accesses that straddle into a guard page,
    /// and 0 for general-protection faults on non-canonical addresses.
    pub addr: u64,
}

/// Decoder, unwinder and symbolizer, built on the first fault and kept for
/// the rest of the run (they cache parsed debug info).
pub struct Analyzer {
    decoder: Decoder,
    unwinder: Unwinder,
    symbolizer: Symbolizer,
    max_frames: usize,
}

impl Analyzer {
    /// Builds the analyzer; fails only if capstone cannot be initialized.
    pub fn new(max_frames: usize) -> Result<Analyzer, String> {
        Ok(Analyzer {
            decoder: Decoder::new()?,
            unwinder: Unwinder::new(),
            symbolizer: Symbolizer::new(),
            max_frames,
        })
    }

    /// How to perform the faulting access for the tracee (a plain load or
    /// store), and its address; `None` if it cannot be emulated.
    pub fn plan(&self, tid: i32, regs: &Regs) -> Option<(Plan, u64)> {
        let mut code = [0u8; 16];
        let n = memory::read(tid, regs.rip, &mut code);
        self.decoder.plan(&code[..n], regs.rip, regs)
    }

    /// The instruction at `rip` as a [`Relocatable`] whose memory operand
    /// is at most `max_size` bytes (see [`Decoder::relocatable`]).
    pub fn relocatable(&self, tid: i32, regs: &Regs, max_size: u32) -> Option<Relocatable> {
        let mut code = [0u8; 16];
        let n = memory::read(tid, regs.rip, &mut code);
        self.decoder
            .relocatable(&code[..n], regs.rip, regs, max_size)
    }

    /// The bytes of the instruction at `rip` and its memory accesses.
    pub fn instruction(&self, tid: i32, regs: &Regs) -> Option<(Vec<u8>, decode::Decoded)> {
        let mut code = [0u8; 16];
        let n = memory::read(tid, regs.rip, &mut code);
        let decoded = self.decoder.decode(&code[..n], regs.rip, regs)?;
        Some((code[..decoded.len].to_vec(), decoded))
    }

    /// Changes the backtrace depth for later findings.
    pub fn set_max_frames(&mut self, max_frames: usize) {
        self.max_frames = max_frames;
    }

    /// The symbolized stack of a stopped thread.
    pub fn backtrace(&mut self, tid: i32, regs: &Regs) -> Vec<Frame> {
        unwind::backtrace(
            &mut self.unwinder,
            &mut self.symbolizer,
            tid,
            regs,
            self.max_frames,
        )
    }

    /// A finding for an access violation of thread `tid` of process `pid`.
    pub fn access_violation(&mut self, pid: i32, tid: i32, regs: &Regs, sig: Signal) -> Finding {
        let mut code = [0u8; 16];
        let n = memory::read(tid, regs.rip, &mut code);
        let decoded = self.decoder.decode(&code[..n], regs.rip, regs);
        let access = decoded
            .as_ref()
            .and_then(|d| decode::faulting_access(&d.accesses, sig.addr))
            .cloned();
        let address = access.as_ref().map_or(sig.addr, |a| a.address);
        let maps = maps::read_maps(pid).unwrap_or_default();
        let thread = proc::info(pid, tid);
        let heap = access.as_ref().and_then(|a| {
            guard_table::header(pid)
                .and_then(|h| guard_table::blame(pid, &h, a.address))
                .map(|b| (a, b))
        });
        let (kind, message, allocation) = match heap {
            Some((a, Blame::Slot(slot))) => {
                let (kind, message) = guard_table::classify_access(a, &slot);
                (kind, message, Some(self.slot_allocation(pid, &slot, &maps)))
            }
            Some((a, Blame::Forgotten)) => {
                let (kind, message) = guard_table::classify_forgotten(a);
                (kind, message, None)
            }
            None if access
                .as_ref()
                .is_some_and(|a| guard_table::is_poison_pointer(a.address)) =>
            {
                let a = access.as_ref().expect("checked");
                let (kind, message) = guard_table::classify_poison(a);
                (kind, message, None)
            }
            None => {
                let kind = classify(address, regs.rsp, &maps);
                let message = describe(kind, access.as_ref(), address, sig, &maps, &thread.name);
                (kind, message, None)
            }
        };
        Finding {
            access,
            instruction: decoded.map(|d| d.text),
            signal: Some(ptrace::signal_name(sig.signo)),
            backtrace: self.backtrace(tid, regs),
            thread: Some(thread),
            allocation,
            ..Finding::new(kind, message)
        }
    }

    /// A finding for an error the guard allocator detected (double free,
    /// invalid free, ...) and reported by trapping; `None` if the trap was
    /// not the allocator's.
    pub fn allocator_error(&mut self, pid: i32, tid: i32, regs: &Regs) -> Option<Finding> {
        let record: ErrorRecord = guard_table::error_record(tid, regs.rax)?;
        if ErrorKind::from_raw(record.kind) == Some(ErrorKind::SignalUnsafeCall) {
            return Some(self.signal_unsafe_call(pid, tid, regs, &record));
        }
        let slot = guard_table::slot(pid, record.slot);
        // A live wrapped block, or a freed one in the wrapped quarantine
        // (with who freed it).
        let wrap = guard_table::header(pid).and_then(|h| {
            guard_table::wrap(pid, &h, record.ptr)
                .map(|w| (w, None))
                .or_else(|| {
                    guard_table::freed_wrap(pid, &h, record.ptr).map(|w| (w, Some(w.free_tid)))
                })
        });
        let (kind, message) =
            guard_table::classify_error(&record, slot.as_ref(), wrap.map(|(w, _)| w.size))?;
        let maps = maps::read_maps(pid).unwrap_or_default();
        let allocation = match (slot, wrap) {
            (Some(s), _) => Some(self.slot_allocation(pid, &s, &maps)),
            (None, Some((w, freed_tid))) => Some(self.allocation(
                pid,
                &maps,
                (record.ptr, w.size),
                (w.alloc_tid, w.alloc_stack),
                freed_tid.map(|tid| (tid, w.live_index)),
            )),
            (None, None) => None,
        };
        if ErrorKind::from_raw(record.kind) == Some(ErrorKind::WriteAfterFree) {
            // Found by whichever thread made the slot leave the quarantine:
            // its stack says nothing of the write, the free's says where.
            let freed_at = allocation
                .as_ref()
                .map(|a| a.freed_at.clone())
                .unwrap_or_default();
            return Some(Finding {
                backtrace: freed_at,
                allocation,
                notes: vec![WRITE_AFTER_FREE_NOTE.to_string()],
                ..Finding::new(kind, message)
            });
        }
        Some(Finding {
            backtrace: self.backtrace(tid, regs),
            thread: Some(proc::info(pid, tid)),
            allocation,
            ..Finding::new(kind, message)
        })
    }

    /// A finding for a call that is not async-signal-safe made in a signal
    /// handler (reported by the preloaded library, which goes on with the
    /// call): which call, which signal, which handler.
    fn signal_unsafe_call(
        &mut self,
        pid: i32,
        tid: i32,
        regs: &Regs,
        record: &ErrorRecord,
    ) -> Finding {
        let call = usize::try_from(record.reserved)
            .ok()
            .and_then(|i| UNSAFE_CALLS.get(i))
            .copied()
            .unwrap_or("a function that is not async-signal-safe");
        let signal =
            i32::try_from(record.slot).map_or_else(|_| "a signal".into(), ptrace::signal_name);
        let maps = maps::read_maps(pid).unwrap_or_default();
        let handler = self
            .symbolizer
            .symbolize(&maps, record.ptr)
            .pop()
            .and_then(|f| f.function)
            .unwrap_or_else(|| format!("{:#x}", record.ptr));
        Finding {
            signal: Some(signal.clone()),
            backtrace: self.backtrace(tid, regs),
            thread: Some(proc::info(pid, tid)),
            ..Finding::new(
                FindingKind::SignalUnsafeCall,
                format!(
                    "{call} called in a signal handler ({handler}, for {signal}): it is not async-signal-safe, and deadlocks or corrupts memory when the signal interrupts the same call"
                ),
            )
        }
    }

    /// The findings of process `pid`, about to exit with its memory intact:
    /// its live allocations whose bytes past the end were overwritten
    /// (where no guard page caught it: alignment slack, allocations placed
    /// at the start of their pages, wrapped blocks), and, with `leak_roots`
    /// (its threads' registers and stacks), its leaks: one per allocation
    /// site and kind (direct, indirect), with how many allocations and
    /// bytes.
    pub fn at_exit(
        &mut self,
        pid: i32,
        h: &Header,
        leak_roots: Option<leaks::Roots>,
    ) -> Vec<Finding> {
        let live = guard_table::live_slots(pid, h);
        let wrapped = guard_table::live_wrapped(pid, h);
        let overruns = guard_table::live_overruns(pid, &live, &wrapped);
        let overwrites = guard_table::freed_overwrites(pid, h);
        if overruns.is_empty()
            && overwrites.is_empty()
            && (leak_roots.is_none() || live.is_empty() && wrapped.is_empty())
        {
            return Vec::new();
        }
        let maps = maps::read_maps(pid).unwrap_or_default();
        let mut findings: Vec<Finding> = overruns
            .into_iter()
            .map(|o: Overrun| {
                let (kind, message) = o.describe();
                let site = (o.user, o.size, o.alloc_tid, o.alloc_stack);
                self.live_allocation_finding(pid, &maps, site, kind, message)
            })
            .collect();
        for o in overwrites {
            let (kind, message) = o.describe();
            let allocation = self.allocation(pid, &maps, (o.user, o.size), o.alloc, Some(o.free));
            findings.push(Finding {
                backtrace: allocation.freed_at.clone(),
                allocation: Some(allocation),
                notes: vec![WRITE_AFTER_FREE_NOTE.to_string()],
                ..Finding::new(kind, message)
            });
        }
        let Some(roots) = leak_roots else {
            return findings;
        };
        let threads = roots.threads;
        let mut leaks = leaks::find(pid, h, &live, &wrapped, &maps, roots);
        leaks.retain(|l| threads.contains(&l.alloc_tid));
        let mut sites: Vec<((u32, bool), Vec<&leaks::Leak>)> = Vec::new();
        for leak in &leaks {
            let key = (leak.alloc_stack, leak.direct);
            match sites.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(leak),
                None => sites.push((key, vec![leak])),
            }
        }
        for ((stack, direct), group) in sites {
            let first = group[0];
            let bytes: u64 = group.iter().map(|l| l.size).sum();
            let count = group.len();
            let message = format!(
                "{bytes} bytes in {count} allocation{} leaked {}",
                if count == 1 { "" } else { "s" },
                if direct {
                    "directly: no pointer to them remains when the process exits"
                } else {
                    "indirectly: only leaked allocations point to them"
                }
            );
            let site = (first.user, first.size, first.alloc_tid, stack);
            findings.push(self.live_allocation_finding(
                pid,
                &maps,
                site,
                FindingKind::Leak,
                message,
            ));
        }
        findings
    }

    /// A finding about a live allocation (`site`: its pointer, size,
    /// allocating thread and stack depot id), found when its process
    /// exited: where it was made is all there is to point at.
    fn live_allocation_finding(
        &mut self,
        pid: i32,
        maps: &[Mapping],
        (address, size, allocated_tid, stack): (u64, u64, i32, u32),
        kind: FindingKind,
        message: String,
    ) -> Finding {
        let allocation = self.allocation(pid, maps, (address, size), (allocated_tid, stack), None);
        Finding {
            backtrace: allocation.allocated_at.clone(),
            allocation: Some(allocation),
            ..Finding::new(kind, message)
        }
    }

    /// Where a slot was allocated and freed, symbolized.
    fn slot_allocation(&mut self, pid: i32, slot: &Slot, maps: &[Mapping]) -> Allocation {
        let freed = (slot.state == SLOT_FREED).then_some((slot.free_tid, slot.free_stack));
        self.allocation(
            pid,
            maps,
            (slot.user, slot.size),
            (slot.alloc_tid, slot.alloc_stack),
            freed,
        )
    }

    /// An allocation (`at`: pointer and size) made by a thread at a stack
    /// depot id (`alloc`) and, if it was, freed by one (`freed`), with both
    /// call sites symbolized.
    fn allocation(
        &mut self,
        pid: i32,
        maps: &[Mapping],
        (address, size): (u64, u64),
        (allocated_tid, alloc_stack): (i32, u32),
        freed: Option<(i32, u32)>,
    ) -> Allocation {
        Allocation {
            address,
            size,
            allocated_tid,
            allocated_at: self.call_site(&guard_table::stack(pid, alloc_stack), maps),
            freed_tid: freed.map(|(tid, _)| tid),
            freed_at: freed.map_or_else(Vec::new, |(_, stack)| {
                self.call_site(&guard_table::stack(pid, stack), maps)
            }),
        }
    }

    /// Symbolizes recorded return addresses (each minus one, to name the call).
    fn call_site(&mut self, pcs: &[u64], maps: &[Mapping]) -> Vec<Frame> {
        pcs.iter()
            .take_while(|&&pc| pc != 0)
            .flat_map(|&pc| self.symbolizer.symbolize(maps, pc - 1))
            .collect()
    }

    /// A finding for a process killed by a signal with no decoded violation;
    /// `regs` are the registers when the signal was about to be delivered.
    pub fn crash(&mut self, pid: i32, tid: i32, regs: &Regs, signo: i32) -> Finding {
        Finding {
            backtrace: self.backtrace(tid, regs),
            thread: Some(proc::info(pid, tid)),
            ..crash_finding(pid, signo)
        }
    }
}

/// The note on a write after free found from the poison of a freed
/// allocation, after the fact.
const WRITE_AFTER_FREE_NOTE: &str = "the write itself was not seen (the allocation was poisoned, not protected): the frames are where it was freed";

/// A process `pid` killed by `signo`, before anything else is known.
pub fn crash_finding(pid: i32, signo: i32) -> Finding {
    let name = ptrace::signal_name(signo);
    Finding {
        signal: Some(name.clone()),
        ..Finding::new(
            FindingKind::Crash,
            format!("process {pid} was killed by {name}"),
        )
    }
}

/// Null dereference, stack overflow or wild access.
pub fn classify(address: u64, sp: u64, maps: &[Mapping]) -> FindingKind {
    if address < NULL_PAGE_LIMIT {
        return FindingKind::NullDereference;
    }
    let accessible = maps::find(maps, address).is_some_and(|m| m.readable || m.writable);
    if !accessible && address.abs_diff(sp) <= STACK_GUARD_REACH {
        return FindingKind::StackOverflow;
    }
    FindingKind::WildAccess
}

fn describe(
    kind: FindingKind,
    access: Option<&Access>,
    address: u64,
    sig: Signal,
    maps: &[Mapping],
    thread: &str,
) -> String {
    let what = match access {
        Some(a) => format!("{} of size {} at {:#x}", a.kind, a.size, a.address),
        None => format!("access at {address:#x}"),
    };
    match kind {
        FindingKind::NullDereference => format!("{what} (NULL + {address:#x})"),
        FindingKind::StackOverflow => format!("thread '{thread}' overflowed its stack: {what}"),
        _ => {
            let why = match maps::find(maps, address) {
                Some(m) if !m.readable && !m.writable => {
                    "the address is mapped but not accessible".to_string()
                }
                Some(m) if sig.signo == libc::SIGBUS => match m.path.as_deref().filter(|p| p.starts_with('/')) {
                    Some(file) => format!(
                        "the file mapped there ({file}) is shorter than the mapping, so the page has no data (SIGBUS)"
                    ),
                    None => "the mapping has no backing (SIGBUS)".to_string(),
                },
                Some(_) => "the access is not permitted on this mapping".to_string(),
                None if sig.code == ptrace::SI_KERNEL => "the address is not canonical".to_string(),
                None => "the address is not mapped".to_string(),
            };
            format!("{what}: {why}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(start: u64, end: u64, rw: bool) -> Mapping {
        Mapping {
            start,
            end,
            readable: rw,
            writable: rw,
            executable: false,
            offset: 0,
            path: None,
        }
    }

    #[test]
    fn low_addresses_are_null_dereferences() {
        assert_eq!(classify(0, 0x7fff_0000, &[]), FindingKind::NullDereference);
        assert_eq!(
            classify(0xfff8, 0x7fff_0000, &[]),
            FindingKind::NullDereference
        );
        assert_eq!(
            classify(0x1_0000, 0x7fff_0000, &[]),
            FindingKind::WildAccess
        );
    }

    #[test]
    fn a_fault_just_below_the_stack_pointer_in_a_guard_is_a_stack_overflow() {
        let maps = [
            mapping(0x7000_0000, 0x7000_1000, false),
            mapping(0x7000_1000, 0x7010_0000, true),
        ];
        assert_eq!(
            classify(0x7000_0ff8, 0x7000_1000, &maps),
            FindingKind::StackOverflow
        );
        // Unmapped but right below the stack pointer (main thread's guard gap).
        assert_eq!(
            classify(0x6fff_fff8, 0x7000_0000, &[]),
            FindingKind::StackOverflow
        );
        // Far from the stack pointer: a wild access.
        assert_eq!(
            classify(0x7000_0ff8, 0x7f00_0000, &maps),
            FindingKind::WildAccess
        );
        // Close to the stack pointer but accessible memory: not a guard hit.
        assert_eq!(
            classify(0x7000_2000, 0x7000_2008, &maps),
            FindingKind::WildAccess
        );
    }
}
