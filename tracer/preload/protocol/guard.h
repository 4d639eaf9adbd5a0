/*
 * The guard allocator's metadata layout, shared with the supervisor (which
 * reads it with process_vm_readv; tracer/src/preload/protocol.rs mirrors
 * it, and a unit test there checks the two agree). Bump GUARD_VERSION on
 * any change.
 *
 * One mapping at GUARD_HEADER_ADDR holds, at fixed offsets:
 *
 *   header       struct guard_header, in the first page
 *   scratch      GUARD_SCRATCH_SIZE bytes the supervisor may use to perform
 *                an instruction for the process (in the first page too)
 *   page index   uint32_t per arena page: the slot holding it, + 1, or 0
 *   slots        struct guard_slot[GUARD_MAX_SLOTS]: guarded allocations
 *   live         uint32_t[GUARD_MAX_SLOTS]: the live slots, unordered
 *   wrapped      uint64_t[GUARD_MAX_WRAPPED]: the live wrapped blocks'
 *                pointers, unordered
 *   stacks       struct guard_stack[GUARD_MAX_STACKS]: the stack depot
 *   buckets      uint32_t[GUARD_STACK_BUCKETS]: the depot's hash index,
 *                the first entry of each chain (entries link through
 *                `next`), small so that a process touches few of its pages
 *   wrapped quarantine  uint64_t[GUARD_WRAP_QUARANTINE]: a ring of freed
 *                wrapped blocks' pointers (poisoned, checked when they
 *                leave it), oldest at wq_head, wq_len of them
 *
 * The arena, at GUARD_ARENA_ADDR, is where guarded allocations live. A
 * slot is [data pages][guard page]: an allocation placed "after" ends
 * exactly at its guard page, one placed "before" starts right after the
 * previous slot's guard page. Allocations not guarded (sampled out, over
 * budget) are "wrapped": glibc memory with a struct guard_wrap before the
 * pointer and GUARD_CANARY_SIZE canary bytes after the end.
 *
 * A freed slot is either protected (its data pages made inaccessible:
 * any later access faults) or poisoned (left accessible, every byte from
 * the pointer to the guard set to GUARD_POISON_BYTE, checked when the slot
 * leaves the quarantine and when the process exits: a changed byte is a
 * write after free). Poisoned slots are recycled in place once they leave
 * the quarantine, so a guarded allocation usually costs no system call.
 */
#ifndef FFI_CHECK_GUARD_H
#define FFI_CHECK_GUARD_H
#include <stdint.h>

#define GUARD_MAGIC 0x32647261756763ffULL /* "\xffcguard2" */
#define GUARD_VERSION 5u
#define GUARD_ERROR_MAGIC 0x726f727265676666ULL /* "ffgerror" */
#define GUARD_WRAP_MAGIC 0x7061727764726167ULL /* "gardwrap" */
#define GUARD_WRAP_FREED_MAGIC 0x6465657266706177ULL /* "wapfreed": a wrapped block in quarantine */
#define GUARD_WRAP_GONE_MAGIC 0x656e6f6770617277ULL  /* "wrapgone": a wrapped block given back to glibc */

/* The environment variables the supervisor sets to steer the allocator
 * (tracer/src/preload/protocol.rs, `env`). */
#define GUARD_ENV_SEED "FFI_CHECK_SEED"             /* decimal seed */
#define GUARD_ENV_GUARD_SIDE "FFI_CHECK_GUARD_SIDE" /* "after", "before"; unset: seeded */
#define GUARD_ENV_SUPERVISED "FFI_CHECK_SUPERVISED" /* set: report errors by trapping */
#define GUARD_ENV_HARNESS_MAIN "FFI_CHECK_HARNESS_MAIN" /* "1": leave the main thread to glibc */
#define GUARD_ENV_GUARD "FFI_CHECK_GUARD"           /* "off": every allocation to glibc */
#define GUARD_ENV_PROTECT "FFI_CHECK_GUARD_PROTECT" /* "mprotect": no guard regions; "poison": freed slots poisoned, never protected; "wrap": nothing guarded (for tests) */
#define GUARD_ENV_RUST_ALLOC "FFI_CHECK_RUST_ALLOC" /* "dev:ino:alloc:zeroed:realloc" (rust_alloc.h) */

