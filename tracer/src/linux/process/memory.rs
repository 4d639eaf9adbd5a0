//! Reading and writing the tracee's memory.

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
/// Most bytes [`read_each`] reads with one call.
const BATCH_BYTES: usize = 8 << 20;

/// Reads each of `ranges` (address, length) in process `pid`, many ranges a
/// system call: for thousands of small reads (allocations at a process's
/// exit) where one call each would cost more than the reading. Returns the
/// bytes of each range, or None for a range that could not be read whole.
pub fn read_each(pid: i32, ranges: &[(u64, usize)]) -> Vec<Option<Vec<u8>>> {
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
