/* transport_tcp.c - the transport over a plain TCP socket: recv, sendmsg
 * (MSG_MORE when more follows, never SIGPIPE), shutdown(SHUT_WR). Pushing
 * what MSG_MORE held back is done by setting TCP_NODELAY again, which
 * sends pending frames at once. */
#include "transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t tcp_read(struct transport *t, void *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(t->fd, buf, len, 0);
    while (n == -1 && errno == EINTR);
    return n;
}

static ssize_t tcp_writev(struct transport *t, const struct iovec *iov, int n, bool more)
{
    struct msghdr m = { 0 };
    m.msg_iov = (struct iovec *)iov;
    m.msg_iovlen = (size_t)n;
    int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0);
    ssize_t w;
    do
        w = sendmsg(t->fd, &m, flags);
    while (w == -1 && errno == EINTR);
    return w;
}

static void tcp_push(struct transport *t)
{
    int one = 1;
    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int tcp_shutdown_write(struct transport *t)
{
    return shutdown(t->fd, SHUT_WR);
}

static size_t tcp_pending(const struct transport *t)
{
    (void)t;
    return 0;
}

static void tcp_close(struct transport *t)
{
    close(t->fd);
}

static const struct transport_ops tcp_ops = {
    "tcp", tcp_read, tcp_writev, tcp_push, tcp_shutdown_write, tcp_pending, tcp_close,
};

void transport_tcp(struct transport *t, int fd)
{
    t->ops = &tcp_ops;
    t->fd = fd;
}
