//! Who holds the glibc mutex a blocked thread waits for, and lock cycles.
//!
//! A thread blocked in `pthread_mutex_lock` sleeps in `futex(&mutex->__lock,
//! FUTEX_WAIT_PRIVATE, 2, NULL)`. glibc's `pthread_mutex_t` keeps the owner's
//! tid at offset 8 (`__data.__owner`, after `__lock` and `__count`), so the
//! owner can be read from the tracee's memory.

use crate::linux::process::memory;
use crate::linux::syscalls::{is_futex_wait, Syscall};
use crate::Frame;

/// Offset of `__owner` in glibc's x86-64 `pthread_mutex_t`.
const OWNER_OFFSET: u64 = 8;

/// If the thread with this system call and backtrace is waiting for a
/// glibc mutex, the mutex's address.
pub fn waited_mutex(syscall: &Syscall, backtrace: &[Frame]) -> Option<u64> {
    if syscall.nr != libc::SYS_futex || !is_futex_wait(syscall.args[1]) {
        return None;
    }
    let in_lock = backtrace.iter().any(|f| {
        f.function
            .as_deref()
            .is_some_and(|n| n.contains("pthread_mutex_lock") || n.contains("lll_lock_wait"))
    });
    // Without symbols: glibc's lock slow path always waits for the value 2.
    (in_lock || (backtrace.is_empty() && syscall.args[2] == 2)).then_some(syscall.args[0])
}

/// The tid of the owner of the glibc mutex at `addr` in process `pid`, if
/// it is locked and records one.
pub fn mutex_owner(pid: i32, addr: u64) -> Option<i32> {
    let word = |at: u64| {
        let mut b = [0u8; 4];
        (memory::read(pid, at, &mut b) == 4).then(|| i32::from_le_bytes(b))
    };
    let lock = word(addr)?;
    let owner = word(addr + OWNER_OFFSET)?;
    (lock != 0 && owner > 0).then_some(owner)
}

/// A cycle in the waits-for relation (`waiter -> owner` edges), as the
/// list of threads around it starting from the smallest tid.
pub fn cycle(edges: &[(i32, i32)]) -> Option<Vec<i32>> {
    let next = |t: i32| edges.iter().find(|(w, _)| *w == t).map(|&(_, o)| o);
    let mut starts: Vec<i32> = edges.iter().map(|&(w, _)| w).collect();
    starts.sort_unstable();
    for start in starts {
        let mut path = vec![start];
        let mut at = start;
        while let Some(o) = next(at) {
            if let Some(i) = path.iter().position(|&p| p == o) {
                let mut ring = path[i..].to_vec();
                let min = ring
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, t)| **t)
                    .map_or(0, |(i, _)| i);
                ring.rotate_left(min);
                return Some(ring);
            }
            path.push(o);
            at = o;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_two_thread_cycle_and_no_cycle_in_a_chain() {
        assert_eq!(cycle(&[(20, 10), (10, 20)]), Some(vec![10, 20]));
        assert_eq!(cycle(&[(1, 2), (2, 3)]), None);
        assert_eq!(cycle(&[(5, 7), (7, 9), (9, 7)]), Some(vec![7, 9]));
    }

    #[test]
    fn reads_the_owner_of_a_locked_glibc_mutex() {
        let m = Box::new(std::cell::UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
        let me = std::process::id() as i32;
        let addr = m.get() as u64;
        assert_eq!(mutex_owner(me, addr), None);
        // SAFETY: a valid, initialized mutex, locked and unlocked by this thread.
        unsafe { libc::pthread_mutex_lock(m.get()) };
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        assert_eq!(mutex_owner(me, addr), Some(tid));
        // SAFETY: locked above by this thread.
        unsafe { libc::pthread_mutex_unlock(m.get()) };
    }
}
