/*
 * The program's pending clocks (clocks.c): the sleeps and timed waits its
 * threads are in and the timers it armed, in the run's shared region
 * (protocol/schedule.h's clock table), so that a hold in any process can
 * last until another thread's clock runs out. "Sleep 5 ms and the other
 * thread will have listened", "the write comes before the 12 ms timer":
 * the window of such a race closes when a clock of the program's own runs
 * out, so a hold that ends just after it opens the window whatever the
 * machine's speed.
 */
#ifndef FFC_SCHEDULE_CLOCKS_H
#define FFC_SCHEDULE_CLOCKS_H
#include <stdint.h>

#include "../protocol/schedule.h"

/* The region's clock table: the functions below do nothing until then. */
void clocks_attach(struct sched_clock *table);

/* In a forked child: its timers and waits are its own (a child inherits
 * neither its parent's timers nor its waits). */
void clocks_after_fork(void);

/* Thread `tid` starts to sleep or wait for at most `ns` at `now`: pending
 * until clocks_wait_end (or its deadline). */
void clocks_wait_begin(int32_t tid, uint64_t now, uint64_t ns);

/* Whether this thread has a wait pending (clocks_wait_begin). */
int clocks_waiting(void);

/* This thread's sleep or wait returned. */
void clocks_wait_end(void);

/* Thread `tid` armed a timer to fire `ns` after `now` (the process's last
 * timer replaces its previous one here). */
void clocks_timer(int32_t tid, uint64_t now, uint64_t ns);

/* What the other threads' clocks say at `now` to a hold of thread `tid`. */
struct clocks_view {
    /* The nearest deadline of another thread's clock no later than `within`
     * from now, and the clock's length (0: none). */
    uint64_t deadline_ns, length_ns;
    /* The latest a hold may end: the deadline of another thread's wait
     * longer than `generous`, less half its length (UINT64_MAX: none). A
     * thread that waits 50 ms for another to act is not made to see it
     * late: natively that never happens, and a hold that outlasts it
     * would be a false verdict. */
    uint64_t limit_ns;
};

void clocks_view(int32_t tid, uint64_t now, uint64_t within, uint64_t generous, struct clocks_view *v);

#endif
