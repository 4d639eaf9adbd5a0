//! Leaks: allocations still live when their process exits that no pointer
//! reaches, found by a conservative scan as LeakSanitizer does.
//!
//! The allocations are the guard allocator's: guarded ones (in its arena)
//! and wrapped ones (glibc blocks it did not guard, with a header before
//! and a canary after), so sampling decides how a bug is found, not
//! whether a leak is. At the exit of a process (its memory intact), the
//! roots are every readable and writable mapping that is not the guard
//! allocator's own (thread stacks, modules' data and bss, thread-local
//! storage, glibc's heap less the wrapped blocks in it, anonymous
//! mappings) and the registers of its threads that are stopped (the
//! exiting one, others at their exit); the stack of a stopped thread only
//! from its stack pointer up (the dead frames below hold stale copies of
//! pointers). Every aligned 8-byte word that points into a live allocation
//! (its start or anywhere inside) makes it reachable, and its contents are
//! scanned in turn. What is left is leaked: directly when no leaked
//! allocation points to it either, indirectly when one does (Valgrind's
//! "definitely" and "indirectly lost").

use crate::linux::fault::registers::Regs;
use crate::linux::process::memory;
use crate::linux::symbols::maps::Mapping;
use crate::linux::PAGE;
use crate::preload::protocol::{Header, Slot, Wrap, GUARD_CANARY_SIZE, GUARD_HEADER_ADDR};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

/// Bytes of tracee memory read at a time while scanning.
const CHUNK: usize = 1 << 20;
/// Allocations whose contents are scanned with one batch of reads.
const BATCH: usize = 1024;

/// What a process's leak scan starts from besides its memory.
#[derive(Debug, Clone, Copy)]
pub struct Roots<'a> {
    /// The registers of its threads that are stopped (the exiting one,
    /// others at their exit or a hold).
    pub regs: &'a [Regs],
    /// The stack pointers its threads that have exited had when they did,
    /// when no thread of it is running: below them (glibc keeps exited
    /// threads' stacks for new threads) is dead memory too.
    pub exited: &'a [u64],
    /// Files of the supervisor's mapped into it (the preloaded library,
    /// the schedule's region): they hold none of its pointers.
    pub ours: &'a [std::path::PathBuf],
    /// Every thread the process has had. An allocation another thread made
    /// (in the parent, before a fork) is the parent's: when a forked child
    /// exits, the thread that held it does not exist there, so it would
    /// look leaked.
    pub threads: &'a [i32],
}

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

/// A live allocation, guarded or wrapped.
struct Block {
    user: u64,
    size: u64,
    alloc_tid: i32,
    alloc_stack: u32,
}

impl Block {
    fn end(&self) -> u64 {
        self.user + self.size
    }
}

/// The live allocations of a process, sorted by address.
struct Blocks {
    blocks: Vec<Block>,
    /// From the first allocation's start to the last one's end: no word
    /// outside points into one.
    bounds: Range<u64>,
    /// Per 4 KiB page that an allocation covers, the indices of those
    /// that do: a word is looked up with one hash and a search among a
    /// page's few allocations, not among all (the scan looks up every
    /// word of the process's memory; a process with 60,000 live blocks
    /// spent 150 ms in the search). Empty when the allocations cover more
    /// pages than [`MAX_INDEXED_PAGES`]: then all are searched.
    pages: HashMap<u64, Range<u32>, BuildHasherDefault<PageHasher>>,
    /// The memory the wrapped blocks take (header, bytes and canary),
    /// sorted: the root scan skips it.
    spans: Vec<Range<u64>>,
}

