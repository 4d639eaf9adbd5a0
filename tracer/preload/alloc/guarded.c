/*
 * Guarded allocations: placement and release (guarded.h).
 */
#define _GNU_SOURCE
#include "guarded.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "checks.h"
#include "lock.h"
#include "policy.h"
#include "slots.h"
#include "table.h"

/* Allocations made by this thread: placement and sampling are decided from
 * the seed, this index and the size, so a thread's own allocations are
 * treated the same way under the same seed however threads interleave. */
static TLS uint64_t thread_allocs;

void *guarded(size_t size, size_t align, uint32_t site, int zero) {
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

int release(void *p, int is_realloc, size_t *old, const struct entry *from) {
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
