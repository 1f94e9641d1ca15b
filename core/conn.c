/* conn.c - client connections: accept, read heads, write responses, time
 * out, close. The exchange itself is request.c's; this file only moves
 * bytes and decides when a new head may be read. */
#include "conn.h"
#include "decide.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "generation.h"
#include "log.h"
#include "luxy.h"
#include "metrics.h"
#include "request.h"
#include "worker.h"

static void on_read(struct ev_loop *loop, ev_io *io, int revents);
static void on_write(struct ev_loop *loop, ev_io *io, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *t, int revents);

void conn_accept(struct worker *w, const struct listener_config *lc, int fd,
                 const union sockaddr_u *peer)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->w = w;
    c->gen = w->gen;
    generation_hold(c->gen);
    c->lc = lc;
    transport_tcp(&c->tr, fd);
    c->peer = *peer;
    c->peer_ip_len = addr_format(peer, c->peer_ip, sizeof(c->peer_ip), false);
    c->denied = !decide_client_allowed(lc, peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    ltimer_init(&c->timer, on_timer);
    outq_init(&c->out);
    list_insert_tail(&w->conns, &c->link);
    w->nconns++;
    gauge_add(&w->wm->conns_open, 1);
    metric_add(&w->wm->conns_accepted, 1);
    if (c->denied)
        metric_add(&w->wm->conns_denied, 1);
    ev_io_start(w->loop, &c->rio);
    conn_timer(c, CT_HEADER);
}

static void conn_free(struct conn *c)
{
    struct worker *w = c->w;
    buf_release(&c->in, &w->bufs);
    outq_free(&c->out);
    generation_release(c->gen);
    free(c);
    worker_conn_gone(w);
}

void conn_adopt_current(struct conn *c)
{
    struct generation *now = c->w->gen;
    if (c->gen == now || c->orphan)
        return;
    for (unsigned i = 0; i < now->cfg->nlisteners; i++) {
        if (addr_equal(&now->cfg->listeners[i].addr, &c->lc->addr)) {
            struct generation *old = c->gen;
            generation_hold(now);
            c->gen = now;
            c->lc = &now->cfg->listeners[i];
            c->denied = !decide_client_allowed(c->lc, &c->peer);
            generation_release(old);
            return;
        }
    }
    c->orphan = true;
}

void conn_release(struct conn *c)
{
    if (--c->refs == 0 && c->closing)
        conn_free(c);
}

void conn_close(struct conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    log_debug("client %s: closing: %s", c->peer_ip, why);
    if (c->req) {
        struct request *r = c->req;
        c->req = NULL;
        request_client_gone(r, why);
    }
    struct ev_loop *loop = c->w->loop;
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ltimer_cancel(loop, &c->timer);
    transport_close(&c->tr);
    list_remove(&c->link);
    c->w->nconns--;
    gauge_add(&c->w->wm->conns_open, -1);
    if (c->refs == 0)
        conn_free(c);
}

struct transport conn_detach(struct conn *c)
{
    ev_io_stop(c->w->loop, &c->rio);
    ev_io_stop(c->w->loop, &c->wio);
    return transport_take(&c->tr);
}

void conn_timer(struct conn *c, enum conn_timer kind)
{
    const struct timeouts_config *t = &c->gen->cfg->timeouts;
    /* idle and header deadlines are fixed: bytes trickling in do not extend
     * them (slowloris); body and send timeouts measure silence instead */
    if (kind == c->timer_kind && (kind == CT_IDLE || kind == CT_HEADER))
        return;
    c->timer_kind = kind;
    double s = 0;
    switch (kind) {
    case CT_NONE:
        ltimer_stop(&c->timer);
        return;
    case CT_IDLE:
        s = t->client_idle;
        break;
    case CT_HEADER:
        s = t->client_header;
        break;
    case CT_BODY:
        s = t->client_body;
        break;
    case CT_SEND:
        s = t->send;
        break;
    }
    ltimer_arm(c->w->loop, &c->timer, s);
}

int conn_flush(struct conn *c, bool more)
{
    if (c->closing)
        return -1;
    int rc = outq_flush(&c->out, &c->tr, more);
    c->corked = more && rc == 1;
    if (rc == 1) {
        ev_io_stop(c->w->loop, &c->wio);
        if (c->timer_kind == CT_SEND)
            conn_timer(c, CT_NONE);
        return 1;
    }
    if (rc == 0) {
        ev_io_start(c->w->loop, &c->wio);
        conn_timer(c, CT_SEND); /* re-armed on every partial write */
        return 0;
    }
    log_debug("client %s: write failed: %s", c->peer_ip, strerror(errno));
    return -1;
}

void conn_want_write(struct conn *c)
{
    if (!c->closing)
        ev_io_start(c->w->loop, &c->wio); /* writable at once: on_write drains nothing and goes on */
}

void conn_uncork(struct conn *c)
{
    if (!c->corked || c->tr.fd == -1)
        return;
    transport_push(&c->tr);
    c->corked = false;
}

void conn_read_pause(struct conn *c)
{
    c->read_blocked = true;
    ev_io_stop(c->w->loop, &c->rio);
}

