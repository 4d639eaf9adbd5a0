/*
 * The cargo-ffi-check guard allocator, preloaded (LD_PRELOAD) into every
 * process of a test. A guarded allocation gets pages of its own ending at
 * an inaccessible guard page: placed "after", it ends exactly at the guard,
 * so the first byte read or written past the end faults; placed "before"
 * (for some allocations, chosen by the seed), it starts right after the
 * previous slot's guard, so the first byte before the start faults. Freed
 * memory is made inaccessible, so a use after free faults too. The
 * supervisor reads what it needs to explain a fault from the metadata
 * table at GUARD_HEADER_ADDR (guard.h; README.md beside this file).
 *
 * Allocations that are not guarded (past the time budget, all but those
 * the rules at GUARD_TIER keep; over the memory or mapping budget)
 * are "wrapped": glibc memory with a header before the pointer and canary
 * bytes after the end, checked at free and when the process exits.
 *
 * Invariants:
 * - Arena address space is never reused: a freed allocation's pages stay
 *   inaccessible for the life of the process. Slot records are: a freed
 *   slot waits in a quarantine of QUARANTINE frees, then its record is
 *   recycled (its pages then belong to no slot).
 * - Nothing here allocates through malloc; TLS is initial-exec; the lock is
 *   a futex word, reset in the child after fork; system calls that could be
 *   interposed (futex) are made raw.
 * - Pointers neither in the arena nor wrapped (made by glibc before we
 *   initialised, or by the harness's main thread) go back to glibc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include "guard.h"
#include "preload.h"
#include "raw.h"
#include "rust_alloc.h"
#include "signals.h"
#include "unwind.h"

#define PAGE 4096UL
#define SLACK_BYTE GUARD_POISON_BYTE

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

/* What is guarded. A guarded allocation from a recycled slot costs no
 * system call and no page fault, so it is always taken. One that needs a
 * fresh slot costs a page fault (about 2 us here), and protecting a freed
 * slot costs as much again (the kernel discards the page): both are
 * charged to a budget of the process's own time (`within_budget`). Within
 * it, every allocation is guarded and every freed slot protected; past it,
 * freed slots are poisoned (and recycled), and a fresh slot is taken only
 * while the quarantine is still filling (its slots will be recycled), for
 * a call site that has none guarded yet, or for the seed's residue sample
 * (`sampled`): up to a thread's GUARD_TIER-th allocation one in
 * GUARD_SAMPLE, then one in GUARD_SAMPLE_LATE. The rest are wrapped glibc
 * blocks. (Measured side by side on git2's suite: a 10 ms base and a
 * 16 MiB quarantine cost 30 % more time for the same share of guarded
 * allocations; 0.5 ms + 10 % took 8 % less time than 1 ms + 25 %. A 2 ms
 * base with a 4 MiB quarantine cost git2's suite 1.72x nextest, 1 ms with
 * 1 MiB 1.51x (medians of 7 side by side): a short test filled the
 * quarantine with fresh slots it never lived to recycle. The base is 1 ms
 * so that a short test's first allocations and frees are still guarded
 * and protected when page faults are slow, as on a loaded machine.) */
#define GUARD_TIER 16384u
#define GUARD_SAMPLE 16u
#define GUARD_SAMPLE_LATE 256u
/* The budget: COST_BASE_NS, plus COST_PM per mille of the process's own
 * time (elapsed, less what the guards cost). */
#define COST_BASE_NS 1000000ULL
#define COST_PM 100u
/* Most pages live guarded allocations may hold (128 MiB). */
#define GUARD_BUDGET_PAGES 32768u
/* Freed wrapped blocks up to this size are poisoned and wait in the
 * wrapped quarantine (unwrap_free), while it holds less than
 * WRAP_QUARANTINE_BYTES. It is glibc memory that glibc cannot reuse
 * meanwhile (more heap pages touched) and that the leak scan reads at every
 * process's exit: secp256k1's suite took 11 % longer with 1 MiB, 6 % with
 * 256 KiB, 3 % with 64 KiB. */
#define SCRUB_MAX 4096u
#define WRAP_QUARANTINE_BYTES (256UL << 10)
/* Freed slots whose records are kept before they are recycled. */
#define QUARANTINE (1u << 17)
/* Most pages poisoned slots in quarantine may hold: this, plus a quarter
 * of the pages of live guarded allocations. */
#define QUARANTINE_PAGES 256u
/* Slots of up to POOL_CLASSES data pages (and alignment up to a page) are
 * recycled in place: after the quarantine, a poisoned slot waits in the
 * pool of its size for the next allocation of that many pages, up to
 * POOL_PAGES pages in all (past that it is protected and forgotten). */
#define POOL_CLASSES 8u
#define POOL_PAGES 8192u
/* A realloc from and to at least this many bytes (glibc's default mmap
 * threshold) is glibc's (rewrap), in place where it can be: moving such a
 * block at every step made growing a buffer in 64 KiB steps to 128 MiB
 * take 107 s (natively 0.08 s). Such a block then has its canary, not a
 * guard page. */
#define REALLOC_IN_PLACE_MIN (128UL << 10)
/* Fresh slots are prepared this many at a time (one system call). */
#define FRESH_BATCH 32u
/* In guard-region mode, markers are installed this much of the arena at a time. */
#define GUARD_CHUNK (2UL << 20)
/* The alignment malloc guarantees at most (and what memalign rounds to). */
#define MALLOC_ALIGN 16UL
/* process_madvise's pidfd for the calling process (Linux 6.15). */
#define PIDFD_SELF_PROCESS (-10000)

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
static uint32_t *live_ids;
static uint64_t *wrapped_ptrs;
static uint64_t *wq;
static struct guard_stack *stacks;
static uint32_t *buckets;
/* glibc 2.38 and later reject aligned_alloc alignments that are not powers
 * of two; earlier ones round them up like memalign. */
static int strict_aligned_alloc;
/* In guard-region mode: the arena is guarded up to here. */
static uint64_t guarded_until;

/* Under the lock: the quarantine (a ring of freed slot ids, oldest first)
 * and the ids ready to be reused. They live in the table mapping, after
 * what the supervisor reads (PRIVATE_OFFSET), not in the library's bss:
 * the leak scan skips the table mapping, while the bss is anonymous memory
 * it must scan (the kernel may merge it with the program's), and these 1
 * MiB of slot ids were two thirds of every process's root scan. */
static uint32_t *quarantine;
static uint32_t quarantine_head, quarantine_len;
static uint32_t *reusable;
static uint32_t reusable_len;
#define PRIVATE_OFFSET GUARD_META_SIZE
#define PRIVATE_SIZE (2UL * QUARANTINE * sizeof(uint32_t))
#define TABLE_SIZE (PRIVATE_OFFSET + PRIVATE_SIZE)
/* Under the lock: per data-page count, the recycled slots (poisoned, their
 * pages present) and the fresh ones (prepared, never touched), as lists of
 * slot id + 1 linked through `live_index`. */
static uint32_t pool_head[POOL_CLASSES + 1];
static uint32_t fresh_head[POOL_CLASSES + 1];
/* 0 once process_madvise has failed: protect range by range. */
static int vector_advice = 1;
/* GUARD_ENV_PROTECT=poison (for tests and benchmarks): freed slots of
 * recycled sizes are poisoned, never protected, as past the budget. */
