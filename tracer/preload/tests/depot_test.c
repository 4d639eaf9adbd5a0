/* The stack depot under two threads racing to record the same stacks
 * (run with the guard allocator preloaded; see tracer/tests/depot.rs): the
 * same call stack gets the same id in both threads, different stacks get
 * different ids, and 40 000 allocations from 8 stacks make a handful of
 * entries. Prints "ok" or what failed. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../protocol/guard.h"

struct guard_header *ffi_check_guard_header(void);

#define DEPTHS 8
#define ROUNDS 20000

/* Allocates `depth` calls deep: each depth is a distinct call stack. */
__attribute__((noinline)) static void *alloc_at(int depth) {
    void *p = depth ? alloc_at(depth - 1) : malloc(24);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

/* The depot id of an allocation's call site: from its slot if it was
 * guarded, from its header if it was wrapped (which one depends on the
 * allocator's time budget). */
static uint32_t stack_of(const struct guard_header *h, void *p) {
    if ((uintptr_t)p < h->arena_start || (uintptr_t)p >= h->arena_end) return ((struct guard_wrap *)p - 1)->alloc_stack;
    const uint32_t *index = (const uint32_t *)((const char *)h + GUARD_INDEX_OFFSET);
    const struct guard_slot *slots = (const struct guard_slot *)((const char *)h + GUARD_SLOTS_OFFSET);
    uint32_t i = index[((uintptr_t)p - h->arena_start) / 4096];
    return i ? slots[i - 1].alloc_stack : 0;
}

static pthread_barrier_t start;

/* The first allocation at each depth is kept, the rest freed at once. */
static void *worker(void *out) {
    void **kept = out;
    pthread_barrier_wait(&start);
    for (int i = 0; i < ROUNDS; i++) {
        void *p = alloc_at(i % DEPTHS);
        if (i < DEPTHS)
            kept[i] = p;
        else
            free(p);
    }
    return NULL;
}

int main(void) {
    struct guard_header *h = ffi_check_guard_header();
    if (!h) {
        puts("the guard allocator is not loaded");
        return 1;
    }
    void *kept[2][DEPTHS];
    pthread_t t[2];
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, kept[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    int bad = 0;
    for (int d = 0; d < DEPTHS; d++) {
        uint32_t a = stack_of(h, kept[0][d]), b = stack_of(h, kept[1][d]);
        if (!a || a != b) {
            printf("depth %d: ids %u and %u\n", d, a, b);
            bad = 1;
        }
        for (int e = 0; e < d; e++)
            if (stack_of(h, kept[0][e]) == a) {
                printf("depths %d and %d share id %u\n", e, d, a);
                bad = 1;
            }
    }
    if (h->stack_count > 64) {
        printf("%lu depot entries for %d stacks\n", (unsigned long)h->stack_count, DEPTHS);
        bad = 1;
    }
    puts(bad ? "failed" : "ok");
    return bad;
}
