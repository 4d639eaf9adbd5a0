/*
 * The table and the arena at start-up (table.h): maps the metadata table
 * at GUARD_HEADER_ADDR and the arena at GUARD_ARENA_ADDR, reads the
 * allocator's settings, and owns the state the other files share.
 */
#define _GNU_SOURCE
#include "table.h"

#include <fcntl.h>
#include <gnu/libc-version.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../base/raw.h"
#include "depot.h"
#include "lock.h"
#include "policy.h"
#include "rust_alloc.h"
#include "slots.h"

volatile int state;
struct guard_header *hdr;
uint32_t *page_index;
struct guard_slot *slots;
uint32_t *live_ids;
uint64_t *wrapped_ptrs;
uint64_t *wq;
struct guard_stack *stacks;
uint32_t *buckets;
int strict_aligned_alloc;
uint64_t guarded_until;
uint32_t *quarantine;
uint32_t *reusable;
int always_poison;
int always_wrap;
uint64_t start_ns;
int guard_side;
TLS int in_guard;

/* The allocator's private part of the table mapping (the quarantine and
 * the reusable ids), after what the supervisor reads. */
#define PRIVATE_OFFSET GUARD_META_SIZE
#define PRIVATE_SIZE (2UL * QUARANTINE * sizeof(uint32_t))
#define TABLE_SIZE (PRIVATE_OFFSET + PRIVATE_SIZE)

static uint64_t env_u64(const char *name, uint64_t dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    uint64_t x = 0;
    for (; *v >= '0' && *v <= '9'; v++) x = x * 10 + (uint64_t)(*v - '0');
    return x;
}