impl Blocks {
    fn new(live: &[Slot], wrapped: &[(u64, Wrap)]) -> Blocks {
        let header = std::mem::size_of::<Wrap>() as u64;
        let mut blocks: Vec<Block> = live
            .iter()
            .map(|s| Block {
                user: s.user,
                size: s.size,
                alloc_tid: s.alloc_tid,
                alloc_stack: s.alloc_stack,
            })
            .chain(wrapped.iter().map(|&(p, w)| Block {
                user: p,
                size: w.size,
                alloc_tid: w.alloc_tid,
                alloc_stack: w.alloc_stack,
            }))
            .collect();
        blocks.sort_by_key(|b| b.user);
        // (A zero-sized allocation is found at its start.)
        let end = blocks.iter().map(|b| b.end().max(b.user + 1)).max();
        let bounds = blocks
            .first()
            .map_or(0..0, |first| first.user..end.unwrap_or(0));
        let mut spans: Vec<Range<u64>> = wrapped
            .iter()
            .map(|&(p, w)| p - header..p + w.size + GUARD_CANARY_SIZE)
            .collect();
        spans.sort_by_key(|s| s.start);
        let pages = page_index(&blocks);
        Blocks {
            blocks,
            bounds,
            pages,
            spans,
        }
    }

    /// The index of the allocation that `word` points into (its first byte
    /// up to its last; a zero-sized one only at its start).
    fn find(&self, word: u64) -> Option<usize> {
        if !self.bounds.contains(&word) {
            return None;
        }
        let (base, candidates) = if self.pages.is_empty() {
            (0, &self.blocks[..])
        } else {
            let r = self.pages.get(&(word / PAGE))?;
            (
                r.start as usize,
                &self.blocks[r.start as usize..r.end as usize],
            )
        };
        let i = candidates
            .partition_point(|b| b.user <= word)
            .checked_sub(1)?;
        let b = &candidates[i];
        (word < b.end() || word == b.user).then_some(base + i)
    }
}

/// Most pages [`Blocks::pages`] indexes (64 MiB of 8-byte entries and
/// more): past it, a lookup searches every allocation.
const MAX_INDEXED_PAGES: u64 = 1 << 22;

/// Per page an allocation in `blocks` (sorted, not overlapping) covers,
/// the range of indices of those covering it; empty past
/// [`MAX_INDEXED_PAGES`].
fn page_index(blocks: &[Block]) -> HashMap<u64, Range<u32>, BuildHasherDefault<PageHasher>> {
    // (A zero-sized allocation covers the page of its start.)
    let pages_of = |b: &Block| b.user / PAGE..=(b.end().max(b.user + 1) - 1) / PAGE;
    let total: u64 = blocks.iter().map(|b| pages_of(b).count() as u64).sum();
    let mut pages = HashMap::default();
    if total > MAX_INDEXED_PAGES || blocks.len() > u32::MAX as usize {
        return pages;
    }
    pages.reserve(total as usize);
    for (i, b) in blocks.iter().enumerate() {
        let i = i as u32;
        for page in pages_of(b) {
            pages
                .entry(page)
                .and_modify(|r: &mut Range<u32>| r.end = i + 1)
                .or_insert(i..i + 1);
        }
    }
    pages
}

/// A hasher for page numbers: one multiplication (the keys are plain
/// integers from the process's own memory, no adversary to resist).
#[derive(Default)]
struct PageHasher(u64);

