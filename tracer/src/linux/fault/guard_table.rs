//! Explaining faults and allocator errors with the guard allocator's
//! metadata table, read from the tracee at its known address: which
//! allocation an access is to blame on, where allocations were made and
//! freed (the stack depot), and, when a process exits, which live
//! allocations had the bytes past their end overwritten.

use crate::linux::process::memory;
use crate::linux::PAGE;
use crate::preload::protocol::{
    ErrorKind, ErrorRecord, Header, Slot, Stack, Wrap, GUARD_CANARY_SIZE, GUARD_ERROR_MAGIC,
    GUARD_HEADER_ADDR, GUARD_INDEX_OFFSET, GUARD_LIVE_OFFSET, GUARD_MAGIC, GUARD_MAX_STACKS,
    GUARD_SLOTS_OFFSET, GUARD_STACKS_OFFSET, GUARD_VERSION, GUARD_WQ_OFFSET, GUARD_WRAPPED_OFFSET,
    GUARD_WRAP_FREED_MAGIC, GUARD_WRAP_MAGIC, GUARD_WRAP_QUARANTINE, POISON_POINTER, SLACK_BYTE,
    SLOT_FREED, SLOT_LIVE, SLOT_POISONED,
};
use crate::{Access, FindingKind};

/// The bytes of a plain-data `T`, to read it into.
fn bytes_of_mut<T: Copy + Default>(value: &mut T) -> &mut [u8] {
    // SAFETY: T is one of the repr(C) integer-only structs of crate::preload
    // (or an integer): every byte pattern is a valid value, and the slice
    // covers exactly the value's bytes, borrowed as long as the value.
    unsafe {
        std::slice::from_raw_parts_mut((value as *mut T).cast::<u8>(), std::mem::size_of::<T>())
    }
}

/// Reads a plain-data `T` from the tracee.
fn read<T: Copy + Default>(pid: i32, addr: u64) -> Option<T> {
    let mut value = T::default();
    let bytes = bytes_of_mut(&mut value);
    (memory::read(pid, addr, bytes) == bytes.len()).then_some(value)
}

/// Reads a plain-data `T` at each of `addrs` (None where it cannot be),
/// many a system call.
fn read_at_each<T: Copy + Default>(pid: i32, addrs: impl Iterator<Item = u64>) -> Vec<Option<T>> {
    let size = std::mem::size_of::<T>();
    let ranges: Vec<(u64, usize)> = addrs.map(|a| (a, size)).collect();
    memory::read_each(pid, &ranges)
        .into_iter()
        .map(|bytes| {
            let mut value = T::default();
            bytes_of_mut(&mut value).copy_from_slice(&bytes?);
            Some(value)
        })
        .collect()
}

/// Reads `n` plain-data `T`s from the tracee (fewer if the memory ends).
fn read_array<T: Copy + Default>(pid: i32, addr: u64, n: usize) -> Vec<T> {
    let mut values = vec![T::default(); n];
    let size = std::mem::size_of::<T>() * n;
    // SAFETY: as in `bytes_of_mut`: plain integer structs, the slice covers exactly
    // the vector's initialized elements.
    let bytes = unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), size) };
    let got = memory::read(pid, addr, bytes) / std::mem::size_of::<T>().max(1);
    values.truncate(got);
    values
}

/// The guard allocator's header in process `pid`, if it is preloaded there.
pub fn header(pid: i32) -> Option<Header> {
    let h: Header = read(pid, GUARD_HEADER_ADDR)?;
    (h.magic == GUARD_MAGIC
        && h.version == GUARD_VERSION
        && h.slot_size as usize == std::mem::size_of::<Slot>()
        && h.wrap_size as usize == std::mem::size_of::<Wrap>())
    .then_some(h)
}

/// Where slot number `index` is in the table.
fn slot_addr(index: u64) -> u64 {
    GUARD_HEADER_ADDR + GUARD_SLOTS_OFFSET + index * std::mem::size_of::<Slot>() as u64
}

