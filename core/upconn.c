/* upconn.c - backend connections: non-blocking connect, the idle pool.
 * The pool is a small hash of buckets, one per address, each a list of idle
 * connections (most recent first: warm ones are reused), plus one LRU list
 * over all of them so the worker-wide cap evicts the coldest. */
#include "upconn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "luxy.h"
#include "metrics.h"
#include "worker.h"

#define POOL_HASH 256

struct pool_bucket {
    union sockaddr_u addr;
    struct list idle;         /* upconn.bucket_link, newest first */
    unsigned n;
    struct pool_bucket *next; /* hash chain */
};

struct upconn_pool {
    struct worker *w;
    struct pool_bucket *hash[POOL_HASH];
    struct list lru;          /* upconn.lru_link, oldest first */
    unsigned idle, max_idle;
};

static void on_io(struct ev_loop *loop, ev_io *io, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *t, int revents);

struct upconn_pool *upconn_pool_new(struct worker *w, unsigned max_idle)
{
    struct upconn_pool *p = xcalloc(1, sizeof(*p));
    p->w = w;
    p->max_idle = max_idle;
    list_init(&p->lru);
    return p;
}

void upconn_pool_free(struct upconn_pool *p)
{
    if (p == NULL)
        return;
    while (!list_empty(&p->lru))
        upconn_close(container_of(list_first(&p->lru), struct upconn, lru_link));
    free(p);
}

unsigned upconn_pool_idle(const struct upconn_pool *p)
{
    return p->idle;
}

static struct pool_bucket **bucket_slot(struct upconn_pool *p, const union sockaddr_u *a);

unsigned upconn_pool_drop(struct worker *w, const union sockaddr_u *addr)
{
    struct pool_bucket *b = *bucket_slot(w->pool, addr);
    unsigned n = 0;
    while (b) { /* the last close frees the bucket */
        unsigned left = b->n;
        upconn_close(container_of(list_first(&b->idle), struct upconn, bucket_link));
        n++;
        if (left == 1)
            break;
    }
    return n;
}

static unsigned addr_hash(const union sockaddr_u *a)
{
    const uint8_t *b;
    size_t n;
    if (a->sa.sa_family == AF_INET6)
        b = (const uint8_t *)&a->in6.sin6_addr, n = 16;
    else
        b = (const uint8_t *)&a->in.sin_addr, n = 4;
    unsigned h = 2166136261u ^ addr_port(a);
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h % POOL_HASH;
}

static struct pool_bucket **bucket_slot(struct upconn_pool *p, const union sockaddr_u *a)
{
    struct pool_bucket **slot = &p->hash[addr_hash(a)];
    while (*slot && !addr_equal(&(*slot)->addr, a))
        slot = &(*slot)->next;
    return slot;
}

static void setup(struct upconn *uc, struct worker *w, int fd, const union sockaddr_u *addr)
{
    memset(uc, 0, sizeof(*uc));
    uc->w = w;
    transport_tcp(&uc->tr, fd);
    uc->addr = *addr;
    ev_io_init(&uc->rio, on_io, fd, EV_READ);
    ev_io_init(&uc->wio, on_io, fd, EV_WRITE);
    ltimer_init(&uc->timer, on_timer);
    outq_init(&uc->out);
}

struct upconn *upconn_connect(struct worker *w, const union sockaddr_u *addr, upconn_cb cb,
                              void *owner)
{
    int fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, &addr->sa, addr_len(addr)) == -1 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    struct upconn *uc = xmalloc(sizeof(*uc));
    setup(uc, w, fd, addr);
    gauge_add(&w->wm->backend_open, 1);
    uc->on_event = cb;
    uc->owner = owner;
    ev_io_start(w->loop, &uc->wio); /* writable = connected (or failed) */
    return uc;
}

int upconn_socket_error(struct upconn *uc)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(uc->tr.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        return errno;
    return err;
}

static void unlink_idle(struct upconn *uc)
{
    struct upconn_pool *p = uc->w->pool;
    struct pool_bucket *b = uc->bucket;
    list_remove(&uc->bucket_link);
    list_remove(&uc->lru_link);
    uc->bucket = NULL;
    p->idle--;
    gauge_add(&uc->w->wm->pool_idle, -1);
    if (--b->n == 0) {
        struct pool_bucket **slot = bucket_slot(p, &b->addr);
        *slot = b->next;
        free(b);
    }
}