/* Where the table and the arena live in every process. */
#define GUARD_HEADER_ADDR 0x600000000000UL
#define GUARD_ARENA_ADDR 0x620000000000UL
#define GUARD_ARENA_SIZE (64UL << 30)
#define GUARD_MAX_SIZE (1UL << 30)
#define GUARD_MAX_SLOTS (4UL << 20)
#define GUARD_MAX_WRAPPED (16UL << 20)
#define GUARD_MAX_STACKS (1UL << 20)
#define GUARD_STACK_BUCKETS (64UL << 10)
#define GUARD_WRAP_QUARANTINE (64UL << 10) /* freed wrapped blocks held, at most */
#define GUARD_FRAMES 8
#define GUARD_CANARY_SIZE 8
#define GUARD_SCRATCH_SIZE 256
/* Every byte of a poisoned freed slot (and of slack and canaries). Eight of
 * them, read as a pointer, make the non-canonical address
 * 0xa5a5a5a5a5a5a5a5: a stale pointer read from freed memory and followed
 * faults. */
#define GUARD_POISON_BYTE 0xa5
/* Slack bytes past an allocation's end that are filled with the poison
 * byte and checked (at free, when a freed slot leaves the quarantine, at
 * exit): all of them up to the guard where there are fewer (the guard
 * after), the first 256 where the guard is before (the rest of the page:
 * an overrun that starts at the end shows in them; checking 4 KiB at every
 * free cost an allocation-heavy test a fifth of its time). */
#define GUARD_SLACK_CHECKED 256u

/* Offsets inside the table mapping at GUARD_HEADER_ADDR. */
#define GUARD_SCRATCH_OFFSET 2048UL
#define GUARD_INDEX_OFFSET 4096UL
#define GUARD_SLOTS_OFFSET (GUARD_INDEX_OFFSET + (GUARD_ARENA_SIZE / 4096) * 4)
#define GUARD_LIVE_OFFSET (GUARD_SLOTS_OFFSET + GUARD_MAX_SLOTS * sizeof(struct guard_slot))
#define GUARD_WRAPPED_OFFSET (GUARD_LIVE_OFFSET + GUARD_MAX_SLOTS * 4)
#define GUARD_STACKS_OFFSET (GUARD_WRAPPED_OFFSET + GUARD_MAX_WRAPPED * 8)
#define GUARD_BUCKETS_OFFSET (GUARD_STACKS_OFFSET + GUARD_MAX_STACKS * sizeof(struct guard_stack))
#define GUARD_WQ_OFFSET (GUARD_BUCKETS_OFFSET + GUARD_STACK_BUCKETS * 4)
#define GUARD_META_SIZE (GUARD_WQ_OFFSET + GUARD_WRAP_QUARANTINE * 8)

/* How the arena's inaccessible pages are made so. */
enum guard_protect {
    GUARD_PROTECT_MADVISE = 1,  /* guard regions (MADV_GUARD_INSTALL, Linux 6.13) in a read-write arena */
    GUARD_PROTECT_MPROTECT = 2, /* PROT_NONE mappings: two VMAs per live allocation, hence a budget */
};

/* A slot's state; 0 while it is being filled in or recycled. */
enum guard_state { GUARD_LIVE = 1, GUARD_FREED = 2 };

/* A freed slot's flags. */
enum guard_slot_flags {
    GUARD_SLOT_POISONED = 1,  /* accessible, filled with GUARD_POISON_BYTE */
    GUARD_SLOT_PROTECTED = 2, /* its data pages are inaccessible */
};

enum guard_error_kind {
    GUARD_DOUBLE_FREE = 1,
    GUARD_INVALID_FREE = 2,
    GUARD_REALLOC_FREED = 3,
    GUARD_SLACK_CORRUPTED = 4, /* bytes past the end of a guarded allocation */
    GUARD_CANARY_CORRUPTED = 5, /* bytes past the end of a wrapped block */
    GUARD_SIGNAL_UNSAFE_CALL = 6, /* reserved: the call (GUARD_UNSAFE_NAMES), ptr: the handler, slot: the signal */
    GUARD_WRITE_AFTER_FREE = 7, /* a poisoned slot's bytes changed: offset and length of the change */
    GUARD_HEADER_CORRUPTED = 8, /* the bytes right before a live wrapped block (its key) were overwritten */
};

/* The calls GUARD_SIGNAL_UNSAFE_CALL names, by `reserved` (enum unsafe_call
 * in signals.h). */
#define GUARD_UNSAFE_NAMES "malloc,calloc,realloc,free,memalign,pthread_mutex_lock,pthread_mutex_unlock,pthread_cond_wait,pthread_cond_signal,printf,puts,fwrite,fflush"