/// Slot number `index`.
pub fn slot(pid: i32, index: i64) -> Option<Slot> {
    read(pid, slot_addr(u64::try_from(index).ok()?))
}

/// The slot whose pages (guard included) hold the page at `addr`.
pub fn slot_of_page(pid: i32, h: &Header, addr: u64) -> Option<Slot> {
    if !(h.arena_start..h.arena_end).contains(&addr) {
        return None;
    }
    let entry: u32 = read(
        pid,
        GUARD_HEADER_ADDR + GUARD_INDEX_OFFSET + (addr - h.arena_start) / PAGE * 4,
    )?;
    let s = slot(pid, i64::from(entry) - 1)?;
    (s.state == SLOT_LIVE || s.state == SLOT_FREED).then_some(s)
}

/// What an access in the arena is to blame on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blame {
    /// An allocation, live or freed.
    Slot(Slot),
    /// Memory of an allocation freed so long ago that its record was
    /// recycled: a use after free whose allocation is not known.
    Forgotten,
}

/// How far `addr` lies from `s`, if `s` may be to blame for it: 0 inside
/// the allocation or anywhere in a freed one's data, the distance past its
/// end up to its guard page's end, or before its start back to the
/// previous slot's guard page.
fn distance(s: &Slot, addr: u64) -> Option<u64> {
    let data_end = s.guard_page();
    if s.state == SLOT_FREED && (s.start..data_end).contains(&addr) {
        return Some(0);
    }
    if (s.user..s.end().max(s.user + 1)).contains(&addr) {
        return Some(0);
    }
    if addr >= s.end() && addr < data_end + PAGE {
        return Some(addr - s.end());
    }
    if addr < s.user && addr + PAGE >= s.start {
        return Some(s.user - addr);
    }
    None
}

/// The allocation to blame for an access at `addr` in the arena: of the
/// slots owning the page and its two neighbours, the nearest one the
/// access could belong to (past the end of one, before the start of the
/// next), the earlier on a tie. `None` outside the arena.
pub fn blame(pid: i32, h: &Header, addr: u64) -> Option<Blame> {
    if !(h.arena_start..h.arena_end).contains(&addr) {
        return None;
    }
    let page = addr & !(PAGE - 1);
    let mut best: Option<(u64, Slot)> = None;
    for p in [page.checked_sub(PAGE), Some(page), page.checked_add(PAGE)]
        .into_iter()
        .flatten()
    {
        let Some(s) = slot_of_page(pid, h, p) else {
            continue;
        };
        let Some(d) = distance(&s, addr) else {
            continue;
        };
        if best.as_ref().is_none_or(|(bd, b)| d < *bd && *b != s) {
            best = Some((d, s));
        }
    }
    match best {
        Some((_, s)) => Some(Blame::Slot(s)),
        None if addr < h.next => Some(Blame::Forgotten),
        None => None,
    }
}

/// The return addresses of stack depot entry `id` (empty for 0 or an
/// unknown id).
pub fn stack(pid: i32, id: u32) -> Vec<u64> {
    if id == 0 || u64::from(id) >= GUARD_MAX_STACKS {
        return Vec::new();
    }
    let addr = GUARD_HEADER_ADDR
        + GUARD_STACKS_OFFSET
        + u64::from(id) * std::mem::size_of::<Stack>() as u64;
    read::<Stack>(pid, addr)
        .map(|s| s.pcs.into_iter().take_while(|&pc| pc != 0).collect())
        .unwrap_or_default()
}

/// The header of the live wrapped block at `ptr`, if it is one.
pub fn wrap(pid: i32, h: &Header, ptr: u64) -> Option<Wrap> {
    let w: Wrap = read(pid, ptr.checked_sub(std::mem::size_of::<Wrap>() as u64)?)?;
    is_live_wrap(h, ptr, &w).then_some(w)
}

