/*
 * The arena's slots: carving, access, the quarantine and the pools
 * (slots.h).
 */
#define _GNU_SOURCE
#include "slots.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "../base/raw.h"
#include "checks.h"
#include "policy.h"

/* Fresh slots are prepared this many at a time (one system call). */
#define FRESH_BATCH 32u
/* process_madvise's pidfd for the calling process (Linux 6.15). */
#define PIDFD_SELF_PROCESS (-10000)

static uint32_t quarantine_head, quarantine_len;
static uint32_t reusable_len;
/* Under the lock: per data-page count, the recycled slots (poisoned, their
 * pages present) and the fresh ones (prepared, never touched), as lists of
 * slot id + 1 linked through `live_index`. */
static uint32_t pool_head[POOL_CLASSES + 1];
static uint32_t fresh_head[POOL_CLASSES + 1];
/* 0 once process_madvise has failed: protect range by range. */
static int vector_advice = 1;

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

int set_access_many(const struct iovec *iov, uint32_t n, int accessible) {
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

void index_pages(uint32_t id, int owned) {
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

uint32_t pool_class(const struct guard_slot *s) {
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

void quarantine_push(uint32_t id) {
    /* A full ring makes room first: the new id would otherwise be written
     * over the oldest, which then never left (its poisoned pages never
     * counted off), while the new one left at once yet stayed in the ring,
     * to leave a second time later and take with it the record of whatever
     * allocation had the record by then: its free was an invalid free. */
    if (quarantine_len == QUARANTINE) quarantine_evict();
    quarantine[(quarantine_head + quarantine_len) % QUARANTINE] = id;
    quarantine_len++;
    while (quarantine_len && hdr->quarantine_pages > QUARANTINE_PAGES + hdr->live_pages / 4) quarantine_evict();
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

int64_t slot_for(size_t pages, size_t align, uint64_t mine, size_t size, uint32_t site, int *own,
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

void unlist_live(struct guard_slot *s) {
    uint32_t last = live_ids[--hdr->live];
    live_ids[s->live_index] = last;
    slots[last].live_index = s->live_index;
    hdr->live_pages -= s->pages;
}
