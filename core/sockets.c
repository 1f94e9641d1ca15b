/* sockets.c - see sockets.h. */
#include "sockets.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sockets_open(const struct listener_config *l, char *err, size_t errlen)
{
    int fd = socket(l->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "listen %s: socket: %s", l->spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (l->addr.sa.sa_family == AF_INET6) /* "[::]" means IPv6 only: say 0.0.0.0 too if wanted */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, &l->addr.sa, addr_len(&l->addr)) == -1 || listen(fd, l->backlog) == -1) {
        snprintf(err, errlen, "cannot listen on %s: %s", l->spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A port that is taken by another program must fail: with SO_REUSEPORT a
 * second luxy would silently share it. The first socket probes without it. */
int sockets_probe(const struct listener_config *l, char *err, size_t errlen)
{
    int fd = socket(l->addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l->addr.sa.sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(fd, &l->addr.sa, addr_len(&l->addr));
    int e = errno;
    close(fd);
    if (rc == -1) {
        snprintf(err, errlen, "cannot listen on %s: %s", l->spec, strerror(e));
        return -1;
    }
    return 0;
}