/// The header of the freed wrapped block at `ptr` waiting in the wrapped
/// quarantine, if it is one.
pub fn freed_wrap(pid: i32, h: &Header, ptr: u64) -> Option<Wrap> {
    let w: Wrap = read(pid, ptr.checked_sub(std::mem::size_of::<Wrap>() as u64)?)?;
    is_freed_wrap(h, ptr, &w).then_some(w)
}

fn is_freed_wrap(h: &Header, ptr: u64, w: &Wrap) -> bool {
    w.key == GUARD_WRAP_FREED_MAGIC ^ h.wrap_salt ^ ptr
}

/// Whether `w`, read right before `ptr`, is the header of a live wrapped
/// block (its key is derived from the pointer; 0 once freed).
fn is_live_wrap(h: &Header, ptr: u64, w: &Wrap) -> bool {
    w.key == GUARD_WRAP_MAGIC ^ h.wrap_salt ^ ptr
}

fn bytes(n: u64) -> String {
    if n == 1 {
        "1 byte".into()
    } else {
        format!("{n} bytes")
    }
}

/// The kind and description of an access that faulted in `slot`.
pub fn classify_access(access: &Access, slot: &Slot) -> (FindingKind, String) {
    let what = format!(
        "{} of size {} at {:#x}",
        access.kind, access.size, access.address
    );
    let end = slot.end();
    let a = access.address;
    if slot.state == SLOT_FREED {
        let place = if a >= slot.user {
            format!("{} into", bytes(a - slot.user))
        } else {
            format!("{} before", bytes(slot.user - a))
        };
        return (
            FindingKind::HeapUseAfterFree,
            format!(
                "{what}: {place} a {}-byte allocation freed earlier",
                slot.size
            ),
        );
    }
    if a < slot.user {
        return (
            FindingKind::HeapBufferUnderflow,
            format!(
                "{what}: {} before the start of a {}-byte allocation",
                bytes(slot.user - a),
                slot.size
            ),
        );
    }
    let past = (a + u64::from(access.size)).saturating_sub(end).max(1);
    (
        FindingKind::HeapBufferOverflow,
        format!(
            "{what}: {} past the end of a {}-byte allocation",
            bytes(past),
            slot.size
        ),
    )
}

/// Whether `address` was computed from the poison of freed memory: a
/// pointer read from a poisoned slot (8 poison bytes) and followed, plus or
/// minus an offset of up to 64 KiB.
pub fn is_poison_pointer(address: u64) -> bool {
    address.abs_diff(POISON_POINTER) <= 1 << 16
}

/// The kind and description of an access through a pointer read from
/// freed memory (the allocator's poison, see [`is_poison_pointer`]).
pub fn classify_poison(access: &Access) -> (FindingKind, String) {
    (
        FindingKind::HeapUseAfterFree,
        format!(
            "{} of size {} at {:#x}: through a pointer read from freed memory (the allocator's poison {POISON_POINTER:#x}) or from heap memory never written",
            access.kind, access.size, access.address
        ),
    )
}

/// The kind and description of an access to memory whose allocation
/// record was recycled.
pub fn classify_forgotten(access: &Access) -> (FindingKind, String) {
    (
        FindingKind::HeapUseAfterFree,
        format!(
            "{} of size {} at {:#x}: memory of an allocation freed long ago (its record was recycled)",
            access.kind, access.size, access.address
        ),
    )
}

/// The allocator's error record that `rax` points at when it trapped.
pub fn error_record(tid: i32, rax: u64) -> Option<ErrorRecord> {
    let r: ErrorRecord = read(tid, rax)?;
    (r.magic == GUARD_ERROR_MAGIC).then_some(r)
}

