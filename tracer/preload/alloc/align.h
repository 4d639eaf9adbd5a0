/*
 * Where an allocation's block sits in its slot: its alignment (align.c).
 * Rust's allocations get their layout's (found from the caller, see
 * rust_alloc.h), C's the largest power of two dividing the size, between 8
 * and malloc's 16, so that the block ends flush against its guard.
 */
#ifndef FFC_ALLOC_ALIGN_H
#define FFC_ALLOC_ALIGN_H
#include <stddef.h>
#include <stdint.h>

#include "rust_alloc.h"

/* The alignment malloc guarantees at most (and what memalign rounds to). */
#define MALLOC_ALIGN 16UL

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
size_t natural_align(size_t size);

int valid_align(size_t a);

/* The alignment of an allocation of `size` bytes by the malloc, calloc or
 * realloc that returns to `ret`, with `reg` the register where std's
 * allocator leaves the layout's alignment (for `entry`). Rust asks for no
 * more than its layout's alignment, so a Rust allocation of any size ends
 * flush against its guard; `calloc` from Rust (alloc_zeroed) loses the
 * register and gets the natural alignment of its size, which a Rust type's
 * size is a multiple of. Everything else gets C's (`natural_align`). */
size_t placement_align(size_t size, uintptr_t ret, size_t reg, enum rust_entry entry);

#endif
