/*
 * Reads and writes of pipes, sockets, FIFOs and anonymous descriptors
 * (not of regular files: hands_over tells), and the calls that close or
 * replace a descriptor (its cached kind is forgotten).
 */
#define _GNU_SOURCE
#include "core.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* --- pipes, sockets and other descriptors --------------------------------- */

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
