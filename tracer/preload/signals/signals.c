/*
 * Calls that are not async-signal-safe, made from a signal handler: a
 * handler that allocates, frees, takes a lock or uses stdio deadlocks or
 * corrupts memory when the signal lands inside the same call. The library
 * wraps every handler the program installs (sigaction, signal, sysv_signal,
 * bsd_signal): the wrapper records on a per-thread stack that a handler
 * runs (the signal, the handler, the wrapper's stack pointer) around the
 * call, and the interposed unsafe functions (malloc and friends in alloc/,
 * mutexes and condition variables in schedule/sync.c, stdio here) check it.
 *
 * A handler left by siglongjmp or longjmp pops its entry in the
 * interposed jump; one left by a jump that bypasses them (from inside the
 * C library) is dropped when its stack pointer is below the checking
 * function's (the stack grows down, and a running handler's frames are
 * below its wrapper's). With sigaltstack, a handler's frames are on the alternate
 * stack, below the thread stack it jumps back to, so the rule holds there
 * too.
 *
 * Programs see their own handlers: sigaction's old action and signal's
 * return value are the handler and flags they installed, never the wrapper.
 */
#define _GNU_SOURCE
#include "signals.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "../base/base.h"
#include "../base/raw.h"
#include "../protocol/guard.h"

#define DEPTH 8
#define REPORTED 64
#ifndef NSIG
#define NSIG 65
#endif

/* What the program installed, per signal. */
static struct {
    void *handler; /* sa_handler or sa_sigaction */
    int flags;     /* the program's sa_flags (SA_SIGINFO as it set it) */
} installed[NSIG];

/* This thread's running handlers, innermost last. */
static TLS struct running {
    uintptr_t sp;
    void *handler;
    int sig;
} running[DEPTH];
TLS unsigned ffc_signal_depth;
#define depth ffc_signal_depth
/* Set while an interposed unsafe function runs on this thread, so that the
 * functions it calls (printf's malloc) are not reported again. */
static TLS int in_unsafe;

/* Handlers already reported by this process: the first unsafe call of a
 * handler is reported (the ones after it in the same handler add nothing
 * a reader needs). */
static uintptr_t reported[REPORTED];
static unsigned reported_count;

REAL(sigaction)

static void wrapper(int sig, siginfo_t *info, void *uc) {
    void *handler = sig > 0 && sig < NSIG ? __atomic_load_n(&installed[sig].handler, __ATOMIC_ACQUIRE) : NULL;
    int flags = sig > 0 && sig < NSIG ? __atomic_load_n(&installed[sig].flags, __ATOMIC_RELAXED) : 0;
    if (!handler || handler == (void *)SIG_IGN || handler == (void *)SIG_DFL) return;
    unsigned d = depth;
    if (d < DEPTH) running[d] = (struct running){(uintptr_t)__builtin_frame_address(0), handler, sig};
    /* The entry is complete before it counts, for a signal nested here. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    depth = d + 1;
    int saved = in_unsafe;
    in_unsafe = 0;
    if (flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))handler)(sig, info, uc);
    else
        ((void (*)(int))handler)(sig);
    in_unsafe = saved;
    depth = d;
}

/* The innermost handler this thread is running, dropping entries left by
 * siglongjmp; NULL if none. */
static struct running *current(void) {
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    while (depth && (depth > DEPTH || running[depth - 1].sp < sp)) depth--;
    return depth ? &running[depth - 1] : NULL;
}

static int first_report(uintptr_t handler) {
    unsigned n = __atomic_load_n(&reported_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n && i < REPORTED; i++)
        if (__atomic_load_n(&reported[i], __ATOMIC_RELAXED) == handler) return 0;
    unsigned i = __atomic_fetch_add(&reported_count, 1, __ATOMIC_ACQ_REL);
    if (i < REPORTED) __atomic_store_n(&reported[i], handler, __ATOMIC_RELAXED);
    return 1;
}

__attribute__((noinline)) void signal_unsafe_call_slow(enum unsafe_call call) {
    if (!depth || in_unsafe) return;
    struct running *r = current();
    if (!r || !first_report((uintptr_t)r->handler)) return;
    struct guard_error rec = {GUARD_ERROR_MAGIC, GUARD_SIGNAL_UNSAFE_CALL, call, (uint64_t)(uintptr_t)r->handler,
                              r->sig, 0, 0};
    ffc_report(&rec, "a call that is not async-signal-safe in a signal handler", 0);
}

/* --- installing handlers -------------------------------------------------- */

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    int (*real)(int, const struct sigaction *, struct sigaction *) = real_sigaction();
    if (sig <= 0 || sig >= NSIG) return real(sig, act, old);
    struct sigaction mine;
    const struct sigaction *pass = act;
    if (act) {
        void *h = act->sa_flags & SA_SIGINFO ? (void *)act->sa_sigaction : (void *)act->sa_handler;
        if (h != (void *)SIG_IGN && h != (void *)SIG_DFL) {
            mine = *act;
            mine.sa_sigaction = wrapper;
            mine.sa_flags |= SA_SIGINFO;
            pass = &mine;
        }
    }
    void *prev_handler = __atomic_load_n(&installed[sig].handler, __ATOMIC_ACQUIRE);
    int prev_flags = installed[sig].flags;
    if (act) {
        /* The handler is known before the wrapper can run for it. */
        __atomic_store_n(&installed[sig].flags, act->sa_flags, __ATOMIC_RELAXED);
        __atomic_store_n(&installed[sig].handler,
                         act->sa_flags & SA_SIGINFO ? (void *)act->sa_sigaction : (void *)act->sa_handler,
                         __ATOMIC_RELEASE);
    }
    int r = real(sig, pass, old);
    if (r != 0 && act) {
        __atomic_store_n(&installed[sig].handler, prev_handler, __ATOMIC_RELEASE);
        installed[sig].flags = prev_flags;
    }
    if (r == 0 && old && old->sa_sigaction == wrapper) {
        /* The program's own handler, as it installed it. */
        if (prev_flags & SA_SIGINFO)
            old->sa_sigaction = (void (*)(int, siginfo_t *, void *))prev_handler;
        else
            old->sa_handler = (void (*)(int))prev_handler;
        old->sa_flags = prev_flags;
    }
    return r;
}

