/*
 * A guarded allocation's life (guarded.c): placed in a slot against its
 * guard page (after, or before where the seed says), and freed into the
 * quarantine, protected or poisoned.
 */
#ifndef FFC_ALLOC_GUARDED_H
#define FFC_ALLOC_GUARDED_H
#include <stddef.h>
#include <stdint.h>

#include "depot.h"

/* A guarded allocation from call site `site`, or NULL if this one should
 * be wrapped instead; `zero`: its bytes must be zero (calloc). */
void *guarded(size_t size, size_t align, uint32_t site, int zero);

/* Frees a pointer in the arena; returns its usable size through *old.
 * Within the budget (and always for slots of sizes that are not
 * recycled) its pages are made inaccessible at once: a use after free
 * faults. Past the budget a slot of a recycled size is poisoned instead,
 * to be checked and recycled when it leaves the quarantine. (Protecting
 * freed slots in batches saves only the system call's entry, 0.2 us of the
 * 1.9 us the kernel takes to discard a page, and leaves them readable
 * until the batch: most uses after free read right after the free.) */
int release(void *p, int is_realloc, size_t *old, const struct entry *from);

#endif
