/*
 * Where threads of one process hand over through memory: the futex calls
 * Rust's std makes through syscall(), pthread mutexes and condition
 * variables.
 */
#define _GNU_SOURCE
#include "core.h"

#include <dlfcn.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/syscall.h>

#include "../base/raw.h"
#include "../signals/signals.h"

/* --- futexes (Rust's std calls syscall(SYS_futex, ...)) ------------------ */

static int futex_waits(long op) {
    switch (op & ~(long)(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
    case FUTEX_LOCK_PI:
    case FUTEX_WAIT_REQUEUE_PI:
    case 13: /* FUTEX_LOCK_PI2 */
        return 1;
    default:
        return 0;
    }
}

/* The clock of a timed futex wait: relative for FUTEX_WAIT, an absolute
 * time (CLOCK_MONOTONIC, or CLOCK_REALTIME with the flag) otherwise, as
 * Rust's std waits. */
static void futex_clock(long op, const struct timespec *t) {
    if ((op & ~(long)(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)) == FUTEX_WAIT) {
        clock_seen_ts(t);
        return;
    }
    clock_seen_until(op & FUTEX_CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC, t);
}

static long plain_syscall(long n, long a, long b, long c, long d, long e, long f) {
    long r = raw_syscall6(n, a, b, c, d, e, f);
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

EXPORT long syscall(long n, ...) {
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (n != SYS_futex || !scheduled()) return plain_syscall(n, a, b, c, d, e, f);
    /* A wait without a timeout may wait for another thread for good; a
     * wake hands over to the woken. */
    enum wait wait = futex_waits(b) ? (d == 0 ? MAY_WAIT : NO_WAIT) : NOTIFY;
    if (futex_waits(b) && d) futex_clock(b, (const struct timespec *)d);
    SCHEDULED(1, SCHED_KIND_SYSCALL, SYS_futex, wait, plain_syscall(n, a, b, c, d, e, f), a, b, c, d, e, f);
}

/* --- pthread mutexes and condition variables ------------------------------ */

REAL(pthread_mutex_lock)
static int lock(pthread_mutex_t *m) {
    ON_CALL(SCHED_KIND_CALL, SCHED_MUTEX_LOCK, m, 0, 0, MAY_WAIT, real_pthread_mutex_lock()(m));
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *m) {
    signal_unsafe_call(UNSAFE_MUTEX_LOCK);
    int r = lock(m);
    if (r == 0) sched_locks(1);
    return r;
}

REAL(pthread_mutex_unlock)
EXPORT int pthread_mutex_unlock(pthread_mutex_t *m) {
    signal_unsafe_call(UNSAFE_MUTEX_UNLOCK);
    sched_locks(-1);
    ON_CALL(SCHED_KIND_CALL, SCHED_MUTEX_UNLOCK, m, 0, 0, NOTIFY, real_pthread_mutex_unlock()(m));
}

REAL(pthread_cond_wait)
EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
    signal_unsafe_call(UNSAFE_COND_WAIT);
    ON_CALL(SCHED_KIND_CALL, SCHED_COND_WAIT, c, m, 0, MAY_WAIT, real_pthread_cond_wait()(c, m));
}

REAL(pthread_cond_signal)
EXPORT int pthread_cond_signal(pthread_cond_t *c) {
    signal_unsafe_call(UNSAFE_COND_SIGNAL);
    ON_CALL(SCHED_KIND_CALL, SCHED_COND_SIGNAL, c, 0, 0, NOTIFY, real_pthread_cond_signal()(c));
}

REAL(pthread_cond_broadcast)
EXPORT int pthread_cond_broadcast(pthread_cond_t *c) {
    signal_unsafe_call(UNSAFE_COND_SIGNAL);
    ON_CALL(SCHED_KIND_CALL, SCHED_COND_BROADCAST, c, 0, 0, NOTIFY, real_pthread_cond_broadcast()(c));
}

/* Finds every real function at start, so that no wrapper calls dlsym
 * later (not async-signal-safe: a wrapper may run in a signal handler). */
__attribute__((constructor)) static void sync_resolve(void) {
    void *all[] = {(void *)real_pthread_mutex_lock(), (void *)real_pthread_mutex_unlock(), (void *)real_pthread_cond_wait(), (void *)real_pthread_cond_signal(), (void *)real_pthread_cond_broadcast()};
    (void)all;
}
