/*
 * The allocator's lock and what fork does to it (lock.h).
 */
#define _GNU_SOURCE
#include "lock.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "../base/raw.h"
#include "slots.h"
#include "table.h"

/* 0 free, 1 taken, 2 taken with waiters. */
static int lock_word;

/* Tries this many times, pausing, before sleeping on the futex: what the
 * lock guards takes a few hundred nanoseconds, less than the two system
 * calls of a sleep and a wake (with eight threads allocating on two cores,
 * the futex calls were a sixth of the time). */
#define LOCK_SPINS 64

void lock(void) {
    int c = 0;
    if (__atomic_compare_exchange_n(&lock_word, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    for (int i = 0; i < LOCK_SPINS && c == 1; i++) {
        __builtin_ia32_pause();
        c = 0;
        if (__atomic_load_n(&lock_word, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&lock_word, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        c = __atomic_load_n(&lock_word, __ATOMIC_RELAXED);
    }
    if (c != 2) c = __atomic_exchange_n(&lock_word, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        raw_syscall6(SYS_futex, (long)&lock_word, FUTEX_WAIT_PRIVATE, 2, 0, 0, 0);
        c = __atomic_exchange_n(&lock_word, 2, __ATOMIC_ACQUIRE);
    }
}

void unlock(void) {
    if (__atomic_exchange_n(&lock_word, 0, __ATOMIC_RELEASE) == 2)
        raw_syscall6(SYS_futex, (long)&lock_word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
}

/* fork() holds the lock (the prepare handler, which runs after those that
 * other libraries registered later and that may allocate), so that the
 * child inherits the lists whole, never in the middle of a change. */
static void before_fork(void) {
    if (hdr) lock();
}

static void after_fork_parent(void) {
    if (hdr) unlock();
}

/* In the child of a fork, alone, with the lock held since before_fork: a
 * slot on the live list that is not live belonged to a thread of the
 * parent in the middle of an allocation (state not yet live) or a free
 * (already freed): that thread does not exist here, so the slot leaves
 * the list (its pages are nobody's in the child). */
static void after_fork_child(void) {
    if (hdr)
        for (uint64_t i = hdr->live; i-- > 0;) {
            struct guard_slot *s = &slots[live_ids[i]];
            if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != GUARD_LIVE) unlist_live(s);
        }
    lock_word = 0;
}

void lock_fork_handlers(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }
