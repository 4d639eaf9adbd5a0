//! Explaining faults and allocator errors with the guard allocator's
//! metadata table, read from the tracee at its known address.

use crate::linux::process::memory;
use crate::preload::protocol::{
    ErrorKind, ErrorRecord, Header, Slot, GUARD_ERROR_MAGIC, GUARD_HEADER_ADDR, GUARD_INDEX_OFFSET,
    GUARD_MAGIC, GUARD_SLOTS_OFFSET, GUARD_VERSION, SLOT_FREED,
};
use crate::{Access, FindingKind};

/// The allocator's page size: slots are made of pages.
pub const PAGE: u64 = 4096;

/// Reads a plain-data `T` from the tracee.
fn read<T: Copy + Default>(pid: i32, addr: u64) -> Option<T> {
    let mut value = T::default();
    let size = std::mem::size_of::<T>();
    // SAFETY: T is one of the repr(C) integer-only structs of crate::preload
    // (or an integer): every byte pattern is a valid value, and the slice
    // covers exactly the value's bytes.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut((&mut value as *mut T).cast::<u8>(), size) };
    (memory::read(pid, addr, bytes) == size).then_some(value)
}

/// The guard allocator's header in process `pid`, if it is preloaded there.
pub fn header(pid: i32) -> Option<Header> {
    let h: Header = read(pid, GUARD_HEADER_ADDR)?;
    (h.magic == GUARD_MAGIC
        && h.version == GUARD_VERSION
        && h.slot_size as usize == std::mem::size_of::<Slot>())
    .then_some(h)
}

/// Slot number `index`.
pub fn slot(pid: i32, index: i64) -> Option<Slot> {
    let index = u64::try_from(index).ok()?;
    read(
        pid,
        GUARD_HEADER_ADDR + GUARD_SLOTS_OFFSET + index * std::mem::size_of::<Slot>() as u64,
    )
}

/// The slot whose pages (guard included) hold `addr`.
pub fn slot_at(pid: i32, h: &Header, addr: u64) -> Option<Slot> {
    if !(h.arena_start..h.arena_end).contains(&addr) {
        return None;
    }
    let entry: u32 = read(
        pid,
        GUARD_HEADER_ADDR + GUARD_INDEX_OFFSET + (addr - h.arena_start) / PAGE * 4,
    )?;
    slot(pid, i64::from(entry) - 1)
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
    let end = slot.user + slot.size;
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

/// The allocator's error record that `rax` points at when it trapped.
pub fn error_record(tid: i32, rax: u64) -> Option<ErrorRecord> {
    let r: ErrorRecord = read(tid, rax)?;
    (r.magic == GUARD_ERROR_MAGIC).then_some(r)
}

/// The kind and description of an allocator-detected error.
pub fn classify_error(record: &ErrorRecord, slot: Option<&Slot>) -> Option<(FindingKind, String)> {
    let kind = ErrorKind::from_raw(record.kind)?;
    let p = record.ptr;
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
        (ErrorKind::ReallocFreed, s) => (
            FindingKind::HeapUseAfterFree,
            format!(
                "realloc of {p:#x}, a {}allocation that was already freed",
                s.map(|s| format!("{}-byte ", s.size)).unwrap_or_default()
            ),
        ),
        (ErrorKind::SlackCorrupted, s) => (
            FindingKind::HeapBufferOverflow,
            format!(
                "the bytes after the end of the {}allocation at {p:#x} were overwritten (found when it was freed)",
                s.map(|s| format!("{}-byte ", s.size)).unwrap_or_default()
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccessKind;

    fn slot(state: u32) -> Slot {
        Slot {
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
        let live = slot(crate::preload::protocol::SLOT_LIVE);
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
    fn describes_allocator_errors() {
        let rec = |kind, ptr| ErrorRecord {
            magic: GUARD_ERROR_MAGIC,
            kind,
            reserved: 0,
            ptr,
            slot: 0,
        };
        let s = slot(SLOT_FREED);
        let (k, m) = classify_error(&rec(1, s.user), Some(&s)).unwrap();
        assert_eq!(k, FindingKind::DoubleFree);
        assert!(
            m.contains("10-byte allocation that was already freed"),
            "{m}"
        );
        let (k, m) = classify_error(&rec(2, s.user + 4), Some(&s)).unwrap();
        assert_eq!(k, FindingKind::InvalidFree);
        assert!(m.contains("4 bytes into a 10-byte allocation"), "{m}");
        assert_eq!(
            classify_error(&rec(3, 1), None).unwrap().0,
            FindingKind::HeapUseAfterFree
        );
        assert_eq!(
            classify_error(&rec(4, 1), None).unwrap().0,
            FindingKind::HeapBufferOverflow
        );
        assert!(classify_error(&rec(99, 1), None).is_none());
    }
}