/// The kind and description of an allocator-detected error; `size` is the
/// allocation's, when known (its slot's, or a wrapped block's).
pub fn classify_error(
    record: &ErrorRecord,
    slot: Option<&Slot>,
    size: Option<u64>,
) -> Option<(FindingKind, String)> {
    let kind = ErrorKind::from_raw(record.kind)?;
    let p = record.ptr;
    let sized = size
        .or(slot.map(|s| s.size))
        .map(|n| format!("{n}-byte "))
        .unwrap_or_default();
    Some(match (kind, slot) {
        (ErrorKind::DoubleFree, Some(s)) => (
            FindingKind::DoubleFree,
            format!("free of {p:#x}, a {}-byte allocation that was already freed", s.size),
        ),
        (ErrorKind::DoubleFree, None) => (FindingKind::DoubleFree, format!("free of {p:#x}, already freed")),
        (ErrorKind::InvalidFree, Some(s)) if p > s.user && p < s.user + s.size.max(1) => (
            FindingKind::InvalidFree,
            format!("free of {p:#x}, {} into a {}-byte allocation", bytes(p - s.user), s.size),
        ),
        (ErrorKind::InvalidFree, _) => (
            FindingKind::InvalidFree,
            format!("free of {p:#x}, which is not the start of any allocation"),
        ),
        (ErrorKind::ReallocFreed, _) => (
            FindingKind::HeapUseAfterFree,
            format!("realloc of {p:#x}, a {sized}allocation that was already freed"),
        ),
        // Described by the analyzer, which can name the handler.
        (ErrorKind::SignalUnsafeCall, _) => return None,
        (ErrorKind::WriteAfterFree, _) => (
            FindingKind::HeapUseAfterFree,
            write_after_free(p, size.or(slot.map(|s| s.size)), record.offset, record.length)
                + " (found when it left the quarantine)",
        ),
        (ErrorKind::HeaderCorrupted, _) => (
            FindingKind::HeapBufferUnderflow,
            format!(
                "the 8 bytes before the start of the {sized}allocation at {p:#x} were overwritten (found when it was freed)"
            ),
        ),
        (ErrorKind::SlackCorrupted | ErrorKind::CanaryCorrupted, _) => (
            FindingKind::HeapBufferOverflow,
            format!(
                "the bytes after the end of the {sized}allocation at {p:#x} were overwritten (found when it was freed)"
            ),
        ),
    })
}

/// "N bytes at offset O of the freed S-byte allocation at P were written
/// after it was freed".
fn write_after_free(p: u64, size: Option<u64>, offset: u64, length: u64) -> String {
    let sized = size.map(|n| format!("{n}-byte ")).unwrap_or_default();
    let (verb, into) = if length == 1 {
        ("was", "byte")
    } else {
        ("were", "bytes")
    };
    format!(
        "{} at offset {offset} of the freed {sized}allocation at {p:#x} {verb} written after it was freed",
        if length == 1 { format!("1 {into}") } else { format!("{length} {into}") }
    )
}

/// A freed allocation, poisoned (a guarded slot left accessible, or a
/// wrapped block in the wrapped quarantine), whose bytes changed after it
/// was freed, found when its process exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreedOverwrite {
    /// The allocation's pointer.
    pub user: u64,
    /// Its size.
    pub size: u64,
    /// Thread that allocated it and the stack depot id of the call.
    pub alloc: (i32, u32),
    /// Thread that freed it and the stack depot id of the call.
    pub free: (i32, u32),
    /// The first changed byte, from its pointer.
    pub offset: u64,
    /// Bytes from the first changed to the last.
    pub length: u64,
}

impl FreedOverwrite {
    /// The finding's kind and message.
    pub fn describe(&self) -> (FindingKind, String) {
        (
            FindingKind::HeapUseAfterFree,
            write_after_free(self.user, Some(self.size), self.offset, self.length)
                + " (found when the process exited)",
        )
    }
}

/// The first changed byte of `poisoned` and how many bytes from it to
/// the last changed one, if any changed.
fn changed_span(poisoned: &[u8]) -> Option<(u64, u64)> {
    let first = poisoned.iter().position(|&b| b != SLACK_BYTE)?;
    let last = poisoned.iter().rposition(|&b| b != SLACK_BYTE)?;
    Some((first as u64, (last - first + 1) as u64))
}

