/*
 * The schedule's core (core.c), as the interposed functions use it: whether
 * the schedule acts on this thread, the hold before a call and after it,
 * and the program's clocks and locks as the wrappers see them. The wrappers
 * are written with SCHEDULED and ON_CALL (fds.c adds ON_FD).
 */
#ifndef FFC_SCHEDULE_CORE_H
#define FFC_SCHEDULE_CORE_H
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "../base/base.h"
#include "../protocol/schedule.h"

/* What a call does to others: whether it may wait for another thread
 * (then this thread does not count as able to act meanwhile). */
enum wait {
    NO_WAIT = 0,
    MAY_WAIT = 1,
    /* The call may wake another thread or process (a write to a pipe, an
     * unlock, a post, a signal sent, a thread or process started): the
     * seed sometimes holds the caller after it, so the woken side runs
     * first. */
    NOTIFY = 2,
    /* A sleep: never held (that would only lengthen it); its clock
     * (clock_seen) is pending while it lasts. */
    SLEEP = 3,
};

/* Whether the schedule acts on this thread's calls. */
int scheduled(void);

/* Before a call: records it, holds the thread if the seed says so (and
 * the budget allows, and another thread can act meanwhile), and marks it
 * waiting for a call that may wait. Returns how long to hold it when the
 * call returns (0: not at all). */
uint64_t sched_before(uint32_t kind, int64_t nr, const long *args, enum wait wait);

/* After a call that may wait: the thread can act again, and is held if
 * `sched_before` said so. */
void sched_after(enum wait wait, uint64_t hold);

/* The program set itself a clock of `ns` for the thread's next scheduled
 * call (a sleep, a timeout): it assumes the other side is faster than
 * that. Holds may then last up to twice as long (CLOCK_HOLD_MAX at most,
 * within the budget), and while the call waits, another thread's hold
 * aimed at a window may last until the clock runs out (clocks.h). */
void clock_seen(uint64_t ns);

/* A thread or process of the test is being created (pthread_create,
 * fork, just before the call): a hold aimed at a window in an older
 * thread may wait a moment for the new one to set a clock. */
void sched_spawned(void);

/* This thread took (+1) or gave back (-1) a pthread mutex: a call inside
 * a critical section may be held across another thread's aimed hold. */
void sched_locks(int delta);

/* The program armed a timer to fire in `ns`: as clock_seen, and pending
 * in the clock table until it fires. */
void timer_seen(uint64_t ns);

/* clock_seen of a timespec (NULL: none). */
void clock_seen_ts(const struct timespec *t);

/* clock_seen of an absolute time `t` on `clock` (NULL or past: none). */
void clock_seen_until(clockid_t clock, const struct timespec *t);

/* timer_seen of a timespec (NULL: none). */
void timer_seen_ts(const struct timespec *t);

/* clock_seen of a timeout in milliseconds (poll's, epoll's; none if not
 * positive). */
void clock_seen_ms(int ms);

/* The body of a scheduled function: `call` (the real function), with the
 * schedule's `before` and `after` around it when `go` holds, recorded as
 * (kind, nr) with the arguments `...` (up to six). errno is the call's. */
#define SCHEDULED(go, kind, nr, wait, call, ...)                     \
    do {                                                             \
        if (!(go)) return call;                                      \
        long args_[6] = {__VA_ARGS__};                               \
        int saved_ = errno;                                          \
        uint64_t hold_ = sched_before(kind, nr, args_, wait);             \
        errno = saved_;                                              \
        __typeof__(call) r_ = call;                                  \
        saved_ = errno;                                              \
        sched_after(wait, hold_);                                          \
        errno = saved_;                                              \
        return r_;                                                   \
    } while (0)

/* Any other scheduled call, with up to three arguments. */
#define ON_CALL(kind, nr, a0, a1, a2, wait, call) \
    SCHEDULED(scheduled(), kind, nr, wait, call, (long)(a0), (long)(a1), (long)(a2))

#endif
