/*
 * The program's pending clocks (clocks.h). A slot of the shared table is
 * free once its deadline has passed (a wait that returned sets it to 0),
 * so a thread or process that ends mid-wait frees its slot in time. Slots
 * are claimed with a compare-and-swap of the deadline to BUSY, filled,
 * then published with the real deadline (release); readers skip a slot
 * being written, and a slot re-claimed while read only misleads one hold
 * (its fields are read atomically, one by one). Nothing here allocates or
 * locks.
 */
#define _GNU_SOURCE
#include "clocks.h"

#include "../base/base.h"

#define BUSY UINT64_MAX

static struct sched_clock *table;

/* This thread's pending wait (-1: none), and the process's last timer. */
static TLS int my_wait = -1;
static int my_timer = -1;

void clocks_attach(struct sched_clock *t) { table = t; }

void clocks_after_fork(void) {
    my_wait = -1;
    my_timer = -1;
}

/* Claims a slot for a clock of `tid` (reusing `reuse` if it is still this
 * process's), fills it and returns it, or -1 when every slot is pending. */
static int claim(int reuse, int32_t tid, uint64_t now, uint64_t ns, uint32_t kind) {
    uint64_t deadline = now + ns;
    if (deadline == BUSY || deadline == 0) return -1;
    for (unsigned n = 0; n <= SCHED_CLOCKS; n++) {
        unsigned i = n == 0 ? (unsigned)reuse : n - 1;
        if (n == 0 && (reuse < 0 || __atomic_load_n(&table[i].tid, __ATOMIC_RELAXED) != tid)) continue;
        uint64_t old = __atomic_load_n(&table[i].deadline_ns, __ATOMIC_ACQUIRE);
        if (old == BUSY || (n > 0 && old > now)) continue;
        if (!__atomic_compare_exchange_n(&table[i].deadline_ns, &old, BUSY, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        __atomic_store_n(&table[i].length_ns, ns, __ATOMIC_RELAXED);
        __atomic_store_n(&table[i].tid, tid, __ATOMIC_RELAXED);
        __atomic_store_n(&table[i].kind, kind, __ATOMIC_RELAXED);
        __atomic_store_n(&table[i].deadline_ns, deadline, __ATOMIC_RELEASE);
        return (int)i;
    }
    return -1;
}

void clocks_wait_begin(int32_t tid, uint64_t now, uint64_t ns) {
    if (!table || !ns) return;
    if (my_wait >= 0) clocks_wait_end();
    my_wait = claim(-1, tid, now, ns, SCHED_CLOCK_WAIT);
}

int clocks_waiting(void) { return my_wait >= 0; }

void clocks_wait_end(void) {
    if (my_wait < 0) return;
    uint64_t mine = __atomic_load_n(&table[my_wait].deadline_ns, __ATOMIC_ACQUIRE);
    /* Claimed by another since it expired: no longer ours to free. */
    if (mine != BUSY && __atomic_load_n(&table[my_wait].tid, __ATOMIC_RELAXED) == ffc_tid())
        __atomic_compare_exchange_n(&table[my_wait].deadline_ns, &mine, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    my_wait = -1;
}

void clocks_timer(int32_t tid, uint64_t now, uint64_t ns) {
    if (!table || !ns) return;
    int slot = claim(my_timer, tid, now, ns, SCHED_CLOCK_TIMER);
    if (slot >= 0) my_timer = slot;
}

void clocks_view(int32_t tid, uint64_t now, uint64_t within, uint64_t generous, struct clocks_view *v) {
    v->deadline_ns = 0;
    v->length_ns = 0;
    v->limit_ns = UINT64_MAX;
    if (!table) return;
    for (unsigned i = 0; i < SCHED_CLOCKS; i++) {
        uint64_t deadline = __atomic_load_n(&table[i].deadline_ns, __ATOMIC_ACQUIRE);
        if (deadline == BUSY || deadline <= now) continue;
        if (__atomic_load_n(&table[i].tid, __ATOMIC_RELAXED) == tid) continue;
        uint64_t length = __atomic_load_n(&table[i].length_ns, __ATOMIC_RELAXED);
        uint32_t kind = __atomic_load_n(&table[i].kind, __ATOMIC_RELAXED);
        if (kind == SCHED_CLOCK_WAIT && length > generous) {
            uint64_t limit = deadline - length / 2;
            if (limit < v->limit_ns) v->limit_ns = limit;
            continue;
        }
        if (deadline - now <= within && (!v->deadline_ns || deadline < v->deadline_ns)) {
            v->deadline_ns = deadline;
            v->length_ns = length;
        }
    }
}