/// The pointers in the wrapped quarantine of process `pid`, oldest first:
/// the ring's used part only (one read, or two where it wraps around).
fn wrapped_quarantine(pid: i32, h: &Header) -> Vec<u64> {
    let ring = GUARD_HEADER_ADDR + GUARD_WQ_OFFSET;
    let head = h.wq_head % GUARD_WRAP_QUARANTINE;
    let len = h.wq_len.min(GUARD_WRAP_QUARANTINE);
    let first = len.min(GUARD_WRAP_QUARANTINE - head);
    let mut blocks: Vec<u64> = read_array(pid, ring + head * 8, first as usize);
    blocks.extend(read_array::<u64>(pid, ring, (len - first) as usize));
    blocks
}

/// The freed allocations of process `pid` (about to exit) that were left
/// poisoned (guarded slots, and wrapped blocks in the wrapped quarantine,
/// canary included) and whose poison changed: writes after free not yet
/// found when they left their quarantine.
pub fn freed_overwrites(pid: i32, h: &Header) -> Vec<FreedOverwrite> {
    let mut poisoned: Vec<(FreedOverwrite, (u64, usize))> =
        read_array::<Slot>(pid, slot_addr(0), h.slot_count as usize)
            .into_iter()
            .filter(|s| {
                s.state == SLOT_FREED && s.flags & SLOT_POISONED != 0 && s.user < s.slack_end()
            })
            .map(|s| {
                let o = FreedOverwrite {
                    user: s.user,
                    size: s.size,
                    alloc: (s.alloc_tid, s.alloc_stack),
                    free: (s.free_tid, s.free_stack),
                    offset: 0,
                    length: 0,
                };
                (o, (s.user, (s.slack_end() - s.user) as usize))
            })
            .collect();
    let blocks = wrapped_quarantine(pid, h);
    let header = std::mem::size_of::<Wrap>() as u64;
    let headers = read_at_each::<Wrap>(pid, blocks.iter().map(|&p| p.wrapping_sub(header)));
    for (p, w) in blocks.into_iter().zip(headers) {
        let Some(w) = w.filter(|w| is_freed_wrap(h, p, w)) else {
            continue;
        };
        let o = FreedOverwrite {
            user: p,
            size: w.size,
            alloc: (w.alloc_tid, w.alloc_stack),
            free: (w.free_tid, w.live_index),
            offset: 0,
            length: 0,
        };
        poisoned.push((o, (p, (w.size + GUARD_CANARY_SIZE) as usize)));
    }
    let ranges: Vec<(u64, usize)> = poisoned.iter().map(|&(_, r)| r).collect();
    poisoned
        .into_iter()
        .zip(memory::read_each(pid, &ranges))
        .filter_map(|((o, _), bytes)| {
            let (offset, length) = changed_span(&bytes?)?;
            Some(FreedOverwrite {
                offset,
                length,
                ..o
            })
        })
        .collect()
}

/// A live allocation whose bytes past the end were overwritten, found when
/// its process exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrun {
    /// The allocation's pointer.
    pub user: u64,
    /// Its size.
    pub size: u64,
    /// How many bytes past its end were changed, counted from its end to
    /// the last one changed.
    pub past: u64,
    /// Thread that allocated it.
    pub alloc_tid: i32,
    /// Stack depot id of its call site.
    pub alloc_stack: u32,
}

impl Overrun {
    /// The finding's kind and message.
    pub fn describe(&self) -> (FindingKind, String) {
        (
            FindingKind::HeapBufferOverflow,
            format!(
                "the {} past the end of the {}-byte allocation at {:#x} {} overwritten (found when the process exited)",
                bytes(self.past),
                self.size,
                self.user,
                if self.past == 1 { "was" } else { "were" }
            ),
        )
    }
}

/// How far past the end the changed bytes reach, if any changed.
fn changed(past_end: &[u8]) -> Option<u64> {
    past_end
        .iter()
        .rposition(|&b| b != SLACK_BYTE)
        .map(|i| i as u64 + 1)
}

