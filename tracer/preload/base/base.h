/*
 * The bottom layer of the preloaded library: what every part shares, in
 * one place. It owns the attribute macros, the look-up of the real
 * functions the parts interpose (REAL), the process's settings read from
 * the environment (ffc_settings, read once by ffc_init), the calling
 * thread's id, whether the process was handed over to the test's own
 * tracer, and the report of an error to the supervisor.
 *
 * It includes nothing of the parts above it (only the protocol's error
 * record): the signal checks (signals/), the allocator (alloc/) and the
 * schedule (schedule/) include this, and each part starts itself, calling
 * ffc_init first (README.md beside this folder: the layers).
 */
#ifndef FFI_CHECK_PRELOAD_H
#define FFI_CHECK_PRELOAD_H
#include <stdint.h>
#include <sys/types.h>

#include "../protocol/guard.h"

#define EXPORT __attribute__((visibility("default")))
#define HIDDEN_FN __attribute__((visibility("hidden")))
#define TLS __thread __attribute__((tls_model("initial-exec")))

/* Defines `real_NAME()`: the next definition of NAME after this library's
 * (dlsym RTLD_NEXT), found once. Every part resolves its real functions in
 * a constructor: dlsym is not async-signal-safe, and wrappers may run in a
 * signal handler. */
#define REAL(name)                                                       \
    static __typeof__(&name) real_##name(void) {                        \
        static __typeof__(&name) f;                                      \
        __typeof__(&name) got = __atomic_load_n(&f, __ATOMIC_ACQUIRE);   \
        if (!got) {                                                      \
            got = (__typeof__(&name))dlsym(RTLD_NEXT, #name);            \
            __atomic_store_n(&f, got, __ATOMIC_RELEASE);                 \
        }                                                                \
        return got;                                                      \
    }

/* The process's settings, read from the environment once, by ffc_init. */
struct ffc_settings {
    int supervised;       /* GUARD_ENV_SUPERVISED: report errors by trapping */
    int skip_main_thread; /* GUARD_ENV_HARNESS_MAIN: a libtest harness's main thread is left alone */
    pid_t main_pid;
};
extern struct ffc_settings ffc_settings HIDDEN_FN;

/* Whether the process was handed over to the test's own tracer (a test
 * that PTRACE_TRACEMEs a child, or attaches to one): from then on the
 * library makes no system call of its own there (no ids looked up, no
 * schedule holds, no guards made or protected, no reports by trapping),
 * so the tracer sees the calls a native run makes. The supervisor sets
 * the guard header's `handed_over` before it lets go of the process. */
extern volatile uint32_t *ffc_handed_over_flag HIDDEN_FN;
static inline int ffc_handed_over(void) { return __atomic_load_n(ffc_handed_over_flag, __ATOMIC_RELAXED) != 0; }

/* Reads the process's settings once (ffc_settings); every part calls it
 * before it starts, from its constructor or its lazy path, whichever runs
 * first (the dynamic loader allocates before any constructor runs).
 * Returns whether they are read: 0 for a call made while the first one
 * is still reading them (from an allocation it makes). */
HIDDEN_FN int ffc_init(void);

/* The calling thread's id (cached; reset in a forked child). */
HIDDEN_FN int32_t ffc_tid(void);

/* Whether the calling thread is a libtest harness's main thread, which
 * only runs the harness: its allocations go to glibc and the schedule
 * leaves its calls alone. */
HIDDEN_FN int ffc_harness_main_thread(void);

/* Reports an error record to the supervisor by trapping (int3 with the
 * record's address in rax; the supervisor reads it and resumes the
 * thread), or, unsupervised, writes `what` to stderr and, if `fatal`,
 * aborts. */
HIDDEN_FN void ffc_report(struct guard_error *rec, const char *what, int fatal);

#endif
