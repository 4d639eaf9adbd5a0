/* The schedule's table of the program's pending clocks (schedule/clocks.c),
 * compiled on its own with this driver (see tracer/tests/clocks.rs): what a
 * hold of one thread sees of the others' sleeps, timed waits and timers.
 * Prints "ok", or what was wrong and exits 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../schedule/clocks.h"

/* clocks.c asks base for the calling thread's id: the test plays threads. */
static int32_t current = 1;
int32_t ffc_tid(void) { return current; }

static struct sched_clock table[SCHED_CLOCKS];
static int failures;

#define MS 1000000ULL
#define CHECK(cond, ...)                    \
    do {                                    \
        if (!(cond)) {                      \
            printf(__VA_ARGS__);            \
            printf("\n");                   \
            failures++;                     \
        }                                   \
    } while (0)

static struct clocks_view view(int32_t tid, uint64_t now) {
    struct clocks_view v;
    clocks_view(tid, now, 25 * MS, 25 * MS, &v);
    return v;
}

int main(void) {
    uint64_t t0 = 1000 * MS;
    struct clocks_view v = view(2, t0);
    CHECK(!v.deadline_ns && v.limit_ns == UINT64_MAX, "unattached or empty: a clock seen");

    clocks_attach(table);
    /* Thread 1 sleeps 10 ms: thread 2 sees its deadline, thread 1 not its own. */
    current = 1;
    clocks_wait_begin(1, t0, 10 * MS);
    CHECK(clocks_waiting(), "a wait begun is not pending");
    v = view(2, t0 + MS);
    CHECK(v.deadline_ns == t0 + 10 * MS && v.length_ns == 10 * MS, "another's sleep: deadline %llu",
          (unsigned long long)v.deadline_ns);
    CHECK(view(1, t0 + MS).deadline_ns == 0, "a thread sees its own sleep");
    /* Past its deadline, or ended, it is gone. */
    CHECK(view(2, t0 + 11 * MS).deadline_ns == 0, "an expired sleep is seen");
    clocks_wait_end();
    CHECK(!clocks_waiting() && view(2, t0 + MS).deadline_ns == 0, "an ended sleep is seen");

    /* A clock further than the window away is not aimed at. */
    clocks_wait_begin(1, t0, 20 * MS);
    CHECK(view(2, t0).deadline_ns == t0 + 20 * MS, "a 20 ms sleep is not seen");
    clocks_wait_end();

    /* The nearest of several (thread 3's timer, thread 1's sleep). */
    current = 3;
    clocks_timer(3, t0, 15 * MS);
    current = 1;
    clocks_wait_begin(1, t0, 5 * MS);
    CHECK(view(2, t0).deadline_ns == t0 + 5 * MS, "not the nearest deadline");
    clocks_wait_end();
    CHECK(view(2, t0).deadline_ns == t0 + 15 * MS, "the timer is not seen");
    clocks_after_fork(); /* thread 3's process is done with its timer */

    /* Later, once every clock above ran out. */
    t0 += 100 * MS;

    /* A generous wait (50 ms, longer than the window) is never aimed at,
     * and no hold may end within half its length of its deadline. */
    current = 1;
    clocks_wait_begin(1, t0, 50 * MS);
    v = view(2, t0);
    CHECK(v.deadline_ns == 0, "a generous wait is aimed at");
    CHECK(v.limit_ns == t0 + 25 * MS, "a generous wait's limit: %llu", (unsigned long long)v.limit_ns);
    CHECK(view(1, t0).limit_ns == UINT64_MAX, "a thread is limited by its own wait");
    clocks_wait_end();

    /* A timer is left to expire, and the process's next one replaces it. */
    clocks_timer(1, t0, 12 * MS);
    CHECK(view(2, t0).deadline_ns == t0 + 12 * MS, "a timer is not seen");
    clocks_timer(1, t0, 3 * MS);
    v = view(2, t0);
    CHECK(v.deadline_ns == t0 + 3 * MS, "a re-armed timer: %llu", (unsigned long long)v.deadline_ns);
    int pending = 0;
    for (unsigned i = 0; i < SCHED_CLOCKS; i++) pending += table[i].deadline_ns > t0;
    CHECK(pending == 1, "%d timers pending after a re-arm", pending);
    /* A timer is not a generous wait: a long one limits nothing. */
    clocks_timer(1, t0, 10000 * MS);
    CHECK(view(2, t0).limit_ns == UINT64_MAX, "a long timer limits holds");
    /* A forked child's timers are its own. */
    clocks_after_fork();
    clocks_timer(1, t0, 4 * MS);
    pending = 0;
    for (unsigned i = 0; i < SCHED_CLOCKS; i++) pending += table[i].deadline_ns > t0;
    CHECK(pending == 2, "a child's timer replaced its parent's (%d pending)", pending);

    /* A full table: the next clock is not recorded, nothing breaks. */
    for (unsigned i = 0; i < SCHED_CLOCKS; i++) table[i].deadline_ns = t0 + 100 * MS;
    current = 4;
    clocks_wait_begin(4, t0, 2 * MS);
    CHECK(!clocks_waiting(), "a wait recorded in a full table");
    clocks_wait_end();

    if (failures) return 1;
    printf("ok\n");
    return 0;
}