/// The live guarded allocations of process `pid`, from its live list.
pub fn live_slots(pid: i32, h: &Header) -> Vec<Slot> {
    let ids: Vec<u32> = read_array(pid, GUARD_HEADER_ADDR + GUARD_LIVE_OFFSET, h.live as usize);
    read_at_each::<Slot>(pid, ids.into_iter().map(|id| slot_addr(id.into())))
        .into_iter()
        .flatten()
        .filter(|s| s.state == SLOT_LIVE)
        .collect()
}

/// The live wrapped blocks of process `pid` (glibc memory the allocator
/// did not guard), from its wrapped list: each pointer with its header.
pub fn live_wrapped(pid: i32, h: &Header) -> Vec<(u64, Wrap)> {
    let blocks: Vec<u64> = read_array(
        pid,
        GUARD_HEADER_ADDR + GUARD_WRAPPED_OFFSET,
        h.wrapped as usize,
    );
    let header = std::mem::size_of::<Wrap>() as u64;
    let headers = read_at_each::<Wrap>(pid, blocks.iter().map(|&p| p.wrapping_sub(header)));
    blocks
        .into_iter()
        .zip(headers)
        .filter_map(|(p, w)| w.filter(|w| is_live_wrap(h, p, w)).map(|w| (p, w)))
        .collect()
}

