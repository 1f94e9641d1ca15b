/* tunnel.c - relays bytes between two sockets until both directions end.
 * Each direction has one buffer: read from one side only when the buffer
 * is empty, write it to the other side; so a slow reader stops the fast
 * writer (backpressure) and memory stays at two buffers per tunnel. When a
 * side sends EOF, the other side gets shutdown(SHUT_WR) once the buffer is
 * flushed; the tunnel ends when both directions are shut. */
#include "tunnel.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "list.h"
#include "log.h"
#include "luxy.h"
#include "metrics.h"
#include "worker.h"

enum { CLIENT, BACKEND };

/* Bytes read from side[i] wait in flow[i] to be written to side[!i]. */
struct flow {
    struct buf buf;
    bool eof;      /* side[i] sent EOF */
    bool shut;     /* EOF passed on: side[!i] got shutdown(SHUT_WR) */
    uint64_t bytes;
};

struct side {
    struct transport tr;
    ev_io rio, wio;
};

struct tunnel {
    struct worker *w;
    struct side side[2];
    struct flow flow[2];
    ev_timer idle;
    struct list link;
    struct access_entry *log;   /* NULL: no access log */
    ev_tstamp started;
    bool closing;
};

static void on_io(struct ev_loop *loop, ev_io *io, int revents);
static void on_idle(struct ev_loop *loop, ev_timer *t, int revents);

static void tunnel_close(struct tunnel *t, const char *why)
{
    struct worker *w = t->w;
    if (t->log) {
        struct access_entry *e = t->log;
        e->time_ms = access_now_ms();
        e->tunnel_up = t->flow[CLIENT].bytes;
        e->tunnel_down = t->flow[BACKEND].bytes;
        e->duration = ev_now(w->loop) - t->started;
        e->tunnel_end = slice_make(why, strlen(why));
        access_log_write(e);
    }
    for (int i = 0; i < 2; i++) {
        ev_io_stop(w->loop, &t->side[i].rio);
        ev_io_stop(w->loop, &t->side[i].wio);
        transport_close(&t->side[i].tr);
        buf_release(&t->flow[i].buf, &w->bufs);
    }
    ev_timer_stop(w->loop, &t->idle);
    list_remove(&t->link);
    w->ntunnels--;
    gauge_add(&w->wm->tunnels_open, -1);
    metric_add(&w->wm->tunnel_up, t->flow[CLIENT].bytes);
    metric_add(&w->wm->tunnel_down, t->flow[BACKEND].bytes);
    free(t->log);
    free(t);
    worker_conn_gone(w);
}

static void seed(struct tunnel *t, int i, const char *p, size_t n)
{
    if (n == 0)
        return;
    struct buf *b = &t->flow[i].buf;
    buf_prepare(b, &t->w->bufs);
    if (n > b->cap)
        buf_grow(b, n);
    memcpy(b->data, p, n);
    b->start = 0;
    b->end = n;
}

/* Sets the watchers from the state: read a side when its flow is empty and
 * open; write a side when the flow towards it has bytes. */
static void update(struct tunnel *t)
{
    struct ev_loop *loop = t->w->loop;
    for (int i = 0; i < 2; i++) {
        struct flow *f = &t->flow[i];
        struct side *from = &t->side[i], *to = &t->side[!i];
        if (!f->eof && buf_len(&f->buf) == 0)
            ev_io_start(loop, &from->rio);
        else
            ev_io_stop(loop, &from->rio);
        if (buf_len(&f->buf) > 0)
            ev_io_start(loop, &to->wio);
        else
            ev_io_stop(loop, &to->wio);
    }
}

/* Writes flow i to side !i; passes EOF on once it is empty. Returns false
 * when the tunnel closed. */
static bool pump_out(struct tunnel *t, int i)
{
    struct flow *f = &t->flow[i];
    struct side *to = &t->side[!i];
    while (buf_len(&f->buf) > 0) {
        struct iovec v = { buf_head(&f->buf), buf_len(&f->buf) };
        ssize_t n = transport_writev(&to->tr, &v, 1, false);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            tunnel_close(t, i == CLIENT ? "backend write error" : "client write error");
            return false;
        }
        f->bytes += (size_t)n;
        buf_consume(&f->buf, &t->w->bufs, (size_t)n);
    }
    if (f->eof && !f->shut) {
        transport_shutdown_write(&to->tr);
        f->shut = true;
        if (t->flow[!i].shut) {
            tunnel_close(t, "closed");
            return false;
        }
    }
    return true;
}

/* Reads side i into flow i. Returns false when the tunnel closed. */
static bool pump_in(struct tunnel *t, int i)
{
    struct flow *f = &t->flow[i];
    size_t room = buf_prepare(&f->buf, &t->w->bufs);
    ssize_t n = transport_read(&t->side[i].tr, f->buf.data + f->buf.end, room);
    if (n > 0) {
        f->buf.end += (size_t)n;
        return pump_out(t, i);
    }
    if (n == 0) {
        f->eof = true;
        buf_release(&f->buf, &t->w->bufs);
        return pump_out(t, i);
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (buf_len(&f->buf) == 0)
            buf_release(&f->buf, &t->w->bufs);
        return true;
    }
    tunnel_close(t, i == CLIENT ? "client read error" : "backend read error");
    return false;
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)revents;
    struct tunnel *t = io->data;
    int s = (io == &t->side[CLIENT].rio || io == &t->side[CLIENT].wio) ? CLIENT : BACKEND;
    bool alive = (io->events & EV_READ) ? pump_in(t, s) : pump_out(t, !s);
    if (!alive)
        return;
    ev_timer_again(loop, &t->idle);
    update(t);
}

static void on_idle(struct ev_loop *loop, ev_timer *timer, int revents)
{
    (void)loop;
    (void)revents;
    tunnel_close(container_of(timer, struct tunnel, idle), "idle timeout");
}

void tunnel_start(struct worker *w, struct transport client, struct transport backend,
                  const char *to_backend, size_t to_backend_len, const char *to_client,
                  size_t to_client_len, const struct access_entry *entry, ev_tstamp started)
{
    struct tunnel *t = xcalloc(1, sizeof(*t));
    t->w = w;
    t->log = log_access_enabled() ? access_entry_copy(entry) : NULL;
    t->started = started;
    t->side[CLIENT].tr = client;
    t->side[BACKEND].tr = backend;
    for (int i = 0; i < 2; i++) {
        ev_io_init(&t->side[i].rio, on_io, t->side[i].tr.fd, EV_READ);
        ev_io_init(&t->side[i].wio, on_io, t->side[i].tr.fd, EV_WRITE);
        t->side[i].rio.data = t->side[i].wio.data = t;
    }
    seed(t, CLIENT, to_backend, to_backend_len);
    seed(t, BACKEND, to_client, to_client_len);
    ev_timer_init(&t->idle, on_idle, 0., worker_cfg(w)->timeouts.tunnel_idle);
    ev_timer_again(w->loop, &t->idle);
    list_insert_tail(&w->tunnels, &t->link);
    w->ntunnels++; /* before the connection it came from is closed */
    gauge_add(&w->wm->tunnels_open, 1);
    update(t);
}

void tunnel_close_all(struct worker *w)
{
    while (!list_empty(&w->tunnels))
        tunnel_close(container_of(list_first(&w->tunnels), struct tunnel, link), "shutdown");
}
