/*
 * Inter-process communication that is not a descriptor: System V message
 * queues and semaphores, POSIX message queues, POSIX semaphores (process-
 * shared or not) and eventfd's helpers, which glibc implements without
 * calling the interposed read and write. Receives and waits may wait for
 * another process; sends and posts hand over to it.
 */
#define _GNU_SOURCE
#include "core.h"

#include <dlfcn.h>
#include <mqueue.h>
#include <semaphore.h>
#include <sys/eventfd.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>

REAL(msgsnd)
EXPORT int msgsnd(int q, const void *msg, size_t size, int flags) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_msgsnd, q, msg, size, NOTIFY, real_msgsnd()(q, msg, size, flags));
}

REAL(msgrcv)
EXPORT ssize_t msgrcv(int q, void *msg, size_t size, long type, int flags) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_msgrcv, q, msg, size, flags & IPC_NOWAIT ? NO_WAIT : MAY_WAIT,
            real_msgrcv()(q, msg, size, type, flags));
}

/* Whether semop's operations may wait (one takes or waits for zero,
 * without IPC_NOWAIT); otherwise they only give, which wakes waiters. */
static enum wait sem_ops(const struct sembuf *ops, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ops[i].sem_op <= 0 && !(ops[i].sem_flg & IPC_NOWAIT)) return MAY_WAIT;
    return NOTIFY;
}

REAL(semop)
EXPORT int semop(int id, struct sembuf *ops, size_t n) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_semop, id, ops, n, sem_ops(ops, n), real_semop()(id, ops, n));
}

REAL(semtimedop)
EXPORT int semtimedop(int id, struct sembuf *ops, size_t n, const struct timespec *t) {
    clock_seen_ts(t);
    enum wait wait = sem_ops(ops, n);
    ON_CALL(SCHED_KIND_SYSCALL, SYS_semtimedop, id, ops, n, t && wait == MAY_WAIT ? NO_WAIT : wait,
            real_semtimedop()(id, ops, n, t));
}

REAL(mq_send)
EXPORT int mq_send(mqd_t q, const char *msg, size_t size, unsigned prio) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_mq_timedsend, q, msg, size, NOTIFY, real_mq_send()(q, msg, size, prio));
}

REAL(mq_timedsend)
EXPORT int mq_timedsend(mqd_t q, const char *msg, size_t size, unsigned prio, const struct timespec *t) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_mq_timedsend, q, msg, size, NOTIFY, real_mq_timedsend()(q, msg, size, prio, t));
}

REAL(mq_receive)
EXPORT ssize_t mq_receive(mqd_t q, char *msg, size_t size, unsigned *prio) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_mq_timedreceive, q, msg, size, MAY_WAIT, real_mq_receive()(q, msg, size, prio));
}

REAL(mq_timedreceive)
EXPORT ssize_t mq_timedreceive(mqd_t q, char *msg, size_t size, unsigned *prio, const struct timespec *t) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_mq_timedreceive, q, msg, size, NO_WAIT,
            real_mq_timedreceive()(q, msg, size, prio, t));
}

REAL(sem_wait)
EXPORT int sem_wait(sem_t *s) { ON_CALL(SCHED_KIND_CALL, SCHED_SEM_WAIT, s, 0, 0, MAY_WAIT, real_sem_wait()(s)); }

REAL(sem_timedwait)
EXPORT int sem_timedwait(sem_t *s, const struct timespec *t) {
    ON_CALL(SCHED_KIND_CALL, SCHED_SEM_TIMEDWAIT, s, t, 0, NO_WAIT, real_sem_timedwait()(s, t));
}

REAL(sem_post)
EXPORT int sem_post(sem_t *s) { ON_CALL(SCHED_KIND_CALL, SCHED_SEM_POST, s, 0, 0, NOTIFY, real_sem_post()(s)); }

REAL(eventfd_read)
EXPORT int eventfd_read(int fd, eventfd_t *value) {
    ON_CALL(SCHED_KIND_CALL, SCHED_EVENTFD_READ, fd, value, 0, MAY_WAIT, real_eventfd_read()(fd, value));
}

REAL(eventfd_write)
EXPORT int eventfd_write(int fd, eventfd_t value) {
    ON_CALL(SCHED_KIND_CALL, SCHED_EVENTFD_WRITE, fd, value, 0, NOTIFY, real_eventfd_write()(fd, value));
}

__attribute__((constructor)) static void ipc_resolve(void) {
    void *all[] = {
        (void *)real_msgsnd(),     (void *)real_msgrcv(),          (void *)real_semop(),
        (void *)real_semtimedop(), (void *)real_mq_send(),         (void *)real_mq_timedsend(),
        (void *)real_mq_receive(), (void *)real_mq_timedreceive(), (void *)real_sem_wait(),
        (void *)real_sem_timedwait(), (void *)real_sem_post(),     (void *)real_eventfd_read(),
        (void *)real_eventfd_write(),
    };
    (void)all;
}
