/*
 * The preloaded library's shared state (base.h): the settings read from
 * the environment, the per-thread id, the report to the supervisor.
 */
#define _GNU_SOURCE
#include "base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "raw.h"

struct ffc_settings ffc_settings;

/* Where the handed-over flag is: the guard header's once the allocator
 * has one, else a flag nobody sets. */
static volatile uint32_t never_handed_over;
volatile uint32_t *ffc_handed_over_flag = &never_handed_over;

static TLS int32_t cached_tid;

int32_t ffc_tid(void) {
    if (!cached_tid && !ffc_handed_over()) cached_tid = (int32_t)raw_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0);
    return cached_tid;
}

int ffc_harness_main_thread(void) { return ffc_settings.skip_main_thread && ffc_tid() == ffc_settings.main_pid; }

/* After fork only the forking thread exists, with a new id, and it runs
 * test code (the child of a harness is not the harness). */
static void after_fork_child(void) {
    cached_tid = 0;
    ffc_settings.skip_main_thread = 0;
}

__attribute__((noinline)) void ffc_report(struct guard_error *rec, const char *what, int fatal) {
    /* The supervisor no longer sees this process: a trap would go to the
     * test's own tracer. */
    if (ffc_handed_over()) return;
    if (ffc_settings.supervised) {
        __asm__ volatile("int3" : : "a"(rec) : "memory");
        return;
    }
    static const char pre[] = "cargo-ffi-check: ";
    raw_syscall6(SYS_write, 2, (long)pre, sizeof pre - 1, 0, 0, 0);
    raw_syscall6(SYS_write, 2, (long)what, (long)strlen(what), 0, 0, 0);
    raw_syscall6(SYS_write, 2, (long)"\n", 1, 0, 0, 0);
    if (fatal) abort();
}

/* 0: not started, 1: starting, 2: started. */
static int started;

int ffc_init(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&started, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return expected == 2;
    char *harness = getenv(GUARD_ENV_HARNESS_MAIN);
    ffc_settings.skip_main_thread = harness && *harness && strcmp(harness, "0") != 0;
    ffc_settings.main_pid = getpid();
    ffc_settings.supervised = getenv(GUARD_ENV_SUPERVISED) != NULL;
    /* Programs the test execs are not libtest harnesses: the value becomes
     * "0" in place. (Not unsetenv: this may run inside the program's first
     * malloc, called by a setenv that holds glibc's environment lock, which
     * unsetenv takes too.) */
    if (ffc_settings.skip_main_thread) strcpy(harness, "0");
    pthread_atfork(NULL, NULL, after_fork_child);
    __atomic_store_n(&started, 2, __ATOMIC_RELEASE);
    return 1;
}

__attribute__((constructor)) static void base_constructor(void) { (void)ffc_init(); }