void conn_read_resume(struct conn *c)
{
    if (c->closing)
        return;
    c->read_blocked = false;
    ev_io_start(c->w->loop, &c->rio);
}

void conn_exchange_done(struct conn *c, bool keep_alive)
{
    c->req = NULL;
    c->exchanges++;
    if (!keep_alive || c->w->stopping) {
        conn_close(c, "exchange done, not keeping alive");
        return;
    }
    conn_read_resume(c);
    if (buf_len(&c->in) > 0) {
        conn_process(c); /* a pipelined request is waiting */
    } else {
        buf_release(&c->in, &c->w->bufs);
        outq_shrink(&c->out);
        conn_timer(c, CT_IDLE);
    }
}

/* RFC 9112 2.2: ignore empty lines before a request line. */
static void skip_empty_lines(struct conn *c)
{
    while (c->scan.pos == 0 && buf_len(&c->in) >= 2 && buf_head(&c->in)[0] == '\r' &&
           buf_head(&c->in)[1] == '\n')
        buf_consume(&c->in, &c->w->bufs, 2);
}

/* Looks for a complete head; starts the exchange when there is one. Returns
 * false when more bytes are needed (or the connection is done). */
static bool try_head(struct conn *c)
{
    const struct limits_config *lim = &c->gen->cfg->limits;
    struct http_limits hl = { lim->head_size, lim->request_line, lim->header_fields };
    size_t head_len = 0;
    int status = 0;
    const char *err = NULL;
    skip_empty_lines(c);
    if (buf_len(&c->in) == 0)
        return false;
    conn_timer(c, CT_HEADER);
    switch (http_scan(&c->scan, buf_head(&c->in), buf_len(&c->in), &hl, &head_len, &status, &err)) {
    case SCAN_MORE:
        if (c->in.end == c->in.cap) /* full buffer, limits not reached: make room */
            buf_grow(&c->in, c->in.cap * 2);
        return false;
    case SCAN_BAD:
        request_reject(c, (unsigned)status, err);
        return false;
    case SCAN_DONE:
        break;
    }
    memset(&c->scan, 0, sizeof(c->scan));
    conn_timer(c, CT_NONE);
    request_begin(c, head_len);
    return true;
}

void conn_process(struct conn *c)
{
    if (c->processing)
        return; /* the outer call's loop picks up what changed */
    c->processing = true;
    conn_hold(c);
    while (!c->closing) {
        if (c->req) {
            request_client_data(c->req);
            break;
        }
        if (!try_head(c))
            break;
    }
    c->processing = false;
    conn_release(c);
}

static void on_read(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = container_of(io, struct conn, rio);
    if (c->req && c->req->body_parsed > 0) {
        /* body bytes in c->in are still queued to the backend: the buffer
         * must not move until they are written */
        conn_read_pause(c);
        return;
    }
    size_t room = buf_prepare(&c->in, &c->w->bufs);
    if (room == 0) {
        conn_read_pause(c); /* resumed when the current exchange ends */
        return;
    }
    ssize_t n = transport_read(&c->tr, c->in.data + c->in.end, room);
    conn_hold(c);
    if (n > 0) {
        c->in.end += (size_t)n;
        if (c->timer_kind == CT_BODY)
            conn_timer(c, CT_BODY);
        conn_process(c);
    } else if (n == 0) {
        if (c->req && c->req->body_done) {
            /* half-close after a complete request: answer, then close */
            c->req->keep_alive = false;
            conn_read_pause(c);
        } else {
            conn_close(c, "the client closed the connection");
        }
    } else if (errno != EAGAIN && errno != EINTR) {
        conn_close(c, errno == ECONNRESET ? "the client reset the connection" : "reading from the client failed");
    } else if (buf_len(&c->in) == 0) {
        buf_release(&c->in, &c->w->bufs);
    }
    conn_release(c);
}

static void on_write(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = container_of(io, struct conn, wio);
    conn_hold(c);
    int rc = conn_flush(c, false);
    if (rc == 1 && c->req)
        request_client_drained(c->req);
    else if (rc == -1)
        conn_close(c, "writing to the client failed");
    conn_release(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct conn *c = container_of(t, struct conn, timer.w);
    if (!ltimer_expired(loop, &c->timer))
        return; /* stopped, or moved later since it was started */
    conn_hold(c);
    switch (c->timer_kind) {
    case CT_HEADER:
        if (buf_len(&c->in) > 0 && c->req == NULL) {
            log_info("client %s: request head not received in time", c->peer_ip);
            request_reject(c, 408, "request head not received in time");
        } else {
            conn_close(c, "no request in time");
        }
        break;
    case CT_BODY:
        if (c->req)
            request_fail(c->req, &err_client_timeout);
        else
            conn_close(c, "body timeout");
        break;
    case CT_SEND:
        conn_close(c, "the client stopped reading (send timeout)");
        break;
    case CT_IDLE:
    case CT_NONE:
        conn_close(c, "keep-alive timeout");
        break;
    }
    conn_release(c);
}
