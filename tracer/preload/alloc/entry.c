/*
 * The cargo-ffi-check guard allocator, preloaded (LD_PRELOAD) into every
 * process of a test. A guarded allocation gets pages of its own ending at
 * an inaccessible guard page: placed "after", it ends exactly at the guard,
 * so the first byte read or written past the end faults; placed "before"
 * (for some allocations, chosen by the seed), it starts right after the
 * previous slot's guard, so the first byte before the start faults. Freed
 * memory is made inaccessible, so a use after free faults too. The
 * supervisor reads what it needs to explain a fault from the metadata
 * table at GUARD_HEADER_ADDR (protocol/guard.h; ../README.md).
 *
 * Allocations that are not guarded (past the time budget, all but those
 * the rules at GUARD_TIER keep; over the memory or mapping budget)
 * are "wrapped": glibc memory with a header before the pointer and canary
 * bytes after the end, checked at free and when the process exits.
 *
 * Invariants:
 * - Arena address space is never reused: a freed allocation's pages stay
 *   inaccessible for the life of the process. Slot records are: a freed
 *   slot waits in a quarantine of QUARANTINE frees, then its record is
 *   recycled (its pages then belong to no slot).
 * - Nothing here allocates through malloc; TLS is initial-exec; the lock is
 *   a futex word, reset in the child after fork; system calls that could be
 *   interposed (futex) are made raw.
 * - Pointers neither in the arena nor wrapped (made by glibc before we
 *   initialised, or by the harness's main thread) go back to glibc.
 *
 * This file is the allocator's interface: malloc, free, calloc, realloc
 * and the aligned family, which decide between a guarded slot (guarded.h)
 * and a wrapped block (wrap.h). The other files of alloc/, each with the
 * header that says what it owns: table (the table, the arena, the shared
 * state and start-up), lock, policy (what is guarded: the seed and the
 * budget), slots (carving, the quarantine, the pools), checks (slack,
 * poison and the errors), align, depot (call sites), unwind (the stack
 * walker), rust_alloc (Rust's allocations) and limits (the address-space
 * limit).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../signals/signals.h"
#include "align.h"
#include "checks.h"
#include "depot.h"
#include "guarded.h"
#include "slots.h"
#include "table.h"
#include "wrap.h"

/* A realloc from and to at least this many bytes (glibc's default mmap
 * threshold) is glibc's (rewrap), in place where it can be: moving such a
 * block at every step made growing a buffer in 64 KiB steps to 128 MiB
 * take 107 s (natively 0.08 s). Such a block then has its canary, not a
 * guard page. */
#define REALLOC_IN_PLACE_MIN (128UL << 10)

/* Whether the allocator can take this call: it is ready and not already
 * running on this thread (what it calls may allocate). */
static int ready(void) {
    if (__builtin_expect(state == 2, 1)) return !in_guard;
    /* The dynamic loader allocates before any constructor runs. */
    if (state == 0) guard_init();
    return state == 2 && !in_guard;
}

/* glibc's usable size of one of its own chunks, from the chunk header: the
 * size field (low 3 bits are flags, bit 1 IS_MMAPPED) minus the header
 * glibc does not hand out. (glibc's malloc_usable_size is the symbol we
 * interpose, so it cannot be called.) */
static size_t libc_usable_size(void *p) {
    size_t field = ((size_t *)p)[-1];
    size_t chunk = field & ~(size_t)7;
    return field & 2 ? chunk - 16 : chunk - 8;
}

/* Whether this allocation should be guarded or wrapped at all. */
static int wanted(void) {
    return ready() && !ffc_harness_main_thread() && !ffc_handed_over();
}

static void *alloc_aligned(size_t size, size_t align, const struct entry *from) {
    if (wanted()) {
        in_guard = 1;
        uint32_t site = call_site(from);
        void *p = guarded(size, align, site, 0);
        if (!p && align <= MALLOC_ALIGN) p = wrapped(size, site, 0);
        in_guard = 0;
        if (p) return p;
        if (align <= MALLOC_ALIGN) {
            errno = ENOMEM;
            return NULL;
        }
    }
    return align <= MALLOC_ALIGN ? __libc_malloc(size) : __libc_memalign(align, size);
}

