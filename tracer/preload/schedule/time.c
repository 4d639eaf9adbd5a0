/*
 * Sleeps and waits for signals. A sleep is a clock the program sets itself
 * ("after 1 ms the other thread will have started"): the schedule sees its
 * length (clock_seen) and may hold a thread before it. pause, sigsuspend
 * and the sigwait family wait for a signal from another thread or
 * process: held before (the window between a flag checked and the wait)
 * and sometimes after. sched_yield hands over by definition.
 */
#define _GNU_SOURCE
#include "core.h"

#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

REAL(nanosleep)
EXPORT int nanosleep(const struct timespec *t, struct timespec *rem) {
    clock_seen_ts(t);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_nanosleep, t, rem, 0, SLEEP, real_nanosleep()(t, rem));
}

REAL(clock_nanosleep)
EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *t, struct timespec *rem) {
    if (flags & TIMER_ABSTIME)
        clock_seen_until(clock, t);
    else
        clock_seen_ts(t);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_clock_nanosleep, clock, flags, t, SLEEP,
            real_clock_nanosleep()(clock, flags, t, rem));
}

REAL(usleep)
EXPORT int usleep(useconds_t us) {
    clock_seen((uint64_t)us * 1000);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_nanosleep, us, 0, 0, SLEEP, real_usleep()(us));
}

REAL(sleep)
EXPORT unsigned sleep(unsigned s) {
    clock_seen((uint64_t)s * 1000000000ULL);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_nanosleep, s, 0, 0, SLEEP, real_sleep()(s));
}

REAL(sched_yield)
EXPORT int sched_yield(void) { ON_CALL(SCHED_KIND_SYSCALL, SYS_sched_yield, 0, 0, 0, NO_WAIT, real_sched_yield()()); }

REAL(pause)
EXPORT int pause(void) { ON_CALL(SCHED_KIND_SYSCALL, SYS_pause, 0, 0, 0, MAY_WAIT, real_pause()()); }

REAL(sigsuspend)
EXPORT int sigsuspend(const sigset_t *mask) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_rt_sigsuspend, mask, 8, 0, MAY_WAIT, real_sigsuspend()(mask));
}

REAL(sigwait)
EXPORT int sigwait(const sigset_t *set, int *sig) {
    ON_CALL(SCHED_KIND_CALL, SCHED_SIGWAIT, set, sig, 0, MAY_WAIT, real_sigwait()(set, sig));
}

REAL(sigwaitinfo)
EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_rt_sigtimedwait, set, info, 0, MAY_WAIT, real_sigwaitinfo()(set, info));
}

REAL(sigtimedwait)
EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t) {
    clock_seen_ts(t);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_rt_sigtimedwait, set, info, t, t ? NO_WAIT : MAY_WAIT,
            real_sigtimedwait()(set, info, t));
}

/* Signals sent to oneself or a thread: the receiver may be another
 * thread that the signal wakes. */
REAL(raise)
EXPORT int raise(int sig) { ON_CALL(SCHED_KIND_SYSCALL, SYS_tgkill, 0, 0, sig, NOTIFY, real_raise()(sig)); }

REAL(sigqueue)
EXPORT int sigqueue(pid_t pid, int sig, const union sigval value) {
    ON_CALL(SCHED_KIND_CALL, SCHED_SIGQUEUE, pid, sig, 0, NOTIFY, real_sigqueue()(pid, sig, value));
}

REAL(pthread_sigqueue)
EXPORT int pthread_sigqueue(pthread_t t, int sig, const union sigval value) {
    ON_CALL(SCHED_KIND_CALL, SCHED_PTHREAD_SIGQUEUE, t, sig, 0, NOTIFY, real_pthread_sigqueue()(t, sig, value));
}

/* Timers the program arms: their period is a clock it assumes the other
 * side beats (the supervisor sees the system calls too). */
REAL(setitimer)
EXPORT int setitimer(__itimer_which_t which, const struct itimerval *value, struct itimerval *old) {
    if (value && value->it_value.tv_sec >= 0 && value->it_value.tv_usec >= 0)
        timer_seen((uint64_t)value->it_value.tv_sec * 1000000000ULL + (uint64_t)value->it_value.tv_usec * 1000);
    return real_setitimer()(which, value, old);
}

REAL(timer_settime)
EXPORT int timer_settime(timer_t timer, int flags, const struct itimerspec *value, struct itimerspec *old) {
    if (value && !(flags & TIMER_ABSTIME)) timer_seen_ts(&value->it_value);
    return real_timer_settime()(timer, flags, value, old);
}

REAL(alarm)
EXPORT unsigned alarm(unsigned s) {
    timer_seen((uint64_t)s * 1000000000ULL);
    return real_alarm()(s);
}

__attribute__((constructor)) static void time_resolve(void) {
    void *all[] = {
        (void *)real_nanosleep(), (void *)real_clock_nanosleep(), (void *)real_usleep(), (void *)real_sleep(),
        (void *)real_sched_yield(), (void *)real_pause(), (void *)real_sigsuspend(), (void *)real_sigwait(),
        (void *)real_sigwaitinfo(), (void *)real_sigtimedwait(), (void *)real_raise(), (void *)real_sigqueue(),
        (void *)real_pthread_sigqueue(), (void *)real_setitimer(), (void *)real_timer_settime(),
        (void *)real_alarm(),
    };
    (void)all;
}