impl Hasher for PageHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ self.0.rotate_left(5)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The leaked allocations of process `pid`, about to exit with its memory
/// intact: `live` are its live guarded allocations, `wrapped` its live
/// wrapped blocks, `maps` its address space, `roots` its threads' state.
pub fn find(
    pid: i32,
    h: &Header,
    live: &[Slot],
    wrapped: &[(u64, Wrap)],
    maps: &[Mapping],
    roots: Roots,
) -> Vec<Leak> {
    let regs = roots.regs;
    if live.is_empty() && wrapped.is_empty() {
        return Vec::new();
    }
    let blocks = Blocks::new(live, wrapped);
    let n = blocks.blocks.len();
    // From the roots.
    let mut reached = vec![false; n];
    let mut work = Vec::new();
    let mut mark = |word: u64, work: &mut Vec<usize>| {
        if let Some(i) = blocks.find(word) {
            if !reached[i] {
                reached[i] = true;
                work.push(i);
            }
        }
    };
    for r in regs {
        for word in registers(r) {
            mark(word, &mut work);
        }
    }
    let spans = &blocks.spans;
    for m in root_mappings(maps, h, roots.ours) {
        // A stopped thread's stack is live only from its stack pointer up
        // (with the 128-byte red zone): below are dead frames, whose stale
        // pointers would hide leaks. So is that of a thread that exited,
        // unless a stopped thread has taken the stack over.
        let within = |sp: &u64| *sp >= m.start && *sp < m.end;
        let stopped = regs
            .iter()
            .map(|r| r.rsp.saturating_sub(128))
            .filter(within)
            .max();
        let exited = || {
            roots
                .exited
                .iter()
                .map(|sp| sp.saturating_sub(128))
                .filter(within)
                .max()
        };
        let start = stopped.or_else(exited).unwrap_or(m.start);
        // Wrapped blocks in it are scanned only once reached.
        let mut next = spans.partition_point(|s| s.end <= start);
        scan(pid, start & !7, m.end, |at, w| {
            while next < spans.len() && spans[next].end <= at {
                next += 1;
            }
            if !spans.get(next).is_some_and(|s| s.contains(&at)) {
                mark(w, &mut work);
            }
        });
    }
    // Through what is reachable, many allocations a read.
    while !work.is_empty() {
        let batch: Vec<usize> = work.split_off(work.len().saturating_sub(BATCH));
        scan_blocks(pid, &blocks.blocks, &batch, |_, w| mark(w, &mut work));
    }
    // What is left leaked; those a leaked one points to, indirectly.
    let leaked: Vec<usize> = (0..n).filter(|&i| !reached[i]).collect();
    let mut indirect = vec![false; n];
    scan_blocks(pid, &blocks.blocks, &leaked, |i, w| {
        if let Some(j) = blocks.find(w) {
            if j != i && !reached[j] {
                indirect[j] = true;
            }
        }
    });
    leaked
        .into_iter()
        .map(|i| {
            let b = &blocks.blocks[i];
            Leak {
                user: b.user,
                size: b.size,
                alloc_tid: b.alloc_tid,
                alloc_stack: b.alloc_stack,
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
/// once reached), not the files of the supervisor's mapped into the process
/// (the preloaded library's data, the schedule's region), not the kernel's
/// pseudo mappings. (The library's bss is anonymous memory that the kernel
/// may have merged with the program's: it is scanned.)
fn root_mappings<'a>(
    maps: &'a [Mapping],
    h: &'a Header,
    ours: &'a [std::path::PathBuf],
) -> impl Iterator<Item = &'a Mapping> {
    maps.iter()
        .filter(|m| m.readable && m.writable)
        .filter(|m| !(m.start >= GUARD_HEADER_ADDR && m.start < h.arena_end))
        .filter(move |m| {
            !m.path.as_deref().is_some_and(|p| {
                p.starts_with("[v") || p == "[vsyscall]" || ours.iter().any(|o| o.as_os_str() == p)
            })
        })
}

/// Calls `each` with the index and every aligned 8-byte word of each of
/// the allocations `which`: small ones many a system call
/// ([`memory::read_each`]), large ones a chunk at a time.
fn scan_blocks(pid: i32, blocks: &[Block], which: &[usize], mut each: impl FnMut(usize, u64)) {
    let (small, large): (Vec<usize>, Vec<usize>) = which
        .iter()
        .partition(|&&i| blocks[i].size as usize <= CHUNK);
    for group in small.chunks(BATCH) {
        let ranges: Vec<(u64, usize)> = group
            .iter()
            .map(|&i| (blocks[i].user, blocks[i].size as usize))
            .collect();
        for (&i, bytes) in group.iter().zip(memory::read_each(pid, &ranges)) {
            match bytes {
                Some(bytes) => words(&bytes, |_, w| each(i, w)),
                // Part of it unreadable: what can be read, a page at a time.
                None => scan(pid, blocks[i].user, blocks[i].end(), |_, w| each(i, w)),
            }
        }
    }
    for i in large {
        scan(pid, blocks[i].user, blocks[i].end(), |_, w| each(i, w));
    }
}

/// Calls `each` with the offset and value of every whole 8-byte word of
/// `bytes`, in order.
fn words(bytes: &[u8], mut each: impl FnMut(u64, u64)) {
    for (k, word) in bytes.chunks_exact(8).enumerate() {
        each(
            8 * k as u64,
            u64::from_le_bytes(word.try_into().expect("8 bytes")),
        );
    }
}

/// Calls `each` with the address and value of every aligned 8-byte word of
/// the tracee in [start, end), in address order, reading it a chunk at a
/// time (what cannot be read is skipped).
fn scan(pid: i32, start: u64, end: u64, mut each: impl FnMut(u64, u64)) {
    let mut buf = vec![0u8; CHUNK.min((end - start) as usize + 8)];
    let mut at = start & !7;
    while at < end {
        let len = ((end - at) as usize).min(CHUNK);
        let got = memory::read(pid, at, &mut buf[..len]);
        words(&buf[..got], |offset, w| each(at + offset, w));
        if got < len {
            // Unreadable from here: skip to the next page.
            at = (at + got as u64 + PAGE) & !(PAGE - 1);
        } else {
            at += len as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks() -> Blocks {
        let guarded = Slot {
            user: 0x6200_0000_0ff0,
            size: 16,
            alloc_stack: 1,
            ..Slot::default()
        };
        let empty = Slot {
            user: 0x6200_0000_2000,
            size: 0,
            ..Slot::default()
        };
        let wrapped = Wrap {
            size: 40,
            alloc_stack: 2,
            ..Wrap::default()
        };
        Blocks::new(&[guarded, empty], &[(0x5555_0000_1040, wrapped)])
    }

    #[test]
    fn a_word_finds_the_allocation_it_points_into_guarded_or_wrapped() {
        let b = blocks();
        let stack_of = |w: u64| b.find(w).map(|i| b.blocks[i].alloc_stack);
        // The wrapped block sorts first (lower address): start, interior, last byte.
        assert_eq!(stack_of(0x5555_0000_1040), Some(2));
        assert_eq!(stack_of(0x5555_0000_1067), Some(2));
        assert_eq!(stack_of(0x5555_0000_1068), None, "one past the end");
        // Its header is not the allocation.
        assert_eq!(stack_of(0x5555_0000_1038), None);
        assert_eq!(stack_of(0x6200_0000_0ff8), Some(1));
        assert_eq!(stack_of(0x6200_0000_1000), None);
        // A zero-sized allocation only at its start.
        assert_eq!(b.find(0x6200_0000_2000), Some(2));
        assert_eq!(b.find(0x6200_0000_2001), None);
        assert_eq!(b.find(0), None);
    }

    /// The page index finds what a search of every allocation finds, for
    /// words in, between, around and across small, page-crossing and large
    /// blocks, and with the index off (too many pages).
    #[test]
    fn the_page_index_finds_what_a_full_search_finds() {
        let mut slots = Vec::new();
        let mut at = 0x6200_0000_0000u64;
        for (k, size) in [16u64, 24, 4000, 8192, 0, 100_000, 40, 4096, 1]
            .iter()
            .cycle()
            .take(200)
            .enumerate()
        {
            slots.push(Slot {
                user: at,
                size: *size,
                alloc_stack: k as u32,
                ..Slot::default()
            });
            at += size + 16 + (k as u64 % 3) * 4096;
        }
        let indexed = Blocks::new(&slots, &[]);
        assert!(!indexed.pages.is_empty());
        let mut plain = Blocks::new(&slots, &[]);
        plain.pages.clear();
        let mut found = 0;
        for word in (0x6200_0000_0000u64 - 64..at + 64).step_by(7) {
            assert_eq!(indexed.find(word), plain.find(word), "word {word:#x}");
            found += usize::from(plain.find(word).is_some());
        }
        assert!(found > 1000, "{found}");
    }

    #[test]
    fn only_wrapped_blocks_take_memory_the_root_scan_skips() {
        let b = blocks();
        let header = std::mem::size_of::<Wrap>() as u64;
        assert_eq!(
            b.spans,
            vec![0x5555_0000_1040 - header..0x5555_0000_1068 + GUARD_CANARY_SIZE]
        );
    }
}
