/*
 * The address-space limit: setrlimit and prlimit of RLIMIT_AS give back the
 * unused tail of the arena's reservation first, so that a program that
 * lowers its own limit keeps allocating and starting threads.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lock.h"
#include "table.h"

/* The process's address space in bytes (/proc/self/statm), 0 if unknown. */
static uint64_t address_space(void) { return proc_number("/proc/self/statm") * PAGE; }

/* Before the program lowers its address-space limit to `limit` bytes: the
 * arena's reservation counts against it, so its unused tail is given back,
 * leaving the arena a quarter of what the limit leaves besides (a program
 * that sets a limit natively far above its use must not find its
 * allocations and threads failing because of a reservation it never made).
 * Guarded allocations that no longer fit are wrapped. */
static void fit_address_space(uint64_t limit) {
    if (state != 2 || ffc_handed_over()) return;
    lock();
    uint64_t used_end = (hdr->next + GUARD_CHUNK - 1) & ~(GUARD_CHUNK - 1);
    if (used_end < hdr->arena_end) {
        uint64_t unused = hdr->arena_end - used_end;
        uint64_t vm = address_space();
        uint64_t others = vm > unused ? vm - unused : 0;
        uint64_t room = limit > others ? (limit - others) / 4 : 0;
        uint64_t end = used_end + (room < unused ? room & ~(uint64_t)(PAGE - 1) : unused);
        if (vm && end < hdr->arena_end && munmap((void *)end, hdr->arena_end - end) == 0) {
            hdr->arena_end = end;
            if (guarded_until > end) guarded_until = end;
        }
    }
    unlock();
}

static void before_limit(int resource, const struct rlimit *limit) {
    if (resource == RLIMIT_AS && limit && limit->rlim_cur != RLIM_INFINITY) fit_address_space(limit->rlim_cur);
}

REAL(setrlimit)
REAL(prlimit)

/* Found at start, as every real function (base/base.h). */
__attribute__((constructor)) static void limits_resolve(void) {
    (void)real_setrlimit();
    (void)real_prlimit();
}

EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit *limit) {
    before_limit((int)resource, limit);
    return real_setrlimit()(resource, limit);
}

/* On x86-64 struct rlimit64 is struct rlimit (rlim_t is 64 bits). */
EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *limit) {
    return setrlimit(resource, (const struct rlimit *)limit);
}

EXPORT int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit *limit, struct rlimit *old) {
    /* (Its own pid looked up only when it matters, and never in a process
     * handed over to the test's tracer.) */
    if (resource == RLIMIT_AS && limit && (pid == 0 || (!ffc_handed_over() && pid == getpid())))
        before_limit((int)resource, limit);
    return real_prlimit()(pid, resource, limit, old);
}

EXPORT int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64 *limit, struct rlimit64 *old) {
    return prlimit(pid, resource, (const struct rlimit *)limit, (struct rlimit *)old);
}
