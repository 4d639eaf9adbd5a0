/*
 * Wrapped blocks (wrap.c owns them): allocations that are not guarded are
 * glibc blocks with a struct guard_wrap header before the pointer (its
 * size, call stack and a key that says it is ours and in which state) and
 * GUARD_CANARY_SIZE canary bytes after, on the live list the leak scan
 * reads; small freed ones wait poisoned in the wrapped quarantine.
 */
#ifndef FFC_ALLOC_WRAP_H
#define FFC_ALLOC_WRAP_H
#include <stddef.h>
#include <stdint.h>

#include "depot.h"
#include "table.h"

static inline struct guard_wrap *wrap_of(void *p) { return (struct guard_wrap *)p - 1; }

/* A wrapped block: glibc memory with a header before and canary bytes
 * after, recorded as live; zeroed if `zero` (by glibc's calloc, which
 * leaves the fresh pages of a large block alone: they are zero already,
 * and writing them would make them resident); NULL if glibc has none. */
void *wrapped(size_t size, uint32_t site, int zero);

/* Wrapped block `p` resized to `size` by glibc's realloc: in place where
 * glibc can (growing into free space, or by mremap for a block of its own
 * mapping), so that growing a large buffer step by step does not copy it
 * at every step. Its canary is checked first, as at a free. NULL (and `p`
 * untouched) if glibc has no memory. */
void *rewrap(void *p, size_t size, uint32_t site);

/* Whether p (not in the arena) is a live wrapped block. */
int is_wrapped(void *p);

/* Whether p (not in the arena) is a wrapped block glibc has back. */
int is_gone(void *p);

/* Whether p is a live wrapped block whose key, the 8 bytes right before
 * it, was overwritten (a write before its start): its place on the live
 * list, just before the key, still names it. If so the key is put back,
 * so that the block can be reported and freed as what it is. */
int had_its_key_overwritten(void *p);

/* Whether p (not in the arena) is a wrapped block in the wrapped quarantine. */
int is_quarantined(void *p);

/* Frees a live wrapped block. A small one is poisoned (so that a write
 * after free shows, and no stale pointer in it hides a leak: glibc's heap
 * is one of the leak scan's roots) and waits in the wrapped quarantine, a
 * free of it there being a double free; a larger one, mostly a buffer of
 * data, goes back to glibc at once (poisoning it would touch pages the
 * program never did). */
void unwrap_free(void *p, const struct entry *from);

#endif
