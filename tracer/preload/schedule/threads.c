/*
 * Threads and processes starting and ending: pthread_create (the new
 * thread's first moment and the creator's return are both places to hold:
 * either may go first), pthread_join, reader-writer locks and barriers,
 * fork (the child or the parent goes first, as the seed says: the
 * supervisor stopping the child at its start must not always favour the
 * parent), posix_spawn (std's Command; the new process may go first) and
 * execve (the program slow to replace itself). vfork is not wrapped: its
 * child runs on the parent's stack, where a wrapper's frame is gone.
 */
#define _GNU_SOURCE
#include "core.h"

#include <dlfcn.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

/* New threads' start routines and arguments, handed to the trampoline
 * without allocating: a slot is taken by pthread_create and given back by
 * the new thread as it starts. When every slot is taken (more than this
 * many threads starting at once) a thread starts unwrapped. */
#define STARTS 256
static struct start {
    void *(*routine)(void *);
    void *arg;
    int taken;
} starts[STARTS];

static struct start *take_start(void *(*routine)(void *), void *arg) {
    for (int i = 0; i < STARTS; i++) {
        int free = 0;
        if (__atomic_compare_exchange_n(&starts[i].taken, &free, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            starts[i].routine = routine;
            starts[i].arg = arg;
            return &starts[i];
        }
    }
    return NULL;
}

/* A new thread's first moment: a place to hold it, so that the creator
 * (or another thread) runs first. */
static void *trampoline(void *p) {
    struct start *s = p;
    void *(*routine)(void *) = s->routine;
    void *arg = s->arg;
    __atomic_store_n(&s->taken, 0, __ATOMIC_RELEASE);
    if (scheduled()) {
        long args[6] = {(long)routine, (long)arg};
        int saved = errno;
        sched_before(SCHED_KIND_CALL, SCHED_THREAD_START, args, NO_WAIT);
        errno = saved;
    }
    return routine(arg);
}

REAL(pthread_create)
EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*routine)(void *), void *arg) {
    struct start *s = scheduled() ? take_start(routine, arg) : NULL;
    if (!s) return real_pthread_create()(t, attr, routine, arg);
    long args[6] = {(long)t, (long)routine, (long)arg};
    int saved = errno;
    uint64_t hold = sched_before(SCHED_KIND_CALL, SCHED_PTHREAD_CREATE, args, NOTIFY);
    sched_spawned();
    errno = saved;
    int r = real_pthread_create()(t, attr, trampoline, s);
    if (r != 0) __atomic_store_n(&s->taken, 0, __ATOMIC_RELEASE);
    /* The new thread may go first. */
    sched_after(NOTIFY, r == 0 ? hold : 0);
    errno = saved;
    return r;
}

REAL(pthread_join)
EXPORT int pthread_join(pthread_t t, void **result) {
    ON_CALL(SCHED_KIND_CALL, SCHED_PTHREAD_JOIN, t, result, 0, MAY_WAIT, real_pthread_join()(t, result));
}

REAL(pthread_rwlock_rdlock)
EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l) {
    ON_CALL(SCHED_KIND_CALL, SCHED_RWLOCK_RDLOCK, l, 0, 0, MAY_WAIT, real_pthread_rwlock_rdlock()(l));
}

REAL(pthread_rwlock_wrlock)
EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l) {
    ON_CALL(SCHED_KIND_CALL, SCHED_RWLOCK_WRLOCK, l, 0, 0, MAY_WAIT, real_pthread_rwlock_wrlock()(l));
}

REAL(pthread_rwlock_unlock)
EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *l) {
    ON_CALL(SCHED_KIND_CALL, SCHED_RWLOCK_UNLOCK, l, 0, 0, NOTIFY, real_pthread_rwlock_unlock()(l));
}

REAL(pthread_barrier_wait)
EXPORT int pthread_barrier_wait(pthread_barrier_t *b) {
    ON_CALL(SCHED_KIND_CALL, SCHED_BARRIER_WAIT, b, 0, 0, MAY_WAIT, real_pthread_barrier_wait()(b));
}

REAL(fork)
EXPORT pid_t fork(void) {
    if (!scheduled()) return real_fork()();
    long args[6] = {0};
    int saved = errno;
    uint64_t hold = sched_before(SCHED_KIND_SYSCALL, SYS_fork, args, NOTIFY);
    sched_spawned();
    errno = saved;
    pid_t pid = real_fork()();
    saved = errno;
    /* One side is held, the seed says which (a bit of the hold's length):
     * the other goes first. */
    int child_waits = (hold >> 10) & 1;
    if (pid >= 0 && (pid == 0) == child_waits) sched_after(NOTIFY, hold);
    errno = saved;
    return pid;
}

/* A process started by posix_spawn or posix_spawnp (`spawn`): held
 * before, as any first call may be, and the new process may go first. */
static int spawned(int (*spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                                const posix_spawnattr_t *, char *const[], char *const[]),
                   pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                   const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
    if (!scheduled()) return spawn(pid, path, actions, attr, argv, envp);
    long args[6] = {(long)pid, (long)path};
    int saved = errno;
    uint64_t hold = sched_before(SCHED_KIND_CALL, SCHED_POSIX_SPAWN, args, NOTIFY);
    sched_spawned();
    errno = saved;
    int r = spawn(pid, path, actions, attr, argv, envp);
    saved = errno;
    sched_after(NOTIFY, r == 0 ? hold : 0);
    errno = saved;
    return r;
}

REAL(posix_spawn)
EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
    return spawned(real_posix_spawn(), pid, path, actions, attr, argv, envp);
}

REAL(posix_spawnp)
EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
    return spawned(real_posix_spawnp(), pid, file, actions, attr, argv, envp);
}

REAL(execve)
EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_execve, path, argv, envp, NO_WAIT, real_execve()(path, argv, envp));
}

__attribute__((constructor)) static void threads_resolve(void) {
    void *all[] = {
        (void *)real_pthread_create(),        (void *)real_pthread_join(),
        (void *)real_pthread_rwlock_rdlock(), (void *)real_pthread_rwlock_wrlock(),
        (void *)real_pthread_rwlock_unlock(), (void *)real_pthread_barrier_wait(),
        (void *)real_fork(),                  (void *)real_posix_spawn(),
        (void *)real_posix_spawnp(),          (void *)real_execve(),
    };
    (void)all;
}
