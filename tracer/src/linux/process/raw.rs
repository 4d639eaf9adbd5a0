//! System calls made without libc's wrappers, which set `errno` on failure.
//!
//! The child that [`super::spawn`] starts shares the supervisor's memory
//! until it execs (`CLONE_VM`), and with it the thread-local `errno` of the
//! supervisor thread that started it, which goes on running meanwhile. So
//! the child makes its calls here: the error comes back as the return
//! value, and nothing in the shared memory is written.

use std::arch::asm;

/// Calls system call `nr` with up to six arguments; returns its raw result
/// (a negative errno on failure).
///
/// # Safety
/// The arguments must be what the kernel expects for `nr`: pointers valid
/// for what the call reads and writes.
pub unsafe fn syscall(nr: libc::c_long, args: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the x86-64 system call convention: number in rax, arguments in
    // rdi, rsi, rdx, r10, r8, r9; the kernel clobbers rcx and r11 and
    // returns in rax. Memory the call touches is the caller's contract.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// `errno` of a failed call's raw result, or 0 for a success.
pub fn errno_of(ret: isize) -> i32 {
    if (-4095..0).contains(&ret) {
        -ret as i32
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_errors_come_back_without_errno() {
        // SAFETY: getpid takes no arguments.
        let pid = unsafe { syscall(libc::SYS_getpid, [0; 6]) };
        assert_eq!(pid, std::process::id() as isize);
        assert_eq!(errno_of(pid), 0);
        // SAFETY: closing a descriptor that is not open touches no memory.
        let bad = unsafe { syscall(libc::SYS_close, [usize::MAX >> 33, 0, 0, 0, 0, 0]) };
        assert_eq!(errno_of(bad), libc::EBADF);
    }
}