uint64_t proc_number(const char *path) {
    char buf[64];
    long fd = raw_syscall6(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
    if (fd < 0) return 0;
    long n = raw_syscall6(SYS_read, fd, (long)buf, sizeof buf - 1, 0, 0, 0);
    raw_syscall6(SYS_close, fd, 0, 0, 0, 0, 0);
    uint64_t x = 0;
    for (long i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) x = x * 10 + (uint64_t)(buf[i] - '0');
    return x;
}

/* vm.max_map_count, or the kernel's default if it cannot be read. */
static uint64_t read_max_map_count(void) {
    uint64_t x = proc_number("/proc/sys/vm/max_map_count");
    return x ? x : 65530;
}

/* Maps the arena: read-write with guard regions where the kernel has them
 * (no mapping per allocation, so no budget), else PROT_NONE. Returns the
 * mode, or 0 if the address is taken. `forced` names a mode to use. */
static uint32_t map_arena(const char *forced) {
    int want_mprotect = forced && !strcmp(forced, "mprotect");
    if (!want_mprotect) {
        void *a = mmap((void *)GUARD_ARENA_ADDR, GUARD_ARENA_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
        if (a == (void *)GUARD_ARENA_ADDR) {
            if (madvise(a, GUARD_CHUNK, MADV_GUARD_INSTALL) == 0) {
                guarded_until = GUARD_ARENA_ADDR + GUARD_CHUNK;
                return GUARD_PROTECT_MADVISE;
            }
            munmap(a, GUARD_ARENA_SIZE);
        } else if (a != MAP_FAILED) {
            munmap(a, GUARD_ARENA_SIZE);
            return 0;
        }
    }
    void *a = mmap((void *)GUARD_ARENA_ADDR, GUARD_ARENA_SIZE, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (a == (void *)GUARD_ARENA_ADDR) return GUARD_PROTECT_MPROTECT;
    if (a != MAP_FAILED) munmap(a, GUARD_ARENA_SIZE);
    return 0;
}

/* Started by the constructor below, or by the first allocation if the
 * dynamic loader makes one before (entry.c). */
void guard_init(void) {
    /* The process's settings first (ffc_settings: supervised, main_pid).
     * Reading them may allocate (pthread_atfork): an allocation made then
     * starts nothing and goes to glibc. */
    if (!ffc_init()) return;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
    /* glibc's malloc initialises itself at its first call and gives that
     * thread the main arena, counted once. With every allocation guarded,
     * that first call can come from two threads at once (their first
     * unguarded allocations): both get the main arena, it is counted once,
     * and the second to exit aborts ("a->attached_threads > 0"). Make that
     * first call now, while the process has one thread. */
    __libc_free(__libc_malloc(1));
    lock_fork_handlers();
    const char *off = getenv(GUARD_ENV_GUARD);
    if (off && !strcmp(off, "off")) {
        /* Preloaded for the schedule only. */
        __atomic_store_n(&state, 3, __ATOMIC_RELEASE);
        return;
    }
    void *m = mmap((void *)GUARD_HEADER_ADDR, TABLE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (m != (void *)GUARD_HEADER_ADDR) {
        if (m != MAP_FAILED) munmap(m, TABLE_SIZE);
        __atomic_store_n(&state, 3, __ATOMIC_RELEASE);
        return;
    }
    const char *forced = getenv(GUARD_ENV_PROTECT);
    always_poison = forced && !strcmp(forced, "poison");
    always_wrap = forced && !strcmp(forced, "wrap");
    uint32_t protect = map_arena(forced);
    if (!protect) {
        munmap(m, TABLE_SIZE);
        __atomic_store_n(&state, 3, __ATOMIC_RELEASE);
        return;
    }
    find_self();
    hdr = m;
    page_index = (uint32_t *)((char *)m + GUARD_INDEX_OFFSET);
    slots = (struct guard_slot *)((char *)m + GUARD_SLOTS_OFFSET);
    live_ids = (uint32_t *)((char *)m + GUARD_LIVE_OFFSET);
    wrapped_ptrs = (uint64_t *)((char *)m + GUARD_WRAPPED_OFFSET);
    stacks = (struct guard_stack *)((char *)m + GUARD_STACKS_OFFSET);
    buckets = (uint32_t *)((char *)m + GUARD_BUCKETS_OFFSET);
    wq = (uint64_t *)((char *)m + GUARD_WQ_OFFSET);
    quarantine = (uint32_t *)((char *)m + PRIVATE_OFFSET);
    reusable = quarantine + QUARANTINE;
    ffc_handed_over_flag = &((struct guard_header *)m)->handed_over;
    hdr->version = GUARD_VERSION;
    hdr->slot_size = sizeof(struct guard_slot);
    hdr->wrap_size = sizeof(struct guard_wrap);
    hdr->protect = protect;
    hdr->arena_start = GUARD_ARENA_ADDR;
    hdr->arena_end = GUARD_ARENA_ADDR + GUARD_ARENA_SIZE;
    hdr->next = GUARD_ARENA_ADDR;
    hdr->seed = env_u64(GUARD_ENV_SEED, 0);
    start_ns = now_ns();
    hdr->wrap_salt = decide((uint64_t)(uintptr_t)&expected ^ (uint64_t)ffc_settings.main_pid);
    if (protect == GUARD_PROTECT_MPROTECT) {
        /* Each live allocation costs about two mappings; leave the default
         * map count (and some) to the test itself. */
        uint64_t mmc = read_max_map_count();
        hdr->budget = mmc > 8192 ? (mmc - 8192) / 4 : mmc / 8;
    } else {
        hdr->budget = GUARD_MAX_SLOTS;
    }
    hdr->budget_pages = GUARD_BUDGET_PAGES;
    const char *side = getenv(GUARD_ENV_GUARD_SIDE);
    guard_side = side && !strcmp(side, "after") ? 1 : side && !strcmp(side, "before") ? 2 : 0;
    if (ffc_settings.supervised) rust_alloc_init(getenv(GUARD_ENV_RUST_ALLOC));
    const char *v = gnu_get_libc_version();
    unsigned major = 0, minor = 0;
    for (; *v >= '0' && *v <= '9'; v++) major = major * 10 + (unsigned)(*v - '0');
    if (*v == '.')
        for (v++; *v >= '0' && *v <= '9'; v++) minor = minor * 10 + (unsigned)(*v - '0');
    strict_aligned_alloc = major > 2 || (major == 2 && minor >= 38);
    __atomic_store_n(&hdr->magic, GUARD_MAGIC, __ATOMIC_RELEASE);
    __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void guard_constructor(void) { guard_init(); }

/* For tools and tests: where the table is. */
EXPORT struct guard_header *ffi_check_guard_header(void) { return state == 2 ? hdr : NULL; }