static int always_poison;
/* GUARD_ENV_PROTECT=wrap (for tests): no allocation is guarded; every one
 * is a wrapped glibc block, as past every budget. */
static int always_wrap;
/* When the allocator started (CLOCK_MONOTONIC, ns), for the budget. */
static uint64_t start_ns;

/* Which side of an allocation its guard page goes: 0 seeded, 1 always after
 * (overflows), 2 always before (underflows). GUARD_ENV_GUARD_SIDE. */
static int guard_side;
static TLS int in_guard;
/* Allocations made by this thread: placement and sampling are decided from
 * the seed, this index and the size, so a thread's own allocations are
 * treated the same way under the same seed however threads interleave. */
static TLS uint64_t thread_allocs;

/* --- the lock (a futex mutex: 0 free, 1 taken, 2 taken with waiters) ----- */

static int lock_word;

/* Tries this many times, pausing, before sleeping on the futex: what the
 * lock guards takes a few hundred nanoseconds, less than the two system
 * calls of a sleep and a wake (with eight threads allocating on two cores,
 * the futex calls were a sixth of the time). */
#define LOCK_SPINS 64

static void lock(void) {
    int c = 0;
    if (__atomic_compare_exchange_n(&lock_word, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    for (int i = 0; i < LOCK_SPINS && c == 1; i++) {
        __builtin_ia32_pause();
        c = 0;
        if (__atomic_load_n(&lock_word, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&lock_word, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        c = __atomic_load_n(&lock_word, __ATOMIC_RELAXED);
    }
    if (c != 2) c = __atomic_exchange_n(&lock_word, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        raw_syscall6(SYS_futex, (long)&lock_word, FUTEX_WAIT_PRIVATE, 2, 0, 0, 0);
        c = __atomic_exchange_n(&lock_word, 2, __ATOMIC_ACQUIRE);
    }
}

static void unlock(void) {
    if (__atomic_exchange_n(&lock_word, 0, __ATOMIC_RELEASE) == 2)
        raw_syscall6(SYS_futex, (long)&lock_word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
}

static int32_t tid(void) { return ffc_tid(); }

/* fork() holds the lock (the prepare handler, which runs after those that
 * other libraries registered later and that may allocate), so that the
 * child inherits the lists whole, never in the middle of a change. */
static void before_fork(void) {
    if (hdr) lock();
}

static void after_fork_parent(void) {
    if (hdr) unlock();
}

static void after_fork_child(void);

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

/* The decimal number `path` (a /proc file) starts with; 0 if it cannot be
 * read. Raw system calls: no allocation, no lock. */
static uint64_t proc_number(const char *path) {
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

/* CLOCK_MONOTONIC in nanoseconds (the vDSO: no system call). */
static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Whether the guards' kernel work so far (hdr->cost_ns) is within the
 * budget: COST_BASE_NS plus COST_PM per mille of the process's own time. */
static int within_budget(void) {
    uint64_t spent = __atomic_load_n(&hdr->cost_ns, __ATOMIC_RELAXED);
    uint64_t elapsed = now_ns() - start_ns;
    uint64_t own = elapsed > spent ? elapsed - spent : 0;
    return spent <= COST_BASE_NS + own / 1000 * COST_PM;
}

/* --- setup ---------------------------------------------------------------- */

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

static void find_self(void);

/* Started by ffc_init (preload.c), after the process's settings are read. */
void guard_init(void) {
    int expected = 0;
    if (!__atomic_compare_exchange_n(&state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
    /* glibc's malloc initialises itself at its first call and gives that
     * thread the main arena, counted once. With every allocation guarded,
     * that first call can come from two threads at once (their first
     * unguarded allocations): both get the main arena, it is counted once,
     * and the second to exit aborts ("a->attached_threads > 0"). Make that
     * first call now, while the process has one thread. */
    __libc_free(__libc_malloc(1));
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
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

static int ready(void) {
    if (__builtin_expect(state == 2, 1)) return !in_guard;
    /* The dynamic loader allocates before any constructor runs. */
    if (state == 0) ffc_init();
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

/* --- call sites and the stack depot ------------------------------------- */

/* This library's code, so that a call site starts at the first frame
 * outside it (whatever the compiler inlined). Found from our own ELF
 * header, without a lock or a system call. */
extern const Elf64_Ehdr __ehdr_start __attribute__((visibility("hidden")));
static uintptr_t self_lo, self_hi;

static void find_self(void) {
    const Elf64_Ehdr *e = &__ehdr_start;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)((const char *)e + e->e_phoff);
    uintptr_t base = (uintptr_t)e;
    for (int i = 0; i < e->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) base = (uintptr_t)e - ph[i].p_vaddr;
    }
    for (int i = 0; i < e->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
            self_lo = base + ph[i].p_vaddr;
            self_hi = self_lo + ph[i].p_memsz;
        }
    }
}

struct trace {
    uint64_t *pcs;
    unsigned n;
};

static _Unwind_Reason_Code trace_one(struct _Unwind_Context *ctx, void *arg) {
    struct trace *t = arg;
    uintptr_t pc = _Unwind_GetIP(ctx);
    if (!pc) return _URC_END_OF_STACK;
    if (!t->n && pc >= self_lo && pc < self_hi) return _URC_NO_REASON;
    t->pcs[t->n++] = pc;
    return t->n < GUARD_FRAMES ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* Where the program entered the allocator: the stack pointer and rbp its
 * entry stub saw (ENTRY_STUB_FRAME), so the walk starts at the caller. */
struct entry {
    uintptr_t rsp, rbp;
};

/* The return addresses of the caller's stack, innermost first, from the
 * first frame outside this library: from the cached walker of unwind.c
 * (from `from`, the program's entry into the allocator, where known: the
 * allocator's own frames then need no unwinding, a third of a walk), or
 * libgcc's where that gives up. Runs with in_guard set: libgcc's own
 * allocations, if any, go to glibc. */
static void capture(uint64_t *pcs, const struct entry *from) {
    memset(pcs, 0, GUARD_FRAMES * sizeof *pcs);
    int n = from ? ffc_backtrace_from(pcs, GUARD_FRAMES, from->rsp, from->rbp, self_lo, self_hi)
                 : ffc_backtrace(pcs, GUARD_FRAMES, self_lo, self_hi);
    if (n >= 0) return;
    memset(pcs, 0, GUARD_FRAMES * sizeof *pcs);
    struct trace t = {pcs, 0};
    _Unwind_Backtrace(trace_one, &t);
}

static uint64_t stack_hash(const uint64_t *pcs) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < GUARD_FRAMES; i++) {
        h ^= pcs[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h | 1;
}

/* The entry of `chain` (and those it links to, up to `until`) that holds
 * the stack `pcs` of hash `h`, or 0. */
static uint32_t depot_find(uint32_t chain, uint32_t until, uint64_t h, const uint64_t *pcs) {
    for (uint32_t id = chain; id && id != until; id = __atomic_load_n(&stacks[id].next, __ATOMIC_ACQUIRE))
        if (stacks[id].hash == h && !memcmp(stacks[id].pcs, pcs, sizeof stacks[id].pcs)) return id;
    return 0;
}

/* The depot id of a stack (1-based; 0 when the depot is full). Lock-free:
 * a new entry is written, then pushed on its bucket's chain with a CAS; a
 * writer that loses the race looks through what was pushed meanwhile, and
 * if its stack is there leaves its own entry unused and takes that one.
 * Entries are appended to `stacks` in order and buckets are few, so a
 * process touches only the pages it needs. */
static uint32_t depot_put(const uint64_t *pcs) {
    uint64_t h = stack_hash(pcs);
    uint32_t *bucket = &buckets[h % GUARD_STACK_BUCKETS];
    uint32_t first = __atomic_load_n(bucket, __ATOMIC_ACQUIRE);
    uint32_t found = depot_find(first, 0, h, pcs);
    if (found) return found;
    uint64_t e = __atomic_add_fetch(&hdr->stack_count, 1, __ATOMIC_ACQ_REL);
    if (e >= GUARD_MAX_STACKS) return 0;
    stacks[e].hash = h;
    memcpy(stacks[e].pcs, pcs, sizeof stacks[e].pcs);
    for (;;) {
        __atomic_store_n(&stacks[e].next, first, __ATOMIC_RELEASE);
        uint32_t seen = first;
        if (__atomic_compare_exchange_n(bucket, &first, (uint32_t)e, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return (uint32_t)e;
        found = depot_find(first, seen, h, pcs);
        if (found) return found;
    }
}

/* The depot id of the caller's stack, the allocator's frames skipped;
 * `from`: where the program entered the allocator, or NULL. */
static uint32_t call_site(const struct entry *from) {
    uint64_t pcs[GUARD_FRAMES];
    capture(pcs, from);
    return depot_put(pcs);
}

/* --- errors ------------------------------------------------------------ */

static const char *error_name(uint32_t kind) {
    switch (kind) {
    case GUARD_DOUBLE_FREE: return "double-free";
    case GUARD_INVALID_FREE: return "invalid-free";
    case GUARD_REALLOC_FREED: return "realloc of a freed pointer";
    case GUARD_SLACK_CORRUPTED:
    case GUARD_CANARY_CORRUPTED: return "heap-buffer-overflow (bytes past the end were overwritten)";
    case GUARD_WRITE_AFTER_FREE: return "heap-use-after-free (freed memory was written)";
    case GUARD_HEADER_CORRUPTED: return "heap-buffer-underflow (bytes before the start were overwritten)";
    default: return "allocator error";
    }
}

/* Reports an error (preload.c: trapping to the supervisor, or a message
 * and abort). */
static void report_record(struct guard_error *rec) { ffc_report(rec, error_name(rec->kind), 1); }

static void report(uint32_t kind, void *ptr, int64_t slot) {
    struct guard_error rec = {GUARD_ERROR_MAGIC, kind, 0, (uint64_t)(uintptr_t)ptr, slot, 0, 0};
    report_record(&rec);
}

/* --- the arena --------------------------------------------------------- */

static int in_arena(const void *p) {
    uintptr_t a = (uintptr_t)p;
    return hdr && a >= hdr->arena_start && a < hdr->arena_end;
}

/* The slot holding address p, or -1. */
static int64_t slot_of(const void *p) {
    uint32_t i = __atomic_load_n(&page_index[((uintptr_t)p - hdr->arena_start) / PAGE], __ATOMIC_ACQUIRE);
    return i ? (int64_t)i - 1 : -1;
}

/* The guard page of a slot: its last. */
static uintptr_t guard_page(const struct guard_slot *s) { return s->start + (uintptr_t)(s->pages - 1) * PAGE; }

/* Whether every byte in [p, end) is SLACK_BYTE, eight at a time: with the
 * guard before, the slack is the rest of the page (up to 4 KiB per free). */
static int all_slack(const unsigned char *p, const unsigned char *end) {
    const uint64_t pattern = 0x0101010101010101ULL * SLACK_BYTE;
    for (; p < end && (uintptr_t)p % 8; p++)
        if (*p != SLACK_BYTE) return 0;
    uint64_t diff = 0;
    for (; p + 8 <= end; p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        diff |= word ^ pattern;
    }
    for (; p < end; p++) diff |= *p ^ SLACK_BYTE;
    return diff == 0;
}

/* The end of the slack that is filled and checked (GUARD_SLACK_CHECKED). */
static uintptr_t slack_end(const struct guard_slot *s) {
    uintptr_t e = s->user + s->size + GUARD_SLACK_CHECKED, g = guard_page(s);
    return e < g ? e : g;
}

static int slack_intact(const struct guard_slot *s) {
    return all_slack((const unsigned char *)(uintptr_t)(s->user + s->size), (const unsigned char *)slack_end(s));
}

/* The largest power of two dividing `size`, at most malloc's alignment
 * (which a size of 0 gets too). */
static size_t size_align(size_t size) {
    size_t a = size & -size;
    return !a || a > MALLOC_ALIGN ? MALLOC_ALIGN : a;
}

/* The alignment of a guarded allocation for a C caller of malloc: the
 * largest power of two dividing `size`, but at least 8 and at most
 * malloc's 16. C places pointer-aligned structs at the start of odd-sized
 * blocks (`malloc(sizeof *entry + strlen(path) + 1)`: libgit2's index
 * entries, zstd's workspaces) and relies on malloc's alignment for them;
 * with less, Rust's debug checks of pointer alignment panic on such
 * structs and zstd reports corruption. Sizes that are not a multiple of 8
 * keep up to 7 bytes of slack, checked at free and at exit. Code that
 * wants 16 (aligned SSE loads) faults on an 8-aligned placement and the
 * supervisor makes it work; without a supervisor, allocations keep
 * malloc's alignment. Rust's allocations get their layout's alignment
 * (`placement_align`). */
static size_t natural_align(size_t size) {
    if (!ffc_settings.supervised) return MALLOC_ALIGN;
    size_t a = size_align(size);
    return a < 8 ? 8 : a;
}

static int valid_align(size_t a) { return a && !(a & (a - 1)); }

/* The alignment of an allocation of `size` bytes by the malloc, calloc or
 * realloc that returns to `ret`, with `reg` the register where std's
 * allocator leaves the layout's alignment (for `entry`). Rust asks for no
 * more than its layout's alignment, so a Rust allocation of any size ends
 * flush against its guard; `calloc` from Rust (alloc_zeroed) loses the
 * register and gets the natural alignment of its size, which a Rust type's
 * size is a multiple of. Everything else gets C's (`natural_align`). */
static size_t placement_align(size_t size, uintptr_t ret, size_t reg, enum rust_entry entry) {
    if (ffc_settings.supervised && rust_alloc_caller(ret, entry)) {
        if (entry == RUST_ALLOC_ZEROED) return size_align(size);
        if (valid_align(reg) && reg <= MALLOC_ALIGN && reg <= size) return reg;
    }
    return natural_align(size);
}

/* Makes `len` bytes of arena at `p` accessible (1) or inaccessible (0),
 * discarding their contents in the latter case. */
static int set_access(uintptr_t p, size_t len, int accessible) {
    if (hdr->protect == GUARD_PROTECT_MADVISE)
        return madvise((void *)p, len, accessible ? MADV_GUARD_REMOVE : MADV_GUARD_INSTALL);
    if (accessible) return mprotect((void *)p, len, PROT_READ | PROT_WRITE);
    /* Replacing the pages discards their contents and makes them PROT_NONE
     * in one call. If that fails (the mapping count is exhausted, say),
     * make them inaccessible in place and give their memory back. */
    if (mmap((void *)p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != MAP_FAILED)
        return 0;
    madvise((void *)p, len, MADV_DONTNEED);
    return mprotect((void *)p, len, PROT_NONE);
}

/* set_access for `n` ranges: with guard regions, one process_madvise call
 * (Linux 6.15 takes any advice for the calling process; earlier kernels
 * refuse, and then it is one call a range). The time it takes is charged
 * to the budget. Returns 0 if every range was changed. */
static int set_access_many(const struct iovec *iov, uint32_t n, int accessible) {
    if (!n) return 0;
    int saved = errno;
    uint64_t t0 = now_ns();
    int failed = 0;
    long done = -1;
    if (hdr->protect == GUARD_PROTECT_MADVISE && vector_advice) {
        done = raw_syscall6(SYS_process_madvise, PIDFD_SELF_PROCESS, (long)iov, n,
                            accessible ? MADV_GUARD_REMOVE : MADV_GUARD_INSTALL, 0, 0);
        if (done < 0) vector_advice = 0;
    }
    if (done < 0)
        for (uint32_t i = 0; i < n; i++)
            if (set_access((uintptr_t)iov[i].iov_base, iov[i].iov_len, accessible) != 0) failed = 1;
    __atomic_add_fetch(&hdr->cost_ns, now_ns() - t0, __ATOMIC_RELAXED);
    errno = saved;
    return failed;
}

/* Under the lock: a slot id to fill (a recycled one first), or -1. */
static int64_t take_slot(void) {
    if (reusable_len) return reusable[--reusable_len];
    if (hdr->slot_count >= GUARD_MAX_SLOTS) return -1;
    return (int64_t)hdr->slot_count++;
}

/* Under the lock: record `id` (holding no pages) may be taken again. */
static void recycle_record(uint32_t id) {
    if (reusable_len < QUARANTINE) reusable[reusable_len++] = id;
}

/* Under the lock: `pages` pages of never-used arena, or 0. In guard-region
 * mode, the guard markers are installed ahead, GUARD_CHUNK at a time. */
static uintptr_t take_arena(size_t pages) {
    uintptr_t start = hdr->next;
    if (start + pages * PAGE > hdr->arena_end) return 0;
    hdr->next = start + pages * PAGE;
    if (hdr->protect == GUARD_PROTECT_MADVISE && hdr->next > guarded_until) {
        uint64_t to = (hdr->next + GUARD_CHUNK - 1) & ~(GUARD_CHUNK - 1);
        if (to > hdr->arena_end) to = hdr->arena_end;
        madvise((void *)guarded_until, to - guarded_until, MADV_GUARD_INSTALL);
        guarded_until = to;
    }
    return start;
}

/* Under the lock: points every page of slot `id` at it (or at nothing). */
static void index_pages(uint32_t id, int owned) {
    const struct guard_slot *s = &slots[id];
    for (uint32_t i = 0; i < s->pages; i++)
        __atomic_store_n(&page_index[(s->start - hdr->arena_start) / PAGE + i], owned ? id + 1 : 0,
                         __ATOMIC_RELEASE);
}

/* Under the lock: a slot record for `pages` never-used pages of arena
 * (guard included; its data not yet accessible, its pages not yet
 * indexed), or -1 where the records or the arena run out. */
static int64_t carve(size_t pages) {
    int64_t id = take_slot();
    if (id < 0) return -1;
    uintptr_t start = take_arena(pages);
    if (!start) {
        recycle_record((uint32_t)id);
        return -1;
    }
    struct guard_slot *s = &slots[id];
    s->start = start;
    s->pages = (uint32_t)pages;
    s->state = 0;
    s->flags = 0;
    s->user = guard_page(s); /* no allocation yet */
    return id;
}

/* Under the lock: the record of `id` is free for any pages; its own stay
 * inaccessible and belong to no slot. */
static void forget_slot(uint32_t id) {
    __atomic_store_n(&slots[id].state, 0, __ATOMIC_RELEASE);
    index_pages(id, 0);
    recycle_record(id);
}

/* The data pages of a slot whose size is recycled, or 0. */
static uint32_t pool_class(const struct guard_slot *s) {
    uint32_t data = s->pages - 1;
    return data <= POOL_CLASSES && s->align <= PAGE ? data : 0;
}

static void list_push(uint32_t *head, uint32_t id) {
    slots[id].live_index = *head;
    *head = id + 1;
}

static int64_t list_pop(uint32_t *head) {
    if (!*head) return -1;
    uint32_t id = *head - 1;
    *head = slots[id].live_index;
    return id;
}

/* Whether the freed bytes [p, end) still hold the poison; if not, reports a
 * write after free of the block at p (its slot, or -1 for a wrapped block)
 * with the offset and length of the change. */
static int poison_intact(const unsigned char *p, const unsigned char *end, int64_t slot) {
    if (all_slack(p, end)) return 1;
    const unsigned char *first = p, *last = end - 1;
    while (*first == SLACK_BYTE) first++;
    while (*last == SLACK_BYTE) last--;
    struct guard_error rec = {GUARD_ERROR_MAGIC, GUARD_WRITE_AFTER_FREE, 0, (uint64_t)(uintptr_t)p, slot,
                              (uint64_t)(first - p), (uint64_t)(last - first + 1)};
    report_record(&rec);
    return 0;
}

/* Reports a write after free if a poisoned slot's bytes (from its pointer
 * to the end of its checked slack) are not all GUARD_POISON_BYTE; returns
 * whether they were. */
static int check_poison(uint32_t id) {
    const struct guard_slot *s = &slots[id];
    return poison_intact((const unsigned char *)(uintptr_t)s->user, (const unsigned char *)slack_end(s), id);
}

/* Under the lock: the oldest slot leaves the quarantine. A protected one's
 * record is recycled (its pages stay inaccessible); a poisoned one is
 * checked and goes to its pool, or, the pool being full, is protected and
 * forgotten. */
static void quarantine_evict(void) {
    uint32_t id = quarantine[quarantine_head];
    quarantine_head = (quarantine_head + 1) % QUARANTINE;
    quarantine_len--;
    struct guard_slot *s = &slots[id];
    if (s->flags & GUARD_SLOT_POISONED) {
        hdr->quarantine_pages -= s->pages;
        struct iovec one = {(void *)(uintptr_t)s->start, (size_t)(s->pages - 1) * PAGE};
        if (!check_poison(id)) {
            /* Something still writes there: never recycle it. Protected,
             * with its record kept, the next stale access faults and is
             * blamed on it. */
            if (!ffc_handed_over()) set_access_many(&one, 1, 0);
            s->flags = GUARD_SLOT_PROTECTED;
            return;
        }
        uint32_t c = pool_class(s);
        if (c && (hdr->pool_pages + s->pages <= POOL_PAGES || ffc_handed_over())) {
            /* `user` stays, so that a free of the stale pointer is a
             * double free until the slot is taken again. */
            __atomic_store_n(&s->state, 0, __ATOMIC_RELEASE);
            s->flags = 0;
            hdr->pool_pages += s->pages;
            list_push(&pool_head[c], id);
            return;
        }
        if (!ffc_handed_over()) set_access_many(&one, 1, 0);
    }
    forget_slot(id);
}

/* Under the lock: `id` was freed. It waits in the quarantine; the oldest
 * ones leave it while it holds more than QUARANTINE slots or its poisoned
 * slots more pages than QUARANTINE_PAGES and a quarter of the live ones. */
static void quarantine_push(uint32_t id) {
    quarantine[(quarantine_head + quarantine_len) % QUARANTINE] = id;
    quarantine_len++;
    while (quarantine_len > QUARANTINE ||
           (quarantine_len && hdr->quarantine_pages > QUARANTINE_PAGES + hdr->live_pages / 4))
        quarantine_evict();
}

/* Under the lock: prepares FRESH_BATCH slots of `data` data pages (fewer
 * where the arena or the records run out) with one call, and lists them
 * as fresh. Returns whether any were. */
static int prepare_fresh(uint32_t data) {
    struct iovec iov[FRESH_BATCH];
    uint32_t ids[FRESH_BATCH], n = 0;
    uint32_t pages = data + 1;
    for (; n < FRESH_BATCH; n++) {
        int64_t id = carve(pages);
        if (id < 0) break;
        index_pages((uint32_t)id, 1);
        ids[n] = (uint32_t)id;
        iov[n].iov_base = (void *)(uintptr_t)slots[id].start;
        iov[n].iov_len = data * PAGE;
    }
    if (set_access_many(iov, n, 1) != 0) {
        for (uint32_t i = 0; i < n; i++) forget_slot(ids[i]);
        return 0;
    }
    while (n) list_push(&fresh_head[data], ids[--n]);
    return fresh_head[data] != 0;
}

/* Whether the seed's residue sample guards the `mine`-th allocation of a
 * thread, of `size` bytes (consulted only past the budget): a seed-free
 * hash of the allocation plus the seed, modulo the rate, is 0. So
 * consecutive seeds guard disjoint samples, and any GUARD_SAMPLE
 * consecutive seeds together guard every allocation up to the
 * GUARD_TIER-th of each thread (GUARD_SAMPLE_LATE seeds, every one after). */
static int sampled(uint64_t mine, size_t size) {
    uint64_t rate = mine < GUARD_TIER ? GUARD_SAMPLE : GUARD_SAMPLE_LATE;
    uint64_t z = (mine + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)size;
    z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
    return (z ^ (z >> 29)) % rate == hdr->seed % rate;
}

/* Under the lock: whether the quarantine is still filling (its poisoned
 * slots come back to the pools once it is full, so slots taken now are
 * recycled later). */
static int quarantine_filling(void) { return hdr->quarantine_pages < QUARANTINE_PAGES + hdr->live_pages / 4; }

/* Under the lock: whether an allocation that needs a fresh slot is
 * guarded: see the comment at GUARD_TIER. */
static int fresh_wanted(uint64_t mine, size_t size, uint32_t site) {
    return within_budget() || quarantine_filling() ||
           (site && !__atomic_load_n(&stacks[site].guarded, __ATOMIC_RELAXED)) || sampled(mine, size);
}

/* Under the lock: a slot of `pages` pages (guard included) for a new
 * allocation: a recycled one, a fresh one (*fresh set: its pages were
 * never touched), or, for large or over-aligned allocations, one of its
 * own (*own set too: made accessible by the caller). -1 if it should be
 * wrapped instead. */
static int64_t slot_for(size_t pages, size_t align, uint64_t mine, size_t size, uint32_t site, int *own,
                        int *fresh) {
    uint32_t data = (uint32_t)(pages - 1);
    int pooled = data <= POOL_CLASSES && align <= PAGE;
    if (pooled) {
        int64_t id = list_pop(&pool_head[data]);
        if (id >= 0) {
            hdr->pool_pages -= pages;
            hdr->recycled++;
            return id;
        }
    }
    if (!fresh_wanted(mine, size, site)) return -1;
    *fresh = 1;
    if (pooled) {
        if (!fresh_head[data] && !prepare_fresh(data)) return -1;
        return list_pop(&fresh_head[data]);
    }
    int64_t id = carve(pages);
    if (id >= 0) *own = 1;
    return id;
}

/* Under the lock: slot `s` leaves the live list (the last entry takes its
 * place) and its pages the live count. */
static void unlist_live(struct guard_slot *s) {
    uint32_t last = live_ids[--hdr->live];
    live_ids[s->live_index] = last;
    slots[last].live_index = s->live_index;
    hdr->live_pages -= s->pages;
}

/* In the child of a fork, alone, with the lock held since before_fork: a
 * slot on the live list that is not live belonged to a thread of the
 * parent in the middle of an allocation (state not yet live) or a free
 * (already freed): that thread does not exist here, so the slot leaves
 * the list (its pages are nobody's in the child). */
static void after_fork_child(void) {
    if (hdr)
        for (uint64_t i = hdr->live; i-- > 0;) {
            struct guard_slot *s = &slots[live_ids[i]];
            if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != GUARD_LIVE) unlist_live(s);
        }
    lock_word = 0;
}

/* A guarded allocation from call site `site`, or NULL if this one should
 * be wrapped instead; `zero`: its bytes must be zero (calloc). */
static void *guarded(size_t size, size_t align, uint32_t site, int zero) {
    if (size > GUARD_MAX_SIZE) {
        __atomic_add_fetch(&hdr->allocations, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    size_t data_pages = (size + PAGE - 1) / PAGE;
    if (!data_pages) data_pages = 1;
    if (align > PAGE) data_pages += align / PAGE;
    size_t pages = data_pages + 1;
    uint64_t mine = thread_allocs++;
    /* The seed puts one in four guards before, but never the first guarded
     * allocation of a call site: overflows, the common bug, are caught at
     * every site under every seed. */
    int site_seen = site && __atomic_load_n(&stacks[site].guarded, __ATOMIC_RELAXED);
    int before = align <= PAGE && (guard_side == 2 || (guard_side == 0 && site_seen &&
                                                        decide(mine * 0x100000001b3ULL ^ size) % 4 == 0));
    int own = 0, fresh = 0;
    lock();
    hdr->allocations++;
    int64_t idx = -1;
    if (!always_wrap && hdr->live < hdr->budget && hdr->live_pages + pages <= hdr->budget_pages)
        idx = slot_for(pages, align, mine, size, site, &own, &fresh);
    if (idx < 0) {
        unlock();
        return NULL;
    }
    struct guard_slot *s = &slots[idx];
    s->live_index = (uint32_t)hdr->live;
    live_ids[hdr->live++] = (uint32_t)idx;
    hdr->live_pages += pages;
    hdr->guarded++;
    if (site) __atomic_store_n(&stacks[site].guarded, 1, __ATOMIC_RELAXED);
    unlock();

    uintptr_t guard = guard_page(s);
    uintptr_t user;
    if (before)
        user = align > PAGE ? (s->start + align - 1) & ~(uintptr_t)(align - 1) : s->start;
    else
        user = (guard - size) & ~(uintptr_t)(align - 1);
    if (own) {
        struct iovec one = {(void *)s->start, (size_t)(guard - s->start)};
        if (set_access_many(&one, 1, 1) != 0) {
            /* Out of mappings, most likely: this one is wrapped instead. */
            lock();
            unlist_live(s);
            hdr->guarded--;
            s->flags = GUARD_SLOT_PROTECTED;
            index_pages((uint32_t)idx, 1);
            quarantine_push((uint32_t)idx);
            unlock();
            return NULL;
        }
        index_pages((uint32_t)idx, 1);
    }
    s->user = user;
    s->size = size;
    s->align = (uint32_t)align;
    s->before = (uint32_t)before;
    s->alloc_tid = tid();
    s->free_tid = 0;
    s->alloc_stack = site;
    s->free_stack = 0;
    s->flags = 0;
    uintptr_t end = user + size;
    /* A fresh slot's first touch is its page fault: charged. */
    uint64_t t0 = fresh ? now_ns() : 0;
    if (fresh) *(volatile char *)(guard - 1) = 0;
    memset((void *)end, SLACK_BYTE, slack_end(s) - end);
    if (fresh) __atomic_add_fetch(&hdr->cost_ns, now_ns() - t0, __ATOMIC_RELAXED);
    /* Fresh pages are zero; recycled ones hold poison and older bytes. */
    if (zero && !fresh) memset((void *)user, 0, size);
    __atomic_store_n(&s->state, GUARD_LIVE, __ATOMIC_RELEASE);
    return (void *)user;
}

/* Frees a pointer in the arena; returns its usable size through *old.
 * Within the budget (and always for slots of sizes that are not
 * recycled) its pages are made inaccessible at once: a use after free
 * faults. Past the budget a slot of a recycled size is poisoned instead,
 * to be checked and recycled when it leaves the quarantine. (Protecting
 * freed slots in batches saves only the system call's entry, 0.2 us of the
 * 1.9 us the kernel takes to discard a page, and leaves them readable
 * until the batch: most uses after free read right after the free.) */
static int release(void *p, int is_realloc, size_t *old, const struct entry *from) {
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
    /* Who freed it, before any report: a finding made here names them. */
    s->free_tid = tid();
    s->free_stack = call_site(from);
    int slack_ok = slack_intact(s);
    if (!slack_ok) report(GUARD_SLACK_CORRUPTED, p, idx);
    int saved = errno;
    /* Handed over to the test's tracer: poisoned, never a system call. */
    int protect = !ffc_handed_over() &&
                  (hdr->protect != GUARD_PROTECT_MADVISE || !pool_class(s) || (!always_poison && within_budget()));
    if (protect) {
        struct iovec one = {(void *)(uintptr_t)s->start, (size_t)(s->pages - 1) * PAGE};
        set_access_many(&one, 1, 0);
    } else {
        /* The slack too, if it was overwritten (reported above): the
         * poison check then sees only what is written after the free. */
        memset(p, SLACK_BYTE, slack_ok ? s->size : slack_end(s) - s->user);
    }
    lock();
    unlist_live(s);
    hdr->frees++;
    if (protect) {
        s->flags = GUARD_SLOT_PROTECTED;
    } else {
        s->flags = GUARD_SLOT_POISONED;
        hdr->quarantine_pages += s->pages;
        hdr->poisoned++;
    }
    quarantine_push((uint32_t)idx);
    unlock();
    errno = saved;
    return 1;
}

/* --- wrapped blocks --------------------------------------------------- */

/* A wrapped block's key (the 8 bytes before its pointer) in the state
 * `magic` names, salted and tied to the pointer. */
static uint64_t key_of(uint64_t magic, const void *p) { return magic ^ hdr->wrap_salt ^ (uint64_t)(uintptr_t)p; }

/* Live. */
static uint64_t wrap_key(const void *p) { return key_of(GUARD_WRAP_MAGIC, p); }

/* Freed, in the wrapped quarantine. */
static uint64_t freed_key(const void *p) { return key_of(GUARD_WRAP_FREED_MAGIC, p); }

/* Given back to glibc: a free of its pointer then is a double free (glibc
 * may reuse the memory, but not with the same pointer for a block of its
 * own: a block this library wraps again at that address gets a live key). */
static uint64_t gone_key(const void *p) { return key_of(GUARD_WRAP_GONE_MAGIC, p); }

static struct guard_wrap *wrap_of(void *p) { return (struct guard_wrap *)p - 1; }

/* Whether p (not in the arena) has the key of state `magic`. Reads the 8
 * bytes before p: for glibc's own blocks, its chunk's size field. */
static int keyed(void *p, uint64_t magic) {
    return hdr && ((uintptr_t)p & 15) == 0 && __atomic_load_n(&wrap_of(p)->key, __ATOMIC_ACQUIRE) == key_of(magic, p);
}

/* Whether p (not in the arena) is a live wrapped block. */
static int is_wrapped(void *p) { return keyed(p, GUARD_WRAP_MAGIC); }

static int canary_intact(void *p, size_t size) {
    const unsigned char *c = (const unsigned char *)p + size;
    for (int i = 0; i < GUARD_CANARY_SIZE; i++)
        if (c[i] != SLACK_BYTE) return 0;
    return 1;
}

/* Under the lock: records wrapped block `p` as live (the leak scan's list). */
static void wrap_list_add(void *p) {
    struct guard_wrap *w = wrap_of(p);
    if (hdr->wrapped < GUARD_MAX_WRAPPED) {
        w->live_index = (uint32_t)hdr->wrapped;
        wrapped_ptrs[hdr->wrapped++] = (uint64_t)(uintptr_t)p;
    } else {
        w->live_index = UINT32_MAX;
    }
}

/* Under the lock: wrapped block `p` is no longer live (the last one on the
 * list takes its place). */
static void wrap_list_remove(void *p) {
    struct guard_wrap *w = wrap_of(p);
    if (w->live_index != UINT32_MAX) {
        uint64_t last = wrapped_ptrs[--hdr->wrapped];
        wrapped_ptrs[w->live_index] = last;
        wrap_of((void *)(uintptr_t)last)->live_index = w->live_index;
        w->live_index = UINT32_MAX;
    }
}

/* The bytes glibc is asked for a wrapped block of `size` (0 on overflow). */
static size_t wrap_total(size_t size) {
    size_t total;
    if (__builtin_add_overflow(size, sizeof(struct guard_wrap) + GUARD_CANARY_SIZE, &total)) return 0;
    return total;
}

/* Makes glibc memory `raw` (of wrap_total(size) bytes) the wrapped block
 * of `size` allocated at `site`, live, and returns its pointer. */
static void *wrap(char *raw, size_t size, uint32_t site) {
    void *p = raw + sizeof(struct guard_wrap);
    struct guard_wrap *w = wrap_of(p);
    w->size = size;
    w->alloc_tid = tid();
    w->alloc_stack = site;
    memset((char *)p + size, SLACK_BYTE, GUARD_CANARY_SIZE);
    lock();
    wrap_list_add(p);
    __atomic_store_n(&w->key, wrap_key(p), __ATOMIC_RELEASE);
    unlock();
    return p;
}

/* A wrapped block: glibc memory with a header before and canary bytes
 * after, recorded as live; zeroed if `zero` (by glibc's calloc, which
 * leaves the fresh pages of a large block alone: they are zero already,
 * and writing them would make them resident); NULL if glibc has none. */
static void *wrapped(size_t size, uint32_t site, int zero) {
    size_t total = wrap_total(size);
    if (!total) return NULL;
    char *raw = zero ? __libc_calloc(1, total) : __libc_malloc(total);
    return raw ? wrap(raw, size, site) : NULL;
}

/* Wrapped block `p` resized to `size` by glibc's realloc: in place where
 * glibc can (growing into free space, or by mremap for a block of its own
 * mapping), so that growing a large buffer step by step does not copy it
 * at every step. Its canary is checked first, as at a free. NULL (and `p`
 * untouched) if glibc has no memory. */
static void *rewrap(void *p, size_t size, uint32_t site) {
    struct guard_wrap *w = wrap_of(p);
    if (!canary_intact(p, w->size)) report(GUARD_CANARY_CORRUPTED, p, -1);
    size_t total = wrap_total(size);
    if (!total) return NULL;
    lock();
    wrap_list_remove(p);
    __atomic_store_n(&w->key, gone_key(p), __ATOMIC_RELEASE);
    unlock();
    char *raw = __libc_realloc(w, total);
    if (!raw) {
        lock();
        wrap_list_add(p);
        __atomic_store_n(&w->key, wrap_key(p), __ATOMIC_RELEASE);
        unlock();
        return NULL;
    }
    return wrap(raw, size, site);
}

/* Whether p (not in the arena) is a wrapped block glibc has back. */
static int is_gone(void *p) { return keyed(p, GUARD_WRAP_GONE_MAGIC); }

/* Whether p is a live wrapped block whose key, the 8 bytes right before
 * it, was overwritten (a write before its start): its place on the live
 * list, just before the key, still names it. If so the key is put back,
 * so that the block can be reported and freed as what it is. */
static int had_its_key_overwritten(void *p) {
    if (!hdr || ((uintptr_t)p & 15) != 0) return 0;
    struct guard_wrap *w = wrap_of(p);
    /* Every free of glibc's own blocks comes here: no lock unless it is
     * one (a glibc block's pointer is never on the list). */
    uint32_t i = __atomic_load_n(&w->live_index, __ATOMIC_RELAXED);
    if (i >= __atomic_load_n(&hdr->wrapped, __ATOMIC_RELAXED) ||
        __atomic_load_n(&wrapped_ptrs[i], __ATOMIC_RELAXED) != (uint64_t)(uintptr_t)p)
        return 0;
    lock();
    int ours = w->live_index == i && i < hdr->wrapped && wrapped_ptrs[i] == (uint64_t)(uintptr_t)p;
    if (ours) __atomic_store_n(&w->key, wrap_key(p), __ATOMIC_RELEASE);
    unlock();
    return ours;
}

/* Whether p (not in the arena) is a wrapped block in the wrapped quarantine. */
static int is_quarantined(void *p) { return keyed(p, GUARD_WRAP_FREED_MAGIC); }

/* Under the lock: the oldest freed wrapped block leaves the quarantine:
 * its poison and canary are checked (a change is a write after free) and
 * glibc gets it back. */
static void wq_evict(void) {
    void *p = (void *)(uintptr_t)wq[hdr->wq_head];
    hdr->wq_head = (hdr->wq_head + 1) % GUARD_WRAP_QUARANTINE;
    hdr->wq_len--;
    struct guard_wrap *w = wrap_of(p);
    hdr->wq_bytes -= w->size;
    poison_intact(p, (const unsigned char *)p + w->size + GUARD_CANARY_SIZE, -1);
    __atomic_store_n(&w->key, gone_key(p), __ATOMIC_RELEASE);
    __libc_free(w);
}

/* Frees a live wrapped block. A small one is poisoned (so that a write
 * after free shows, and no stale pointer in it hides a leak: glibc's heap
 * is one of the leak scan's roots) and waits in the wrapped quarantine, a
 * free of it there being a double free; a larger one, mostly a buffer of
 * data, goes back to glibc at once (poisoning it would touch pages the
 * program never did). */
static void unwrap_free(void *p, const struct entry *from) {
    struct guard_wrap *w = wrap_of(p);
    if (!canary_intact(p, w->size)) report(GUARD_CANARY_CORRUPTED, p, -1);
    int keep = w->size <= SCRUB_MAX;
    uint32_t stack = keep ? call_site(from) : 0;
    if (keep) memset(p, SLACK_BYTE, w->size);
    lock();
    wrap_list_remove(p);
    if (!keep) {
        __atomic_store_n(&w->key, gone_key(p), __ATOMIC_RELEASE);
        unlock();
        __libc_free(w);
        return;
    }
    w->free_tid = tid();
    w->live_index = stack;
    __atomic_store_n(&w->key, freed_key(p), __ATOMIC_RELEASE);
    while (hdr->wq_len &&
           (hdr->wq_len == GUARD_WRAP_QUARANTINE ||
            hdr->wq_bytes + w->size > WRAP_QUARANTINE_BYTES))
        wq_evict();
    wq[(hdr->wq_head + hdr->wq_len) % GUARD_WRAP_QUARANTINE] = (uint64_t)(uintptr_t)p;
    hdr->wq_len++;
    hdr->wq_bytes += w->size;
    unlock();
}

/* --- the interface ------------------------------------------------------ */

/* Whether this allocation should be guarded or wrapped at all. */
static int wanted(void) {
    return ready() && !ffc_harness_main_thread() && !ffc_handed_over();
}

static void *alloc_aligned(size_t size, size_t align, const struct entry *from) {
    if (wanted()) {
        in_guard = 1;
        uint32_t site = call_site(from);
        void *p = guarded(size, align, site, 0);
        if (!p && align <= MALLOC_ALIGN) p = wrapped(size, site, 0);
        in_guard = 0;
        if (p) return p;
        if (align <= MALLOC_ALIGN) {
            errno = ENOMEM;
            return NULL;
        }
    }
    return align <= MALLOC_ALIGN ? __libc_malloc(size) : __libc_memalign(align, size);
}

/* malloc, realloc, free and calloc are entered through stubs that jump to
 * their C bodies with the registers as they were, plus two: the stack
 * pointer (at the caller's return address) and rbp, in the argument
 * registers after those the body reads (`a` and `b`), where the stack walk
 * of the call site starts (capture). The bodies of malloc and realloc read
 * one argument register more than the C signature has, where std's
 * allocator leaves a Rust layout's alignment (rsi for malloc, rdx for
 * realloc; see placement_align). The jump keeps the caller's return
 * address too. */
#define ENTRY_STUB_FRAME(name, body, a, b)                                                              \
    __asm__(".text\n.globl " #name "\n.type " #name ", @function\n" #name ":\n\tendbr64\n\tmov %rsp, %" a \
            "\n\tmov %rbp, %" b "\n\tjmp " #body "\n.size " #name ", .-" #name "\n")
#define HIDDEN __attribute__((visibility("hidden"), used, noinline))

HIDDEN void *malloc_body(size_t size, size_t rsi, uintptr_t rsp, uintptr_t rbp);
HIDDEN void *realloc_body(void *p, size_t size, size_t rdx, uintptr_t rsp, uintptr_t rbp);
HIDDEN void free_body(void *p, uintptr_t rsp, uintptr_t rbp);
HIDDEN void *calloc_body(size_t n, size_t m, uintptr_t rsp, uintptr_t rbp);
ENTRY_STUB_FRAME(malloc, malloc_body, "rdx", "rcx");
ENTRY_STUB_FRAME(realloc, realloc_body, "rcx", "r8");
ENTRY_STUB_FRAME(free, free_body, "rsi", "rdx");
ENTRY_STUB_FRAME(calloc, calloc_body, "rdx", "rcx");

HIDDEN void *malloc_body(size_t size, size_t rsi, uintptr_t rsp, uintptr_t rbp) {
    signal_unsafe_call(UNSAFE_MALLOC);
    uintptr_t ret = (uintptr_t)__builtin_return_address(0);
    const struct entry from = {rsp, rbp};
    return alloc_aligned(size, placement_align(size, ret, rsi, RUST_ALLOC), &from);
}

HIDDEN void free_body(void *p, uintptr_t rsp, uintptr_t rbp) {
    const struct entry from = {rsp, rbp};
    signal_unsafe_call(UNSAFE_FREE);
    if (!p) return;
    if (in_arena(p)) {
        in_guard = 1;
        release(p, 0, NULL, &from);
        in_guard = 0;
        return;
    }
    if (is_wrapped(p)) {
        in_guard = 1;
        unwrap_free(p, &from);
        in_guard = 0;
        return;
    }
    if (is_quarantined(p) || is_gone(p)) {
        report(GUARD_DOUBLE_FREE, p, -1);
        return;
    }
    if (had_its_key_overwritten(p)) {
        in_guard = 1;
        report(GUARD_HEADER_CORRUPTED, p, -1);
        unwrap_free(p, &from);
        in_guard = 0;
        return;
    }
    __libc_free(p);
}

HIDDEN void *calloc_body(size_t n, size_t m, uintptr_t rsp, uintptr_t rbp) {
    const struct entry from = {rsp, rbp};
    signal_unsafe_call(UNSAFE_CALLOC);
    uintptr_t ret = (uintptr_t)__builtin_return_address(0);
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (wanted()) {
        /* Arena pages are fresh, hence zero; glibc's are not. */
        in_guard = 1;
        uint32_t site = call_site(&from);
        void *p = guarded(total, placement_align(total, ret, 0, RUST_ALLOC_ZEROED), site, 1);
        if (!p) p = wrapped(total, site, 1);
        in_guard = 0;
        if (p) return p;
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(n, m);
}

/* The usable size of a pointer this library or glibc handed out. */
static size_t usable_size(void *p) {
    if (in_arena(p)) {
        int64_t idx = slot_of(p);
        return idx >= 0 && slots[idx].user == (uintptr_t)p ? slots[idx].size : 0;
    }
    if (is_wrapped(p)) return wrap_of(p)->size;
    return libc_usable_size(p);
}

HIDDEN void *realloc_body(void *p, size_t size, size_t rdx, uintptr_t rsp, uintptr_t rbp) {
    const struct entry from = {rsp, rbp};
    signal_unsafe_call(UNSAFE_REALLOC);
    uintptr_t ret = (uintptr_t)__builtin_return_address(0);
    size_t align = placement_align(size, ret, rdx, RUST_REALLOC);
    if (!p) return alloc_aligned(size, align, &from);
    if (!in_arena(p) && (is_quarantined(p) || is_gone(p))) {
        report(GUARD_REALLOC_FREED, p, -1);
        return NULL;
    }
    if (!in_arena(p) && !is_wrapped(p) && had_its_key_overwritten(p)) report(GUARD_HEADER_CORRUPTED, p, -1);
    if (!in_arena(p) && !is_wrapped(p)) {
        if (!ready()) return __libc_realloc(p, size);
        if (!size) {
            __libc_free(p);
            return NULL;
        }
        /* Move it to this allocator: realloc always moves here. */
        size_t old = libc_usable_size(p);
        void *q = alloc_aligned(size, align, &from);
        if (!q) return NULL;
        memcpy(q, p, old < size ? old : size);
        __libc_free(p);
        return q;
    }
    if (!size) {
        free_body(p, rsp, rbp);
        return NULL;
    }
    if (in_arena(p)) {
        int64_t idx = slot_of(p);
        if (idx < 0 || slots[idx].user != (uintptr_t)p || slots[idx].state != GUARD_LIVE) {
            in_guard = 1;
            release(p, 1, NULL, &from);
            in_guard = 0;
            return NULL;
        }
    }
    size_t old = usable_size(p);
    if (old >= REALLOC_IN_PLACE_MIN && size >= REALLOC_IN_PLACE_MIN && align <= MALLOC_ALIGN && wanted()) {
        /* A large block: glibc resizes it (a guarded one moves to a
         * wrapped block once). */
        in_guard = 1;
        uint32_t site = call_site(&from);
        void *q = in_arena(p) ? wrapped(size, site, 0) : rewrap(p, size, site);
        in_guard = 0;
        if (!q) {
            errno = ENOMEM;
            return NULL;
        }
        if (in_arena(p)) {
            memcpy(q, p, old < size ? old : size);
            free_body(p, rsp, rbp);
        }
        return q;
    }
    /* Otherwise always move, so pointers kept into the old block dangle
     * (and fault, when it was guarded). */
    void *q = alloc_aligned(size, align, &from);
    if (!q) return NULL;
    memcpy(q, p, old < size ? old : size);
    free_body(p, rsp, rbp);
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

EXPORT int posix_memalign(void **out, size_t align, size_t size) {
    signal_unsafe_call(UNSAFE_MEMALIGN);
    if (!valid_align(align) || align % sizeof(void *)) return EINVAL;
    void *p = alloc_aligned(size, align < natural_align(size) ? natural_align(size) : align, NULL);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

/* As glibc's memalign: an alignment up to malloc's own is malloc's; one
 * that is not a power of two is rounded up to the next power of two; one
 * too large to round is EINVAL. */
EXPORT void *memalign(size_t align, size_t size) {
    signal_unsafe_call(UNSAFE_MEMALIGN);
    if (align <= MALLOC_ALIGN) return alloc_aligned(size, MALLOC_ALIGN, NULL);
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!valid_align(align)) {
        size_t a = MALLOC_ALIGN * 2;
        while (a < align) a <<= 1;
        align = a;
    }
    return alloc_aligned(size, align, NULL);
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

EXPORT size_t malloc_usable_size(void *p) { return p ? usable_size(p) : 0; }

/* --- the address-space limit ------------------------------------------- */

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

/* Found at start, as every real function (preload.h). */
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

/* For tools and tests: where the table is. */
EXPORT struct guard_header *ffi_check_guard_header(void) { return state == 2 ? hdr : NULL; }
