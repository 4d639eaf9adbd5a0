/*
 * One guarded allocation and its free, against the floor of what they
 * cannot avoid: for each of N fresh slots, make a page accessible, touch
 * it, make it inaccessible again. Modes:
 *
 *   floor-mprotect  mprotect(RW) + touch + mmap(MAP_FIXED, PROT_NONE)
 *   floor-madvise   madvise(MADV_GUARD_REMOVE) + touch + madvise(MADV_GUARD_INSTALL)
 *                   (Linux 6.13 and later; prints "unsupported" otherwise)
 *   malloc          malloc(100) + touch + free, ten calls deep (so the
 *                   allocator's backtraces have frames to walk); run it
 *                   with the guard allocator in LD_PRELOAD
 *
 * Prints nanoseconds per pair. See alloc-pair.sh.
 */
#define _GNU_SOURCE
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

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s floor-mprotect|floor-madvise|malloc N\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    /* Fresh slots of two pages (data, guard), never reused, as the arena. */
    size_t len = (size_t)n * 2 * PAGE;
    double start;
    if (!strcmp(mode, "malloc")) {
        start = now_ns();
        for (long i = 0; i < n; i++) {
            volatile char *p = alloc_deep(10, 100);
            p[0] = 1;
            free_deep(10, (void *)p);
        }
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
