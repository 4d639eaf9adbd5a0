//! Leaks: guarded allocations still live when their process exits that no
//! pointer reaches, found by a conservative scan as LeakSanitizer does.
//!
//! At the exit of a process (its memory intact), the roots are every
//! readable and writable mapping that is not the guard allocator's own
//! (thread stacks, modules' data and bss, thread-local storage, glibc's
//! heap with its wrapped blocks, anonymous mappings) and the registers of
//! its threads that are stopped (the exiting one, others at their exit);
//! the stack of a stopped thread only from its stack pointer up (the dead
//! frames below hold stale copies of pointers). Every aligned 8-byte word that points into a live
//! guarded allocation (its start or anywhere inside) makes it reachable,
//! and its contents are scanned in turn. What is left is leaked: directly
//! when no leaked allocation points to it either, indirectly when one does
//! (Valgrind's "definitely" and "indirectly lost").

use crate::linux::fault::registers::Regs;
use crate::linux::process::memory;
use crate::linux::symbols::maps::Mapping;
use crate::preload::protocol::{Header, Slot, GUARD_HEADER_ADDR};

/// Bytes of tracee memory read at a time while scanning.
const CHUNK: usize = 1 << 20;

/// One leaked allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Its pointer.
    pub user: u64,
    /// Its size.
    pub size: u64,
    /// The thread that allocated it.
    pub alloc_tid: i32,
    /// Stack depot id of its call site.
    pub alloc_stack: u32,
    /// No leaked allocation points to it (Valgrind's "definitely lost").
    pub direct: bool,
}

/// The live guarded allocations of a process, sorted by address, with
/// what the scan found out about each.
struct Blocks {
    slots: Vec<Slot>,
    reached: Vec<bool>,
    /// The guard allocator's arena: no allocation is outside it.
    arena: std::ops::Range<u64>,
}

impl Blocks {
    /// The index of the allocation that `word` points into (its first byte
    /// up to its last; a zero-sized one only at its start).
    fn find(&self, word: u64) -> Option<usize> {
        if !self.arena.contains(&word) {
            return None;
        }
        let i = self
            .slots
            .partition_point(|s| s.user <= word)
            .checked_sub(1)?;
        let s = &self.slots[i];
        (word < s.end() || word == s.user).then_some(i)
    }
}

/// The leaked allocations of process `pid`, about to exit with its memory
/// intact: `live` are its live guarded allocations, `maps` its address
/// space, `regs` the registers of its threads that are stopped.
pub fn find(pid: i32, h: &Header, live: &[Slot], maps: &[Mapping], regs: &[Regs]) -> Vec<Leak> {
    if live.is_empty() {
        return Vec::new();
    }
    let mut slots = live.to_vec();
    slots.sort_by_key(|s| s.user);
    let n = slots.len();
    let mut blocks = Blocks {
        slots,
        reached: vec![false; n],
        arena: h.arena_start..h.arena_end,
    };
    // From the roots.
    let mut work = Vec::new();
    let mark = |blocks: &mut Blocks, word: u64, work: &mut Vec<usize>| {
        if let Some(i) = blocks.find(word) {
            if !blocks.reached[i] {
                blocks.reached[i] = true;
                work.push(i);
            }
        }
    };
    for r in regs {
        for word in registers(r) {
            mark(&mut blocks, word, &mut work);
        }
    }
    for m in roots(maps, h) {
        // A stopped thread's stack is live only from its stack pointer up
        // (with the 128-byte red zone): below are dead frames, whose stale
        // pointers would hide leaks.
        let start = regs
            .iter()
            .map(|r| r.rsp.saturating_sub(128))
            .filter(|&sp| sp >= m.start && sp < m.end)
            .max()
            .unwrap_or(m.start);
        scan(pid, start & !7, m.end, |w| mark(&mut blocks, w, &mut work));
    }
    // Through what is reachable.
    while let Some(i) = work.pop() {
        let (start, end) = (blocks.slots[i].user, blocks.slots[i].end());
        scan(pid, start, end, |w| mark(&mut blocks, w, &mut work));
    }
    // What is left leaked; those a leaked one points to, indirectly.
    let leaked: Vec<usize> = (0..n).filter(|&i| !blocks.reached[i]).collect();
    let mut indirect = vec![false; n];
    for &i in &leaked {
        let (start, end) = (blocks.slots[i].user, blocks.slots[i].end());
        scan(pid, start, end, |w| {
            if let Some(j) = blocks.find(w) {
                if j != i && !blocks.reached[j] {
                    indirect[j] = true;
                }
            }
        });
    }
    leaked
        .into_iter()
        .map(|i| {
            let s = &blocks.slots[i];
            Leak {
                user: s.user,
                size: s.size,
                alloc_tid: s.alloc_tid,
                alloc_stack: s.alloc_stack,
                direct: !indirect[i],
            }
        })
        .collect()
}

/// The general-purpose registers a pointer can be in.
fn registers(r: &Regs) -> [u64; 16] {
    [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ]
}

/// The mappings to scan as roots: readable and writable, not the guard
/// allocator's table or arena (whose live allocations are scanned only
/// once reached), not the kernel's pseudo mappings.
fn roots<'a>(maps: &'a [Mapping], h: &'a Header) -> impl Iterator<Item = &'a Mapping> {
    maps.iter()
        .filter(|m| m.readable && m.writable)
        .filter(|m| !(m.start >= GUARD_HEADER_ADDR && m.start < h.arena_end))
        .filter(|m| {
            !m.path
                .as_deref()
                .is_some_and(|p| p.starts_with("[v") || p == "[vsyscall]")
        })
}

/// Calls `each` with every aligned 8-byte word of the tracee in
/// [start, end), reading it a chunk at a time (what cannot be read is
/// skipped).
fn scan(pid: i32, start: u64, end: u64, mut each: impl FnMut(u64)) {
    let mut buf = vec![0u8; CHUNK.min((end - start) as usize + 8)];
    let mut at = start & !7;
    while at < end {
        let len = ((end - at) as usize).min(CHUNK);
        let got = memory::read(pid, at, &mut buf[..len]);
        for word in buf[..got - got % 8].chunks_exact(8) {
            each(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        if got < len {
            // Unreadable from here: skip to the next page.
            at = (at + got as u64 + 4096) & !4095;
        } else {
            at += len as u64;
        }
    }
}
