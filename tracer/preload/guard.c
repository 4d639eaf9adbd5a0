/*
 * The cargo-ffi-check guard allocator, preloaded (LD_PRELOAD) into every
 * process of a test. Every allocation gets pages of its own next to a
 * PROT_NONE guard page, so the first byte read or written past the end (or,
 * for some allocations chosen by the seed, before the start) faults at once,
 * and freed memory stays PROT_NONE so a use after free faults too. The
 * supervisor reads what it needs to explain a fault from the metadata table
 * at GUARD_HEADER_ADDR; see README.md beside this file for the layout.
 *
 * Invariants:
 * - Address space in the arena is never reused: a freed slot stays PROT_NONE
 *   for the life of the process (quarantine by construction). When the arena
 *   is used up, or the VMA budget is, allocations come from glibc.
 * - Nothing here allocates through malloc; TLS is initial-exec; the lock is a
 *   spinlock re-initialised in the child after fork.
 * - Pointers not in the arena (made by glibc before we initialised, or while
 *   over budget) are handed back to glibc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include "guard.h"

#define EXPORT __attribute__((visibility("default")))
#define PAGE 4096UL
#define SLACK_BYTE 0xa5

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* 0: not initialised, 1: initialising, 2: ready, 3: disabled. */
static volatile int state;
static struct guard_header *hdr;
static uint32_t *page_index;
static struct guard_slot *slots;
static volatile int lock_word;
static int supervised;
/* glibc 2.38 and later reject aligned_alloc alignments that are not powers
 * of two; earlier ones round them up like memalign. */
static int strict_aligned_alloc;

/* Which side of an allocation its guard page goes: 0 seeded, 1 always after
 * (overflows), 2 always before (underflows). GUARD_ENV_GUARD_SIDE. */
static int guard_side;
/* GUARD_ENV_HARNESS_MAIN=1: this is a libtest binary, whose main thread only
 * runs the harness (the test runs on a thread of its own): its allocations
 * go to glibc. Cleared in a forked child, whose main thread is test code. */
static int skip_main_thread;
static pid_t main_pid;

static __thread int in_guard __attribute__((tls_model("initial-exec")));
/* Allocations made by this thread: placement is decided from the seed, this
 * index and the size, so a thread's own allocations are placed the same way
 * under the same seed however other threads interleave. */
static __thread uint64_t thread_allocs __attribute__((tls_model("initial-exec")));
static __thread int32_t cached_tid __attribute__((tls_model("initial-exec")));

static void lock(void) {
    while (__atomic_exchange_n(&lock_word, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&lock_word, __ATOMIC_RELAXED)) __builtin_ia32_pause();
}

static void unlock(void) { __atomic_store_n(&lock_word, 0, __ATOMIC_RELEASE); }

static int32_t tid(void) {
    if (!cached_tid) cached_tid = (int32_t)syscall(SYS_gettid);
    return cached_tid;
}

/* After fork only the forking thread exists: the lock is free and the tid changed. */
static void after_fork_child(void) {
    lock_word = 0;
    cached_tid = 0;
    skip_main_thread = 0;
}

