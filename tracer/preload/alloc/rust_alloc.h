/* Recognising allocations made by Rust's default global allocator, which
 * tail-calls malloc, calloc and realloc from std's __rdl_* functions (see
 * rust_alloc.c and tracer/src/linux/symbols/rust_alloc.rs). */
#ifndef FFC_RUST_ALLOC_H
#define FFC_RUST_ALLOC_H

#include <stdint.h>

/* The shims Rust code calls: __rust_alloc, __rust_alloc_zeroed, __rust_realloc. */
enum rust_entry { RUST_ALLOC, RUST_ALLOC_ZEROED, RUST_REALLOC, RUST_ENTRIES };

/* Takes the supervisor's description of the main executable's shims
 * ("dev:ino:alloc:zeroed:realloc", hex, GUARD_ENV_RUST_ALLOC) if it
 * describes this process's executable. Without it, nothing is recognised. */
void rust_alloc_init(const char *spec);

/* Whether the allocation function that returns to `ret` was reached
 * through shim `entry` (called directly or through its GOT slot from the
 * main executable): then its alignment register holds the Rust layout's. */
int rust_alloc_caller(uintptr_t ret, enum rust_entry entry);

#endif
