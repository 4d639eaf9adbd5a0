/*
 * The thread table (table.h). The supervisor registers every thread and
 * process before it runs (tid, logical identity, ordinal); a thread finds
 * its slot by open addressing on its tid and from then on keeps its state
 * (active, or waiting for another thread) and the count of active threads
 * up to date. Nothing here allocates or locks.
 */
#define _GNU_SOURCE
#include "table.h"

#include <stddef.h>
#include <sys/syscall.h>

#include "../base/base.h"
#include "../base/raw.h"
#include "rng.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

static struct sched_shared *sh;

/* This thread's slot, identity and id. */
static TLS struct sched_thread *my_slot;
static TLS uint64_t my_logical;
static TLS int32_t my_tid;
static TLS int my_lookups;

/* The harness's main thread was uncounted (once per process). */
static int harness_uncounted;

void table_attach(struct sched_shared *region) { sh = region; }

void table_after_fork(void) {
    my_slot = NULL;
    my_logical = 0;
    my_tid = 0;
    my_lookups = 0;
}

int32_t table_tid(void) {
    if (!my_tid) my_tid = (int32_t)raw_syscall6(SYS_gettid, 0, 0, 0, 0, 0, 0);
    return my_tid;
}

/* The slot the supervisor registered for thread `tid`, or NULL (not yet). */
static struct sched_thread *slot_of(int32_t tid) {
    uint32_t i = (uint32_t)mix((uint64_t)tid) % SCHED_THREADS;
    for (uint32_t n = 0; n < SCHED_THREADS; n++, i = (i + 1) % SCHED_THREADS) {
        int32_t t = LOAD(&sh->threads[i].tid);
        if (t == SCHED_SLOT_FREE) return NULL;
        if (t == tid) return &sh->threads[i];
    }
    return NULL;
}

/* Moves `slot` from state `from` to `to`, adjusting the count of threads
 * that can act; whether it was in `from`. */
static int set_state(struct sched_thread *slot, uint32_t from, uint32_t to) {
    if (!__atomic_compare_exchange_n(&slot->state, &from, to, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 0;
    if (from == SCHED_ACTIVE) ADD(&sh->active, -1);
    if (to == SCHED_ACTIVE) ADD(&sh->active, 1);
    return 1;
}

void table_find_me(void) {
    if (!sh || my_slot || my_lookups > 64) return;
    my_lookups++;
    int32_t tid = table_tid();
    my_slot = slot_of(tid);
    if (!my_slot) {
        my_logical = mix((uint64_t)tid);
        return;
    }
    my_logical = my_slot->logical;
    set_state(my_slot, SCHED_UNCOUNTED, SCHED_ACTIVE);
}

uint64_t table_logical(void) { return my_logical; }

int table_is_ordinal(uint64_t ordinal) { return my_slot && my_slot->ordinal == ordinal; }

void table_waiting(int waiting) {
    if (!my_slot) return;
    if (waiting)
        set_state(my_slot, SCHED_ACTIVE, SCHED_WAITING);
    else
        set_state(my_slot, SCHED_WAITING, SCHED_ACTIVE);
}

/* The harness's main thread only waits for the test's thread to finish
 * (and its calls are never held), so counting it would let the schedule
 * hold a test that has no other thread, which delays it and changes no
 * order. Done once its slot is found (the supervisor registered it,
 * counted, before the program ran). */
void table_uncount_harness(void) {
    if (!sh || harness_uncounted) return;
    struct sched_thread *slot = slot_of(table_tid());
    if (!slot) return;
    harness_uncounted = 1;
    set_state(slot, SCHED_ACTIVE, SCHED_UNCOUNTED);
}

int table_others_can_act(void) {
    int64_t active = LOAD(&sh->active);
    int mine = my_slot && LOAD(&my_slot->state) == SCHED_ACTIVE;
    return active - mine > 0;
}