/* splitmix64 of the run's seed and n. */
static uint64_t decide(uint64_t n) {
    uint64_t z = hdr->seed + (n + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t env_u64(const char *name, uint64_t dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    uint64_t x = 0;
    for (; *v >= '0' && *v <= '9'; v++) x = x * 10 + (uint64_t)(*v - '0');
    return x;
}

static uint64_t read_max_map_count(void) {
    char buf[32];
    int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 65530;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 65530;
    uint64_t x = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) x = x * 10 + (uint64_t)(buf[i] - '0');
    return x ? x : 65530;
}

static void init(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
    /* Skip the main thread of a libtest harness (see ffi_check_harness_main_thread). */
    skip_main_thread = env_u64(GUARD_ENV_HARNESS_MAIN, 0) != 0;
    main_pid = getpid();
    /* Programs the test execs are not libtest harnesses. */
    unsetenv(GUARD_ENV_HARNESS_MAIN);
    pthread_atfork(NULL, NULL, after_fork_child);
    const char *off = getenv(GUARD_ENV_GUARD);
    if (off && !strcmp(off, "off")) {
        /* Preloaded for the schedule only. */
        __atomic_store_n(&state, 3, __ATOMIC_RELEASE);
        return;
    }
    size_t meta = GUARD_META_SIZE;
    void *m = mmap((void *)GUARD_HEADER_ADDR, meta, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    void *a = mmap((void *)GUARD_ARENA_ADDR, GUARD_ARENA_SIZE, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (m != (void *)GUARD_HEADER_ADDR || a != (void *)GUARD_ARENA_ADDR) {
        /* Without the known address the supervisor could not explain faults. */
        if (m != MAP_FAILED) munmap(m, meta);
        if (a != MAP_FAILED) munmap(a, GUARD_ARENA_SIZE);
        __atomic_store_n(&state, 3, __ATOMIC_RELEASE);
        return;
    }
    hdr = m;
    page_index = (uint32_t *)((char *)m + GUARD_INDEX_OFFSET);
    slots = (struct guard_slot *)((char *)m + GUARD_SLOTS_OFFSET);
    hdr->version = GUARD_VERSION;
    hdr->slot_size = sizeof(struct guard_slot);
    hdr->arena_start = GUARD_ARENA_ADDR;
    hdr->arena_end = GUARD_ARENA_ADDR + GUARD_ARENA_SIZE;
    hdr->next = GUARD_ARENA_ADDR;
    hdr->seed = env_u64(GUARD_ENV_SEED, 0);
    /* Each live guarded allocation costs about two VMAs; leave half the
     * map count (and some) to the test itself. */
    uint64_t mmc = read_max_map_count();
    hdr->budget = mmc > 8192 ? (mmc - 8192) / 4 : mmc / 8;
    const char *side = getenv(GUARD_ENV_GUARD_SIDE);
    guard_side = side && !strcmp(side, "after") ? 1 : side && !strcmp(side, "before") ? 2 : 0;
    supervised = getenv(GUARD_ENV_SUPERVISED) != NULL;
    unsigned major = 0, minor = 0;
    const char *v = gnu_get_libc_version();
    for (; *v >= '0' && *v <= '9'; v++) major = major * 10 + (unsigned)(*v - '0');
    if (*v == '.')
        for (v++; *v >= '0' && *v <= '9'; v++) minor = minor * 10 + (unsigned)(*v - '0');
    strict_aligned_alloc = major > 2 || (major == 2 && minor >= 38);
    __atomic_store_n(&hdr->magic, GUARD_MAGIC, __ATOMIC_RELEASE);
    __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void guard_constructor(void) { init(); }

static int ready(void) {
    if (__builtin_expect(state == 2, 1)) return !in_guard;
    if (state == 0) init();
    return state == 2 && !in_guard;
}

/* glibc's usable size of one of its own chunks, from the chunk header: the
 * size field (low 3 bits are flags, bit 1 IS_MMAPPED) minus the header
 * glibc does not hand out. (glibc's malloc_usable_size is the symbol we
 * interpose, so it cannot be called.) */
static size_t libc_usable_size(void *p) {
    size_t field = ((size_t *)p)[-1];
    size_t chunk = field & ~(size_t)7;
    return field & 2 ? chunk - 16 : chunk - 8;
}

/* --- call sites ------------------------------------------------------- */

struct trace {
    uint64_t *pcs;
    unsigned n, skip;
};

static _Unwind_Reason_Code trace_one(struct _Unwind_Context *ctx, void *arg) {
    struct trace *t = arg;
    uintptr_t pc = _Unwind_GetIP(ctx);
    if (!pc) return _URC_END_OF_STACK;
    if (t->skip) {
        t->skip--;
        return _URC_NO_REASON;
    }
    t->pcs[t->n++] = pc;
    return t->n < GUARD_FRAMES ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* The return addresses of the caller's stack, innermost first, skipping the
 * allocator's own frames. Runs with in_guard set: the unwinder's own
 * allocations, if any, go to glibc. */
static void capture(uint64_t *pcs) {
    memset(pcs, 0, GUARD_FRAMES * sizeof *pcs);
    struct trace t = {pcs, 0, 2};
    _Unwind_Backtrace(trace_one, &t);
}

/* --- errors ------------------------------------------------------------ */

static const char *error_name(uint32_t kind) {
    switch (kind) {
    case GUARD_DOUBLE_FREE: return "double-free";
    case GUARD_INVALID_FREE: return "invalid-free";
    case GUARD_REALLOC_FREED: return "realloc of a freed pointer";
    case GUARD_SLACK_CORRUPTED: return "heap-buffer-overflow (bytes past the end were overwritten)";
    default: return "allocator error";
    }
}

/* Reports an error: under the supervisor by trapping with the record's
 * address in rax (the supervisor reads it, reports with this stack, and
 * resumes); otherwise by aborting with a message. */
__attribute__((noinline)) static void report(uint32_t kind, void *ptr, int64_t slot) {
    struct guard_error rec = {GUARD_ERROR_MAGIC, kind, 0, (uint64_t)(uintptr_t)ptr, slot};
    if (supervised) {
        __asm__ volatile("int3" : : "a"(&rec) : "memory");
        return;
    }
    static const char pre[] = "cargo-ffi-check guard allocator: ";
    const char *name = error_name(kind);
    (void)!write(2, pre, sizeof pre - 1);
    (void)!write(2, name, strlen(name));
    (void)!write(2, "\n", 1);
    abort();
}

/* --- the arena --------------------------------------------------------- */

static int in_arena(const void *p) {
    uintptr_t a = (uintptr_t)p;
    return hdr && a >= hdr->arena_start && a < hdr->arena_end;
}

/* The slot holding address p, or -1. */
static int64_t slot_of(const void *p) {
    uint32_t i = page_index[((uintptr_t)p - hdr->arena_start) / PAGE];
    return i ? (int64_t)i - 1 : -1;
}

/* Every allocation keeps malloc's 16-byte alignment: placing the end
 * exactly against the guard (alignment = lowest set bit of the size) would
 * break Rust's System allocator, which relies on malloc's alignment for
 * layouts whose size is not a multiple of their alignment (hashbrown's
 * tables, used by libtest itself). Overruns into the alignment gap are
 * caught by the slack check on free instead. */
#define MALLOC_ALIGN 16UL

/* The end of a slot's accessible pages: the bytes from the end of the
 * allocation up to here are slack ([guard][data..] or [data..][guard]). */
static uintptr_t data_end(const struct guard_slot *s) {
    return s->underflow ? s->start + s->pages * PAGE : s->start + (s->pages - 1) * PAGE;
}

static void fill_slack(const struct guard_slot *s) {
    uintptr_t end = s->user + s->size;
    memset((void *)end, SLACK_BYTE, data_end(s) - end);
}

static int slack_intact(const struct guard_slot *s) {
    const unsigned char *p = (const unsigned char *)(uintptr_t)(s->user + s->size);
    for (; (uintptr_t)p < data_end(s); p++)
        if (*p != SLACK_BYTE) return 0;
    return 1;
}

/* A guarded allocation, or NULL if this one should come from glibc. */
static void *guarded(size_t size, size_t align) {
    if (size > GUARD_MAX_SIZE) return NULL;
    lock();
    uint64_t n = hdr->allocations++;
    uint64_t live = hdr->live;
    /* Over half the budget: a seeded sample; over the budget: none. */
    int guard = live < hdr->budget / 2 || (live < hdr->budget && decide(n) % 8 == 0);
    uint64_t mine = thread_allocs++;
    int underflow = align <= PAGE &&
                    (guard_side == 2 || (guard_side == 0 && decide(mine * 0x100000001b3ULL ^ size) % 4 == 0));
    size_t data_pages = (size + PAGE - 1) / PAGE;
    if (!data_pages) data_pages = 1;
    if (align > PAGE) data_pages += align / PAGE;
    size_t pages = data_pages + 1;
    uintptr_t start = hdr->next;
    if (!guard || start + pages * PAGE > hdr->arena_end || hdr->slot_count >= GUARD_MAX_SLOTS) {
        unlock();
        return NULL;
    }
    hdr->next = start + pages * PAGE;
    uint64_t idx = hdr->slot_count++;
    hdr->guarded++;
    hdr->live++;
    unlock();

    uintptr_t data = underflow ? start + PAGE : start;
    uintptr_t user;
    if (underflow) {
        user = data;
    } else {
        uintptr_t guard_page = start + data_pages * PAGE;
        user = (guard_page - size) & ~(uintptr_t)(align - 1);
    }
    if (mprotect((void *)data, data_pages * PAGE, PROT_READ | PROT_WRITE) != 0) {
        lock();
        hdr->guarded--;
        hdr->live--;
        unlock();
        return NULL;
    }
    struct guard_slot *s = &slots[idx];
    s->start = start;
    s->pages = pages;
    s->user = user;
    s->size = size;
    s->align = align;
    s->underflow = (uint32_t)underflow;
    s->alloc_tid = tid();
    capture(s->alloc_pcs);
    fill_slack(s);
    for (size_t i = 0; i < pages; i++) page_index[(start - hdr->arena_start) / PAGE + i] = (uint32_t)(idx + 1);
    __atomic_store_n(&s->state, GUARD_LIVE, __ATOMIC_RELEASE);
    return (void *)user;
}

/* Frees a pointer in the arena; returns its usable size through *old. */
static int release(void *p, int is_realloc, size_t *old) {
    int64_t idx = slot_of(p);
    if (idx < 0) {
        report(GUARD_INVALID_FREE, p, -1);
        return 0;
    }
    struct guard_slot *s = &slots[idx];
    uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (s->user != (uintptr_t)p) {
        report(GUARD_INVALID_FREE, p, idx);
        return 0;
    }
    if (st != GUARD_LIVE ||
        !__atomic_compare_exchange_n(&s->state, &st, GUARD_FREED, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        report(is_realloc ? GUARD_REALLOC_FREED : GUARD_DOUBLE_FREE, p, idx);
        return 0;
    }
    if (old) *old = s->size;
    if (!slack_intact(s)) report(GUARD_SLACK_CORRUPTED, p, idx);
    s->free_tid = tid();
    capture(s->free_pcs);
    uintptr_t data = s->underflow ? s->start + PAGE : s->start;
    size_t len = (s->pages - 1) * PAGE;
    int saved = errno;
    /* Replacing the pages discards their contents and makes them PROT_NONE
     * in one call; the slot is never handed out again. If that fails (the
     * mapping count is exhausted, say), make them inaccessible in place and
     * give their memory back. */
    if (mmap((void *)data, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) ==
        MAP_FAILED) {
        madvise((void *)data, len, MADV_DONTNEED);
        mprotect((void *)data, len, PROT_NONE);
    }
    errno = saved;
    lock();
    hdr->frees++;
    hdr->live--;
    unlock();
    return 1;
}

/* --- the interface ------------------------------------------------------ */

/* Whether this allocation should be guarded at all. */
static int wanted(void) {
    return ready() && !(skip_main_thread && tid() == main_pid);
}

static void *alloc_aligned(size_t size, size_t align) {
    if (wanted()) {
        in_guard = 1;
        void *p = guarded(size, align);
        in_guard = 0;
        if (p) return p;
    }
    return align <= 16 ? __libc_malloc(size) : __libc_memalign(align, size);
}

EXPORT void *malloc(size_t size) { return alloc_aligned(size, MALLOC_ALIGN); }

EXPORT void free(void *p) {
    if (!p) return;
    if (!in_arena(p)) {
        __libc_free(p);
        return;
    }
    in_guard = 1;
    release(p, 0, NULL);
    in_guard = 0;
}

EXPORT void *calloc(size_t n, size_t m) {
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (wanted()) {
        /* Arena pages are fresh, hence zero. */
        in_guard = 1;
        void *p = guarded(total, MALLOC_ALIGN);
        in_guard = 0;
        if (p) return p;
    }
    return __libc_calloc(n, m);
}

EXPORT void *realloc(void *p, size_t size) {
    if (!p) return malloc(size);
    if (!in_arena(p)) {
        if (!ready()) return __libc_realloc(p, size);
        if (!size) {
            __libc_free(p);
            return NULL;
        }
        /* Move it into the arena: realloc always moves here. */
        size_t old = libc_usable_size(p);
        void *q = malloc(size);
        if (!q) return NULL;
        memcpy(q, p, old < size ? old : size);
        __libc_free(p);
        return q;
    }
    if (!size) {
        free(p);
        return NULL;
    }
    /* Always move, so pointers kept into the old block dangle and fault. */
    int64_t idx = slot_of(p);
    if (idx < 0 || slots[idx].user != (uintptr_t)p || slots[idx].state != GUARD_LIVE) {
        in_guard = 1;
        release(p, 1, NULL);
        in_guard = 0;
        return NULL;
    }
    void *q = malloc(size);
    if (!q) return NULL;
    size_t old = slots[idx].size;
    memcpy(q, p, old < size ? old : size);
    free(p);
    return q;
}

EXPORT void *reallocarray(void *p, size_t n, size_t m) {
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

static int valid_align(size_t a) { return a && !(a & (a - 1)); }

EXPORT int posix_memalign(void **out, size_t align, size_t size) {
    if (!valid_align(align) || align % sizeof(void *)) return EINVAL;
    void *p = alloc_aligned(size, align < MALLOC_ALIGN ? MALLOC_ALIGN : align);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

/* As glibc's memalign: an alignment up to malloc's own is malloc's; one
 * that is not a power of two is rounded up to the next power of two; one
 * too large to round is EINVAL. */
EXPORT void *memalign(size_t align, size_t size) {
    if (align <= MALLOC_ALIGN) return alloc_aligned(size, MALLOC_ALIGN);
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!valid_align(align)) {
        size_t a = MALLOC_ALIGN * 2;
        while (a < align) a <<= 1;
        align = a;
    }
    return alloc_aligned(size, align);
}

/* As the glibc in use: before 2.38 aligned_alloc is memalign; since, an
 * alignment that is not a power of two is EINVAL. */
EXPORT void *aligned_alloc(size_t align, size_t size) {
    if (strict_aligned_alloc && !valid_align(align)) {
        errno = EINVAL;
        return NULL;
    }
    return memalign(align, size);
}

EXPORT void *valloc(size_t size) { return memalign(PAGE, size); }

EXPORT void *pvalloc(size_t size) {
    size_t rounded;
    if (__builtin_add_overflow(size, PAGE - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(PAGE, rounded & ~(PAGE - 1));
}

EXPORT size_t malloc_usable_size(void *p) {
    if (!p) return 0;
    if (in_arena(p)) {
        int64_t idx = slot_of(p);
        return idx >= 0 && slots[idx].user == (uintptr_t)p ? slots[idx].size : 0;
    }
    return libc_usable_size(p);
}

/* Whether the calling thread is a libtest harness's main thread, which
 * only runs the harness: its allocations go to glibc and the schedule
 * leaves its calls alone. */
__attribute__((visibility("hidden"))) int ffi_check_harness_main_thread(void) {
    return skip_main_thread && tid() == main_pid;
}

/* For tools and tests: where the table is. */
EXPORT struct guard_header *ffi_check_guard_header(void) { return state == 2 ? hdr : NULL; }
