/*
 * Wrapped blocks (wrap.h).
 */
#define _GNU_SOURCE
#include "wrap.h"

#include <string.h>

#include "checks.h"
#include "lock.h"

/* Freed wrapped blocks up to this size are poisoned and wait in the
 * wrapped quarantine (unwrap_free), while it holds less than
 * WRAP_QUARANTINE_BYTES. It is glibc memory that glibc cannot reuse
 * meanwhile (more heap pages touched) and that the leak scan reads at every
 * process's exit: secp256k1's suite took 11 % longer with 1 MiB, 6 % with
 * 256 KiB, 3 % with 64 KiB. */
#define SCRUB_MAX 4096u
#define WRAP_QUARANTINE_BYTES (256UL << 10)

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

/* Whether p (not in the arena) has the key of state `magic`. Reads the 8
 * bytes before p: for glibc's own blocks, its chunk's size field. */
static int keyed(void *p, uint64_t magic) {
    return hdr && ((uintptr_t)p & 15) == 0 && __atomic_load_n(&wrap_of(p)->key, __ATOMIC_ACQUIRE) == key_of(magic, p);
}

int is_wrapped(void *p) { return keyed(p, GUARD_WRAP_MAGIC); }

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

void *wrapped(size_t size, uint32_t site, int zero) {
    size_t total = wrap_total(size);
    if (!total) return NULL;
    char *raw = zero ? __libc_calloc(1, total) : __libc_malloc(total);
    return raw ? wrap(raw, size, site) : NULL;
}

void *rewrap(void *p, size_t size, uint32_t site) {
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

int is_gone(void *p) { return keyed(p, GUARD_WRAP_GONE_MAGIC); }

int had_its_key_overwritten(void *p) {
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

int is_quarantined(void *p) { return keyed(p, GUARD_WRAP_FREED_MAGIC); }

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

void unwrap_free(void *p, const struct entry *from) {
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
