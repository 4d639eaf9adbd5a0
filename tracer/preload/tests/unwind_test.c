/* The cached walker (unwind.c) against libgcc's _Unwind_Backtrace from the
 * same points (and ffc_backtrace_from, from an assembly entry stub as the
 * allocator's, against libgcc's from the stub's body): chains of calls
 * with and without frame pointers, a frame of variable size (alloca), a
 * call through a pointer, and a callback from the C library (qsort). Exits 0 when every walk matched, 1 otherwise.
 * Built and run by tracer/tests/unwind.rs. */
#define _GNU_SOURCE
#include <alloca.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

#include "../alloc/unwind.h"

#define MAX 64

struct trace {
    uint64_t pcs[MAX];
    int n;
};

static _Unwind_Reason_Code one(struct _Unwind_Context *ctx, void *arg) {
    struct trace *t = arg;
    uintptr_t pc = _Unwind_GetIP(ctx);
    if (!pc || t->n == MAX) return _URC_END_OF_STACK;
    t->pcs[t->n++] = pc;
    return _URC_NO_REASON;
}

static int failures, checks;

/* Both walks from here, twice (the second from the cache); frame 0 of
 * each is in this function at different addresses, the rest must match. */
__attribute__((noinline)) static void check(const char *what) {
    for (int round = 0; round < 2; round++) {
        uint64_t mine[MAX] = {0};
        int n = ffc_backtrace(mine, MAX, 0, 0);
        struct trace t = {{0}, 0};
        _Unwind_Backtrace(one, &t);
        checks++;
        int ok = n == t.n && n > 3 && !memcmp(mine + 1, t.pcs + 1, (size_t)(n - 1) * 8);
        if (!ok) {
            failures++;
            fprintf(stderr, "%s (round %d): %d frames vs libgcc's %d\n", what, round, n, t.n);
            for (int i = 0; i < MAX && (i < n || i < t.n); i++)
                fprintf(stderr, "  %2d %#18lx %#18lx\n", i, (unsigned long)(i < n ? mine[i] : 0),
                        (unsigned long)(i < t.n ? t.pcs[i] : 0));
        }
    }
}

/* An entry stub as the allocator's (ENTRY_STUB_FRAME in alloc/entry.c): it
 * jumps to its body with the stack pointer and rbp it was entered with. */
void entry_probe(const char *what);
__attribute__((used, noinline)) void probe_body(const char *what, uintptr_t rsp, uintptr_t rbp);
__asm__(".text\n.globl entry_probe\n.type entry_probe, @function\nentry_probe:\n\tmov %rsp, %rsi\n"
        "\tmov %rbp, %rdx\n\tjmp probe_body\n.size entry_probe, .-entry_probe\n");

/* From the entry: the stub's caller first, then the same frames as libgcc
 * finds past this body's own. */
__attribute__((used, noinline)) void probe_body(const char *what, uintptr_t rsp, uintptr_t rbp) {
    for (int round = 0; round < 2; round++) {
        uint64_t mine[MAX] = {0};
        int n = ffc_backtrace_from(mine, MAX, rsp, rbp, 0, 0);
        struct trace t = {{0}, 0};
        _Unwind_Backtrace(one, &t);
        checks++;
        int ok = n == t.n - 1 && n > 2 && !memcmp(mine, t.pcs + 1, (size_t)n * 8);
        if (!ok) {
            failures++;
            fprintf(stderr, "%s from the entry (round %d): %d frames vs libgcc's %d\n", what, round, n, t.n - 1);
            for (int i = 0; i < MAX && (i < n || i < t.n - 1); i++)
                fprintf(stderr, "  %2d %#18lx %#18lx\n", i, (unsigned long)(i < n ? mine[i] : 0),
                        (unsigned long)(i < t.n - 1 ? t.pcs[i + 1] : 0));
        }
    }
}

__attribute__((noinline, optimize("omit-frame-pointer"))) static int leaf_nofp(int d) {
    check("no frame pointer");
    entry_probe("no frame pointer");
    return d + 1;
}

__attribute__((noinline, optimize("no-omit-frame-pointer"))) static int leaf_fp(int d) {
    check("frame pointer");
    entry_probe("frame pointer");
    return d + 2;
}

__attribute__((noinline)) static int dynamic_frame(int n) {
    volatile char *buf = alloca((size_t)n * 64 + 8);
    buf[0] = 1;
    check("alloca");
    entry_probe("alloca");
    return buf[0] + leaf_nofp(n);
}

__attribute__((noinline)) static int chain(int depth, int (*leaf)(int)) {
    if (depth == 0) return leaf(depth);
    int r = chain(depth - 1, leaf);
    __asm__ volatile("" : "+r"(r));
    return r + 1;
}

static int compare(const void *a, const void *b) {
    static int once;
    if (!once) {
        once = 1;
        check("qsort callback");
        entry_probe("qsort callback");
    }
    return *(const int *)a - *(const int *)b;
}

int main(void) {
    for (int depth = 0; depth < 12; depth += 3) {
        chain(depth, leaf_nofp);
        chain(depth, leaf_fp);
        chain(depth, dynamic_frame);
    }
    int v[] = {3, 1, 2};
    qsort(v, 3, sizeof v[0], compare);
    printf("%d walks, %d mismatched\n", checks, failures);
    return failures ? 1 : 0;
}
