/*
 * The arena's slots (slots.c owns their lists): a slot is [data pages]
 * [guard page]; its record (struct guard_slot) lives in the table. Slots
 * are carved from never-used arena, made accessible in batches, recycled
 * through the quarantine and the pools of their size, or protected and
 * forgotten. Everything here but the look-ups runs under the lock.
 */
#ifndef FFC_ALLOC_SLOTS_H
#define FFC_ALLOC_SLOTS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "table.h"

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

/* Whether p is in the arena. */
static inline int in_arena(const void *p) {
    uintptr_t a = (uintptr_t)p;
    return hdr && a >= hdr->arena_start && a < hdr->arena_end;
}

/* The slot holding address p, or -1. */
static inline int64_t slot_of(const void *p) {
    uint32_t i = __atomic_load_n(&page_index[((uintptr_t)p - hdr->arena_start) / PAGE], __ATOMIC_ACQUIRE);
    return i ? (int64_t)i - 1 : -1;
}

/* The guard page of a slot: its last. */
static inline uintptr_t guard_page(const struct guard_slot *s) { return s->start + (uintptr_t)(s->pages - 1) * PAGE; }

/* Makes `n` ranges of arena accessible (1) or inaccessible (0, discarding
 * their contents): with guard regions, one process_madvise call
 * (Linux 6.15 takes any advice for the calling process; earlier kernels
 * refuse, and then it is one call a range). The time it takes is charged
 * to the budget. Returns 0 if every range was changed. */
int set_access_many(const struct iovec *iov, uint32_t n, int accessible);

/* Under the lock: points every page of slot `id` at it (or at nothing). */
void index_pages(uint32_t id, int owned);

/* The data pages of a slot whose size is recycled, or 0. */
uint32_t pool_class(const struct guard_slot *s);

/* Under the lock: `id` was freed. It waits in the quarantine; the oldest
 * ones leave it while it holds more than QUARANTINE slots or its poisoned
 * slots more pages than QUARANTINE_PAGES and a quarter of the live ones. */
void quarantine_push(uint32_t id);

/* Under the lock: a slot of `pages` pages (guard included) for a new
 * allocation: a recycled one, a fresh one (*fresh set: its pages were
 * never touched), or, for large or over-aligned allocations, one of its
 * own (*own set too: made accessible by the caller). -1 if it should be
 * wrapped instead. */
int64_t slot_for(size_t pages, size_t align, uint64_t mine, size_t size, uint32_t site, int *own, int *fresh);

/* Under the lock: slot `s` leaves the live list (the last entry takes its
 * place) and its pages the live count. */
void unlist_live(struct guard_slot *s);

#endif
