/* transport.h - the one door to a socket. Every byte luxy reads from or
 * writes to a client or a backend goes through these calls (conn.c,
 * upconn.c, tunnel.c, buf.c's outq_flush), so that TLS can slide in under
 * them without hits, fills, pipes or tunnels changing. Plain TCP is the
 * only kind today (transport_tcp.c). The fd stays visible: readiness is
 * still watched with ev_io on it. */
#ifndef LUXY_TRANSPORT_H
#define LUXY_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct transport;

struct transport_ops {
    const char *name;
    /* Like recv: bytes read, 0 at end of stream, -1 with errno (EAGAIN:
     * nothing now). */
    ssize_t (*read)(struct transport *t, void *buf, size_t len);
    /* Writes from iov[0..n): bytes taken, or -1 with errno (EAGAIN: the
     * socket is full). more: more bytes follow at once, so a partial
     * packet may be held back. */
    ssize_t (*writev)(struct transport *t, const struct iovec *iov, int n, bool more);
    /* Sends what an earlier `more` held back. */
    void (*push)(struct transport *t);
    /* No more bytes will be written (a half-close). */
    int (*shutdown_write)(struct transport *t);
    /* Bytes already received and held inside the transport, not yet read
     * (a TLS layer's decrypted records): a reader must not wait for the fd
     * to become readable while this is above 0. Always 0 for TCP. */
    size_t (*pending)(const struct transport *t);
    /* Closes the socket. */
    void (*close)(struct transport *t);
};

struct transport {
    const struct transport_ops *ops;
    int fd;         /* -1 once closed or handed over */
};

/* A plain TCP transport on fd (already non-blocking). */
void transport_tcp(struct transport *t, int fd);

static inline ssize_t transport_read(struct transport *t, void *buf, size_t len)
{
    return t->ops->read(t, buf, len);
}
static inline ssize_t transport_writev(struct transport *t, const struct iovec *iov, int n, bool more)
{
    return t->ops->writev(t, iov, n, more);
}
static inline void transport_push(struct transport *t)
{
    t->ops->push(t);
}
static inline int transport_shutdown_write(struct transport *t)
{
    return t->ops->shutdown_write(t);
}
static inline size_t transport_pending(const struct transport *t)
{
    return t->ops->pending(t);
}
/* Closes it; harmless on one that is closed or handed over. */
static inline void transport_close(struct transport *t)
{
    if (t->fd != -1)
        t->ops->close(t);
    t->fd = -1;
}
/* Gives the transport away (to a tunnel): this copy no longer closes it. */
static inline struct transport transport_take(struct transport *t)
{
    struct transport out = *t;
    t->fd = -1;
    return out;
}

#endif
