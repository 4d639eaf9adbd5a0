//! Reading and writing the tracee's memory.

use crate::linux::PAGE;
use nix::sys::uio::{process_vm_readv, process_vm_writev, RemoteIoVec};
use nix::unistd::Pid;
use std::io::{self, IoSlice, IoSliceMut};

/// Reads up to `buf.len()` bytes at `addr` in process `pid`; returns how many
/// were read (fewer when the range runs into unmapped memory).
pub fn read(pid: i32, addr: u64, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        let remote = [RemoteIoVec {
            base: (addr as usize).wrapping_add(done),
            len: buf.len() - done,
        }];
        let mut local = [IoSliceMut::new(&mut buf[done..])];
        match process_vm_readv(Pid::from_raw(pid), &mut local, &remote) {
            Ok(0) | Err(_) => break,
            Ok(n) => done += n,
        }
    }
    done
}

/// Most ranges one `process_vm_readv` reads (the kernel's `IOV_MAX`).
const IOV_MAX: usize = 1024;
/// Most bytes [`read_spans`] reads with one call.
const BATCH_BYTES: usize = 8 << 20;

/// Reads each of `ranges` (address, length) in process `pid`; returns the
/// bytes of each range, or None for a range that could not be read whole.
/// For thousands of small reads (allocations at a process's exit): ranges
/// on the same or neighbouring pages are read as one span, and many spans
/// a system call. The kernel pins every page of every range it reads, so
/// four thousand 16-byte headers on two hundred pages cost two hundred
/// pins, not four thousand (it was most of the supervisor's time at a
/// short test's exit).
pub fn read_each(pid: i32, ranges: &[(u64, usize)]) -> Vec<Option<Vec<u8>>> {
    let spans = spans_of(ranges);
    let whole: Vec<(u64, usize)> = spans.iter().map(|s| (s.start, s.len)).collect();
    let mut out: Vec<Option<Vec<u8>>> = vec![None; ranges.len()];
    for (span, bytes) in spans.iter().zip(read_spans(pid, &whole)) {
        for &i in &span.members {
            let (addr, len) = ranges[i];
            out[i] = match &bytes {
                Some(b) => {
                    let at = (addr - span.start) as usize;
                    Some(b[at..at + len].to_vec())
                }
                // Some page of the span could not be read: each of its
                // ranges on its own.
                None => {
                    let mut buf = vec![0u8; len];
                    (read(pid, addr, &mut buf) == len).then_some(buf)
                }
            };
        }
    }
    out
}

/// Ranges read together: from `start`, `len` bytes, holding the ranges
/// numbered `members`.
#[derive(Debug, PartialEq, Eq)]
struct Span {
    start: u64,
    len: usize,
    members: Vec<usize>,
}

/// The spans `ranges` are read in: by address, a range joins the span
/// before it when it starts on that span's last page or the page after,
/// so a span covers only pages some range of it reads (a span that can be
/// read is as readable as its ranges). Empty ranges are spans of their
/// own.
fn spans_of(ranges: &[(u64, usize)]) -> Vec<Span> {
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].0);
    let mut spans: Vec<Span> = Vec::new();
    for i in order {
        let (addr, len) = ranges[i];
        let end = addr.saturating_add(len as u64);
        if let Some(last) = spans.last_mut().filter(|s| s.len > 0 && len > 0) {
            let last_end = last.start + last.len as u64;
            if addr / PAGE <= (last_end - 1) / PAGE + 1 {
                last.len = (last_end.max(end) - last.start) as usize;
                last.members.push(i);
                continue;
            }
        }
        spans.push(Span {
            start: addr,
            len,
            members: vec![i],
        });
    }
    spans
}

