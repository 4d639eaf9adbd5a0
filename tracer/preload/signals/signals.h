/* Which thread is running a signal handler, and calls it must not make
 * there (see signals.c). */
#ifndef FFC_SIGNALS_H
#define FFC_SIGNALS_H

/* The interposed functions POSIX does not list as async-signal-safe, in the
 * order of GUARD_UNSAFE_NAMES (protocol/guard.h). */
enum unsafe_call {
    UNSAFE_MALLOC,
    UNSAFE_CALLOC,
    UNSAFE_REALLOC,
    UNSAFE_FREE,
    UNSAFE_MEMALIGN, /* posix_memalign, aligned_alloc, memalign, valloc, pvalloc */
    UNSAFE_MUTEX_LOCK,
    UNSAFE_MUTEX_UNLOCK,
    UNSAFE_COND_WAIT,
    UNSAFE_COND_SIGNAL,
    UNSAFE_PRINTF,
    UNSAFE_PUTS,
    UNSAFE_FWRITE,
    UNSAFE_FFLUSH,
    UNSAFE_CALLS
};

/* How many handlers this thread is running (some may have been left by
 * siglongjmp: signals.c tells). */
extern __thread unsigned ffc_signal_depth __attribute__((tls_model("initial-exec"), visibility("hidden")));

void signal_unsafe_call_slow(enum unsafe_call call);

/* Reports `call` if this thread is running a handler the program installed
 * (the first such call of each handler, once per process); the call then proceeds. Cheap
 * when no handler runs: one thread-local load. */
static inline void signal_unsafe_call(enum unsafe_call call) {
    if (__builtin_expect(ffc_signal_depth != 0, 0)) signal_unsafe_call_slow(call);
}

#endif
