/*
 * The guard allocator's metadata layout, shared with the supervisor (which
 * reads it with process_vm_readv; tracer/src/preload.rs mirrors it). Bump
 * GUARD_VERSION on any change.
 */
#ifndef FFI_CHECK_GUARD_H
#define FFI_CHECK_GUARD_H
#include <stdint.h>

#define GUARD_MAGIC 0x31647261756763ffULL /* "\xffcguard1" */
#define GUARD_VERSION 1u
#define GUARD_ERROR_MAGIC 0x726f727265676666ULL /* "ffgerror" */

/* The environment variables the supervisor sets to steer the allocator
 * (tracer/src/preload/protocol.rs, `env`). */
#define GUARD_ENV_SEED "FFI_CHECK_SEED"             /* decimal seed */
#define GUARD_ENV_GUARD_SIDE "FFI_CHECK_GUARD_SIDE" /* "after", "before"; unset: seeded */
#define GUARD_ENV_SUPERVISED "FFI_CHECK_SUPERVISED" /* set: report errors by trapping */
#define GUARD_ENV_HARNESS_MAIN "FFI_CHECK_HARNESS_MAIN" /* "1": leave the main thread to glibc */
#define GUARD_ENV_GUARD "FFI_CHECK_GUARD"           /* "off": every allocation to glibc */

/* Where the table and the arena live in every process. */
#define GUARD_HEADER_ADDR 0x600000000000UL
#define GUARD_ARENA_ADDR 0x620000000000UL
#define GUARD_ARENA_SIZE (64UL << 30)
#define GUARD_MAX_SIZE (1UL << 30)
#define GUARD_MAX_SLOTS (4UL << 20)
#define GUARD_FRAMES 8

/* Offsets inside the table mapping at GUARD_HEADER_ADDR. */
#define GUARD_INDEX_OFFSET 4096UL /* uint32_t per arena page: slot + 1, or 0 */
#define GUARD_SLOTS_OFFSET (GUARD_INDEX_OFFSET + (GUARD_ARENA_SIZE / 4096) * 4)
#define GUARD_META_SIZE (GUARD_SLOTS_OFFSET + GUARD_MAX_SLOTS * sizeof(struct guard_slot))

/* A slot's state; 0 while it is being filled in (not yet published). */
enum guard_state { GUARD_LIVE = 1, GUARD_FREED = 2 };

enum guard_error_kind {
    GUARD_DOUBLE_FREE = 1,
    GUARD_INVALID_FREE = 2,
    GUARD_REALLOC_FREED = 3,
    GUARD_SLACK_CORRUPTED = 4,
};

struct guard_header {
    uint64_t magic;       /* GUARD_MAGIC once initialised */
    uint32_t version;     /* GUARD_VERSION */
    uint32_t slot_size;   /* sizeof(struct guard_slot) */
    uint64_t arena_start;
    uint64_t arena_end;
    uint64_t next;        /* first never-used arena address */
    uint64_t seed;        /* GUARD_ENV_SEED */
    uint64_t budget;      /* most live guarded allocations */
    uint64_t allocations; /* every allocation request */
    uint64_t guarded;     /* of which guarded */
    uint64_t live;        /* guarded and not yet freed */
    uint64_t frees;       /* guarded frees */
    uint64_t slot_count;  /* slots used */
};

struct guard_slot {
    uint64_t start;     /* first page of the slot (guard included) */
    uint64_t pages;     /* pages in the slot, guard included */
    uint64_t user;      /* the pointer handed out */
    uint64_t size;      /* bytes requested */
    uint64_t align;
    uint32_t state;     /* enum guard_state */
    uint32_t underflow; /* 1: guard before the data, 0: after */
    int32_t alloc_tid;
    int32_t free_tid;
    uint64_t alloc_pcs[GUARD_FRAMES]; /* return addresses, innermost first, 0-terminated */
    uint64_t free_pcs[GUARD_FRAMES];
};

/* On the stack of the thread that hit an allocator error; rax points at it
 * when the thread executes int3. */
struct guard_error {
    uint64_t magic; /* GUARD_ERROR_MAGIC */
    uint32_t kind;  /* enum guard_error_kind */
    uint32_t reserved;
    uint64_t ptr;   /* the pointer passed to free/realloc */
    int64_t slot;   /* its slot, or -1 */
};

#endif