/// The live allocations of process `pid` (about to exit, memory intact;
/// `live` its [`live_slots`], `wrapped` its [`live_wrapped`]) whose bytes
/// between their end and their guard page, or whose canary bytes (wrapped
/// blocks), were changed.
pub fn live_overruns(pid: i32, live: &[Slot], wrapped: &[(u64, Wrap)]) -> Vec<Overrun> {
    // Each allocation with slack or a canary, as the overrun it would be,
    // and where the bytes past its end are.
    let overrun = |user, size, alloc_tid, alloc_stack| Overrun {
        user,
        size,
        past: 0,
        alloc_tid,
        alloc_stack,
    };
    let mut past_end: Vec<(Overrun, (u64, usize))> = live
        .iter()
        .filter(|s| s.end() < s.slack_end())
        .map(|s| {
            let slack = (s.end(), (s.slack_end() - s.end()) as usize);
            (overrun(s.user, s.size, s.alloc_tid, s.alloc_stack), slack)
        })
        .collect();
    past_end.extend(wrapped.iter().map(|&(p, w)| {
        let canary = (p + w.size, GUARD_CANARY_SIZE as usize);
        (overrun(p, w.size, w.alloc_tid, w.alloc_stack), canary)
    }));
    let ranges: Vec<(u64, usize)> = past_end.iter().map(|&(_, r)| r).collect();
    past_end
        .into_iter()
        .zip(memory::read_each(pid, &ranges))
        .filter_map(|((o, _), bytes)| {
            let past = changed(&bytes?)?;
            Some(Overrun { past, ..o })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccessKind;

    fn slot(state: u32) -> Slot {
        Slot {
            start: 0x1000_0000,
            pages: 2,
            user: 0x1000_0ff6,
            size: 10,
            state,
            ..Slot::default()
        }
    }

    fn access(kind: AccessKind, address: u64, size: u32) -> Access {
        Access {
            kind,
            address,
            size,
        }
    }

    #[test]
    fn describes_where_the_access_lies() {
        let live = slot(SLOT_LIVE);
        let (k, m) = classify_access(&access(AccessKind::Write, 0x1000_1000, 1), &live);
        assert_eq!(k, FindingKind::HeapBufferOverflow);
        assert_eq!(
            m,
            "WRITE of size 1 at 0x10001000: 1 byte past the end of a 10-byte allocation"
        );
        let (_, m) = classify_access(&access(AccessKind::Read, 0x1000_0ffe, 4), &live);
        assert!(
            m.ends_with("2 bytes past the end of a 10-byte allocation"),
            "{m}"
        );
        let (k, m) = classify_access(&access(AccessKind::Read, 0x1000_0ff5, 1), &live);
        assert_eq!(k, FindingKind::HeapBufferUnderflow);
        assert!(
            m.ends_with("1 byte before the start of a 10-byte allocation"),
            "{m}"
        );
        let (k, m) = classify_access(&access(AccessKind::Read, 0x1000_0ffa, 4), &slot(SLOT_FREED));
        assert_eq!(k, FindingKind::HeapUseAfterFree);
        assert!(
            m.ends_with("4 bytes into a 10-byte allocation freed earlier"),
            "{m}"
        );
    }

    #[test]
    fn blames_the_nearest_allocation() {
        // [a: data page ending at its guard][a's guard][b: placed before][b's guard]
        let a = Slot {
            start: 0x1000_0000,
            pages: 2,
            user: 0x1000_0ff6,
            size: 10,
            state: SLOT_LIVE,
            ..Slot::default()
        };
        let b = Slot {
            start: 0x1000_2000,
            pages: 2,
            user: 0x1000_2000,
            size: 100,
            before: 1,
            state: SLOT_LIVE,
            ..Slot::default()
        };
        // Just past a's end, in its guard page: a's overflow.
        assert_eq!(distance(&a, 0x1000_1000), Some(0));
        assert_eq!(distance(&b, 0x1000_1000), Some(0x1000));
        // Just before b's start, the end of a's guard page: b's underflow.
        assert_eq!(distance(&a, 0x1000_1fff), Some(0xfff));
        assert_eq!(distance(&b, 0x1000_1fff), Some(1));
        // Past b's end, in its slack: b's overflow, nowhere near a.
        assert_eq!(distance(&b, 0x1000_2064), Some(0));
        assert_eq!(distance(&a, 0x1000_2064), None);
        // A freed allocation owns all its data.
        let freed = Slot {
            state: SLOT_FREED,
            ..a
        };
        assert_eq!(distance(&freed, 0x1000_0010), Some(0));
    }

    #[test]
    fn describes_allocator_errors() {
        let rec = |kind, ptr| ErrorRecord {
            magic: GUARD_ERROR_MAGIC,
            kind,
            reserved: 0,
            ptr,
            slot: 0,
            offset: 3,
            length: 2,
        };
        let s = slot(SLOT_FREED);
        let (k, m) = classify_error(&rec(1, s.user), Some(&s), None).unwrap();
        assert_eq!(k, FindingKind::DoubleFree);
        assert!(
            m.contains("10-byte allocation that was already freed"),
            "{m}"
        );
        let (k, m) = classify_error(&rec(2, s.user + 4), Some(&s), None).unwrap();
        assert_eq!(k, FindingKind::InvalidFree);
        assert!(m.contains("4 bytes into a 10-byte allocation"), "{m}");
        assert_eq!(
            classify_error(&rec(3, 1), None, None).unwrap().0,
            FindingKind::HeapUseAfterFree
        );
        let (k, m) = classify_error(&rec(5, 0x40), None, Some(24)).unwrap();
        assert_eq!(k, FindingKind::HeapBufferOverflow);
        assert!(
            m.contains("the 24-byte allocation at 0x40 were overwritten"),
            "{m}"
        );
        assert!(classify_error(&rec(99, 1), None, None).is_none());
    }

    #[test]
    fn an_overrun_counts_the_bytes_up_to_the_last_changed() {
        let mut past = [SLACK_BYTE; 8];
        assert_eq!(changed(&past), None);
        past[0] = 1;
        assert_eq!(changed(&past), Some(1));
        past[5] = 0;
        assert_eq!(changed(&past), Some(6));
        let o = Overrun {
            user: 0x10,
            size: 100,
            past: 1,
            alloc_tid: 1,
            alloc_stack: 3,
        };
        assert_eq!(
            o.describe().1,
            "the 1 byte past the end of the 100-byte allocation at 0x10 was overwritten (found when the process exited)"
        );
    }
}
