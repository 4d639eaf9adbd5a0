/*
 * Reads and writes of pipes, sockets, FIFOs and anonymous descriptors
 * (not of regular files: hands_over tells), and the calls that close or
 * replace a descriptor (its cached kind is forgotten).
 */
#define _GNU_SOURCE
#include "core.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../base/raw.h"

/* --- which descriptors hand over ----------------------------------------- */

/* Per descriptor: 0 unknown, 1 not a place where threads hand over (a
 * regular file, a directory, a device, stdio), 2 a pipe, FIFO, socket or
 * other anonymous object (eventfd, ...). */
#define FD_CACHED 4096
static uint8_t fd_kind[FD_CACHED];

/* Whether descriptor `fd` is a place where threads hand over (a pipe,
 * FIFO, socket or anonymous object), cached until forget_fd. */
static int hands_over(int fd) {
    if (fd <= 2) return 0;
    if (fd < FD_CACHED && fd_kind[fd]) return fd_kind[fd] == 2;
    struct stat st;
    if (raw_syscall6(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) != 0) return 0;
    mode_t type = st.st_mode & S_IFMT;
    int yes = type == S_IFIFO || type == S_IFSOCK || type == 0;
    if (fd < FD_CACHED) fd_kind[fd] = yes ? 2 : 1;
    return yes;
}

/* `fd` was closed or replaced. */
static void forget_fd(int fd) {
    if (fd >= 0 && fd < FD_CACHED) fd_kind[fd] = 0;
}

/* --- pipes, sockets and other descriptors --------------------------------- */

/* A call on descriptor `fd` with two more arguments, held as the schedule
 * says when it is one where threads hand over. */
#define ON_FD(nr, fd, a1, a2, wait, call) \
    SCHEDULED(scheduled() && hands_over(fd), SCHED_KIND_SYSCALL, nr, wait, call, (long)(fd), (long)(a1), (long)(a2))

REAL(read)
EXPORT ssize_t read(int fd, void *buf, size_t n) { ON_FD(SYS_read, fd, buf, n, MAY_WAIT, real_read()(fd, buf, n)); }

REAL(write)
EXPORT ssize_t write(int fd, const void *buf, size_t n) {
    ON_FD(SYS_write, fd, buf, n, NOTIFY, real_write()(fd, buf, n));
}

REAL(readv)
EXPORT ssize_t readv(int fd, const struct iovec *v, int n) {
    ON_FD(SYS_readv, fd, v, n, MAY_WAIT, real_readv()(fd, v, n));
}

REAL(writev)
EXPORT ssize_t writev(int fd, const struct iovec *v, int n) {
    ON_FD(SYS_writev, fd, v, n, NOTIFY, real_writev()(fd, v, n));
}

REAL(recv)
EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags) {
    ON_FD(SYS_recvfrom, fd, buf, n, MAY_WAIT, real_recv()(fd, buf, n, flags));
}

REAL(recvfrom)
EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *len) {
    ON_FD(SYS_recvfrom, fd, buf, n, MAY_WAIT, real_recvfrom()(fd, buf, n, flags, from, len));
}

REAL(recvmsg)
EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags) {
    ON_FD(SYS_recvmsg, fd, m, flags, MAY_WAIT, real_recvmsg()(fd, m, flags));
}

REAL(send)
EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags) {
    ON_FD(SYS_sendto, fd, buf, n, NOTIFY, real_send()(fd, buf, n, flags));
}

REAL(sendto)
EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to, socklen_t len) {
    ON_FD(SYS_sendto, fd, buf, n, NOTIFY, real_sendto()(fd, buf, n, flags, to, len));
}

REAL(sendmsg)
EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
    ON_FD(SYS_sendmsg, fd, m, flags, NOTIFY, real_sendmsg()(fd, m, flags));
}

REAL(close)
EXPORT int close(int fd) {
    forget_fd(fd);
    return real_close()(fd);
}

REAL(dup2)
EXPORT int dup2(int old, int new) {
    forget_fd(new);
    return real_dup2()(old, new);
}

REAL(dup3)
EXPORT int dup3(int old, int new, int flags) {
    forget_fd(new);
    return real_dup3()(old, new, flags);
}

/* Finds every real function at start, so that no wrapper calls dlsym
 * later (not async-signal-safe: a wrapper may run in a signal handler). */
__attribute__((constructor)) static void fds_resolve(void) {
    void *all[] = {(void *)real_read(), (void *)real_write(), (void *)real_readv(), (void *)real_writev(), (void *)real_recv(), (void *)real_recvfrom(), (void *)real_recvmsg(), (void *)real_send(), (void *)real_sendto(), (void *)real_sendmsg(), (void *)real_close(), (void *)real_dup2(), (void *)real_dup3()};
    (void)all;
}