struct guard_header {
    uint64_t magic;       /* GUARD_MAGIC once initialised */
    uint32_t version;     /* GUARD_VERSION */
    uint32_t slot_size;   /* sizeof(struct guard_slot) */
    uint64_t arena_start;
    uint64_t arena_end;
    uint64_t next;        /* first never-used arena address */
    uint64_t seed;        /* GUARD_ENV_SEED */
    uint32_t protect;     /* enum guard_protect */
    uint32_t wrap_size;   /* sizeof(struct guard_wrap) */
    uint64_t budget;      /* most live guarded allocations (mprotect: VMAs) */
    uint64_t budget_pages;/* most pages held by live guarded allocations */
    uint64_t allocations; /* every allocation request */
    uint64_t guarded;     /* of which guarded */
    uint64_t live;        /* guarded and not yet freed: entries of `live` */
    uint64_t live_pages;  /* pages they hold */
    uint64_t frees;       /* guarded frees */
    uint64_t slot_count;  /* slots ever used (ids below this) */
    uint64_t wrapped;     /* live wrapped blocks: entries of `wrapped` */
    uint64_t stack_count; /* entries of the stack depot (ids 1..stack_count) */
    uint64_t wrap_salt;   /* xored into wrap keys with GUARD_WRAP_MAGIC */
    uint64_t recycled;    /* guarded allocations placed in a recycled slot (no system call) */
    uint64_t poisoned;    /* guarded frees left poisoned, not protected */
    uint64_t quarantine_pages; /* pages of poisoned slots in quarantine */
    uint64_t pool_pages;  /* pages of recycled slots ready for reuse */
    uint64_t cost_ns;     /* time spent in the kernel for guards (page faults of fresh slots, protection) */
    uint64_t wq_head;     /* the wrapped quarantine's oldest entry */
    uint64_t wq_len;      /* its entries */
    uint64_t wq_bytes;    /* the bytes of the blocks in it */
    uint32_t handed_over; /* set by the supervisor when it hands the process over to the test's own tracer */
    uint32_t reserved;
};

struct guard_slot {
    uint64_t start;     /* first page of the slot (its data; the guard page is last) */
    uint64_t user;      /* the pointer handed out */
    uint64_t size;      /* bytes requested */
    uint32_t pages;     /* pages in the slot, guard included */
    uint32_t state;     /* enum guard_state */
    uint32_t align;     /* alignment of `user` */
    uint32_t before;    /* 1: placed at the start of its data (underflows fault) */
    int32_t alloc_tid;
    int32_t free_tid;
    uint32_t alloc_stack; /* stack depot ids (0: none) */
    uint32_t free_stack;
    uint32_t live_index;  /* where it is in `live` while live; the next slot of its list while pooled */
    uint32_t flags;       /* enum guard_slot_flags, once freed */
};

/* Right before a wrapped block's pointer (glibc memory, not guarded). The
 * key is last, so that it is the 8 bytes before the pointer: for a block
 * glibc handed out directly those hold its chunk's size field, always
 * mapped and never equal to a key. */
struct guard_wrap {
    uint64_t size;        /* bytes requested */
    uint32_t alloc_stack; /* stack depot id */
    int32_t alloc_tid;
    uint32_t live_index;  /* where it is in `wrapped` while live; the free's stack depot id once freed */
    int32_t free_tid;     /* once freed */
    uint64_t key;         /* GUARD_WRAP_MAGIC (GUARD_WRAP_FREED_MAGIC in quarantine, GUARD_WRAP_GONE_MAGIC once given back) ^ salt ^ the pointer */
};

/* A distinct call stack: return addresses, innermost first, 0-padded. */
struct guard_stack {
    uint64_t hash;
    uint64_t pcs[GUARD_FRAMES];
    uint32_t next;     /* the next entry in its bucket's chain (0: none) */
    uint32_t guarded;  /* 1 once an allocation from this stack was guarded */
};

/* On the stack of the thread that hit an allocator error; rax points at it
 * when the thread executes int3. */
struct guard_error {
    uint64_t magic; /* GUARD_ERROR_MAGIC */
    uint32_t kind;  /* enum guard_error_kind */
    uint32_t reserved;
    uint64_t ptr;   /* the pointer passed to free/realloc */
    int64_t slot;   /* its slot, or -1 */
    uint64_t offset; /* GUARD_WRITE_AFTER_FREE: first changed byte, from ptr */
    uint64_t length; /* GUARD_WRITE_AFTER_FREE: bytes from the first changed to the last */
};

#endif