/* malloc, realloc, free and calloc are entered through stubs that jump to
 * their C bodies with the registers as they were, plus two: the stack
 * pointer (at the caller's return address) and rbp, in the argument
 * registers after those the body reads (`a` and `b`), where the stack walk
 * of the call site starts (capture). The bodies of malloc and realloc read
 * one argument register more than the C signature has, where std's
 * allocator leaves a Rust layout's alignment (rsi for malloc, rdx for
 * realloc; see placement_align). The jump keeps the caller's return
 * address too. */
#define ENTRY_STUB_FRAME(name, body, a, b)                                                              \
    __asm__(".text\n.globl " #name "\n.type " #name ", @function\n" #name ":\n\tendbr64\n\tmov %rsp, %" a \
            "\n\tmov %rbp, %" b "\n\tjmp " #body "\n.size " #name ", .-" #name "\n")
#define HIDDEN __attribute__((visibility("hidden"), used, noinline))

HIDDEN void *malloc_body(size_t size, size_t rsi, uintptr_t rsp, uintptr_t rbp);
HIDDEN void *realloc_body(void *p, size_t size, size_t rdx, uintptr_t rsp, uintptr_t rbp);
HIDDEN void free_body(void *p, uintptr_t rsp, uintptr_t rbp);
HIDDEN void *calloc_body(size_t n, size_t m, uintptr_t rsp, uintptr_t rbp);
ENTRY_STUB_FRAME(malloc, malloc_body, "rdx", "rcx");
ENTRY_STUB_FRAME(realloc, realloc_body, "rcx", "r8");
ENTRY_STUB_FRAME(free, free_body, "rsi", "rdx");
ENTRY_STUB_FRAME(calloc, calloc_body, "rdx", "rcx");

HIDDEN void *malloc_body(size_t size, size_t rsi, uintptr_t rsp, uintptr_t rbp) {
    signal_unsafe_call(UNSAFE_MALLOC);
    uintptr_t ret = (uintptr_t)__builtin_return_address(0);
    const struct entry from = {rsp, rbp};
    return alloc_aligned(size, placement_align(size, ret, rsi, RUST_ALLOC), &from);
}

HIDDEN void free_body(void *p, uintptr_t rsp, uintptr_t rbp) {
    const struct entry from = {rsp, rbp};
    signal_unsafe_call(UNSAFE_FREE);
    if (!p) return;
    if (in_arena(p)) {
        in_guard = 1;
        release(p, 0, NULL, &from);
        in_guard = 0;
        return;
    }
    if (is_wrapped(p)) {
        in_guard = 1;
        unwrap_free(p, &from);
        in_guard = 0;
        return;
    }
    if (is_quarantined(p) || is_gone(p)) {
        report(GUARD_DOUBLE_FREE, p, -1);
        return;
    }
    if (had_its_key_overwritten(p)) {
        in_guard = 1;
        report(GUARD_HEADER_CORRUPTED, p, -1);
        unwrap_free(p, &from);
        in_guard = 0;
        return;
    }
    __libc_free(p);
}

HIDDEN void *calloc_body(size_t n, size_t m, uintptr_t rsp, uintptr_t rbp) {
    const struct entry from = {rsp, rbp};
    signal_unsafe_call(UNSAFE_CALLOC);
    uintptr_t ret = (uintptr_t)__builtin_return_address(0);
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (wanted()) {
        /* Arena pages are fresh, hence zero; glibc's are not. */
        in_guard = 1;
        uint32_t site = call_site(&from);
        void *p = guarded(total, placement_align(total, ret, 0, RUST_ALLOC_ZEROED), site, 1);
        if (!p) p = wrapped(total, site, 1);
        in_guard = 0;
        if (p) return p;
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(n, m);
}

/* The usable size of a pointer this library or glibc handed out. */
static size_t usable_size(void *p) {
    if (in_arena(p)) {
        int64_t idx = slot_of(p);
        return idx >= 0 && slots[idx].user == (uintptr_t)p ? slots[idx].size : 0;
    }
    if (is_wrapped(p)) return wrap_of(p)->size;
    return libc_usable_size(p);
}

HIDDEN void *realloc_body(void *p, size_t size, size_t rdx, uintptr_t rsp, uintptr_t rbp) {
    const struct entry from = {rsp, rbp};
    signal_unsafe_call(UNSAFE_REALLOC);
    uintptr_t ret = (uintptr_t)__builtin_return_address(0);
    size_t align = placement_align(size, ret, rdx, RUST_REALLOC);
    if (!p) return alloc_aligned(size, align, &from);
    if (!in_arena(p) && (is_quarantined(p) || is_gone(p))) {
        report(GUARD_REALLOC_FREED, p, -1);
        return NULL;
    }
    if (!in_arena(p) && !is_wrapped(p) && had_its_key_overwritten(p)) report(GUARD_HEADER_CORRUPTED, p, -1);
    if (!in_arena(p) && !is_wrapped(p)) {
        if (!ready()) return __libc_realloc(p, size);
        if (!size) {
            __libc_free(p);
            return NULL;
        }
        /* Move it to this allocator: realloc always moves here. */
        size_t old = libc_usable_size(p);
        void *q = alloc_aligned(size, align, &from);
        if (!q) return NULL;
        memcpy(q, p, old < size ? old : size);
        __libc_free(p);
        return q;
    }
    if (!size) {
        free_body(p, rsp, rbp);
        return NULL;
    }
    if (in_arena(p)) {
        int64_t idx = slot_of(p);
        if (idx < 0 || slots[idx].user != (uintptr_t)p || slots[idx].state != GUARD_LIVE) {
            in_guard = 1;
            release(p, 1, NULL, &from);
            in_guard = 0;
            return NULL;
        }
    }
    size_t old = usable_size(p);
    if (old >= REALLOC_IN_PLACE_MIN && size >= REALLOC_IN_PLACE_MIN && align <= MALLOC_ALIGN && wanted()) {
        /* A large block: glibc resizes it (a guarded one moves to a
         * wrapped block once). */
        in_guard = 1;
        uint32_t site = call_site(&from);
        void *q = in_arena(p) ? wrapped(size, site, 0) : rewrap(p, size, site);
        in_guard = 0;
        if (!q) {
            errno = ENOMEM;
            return NULL;
        }
        if (in_arena(p)) {
            memcpy(q, p, old < size ? old : size);
            free_body(p, rsp, rbp);
        }
        return q;
    }
    /* Otherwise always move, so pointers kept into the old block dangle
     * (and fault, when it was guarded). */
    void *q = alloc_aligned(size, align, &from);
    if (!q) return NULL;
    memcpy(q, p, old < size ? old : size);
    free_body(p, rsp, rbp);
    return q;
}

EXPORT void *reallocarray(void *p, size_t n, size_t m) {
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size) {
    signal_unsafe_call(UNSAFE_MEMALIGN);
    if (!valid_align(align) || align % sizeof(void *)) return EINVAL;
    void *p = alloc_aligned(size, align < natural_align(size) ? natural_align(size) : align, NULL);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

/* As glibc's memalign: an alignment up to malloc's own is malloc's; one
 * that is not a power of two is rounded up to the next power of two; one
 * too large to round is EINVAL. */
EXPORT void *memalign(size_t align, size_t size) {
    signal_unsafe_call(UNSAFE_MEMALIGN);
    if (align <= MALLOC_ALIGN) return alloc_aligned(size, MALLOC_ALIGN, NULL);
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (!valid_align(align)) {
        size_t a = MALLOC_ALIGN * 2;
        while (a < align) a <<= 1;
        align = a;
    }
    return alloc_aligned(size, align, NULL);
}

/* As the glibc in use: before 2.38 aligned_alloc is memalign; since, an
 * alignment that is not a power of two is EINVAL. */
EXPORT void *aligned_alloc(size_t align, size_t size) {
    if (strict_aligned_alloc && !valid_align(align)) {
        errno = EINVAL;
        return NULL;
    }
    return memalign(align, size);
}

EXPORT void *valloc(size_t size) { return memalign(PAGE, size); }

EXPORT void *pvalloc(size_t size) {
    size_t rounded;
    if (__builtin_add_overflow(size, PAGE - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return memalign(PAGE, rounded & ~(PAGE - 1));
}

EXPORT size_t malloc_usable_size(void *p) { return p ? usable_size(p) : 0; }

