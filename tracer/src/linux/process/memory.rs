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
