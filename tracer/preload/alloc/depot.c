/*
 * Call sites and the stack depot (depot.h). The walk itself is unwind.c's
 * (libgcc's where that gives up); the depot is lock-free.
 */
#define _GNU_SOURCE
#include "depot.h"

#include <elf.h>
#include <string.h>
#include <unwind.h>

#include "table.h"
#include "unwind.h"

/* This library's code, so that a call site starts at the first frame
 * outside it (whatever the compiler inlined). Found from our own ELF
 * header, without a lock or a system call. */
extern const Elf64_Ehdr __ehdr_start __attribute__((visibility("hidden")));
static uintptr_t self_lo, self_hi;

void find_self(void) {
    const Elf64_Ehdr *e = &__ehdr_start;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)((const char *)e + e->e_phoff);
    uintptr_t base = (uintptr_t)e;
    for (int i = 0; i < e->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) base = (uintptr_t)e - ph[i].p_vaddr;
    }
    for (int i = 0; i < e->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
            self_lo = base + ph[i].p_vaddr;
            self_hi = self_lo + ph[i].p_memsz;
        }
    }
}

struct trace {
    uint64_t *pcs;
    unsigned n;
};

static _Unwind_Reason_Code trace_one(struct _Unwind_Context *ctx, void *arg) {
    struct trace *t = arg;
    uintptr_t pc = _Unwind_GetIP(ctx);
    if (!pc) return _URC_END_OF_STACK;
    if (!t->n && pc >= self_lo && pc < self_hi) return _URC_NO_REASON;
    t->pcs[t->n++] = pc;
    return t->n < GUARD_FRAMES ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* The return addresses of the caller's stack, innermost first, from the
 * first frame outside this library: from the cached walker of unwind.c
 * (from `from`, the program's entry into the allocator, where known: the
 * allocator's own frames then need no unwinding, a third of a walk), or
 * libgcc's where that gives up. Runs with in_guard set: libgcc's own
 * allocations, if any, go to glibc. */
static void capture(uint64_t *pcs, const struct entry *from) {
    memset(pcs, 0, GUARD_FRAMES * sizeof *pcs);
    int n = from ? ffc_backtrace_from(pcs, GUARD_FRAMES, from->rsp, from->rbp, self_lo, self_hi)
                 : ffc_backtrace(pcs, GUARD_FRAMES, self_lo, self_hi);
    if (n >= 0) return;
    memset(pcs, 0, GUARD_FRAMES * sizeof *pcs);
    struct trace t = {pcs, 0};
    _Unwind_Backtrace(trace_one, &t);
}

static uint64_t stack_hash(const uint64_t *pcs) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < GUARD_FRAMES; i++) {
        h ^= pcs[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h | 1;
}

/* The entry of `chain` (and those it links to, up to `until`) that holds
 * the stack `pcs` of hash `h`, or 0. */
static uint32_t depot_find(uint32_t chain, uint32_t until, uint64_t h, const uint64_t *pcs) {
    for (uint32_t id = chain; id && id != until; id = __atomic_load_n(&stacks[id].next, __ATOMIC_ACQUIRE))
        if (stacks[id].hash == h && !memcmp(stacks[id].pcs, pcs, sizeof stacks[id].pcs)) return id;
    return 0;
}

/* The depot id of a stack (1-based; 0 when the depot is full). Lock-free:
 * a new entry is written, then pushed on its bucket's chain with a CAS; a
 * writer that loses the race looks through what was pushed meanwhile, and
 * if its stack is there leaves its own entry unused and takes that one.
 * Entries are appended to `stacks` in order and buckets are few, so a
 * process touches only the pages it needs. */
static uint32_t depot_put(const uint64_t *pcs) {
    uint64_t h = stack_hash(pcs);
    uint32_t *bucket = &buckets[h % GUARD_STACK_BUCKETS];
    uint32_t first = __atomic_load_n(bucket, __ATOMIC_ACQUIRE);
    uint32_t found = depot_find(first, 0, h, pcs);
    if (found) return found;
    uint64_t e = __atomic_add_fetch(&hdr->stack_count, 1, __ATOMIC_ACQ_REL);
    if (e >= GUARD_MAX_STACKS) return 0;
    stacks[e].hash = h;
    memcpy(stacks[e].pcs, pcs, sizeof stacks[e].pcs);
    for (;;) {
        __atomic_store_n(&stacks[e].next, first, __ATOMIC_RELEASE);
        uint32_t seen = first;
        if (__atomic_compare_exchange_n(bucket, &first, (uint32_t)e, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return (uint32_t)e;
        found = depot_find(first, seen, h, pcs);
        if (found) return found;
    }
}

uint32_t call_site(const struct entry *from) {
    uint64_t pcs[GUARD_FRAMES];
    capture(pcs, from);
    return depot_put(pcs);
}