/* Signals that siginterrupt(sig, 1) made interrupting (a bit each): for
 * them signal() and bsd_signal() install without SA_RESTART, as glibc's
 * do (glibc keeps its own record of them internally, out of reach). */
static uint64_t interrupting[(NSIG + 63) / 64];

static int interrupts(int sig) {
    return sig > 0 && sig < NSIG && (__atomic_load_n(&interrupting[sig / 64], __ATOMIC_RELAXED) >> (sig % 64) & 1);
}

/* glibc's siginterrupt (it changes the installed action's SA_RESTART
 * itself, through its internal sigaction), recorded for signal(). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
REAL(siginterrupt)
EXPORT int siginterrupt(int sig, int interrupt) {
    int r = real_siginterrupt()(sig, interrupt);
    if (r == 0 && sig > 0 && sig < NSIG) {
        uint64_t bit = 1ULL << (sig % 64);
        if (interrupt)
            __atomic_fetch_or(&interrupting[sig / 64], bit, __ATOMIC_RELAXED);
        else
            __atomic_fetch_and(&interrupting[sig / 64], ~bit, __ATOMIC_RELAXED);
        int flags = __atomic_load_n(&installed[sig].flags, __ATOMIC_RELAXED);
        __atomic_store_n(&installed[sig].flags, interrupt ? flags & ~SA_RESTART : flags | SA_RESTART,
                         __ATOMIC_RELAXED);
    }
    return r;
}
#pragma GCC diagnostic pop

/* signal() as glibc has it (BSD semantics: SA_RESTART unless
 * siginterrupt made the signal interrupting, handler kept). */
static sighandler_t install(int sig, sighandler_t handler, int flags) {
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = flags;
    sigemptyset(&act.sa_mask);
    if (!(flags & SA_NODEFER)) sigaddset(&act.sa_mask, sig);
    if (sigaction(sig, &act, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler) {
    return install(sig, handler, interrupts(sig) ? 0 : SA_RESTART);
}
EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler) {
    return install(sig, handler, interrupts(sig) ? 0 : SA_RESTART);
}
EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler) {
    return install(sig, handler, (int)(SA_RESETHAND | SA_NODEFER));
}

/* --- leaving a handler by a jump ------------------------------------------ */

/* A jump while a handler runs leaves it (almost always: a handler that
 * jumps to a point inside itself is not told apart, and then its later
 * unsafe calls go unreported). The stack-pointer rule in current() covers
 * jumps that bypass these (longjmp inside the C library). */
