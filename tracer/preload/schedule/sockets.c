/*
 * Socket set-up, where a server and its clients hand over: a client that
 * connects after the socket's address exists but before listen() is
 * refused, one that connects before bind() finds nothing. Each step is a
 * place to hold (before it), connect and accept hand over both ways.
 */
#define _GNU_SOURCE
#include "core.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/syscall.h>

REAL(socket)
EXPORT int socket(int domain, int type, int protocol) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_socket, domain, type, protocol, NO_WAIT, real_socket()(domain, type, protocol));
}

REAL(bind)
EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_bind, fd, addr, len, NO_WAIT, real_bind()(fd, addr, len));
}

REAL(listen)
EXPORT int listen(int fd, int backlog) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_listen, fd, backlog, 0, NO_WAIT, real_listen()(fd, backlog));
}

REAL(accept)
EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_accept, fd, addr, len, MAY_WAIT, real_accept()(fd, addr, len));
}

REAL(accept4)
EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_accept4, fd, addr, len, MAY_WAIT, real_accept4()(fd, addr, len, flags));
}

REAL(connect)
EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_connect, fd, addr, len, NOTIFY, real_connect()(fd, addr, len));
}

REAL(shutdown)
EXPORT int shutdown(int fd, int how) {
    ON_CALL(SCHED_KIND_SYSCALL, SYS_shutdown, fd, how, 0, NOTIFY, real_shutdown()(fd, how));
}

__attribute__((constructor)) static void sockets_resolve(void) {
    void *all[] = {
        (void *)real_socket(), (void *)real_bind(),    (void *)real_listen(),  (void *)real_accept(),
        (void *)real_accept4(), (void *)real_connect(), (void *)real_shutdown(),
    };
    (void)all;
}
