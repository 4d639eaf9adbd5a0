/*
 * The allocator's table and arena, and the state every file of alloc/
 * shares (table.c owns it): the pointers into the table mapping
 * (protocol/guard.h is its layout), the allocator's settings from the
 * environment, and the calling thread's re-entry flag. Set once by
 * guard_init, read everywhere after.
 */
#ifndef FFC_ALLOC_TABLE_H
#define FFC_ALLOC_TABLE_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../base/base.h"
#include "../protocol/guard.h"

#define PAGE 4096UL
#define SLACK_BYTE GUARD_POISON_BYTE

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

/* In guard-region mode, markers are installed this much of the arena at a time. */
#define GUARD_CHUNK (2UL << 20)

/* glibc's own allocator, for the blocks this library does not guard. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* 0: not initialised, 1: initialising, 2: ready, 3: disabled. */
extern volatile int state;
extern struct guard_header *hdr;
extern uint32_t *page_index;
extern struct guard_slot *slots;
extern uint32_t *live_ids;
extern uint64_t *wrapped_ptrs;
extern uint64_t *wq;
extern struct guard_stack *stacks;
extern uint32_t *buckets;
/* glibc 2.38 and later reject aligned_alloc alignments that are not powers
 * of two; earlier ones round them up like memalign. */
extern int strict_aligned_alloc;
/* In guard-region mode: the arena is guarded up to here. */
extern uint64_t guarded_until;
/* Under the lock: the quarantine (a ring of QUARANTINE freed slot ids,
 * oldest first) and the ids ready to be reused (slots.c). They live in the
 * table mapping, after what the supervisor reads, not in the library's bss:
 * the leak scan skips the table mapping, while the bss is anonymous memory
 * it must scan (the kernel may merge it with the program's), and these 1
 * MiB of slot ids were two thirds of every process's root scan. */
extern uint32_t *quarantine;
extern uint32_t *reusable;
/* GUARD_ENV_PROTECT=poison (for tests and benchmarks): freed slots of
 * recycled sizes are poisoned, never protected, as past the budget. */
extern int always_poison;
/* GUARD_ENV_PROTECT=wrap (for tests): no allocation is guarded; every one
 * is a wrapped glibc block, as past every budget. */
extern int always_wrap;
/* When the allocator started (CLOCK_MONOTONIC, ns), for the budget. */
extern uint64_t start_ns;
/* Which side of an allocation its guard page goes: 0 seeded, 1 always after
 * (overflows), 2 always before (underflows). GUARD_ENV_GUARD_SIDE. */
extern int guard_side;
/* Set while the allocator runs on this thread: what it calls (libgcc's
 * unwinder) allocates from glibc. */
extern TLS int in_guard;

/* Maps the table and the arena and reads the allocator's settings, once
 * (ffc_init first); the state is 2 (ready) or 3 (disabled) after it. */
void guard_init(void);

/* The decimal number `path` (a /proc file) starts with; 0 if it cannot be
 * read. Raw system calls: no allocation, no lock. */
uint64_t proc_number(const char *path);

/* CLOCK_MONOTONIC in nanoseconds (the vDSO: no system call). */
static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static inline int32_t tid(void) { return ffc_tid(); }

#endif