static void leave_by_jump(void) {
    if (depth) depth--;
}

#define JUMP(name, buf)                                            \
    REAL(name)                                   \
    EXPORT __attribute__((noreturn)) void name(buf env, int val) { \
        leave_by_jump();                                           \
        real_##name()(env, val);                                   \
        __builtin_unreachable();                                   \
    }

void __longjmp_chk(jmp_buf, int);
JUMP(siglongjmp, sigjmp_buf)
JUMP(longjmp, jmp_buf)
JUMP(_longjmp, jmp_buf)
JUMP(__longjmp_chk, jmp_buf)

/* --- stdio ---------------------------------------------------------------- */

REAL(vfprintf)
REAL(fputs)
REAL(puts)
REAL(fputc)
REAL(putc)
REAL(putchar)
REAL(fwrite)
REAL(fflush)

/* Runs `call` (the real stdio function) after the check, with nested
 * interposed calls not reported again. */
#define UNSAFE(kind, type, call)        \
    do {                                \
        signal_unsafe_call(kind);       \
        int saved_ = in_unsafe;         \
        in_unsafe = 1;                  \
        type r_ = call;                 \
        in_unsafe = saved_;             \
        return r_;                      \
    } while (0)

EXPORT int vfprintf(FILE *f, const char *fmt, va_list ap) { UNSAFE(UNSAFE_PRINTF, int, real_vfprintf()(f, fmt, ap)); }
EXPORT int vprintf(const char *fmt, va_list ap) { UNSAFE(UNSAFE_PRINTF, int, real_vfprintf()(stdout, fmt, ap)); }
EXPORT int fprintf(FILE *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(f, fmt, ap);
    va_end(ap);
    return r;
}
EXPORT int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vfprintf(stdout, fmt, ap);
    va_end(ap);
    return r;
}
/* The checked variants C built with _FORTIFY_SOURCE calls instead
 * (glibc's own printf does not go through vfprintf, nor these). */
int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap);
int __vprintf_chk(int flag, const char *fmt, va_list ap);
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);
int __printf_chk(int flag, const char *fmt, ...);
REAL(__vfprintf_chk)
EXPORT int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap) {
    UNSAFE(UNSAFE_PRINTF, int, real___vfprintf_chk()(f, flag, fmt, ap));
}
EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap) {
    UNSAFE(UNSAFE_PRINTF, int, real___vfprintf_chk()(stdout, flag, fmt, ap));
}
EXPORT int __fprintf_chk(FILE *f, int flag, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = __vfprintf_chk(f, flag, fmt, ap);
    va_end(ap);
    return r;
}
EXPORT int __printf_chk(int flag, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = __vfprintf_chk(stdout, flag, fmt, ap);
    va_end(ap);
    return r;
}
EXPORT int puts(const char *s) { UNSAFE(UNSAFE_PUTS, int, real_puts()(s)); }
EXPORT int fputs(const char *s, FILE *f) { UNSAFE(UNSAFE_PUTS, int, real_fputs()(s, f)); }
EXPORT int fputc(int c, FILE *f) { UNSAFE(UNSAFE_PUTS, int, real_fputc()(c, f)); }
EXPORT int putc(int c, FILE *f) { UNSAFE(UNSAFE_PUTS, int, real_putc()(c, f)); }
EXPORT int putchar(int c) { UNSAFE(UNSAFE_PUTS, int, real_putchar()(c)); }
EXPORT size_t fwrite(const void *p, size_t size, size_t n, FILE *f) {
    UNSAFE(UNSAFE_FWRITE, size_t, real_fwrite()(p, size, n, f));
}
EXPORT int fflush(FILE *f) { UNSAFE(UNSAFE_FFLUSH, int, real_fflush()(f)); }

/* Finds the real functions at start: dlsym is not async-signal-safe. */
__attribute__((constructor)) static void signals_resolve(void) {
    void *all[] = {
        (void *)real_sigaction(), (void *)real_vfprintf(), (void *)real_fputs(), (void *)real_puts(),
        (void *)real_fputc(),     (void *)real_putc(),     (void *)real_putchar(), (void *)real_fwrite(),
        (void *)real_fflush(),    (void *)real_siglongjmp(), (void *)real_longjmp(), (void *)real__longjmp(),
        (void *)real___longjmp_chk(), (void *)real_siginterrupt(), (void *)real___vfprintf_chk(),
    };
    (void)all;
}