struct upconn *upconn_pool_take(struct worker *w, const union sockaddr_u *addr, upconn_cb cb,
                                void *owner)
{
    struct pool_bucket *b = *bucket_slot(w->pool, addr);
    if (b == NULL)
        return NULL;
    struct upconn *uc = container_of(list_first(&b->idle), struct upconn, bucket_link);
    unlink_idle(uc);
    ev_io_stop(w->loop, &uc->rio);
    /* the idle timeout stops lazily: libev's timer keeps running for
     * whatever timeout the new owner sets next (upconn_timeout) */
    ltimer_stop(&uc->timer);
    uc->on_event = cb;
    uc->owner = owner;
    uc->reused = true;
    return uc;
}

void upconn_release(struct upconn *uc, unsigned max_per_addr, double idle_timeout)
{
    struct worker *w = uc->w;
    struct upconn_pool *p = w->pool;
    ev_io_stop(w->loop, &uc->wio);
    /* rio stays as it is: pooled, it watches for EOF (started below), and
     * upconn_close stops it */
    ltimer_stop(&uc->timer);
    if (buf_len(&uc->in) > 0 || !outq_empty(&uc->out) || max_per_addr == 0 || w->stopping) {
        upconn_close(uc); /* leftover bytes: the stream is out of step */
        return;
    }
    buf_release(&uc->in, &w->bufs);
    struct pool_bucket **slot = bucket_slot(p, &uc->addr);
    struct pool_bucket *b = *slot;
    if (b && b->n >= max_per_addr) {
        upconn_close(uc);
        return;
    }
    if (p->max_idle == 0) {
        upconn_close(uc);
        return;
    }
    /* Evict before taking the bucket: the coldest connection may be the
     * last one of this very bucket, and unlinking it frees the bucket. */
    if (p->idle >= p->max_idle) {
        upconn_close(container_of(list_first(&p->lru), struct upconn, lru_link));
        slot = bucket_slot(p, &uc->addr); /* the chain may have changed */
    }
    if ((b = *slot) == NULL) {
        b = xcalloc(1, sizeof(*b));
        b->addr = uc->addr;
        list_init(&b->idle);
        *slot = b;
    }
    uc->on_event = NULL;
    uc->owner = NULL;
    uc->reused = false;
    uc->bucket = b;
    b->n++;
    p->idle++;
    gauge_add(&w->wm->pool_idle, 1);
    list_insert_head(&b->idle, &uc->bucket_link);
    list_insert_tail(&p->lru, &uc->lru_link);
    ev_io_start(w->loop, &uc->rio); /* EOF or stray bytes: close it */
    ltimer_arm(w->loop, &uc->timer, idle_timeout);
}

void upconn_close(struct upconn *uc)
{
    struct worker *w = uc->w;
    if (uc->bucket)
        unlink_idle(uc);
    ev_io_stop(w->loop, &uc->rio);
    ev_io_stop(w->loop, &uc->wio);
    ltimer_cancel(w->loop, &uc->timer);
    transport_close(&uc->tr);
    buf_release(&uc->in, &w->bufs);
    outq_free(&uc->out);
    gauge_add(&w->wm->backend_open, -1);
    free(uc);
}

struct transport upconn_detach(struct upconn *uc)
{
    struct transport t = transport_take(&uc->tr);
    upconn_close(uc);
    return t;
}

void upconn_want_read(struct upconn *uc, bool on)
{
    if (on)
        ev_io_start(uc->w->loop, &uc->rio);
    else
        ev_io_stop(uc->w->loop, &uc->rio);
}

void upconn_want_write(struct upconn *uc, bool on)
{
    if (on)
        ev_io_start(uc->w->loop, &uc->wio);
    else
        ev_io_stop(uc->w->loop, &uc->wio);
}

void upconn_timeout(struct upconn *uc, double seconds)
{
    if (seconds <= 0)
        ltimer_stop(&uc->timer);
    else
        ltimer_arm(uc->w->loop, &uc->timer, seconds);
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    struct upconn *uc = io->events & EV_READ ? container_of(io, struct upconn, rio)
                                             : container_of(io, struct upconn, wio);
    if (uc->bucket) {
        /* idle: the backend closed it (normal) or sent something unasked */
        char byte, peer[ADDR_STRLEN];
        if (transport_read(&uc->tr, &byte, 1) > 0) { /* it is closed either way */
            addr_format(&uc->addr, peer, sizeof(peer), true);
            log_warn("backend %s sent data on an idle connection; closed it", peer);
        } else {
            log_debug("idle backend connection closed by peer");
        }
        upconn_close(uc);
        return;
    }
    uc->on_event(uc, revents & (EV_READ | EV_WRITE));
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct upconn *uc = container_of(t, struct upconn, timer.w);
    if (!ltimer_expired(loop, &uc->timer))
        return; /* stopped, or moved later since it was started */
    if (uc->bucket) {
        upconn_close(uc); /* idle too long */
        return;
    }
    uc->on_event(uc, EV_TIMER);
}
