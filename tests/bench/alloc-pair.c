/*
 * One guarded allocation and its free, against the floor of what they
 * cannot avoid: for each of N fresh slots, make a page accessible, touch
 * it, make it inaccessible again. Modes:
 *
 *   floor-mprotect  mprotect(RW) + touch + mmap(MAP_FIXED, PROT_NONE)
 *   floor-madvise   madvise(MADV_GUARD_REMOVE) + touch + madvise(MADV_GUARD_INSTALL)
 *                   (Linux 6.13 and later; prints "unsupported" otherwise)
 *   malloc          malloc(100) + touch + free, ten calls deep (so the
 *                   allocator's backtraces have frames to walk), in threads
 *                   of BATCH pairs each, one after the other; run it with
 *                   the guard allocator in LD_PRELOAD: every pair is
 *                   guarded (within its time budget a freed slot is
 *                   protected and the next allocation takes a fresh one;
 *                   past it freed slots are poisoned and recycled)
 *   late            the same pairs past a thread's first 20000 allocations
 *   concurrent      the same pairs on two threads at once (N/2 each): wall
 *                   time per pair
 *
 * Prints nanoseconds per pair. See alloc-pair.sh.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

#define PAGE 4096UL

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

__attribute__((noinline)) static void *alloc_deep(int depth, size_t n) {
    if (depth == 0) return malloc(n);
    void *p = alloc_deep(depth - 1, n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

__attribute__((noinline)) static void free_deep(int depth, void *p) {
    if (depth == 0) {
        free(p);
        return;
    }
    free_deep(depth - 1, p);
    __asm__ volatile("" ::: "memory");
}

/* Pairs per thread in `malloc` mode. */
#define BATCH 400L

struct batch {
    long pairs, skip;
    double ns;
};

/* Makes `skip` pairs untimed, then times `pairs` pairs. */
static void *pairs(void *arg) {
    struct batch *b = arg;
    for (long i = 0; i < b->skip; i++) free_deep(10, alloc_deep(10, 100));
    double start = now_ns();
    for (long i = 0; i < b->pairs; i++) {
        volatile char *p = alloc_deep(10, 100);
        p[0] = 1;
        free_deep(10, (void *)p);
    }
    b->ns = now_ns() - start;
    return NULL;
}

/* `n` pairs in threads of `per` pairs each, after `skip` untimed ones in
 * each thread: nanoseconds per timed pair. */
static double in_threads(long n, long per, long skip) {
    double total = 0;
    for (long done = 0; done < n; done += per) {
        struct batch b = {n - done < per ? n - done : per, skip, 0};
        pthread_t t;
        if (pthread_create(&t, NULL, pairs, &b) != 0) return -1;
        pthread_join(t, NULL);
        total += b.ns;
    }
    return total / (double)n;
}

/* `n` pairs on two threads at once: wall nanoseconds per pair. */
static double concurrent(long n) {
    struct batch b[2] = {{n / 2, 0, 0}, {n - n / 2, 0, 0}};
    pthread_t t[2];
    double start = now_ns();
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, pairs, &b[i]) != 0) return -1;
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    return (now_ns() - start) / (double)n;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s floor-mprotect|floor-madvise|malloc|late|concurrent N\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    /* Fresh slots of two pages (data, guard), never reused, as the arena. */
    size_t len = (size_t)n * 2 * PAGE;
    double start;
    if (!strcmp(mode, "malloc")) {
        printf("%.0f\n", in_threads(n, BATCH, 0));
        return 0;
    } else if (!strcmp(mode, "late")) {
        printf("%.0f\n", in_threads(n, n, 20000));
        return 0;
    } else if (!strcmp(mode, "concurrent")) {
        printf("%.0f\n", concurrent(n));
        return 0;
    } else if (!strcmp(mode, "floor-mprotect")) {
        char *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) return 1;
        start = now_ns();
        for (long i = 0; i < n; i++) {
            volatile char *p = base + (size_t)i * 2 * PAGE;
            mprotect((void *)p, PAGE, PROT_READ | PROT_WRITE);
            p[0] = 1;
            mmap((void *)p, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
        }
    } else if (!strcmp(mode, "floor-madvise")) {
        char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) return 1;
        if (madvise(base, len, MADV_GUARD_INSTALL) != 0) {
            printf("unsupported\n");
            return 0;
        }
        start = now_ns();
        for (long i = 0; i < n; i++) {
            volatile char *p = base + (size_t)i * 2 * PAGE;
            madvise((void *)p, PAGE, MADV_GUARD_REMOVE);
            p[0] = 1;
            madvise((void *)p, PAGE, MADV_GUARD_INSTALL);
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("%.0f\n", (now_ns() - start) / (double)n);
    return 0;
}