/// Reads each of `ranges`, many a system call; None for a range that could
/// not be read whole.
fn read_spans(pid: i32, ranges: &[(u64, usize)]) -> Vec<Option<Vec<u8>>> {
    let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(ranges.len());
    while out.len() < ranges.len() {
        let first = out.len();
        // The next batch: up to IOV_MAX ranges and BATCH_BYTES bytes (at
        // least one range).
        let mut end = first;
        let mut total = 0;
        while end < ranges.len()
            && end - first < IOV_MAX
            && (end == first || total + ranges[end].1 <= BATCH_BYTES)
        {
            total += ranges[end].1;
            end += 1;
        }
        let mut bufs: Vec<Vec<u8>> = ranges[first..end]
            .iter()
            .map(|&(_, len)| vec![0u8; len])
            .collect();
        let remote: Vec<RemoteIoVec> = ranges[first..end]
            .iter()
            .map(|&(addr, len)| RemoteIoVec {
                base: addr as usize,
                len,
            })
            .collect();
        let mut local: Vec<IoSliceMut> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        // The kernel stops at the first range it cannot read: the ones
        // before it are whole, it is retried alone.
        let mut got = process_vm_readv(Pid::from_raw(pid), &mut local, &remote).unwrap_or(0);
        drop(local);
        let mut bufs = bufs.into_iter();
        for &(addr, len) in &ranges[first..end] {
            let buf = bufs.next().expect("one buffer a range");
            if got >= len {
                got -= len;
                out.push(Some(buf));
            } else {
                // This one alone, then the next batch from after it.
                let mut buf = buf;
                out.push((read(pid, addr, &mut buf) == len).then_some(buf));
                break;
            }
        }
    }
    out
}

/// Writes all of `bytes` at `addr` in process `pid` (memory it may write).
pub fn write(pid: i32, addr: u64, bytes: &[u8]) -> io::Result<()> {
    let remote = [RemoteIoVec {
        base: addr as usize,
        len: bytes.len(),
    }];
    let local = [IoSlice::new(bytes)];
    let n = process_vm_writev(Pid::from_raw(pid), &local, &remote).map_err(io::Error::from)?;
    if n == bytes.len() {
        Ok(())
    } else {
        Err(io::Error::other("a short write to the tracee's memory"))
    }
}

/// Reads one little-endian u64 at `addr`, if mapped.
pub fn read_u64(pid: i32, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    (read(pid, addr, &mut b) == 8).then(|| u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges on the same or neighbouring pages share a span; a page
    /// between them that no range reads splits them.
    #[test]
    fn ranges_join_a_span_only_across_pages_they_read() {
        let p = 0x10_0000u64;
        let spans = spans_of(&[
            (p + 100, 16),
            (p + 8, 16),
            (p + PAGE + 4000, 200), // the next page, running into the one after
            (p + 4 * PAGE, 8),      // page 4: page 3 is read by nobody
            (p + 4 * PAGE + 4, 0),
        ]);
        let shape: Vec<(u64, usize, Vec<usize>)> = spans
            .into_iter()
            .map(|s| (s.start, s.len, s.members))
            .collect();
        assert_eq!(
            shape,
            [
                (p + 8, (PAGE + 4200 - 8) as usize, vec![1, 0, 2]),
                (p + 4 * PAGE, 8, vec![3]),
                (p + 4 * PAGE + 4, 0, vec![4]),
            ]
        );
    }

    /// Read back from this process: every range its own bytes, in the
    /// order asked, and a range on an unmapped page None while its span's
    /// other ranges are still read.
    #[test]
    fn each_range_gets_its_bytes_and_an_unreadable_one_none() {
        let data: Vec<u8> = (0..3 * PAGE as usize).map(|i| (i % 251) as u8).collect();
        let base = data.as_ptr() as u64;
        let pid = std::process::id() as i32;
        let ranges = [(base + 5000, 7), (base + 3, 40), (base + 9000, 100), (8, 8)];
        let got = read_each(pid, &ranges);
        for (i, &(addr, len)) in ranges.iter().enumerate().take(3) {
            let at = (addr - base) as usize;
            assert_eq!(got[i].as_deref(), Some(&data[at..at + len]), "range {i}");
        }
        assert_eq!(got[3], None, "page 0 is never mapped");
    }
}
