/*
 * The schedule's core (core.c), as the interposed functions use it: whether
 * the schedule acts on this thread, the hold before a call and after it,
 * and which descriptors are places where threads hand over. The wrappers
 * are written with SCHEDULED, ON_FD and ON_CALL.
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

/* The program set itself a clock of `ns` (a sleep, a timeout, a timer):
 * it assumes the other side is faster than that. Holds may then last up
 * to twice as long (CLOCK_HOLD_MAX at most, within the budget). */
void clock_seen(uint64_t ns);

/* clock_seen of a timespec (NULL: none). */
void clock_seen_ts(const struct timespec *t);

/* clock_seen of a timeout in milliseconds (poll's, epoll's; none if not
 * positive). */
void clock_seen_ms(int ms);

/* Whether descriptor `fd` is a place where threads hand over (a pipe,
 * FIFO, socket or anonymous object), cached until forget_fd. */
int hands_over(int fd);

/* `fd` was closed or replaced. */
void forget_fd(int fd);

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

/* A call on descriptor `fd` with two more arguments, held as the schedule
 * says when it is one where threads hand over. */
#define ON_FD(nr, fd, a1, a2, wait, call) \
    SCHEDULED(scheduled() && hands_over(fd), SCHED_KIND_SYSCALL, nr, wait, call, (long)(fd), (long)(a1), (long)(a2))

/* Any other scheduled call, with up to three arguments. */
#define ON_CALL(kind, nr, a0, a1, a2, wait, call) \
    SCHEDULED(scheduled(), kind, nr, wait, call, (long)(a0), (long)(a1), (long)(a2))

#endif
