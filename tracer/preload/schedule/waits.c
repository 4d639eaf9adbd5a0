/*
 * Waits for readiness (poll, select, epoll), for children (the wait
 * family), and signals sent to others.
 */
#define _GNU_SOURCE
#include "core.h"

#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* --- readiness ------------------------------------------------------------ */

REAL(poll)
EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout) {
    clock_seen_ms(timeout);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_poll, fds, n, timeout, timeout < 0 ? MAY_WAIT : NO_WAIT,
            real_poll()(fds, n, timeout));
}

REAL(ppoll)
EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask) {
    clock_seen_ts(t);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_ppoll, fds, n, t, t ? NO_WAIT : MAY_WAIT, real_ppoll()(fds, n, t, mask));
}

REAL(select)
EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *x, struct timeval *t) {
    if (t && t->tv_sec >= 0 && t->tv_usec >= 0) clock_seen((uint64_t)t->tv_sec * 1000000000ULL + (uint64_t)t->tv_usec * 1000);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_select, n, r, w, t ? NO_WAIT : MAY_WAIT, real_select()(n, r, w, x, t));
}

REAL(epoll_wait)
EXPORT int epoll_wait(int ep, struct epoll_event *ev, int n, int timeout) {
    clock_seen_ms(timeout);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_epoll_wait, ep, ev, n, timeout < 0 ? MAY_WAIT : NO_WAIT,
            real_epoll_wait()(ep, ev, n, timeout));
}

REAL(epoll_pwait)
EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int n, int timeout, const sigset_t *mask) {
    clock_seen_ms(timeout);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_epoll_pwait, ep, ev, n, timeout < 0 ? MAY_WAIT : NO_WAIT,
            real_epoll_pwait()(ep, ev, n, timeout, mask));
}

/* --- processes and signals ------------------------------------------------- */

REAL(waitpid)
EXPORT pid_t waitpid(pid_t pid, int *status, int options) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_wait4, pid, status, options, options & WNOHANG ? NO_WAIT : MAY_WAIT,
            real_waitpid()(pid, status, options));
}

REAL(wait4)
EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_wait4, pid, status, options, options & WNOHANG ? NO_WAIT : MAY_WAIT,
            real_wait4()(pid, status, options, usage));
}

REAL(waitid)
EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int options) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_waitid, type, id, options, options & WNOHANG ? NO_WAIT : MAY_WAIT,
            real_waitid()(type, id, info, options));
}

REAL(kill)
EXPORT int kill(pid_t pid, int sig) { ON_CALL(SCHED_KIND_SYSCALL, SYS_kill, pid, sig, 0, NOTIFY, real_kill()(pid, sig)); }

REAL(pthread_kill)
EXPORT int pthread_kill(pthread_t t, int sig) {
    ON_CALL(SCHED_KIND_CALL, SCHED_PTHREAD_KILL, t, sig, 0, NOTIFY, real_pthread_kill()(t, sig));
}

/* Finds every real function at start, so that no wrapper calls dlsym
 * later (not async-signal-safe: a wrapper may run in a signal handler). */
__attribute__((constructor)) static void waits_resolve(void) {
    void *all[] = {(void *)real_poll(), (void *)real_ppoll(), (void *)real_select(), (void *)real_epoll_wait(), (void *)real_epoll_pwait(), (void *)real_waitpid(), (void *)real_wait4(), (void *)real_waitid(), (void *)real_kill(), (void *)real_pthread_kill()};
    (void)all;
}
