/*
 * Raw system calls for the preloaded library: no errno, no libc wrapper,
 * and never through the library's own interposed `syscall()` (which the
 * schedule would hold). Returns the kernel's result (-errno on failure).
 */
#ifndef FFI_CHECK_RAW_H
#define FFI_CHECK_RAW_H

static inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f) {
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#endif
