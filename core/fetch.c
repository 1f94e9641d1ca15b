/* fetch.c - the client-less backend exchange (fetch.h).
 *
 * States: connecting (to the current candidate; a refused or slow connect
 * moves to the next one), sending the head, reading the response (interim
 * heads are skipped, bounded like the proxy's), streaming the body to the
 * sink while it is ready. A pooled connection that turns out closed before
 * any byte of the response is replaced once (the request is bodiless and
 * idempotent, so resending it is safe). A clean end gives the connection
 * back to the pool. */
#include "fetch.h"

#include <errno.h>
#include <stdlib.h>

#include "arena.h"
#include "body.h"
#include "log.h"
#include "luxy.h"
#include "metrics.h"
#include "upconn.h"
#include "upstream.h"
#include "generation.h"
#include "worker.h"

enum fetch_state { FS_CONNECTING, FS_EXCHANGE, FS_DONE };

struct fetch {
    struct worker *w;
    struct generation *gen;       /* held: its timeouts, limits and upstreams */
    const struct fetch_sink_ops *ops;
    void *sink;
    struct fetch_target t;
    enum fetch_state state;
    unsigned method;
    struct arena arena;
    struct slice head;            /* the request, in the arena */
    unsigned attempts, addr_next;
    struct backend *backend;      /* the current server (upstream targets) */
    bool counted_inflight;
    union sockaddr_u peer;
    struct upconn *uc;
    bool reused_retry_done;
    bool resp_bytes;              /* anything arrived from the backend */
    struct fetch_timings times;   /* of the current attempt */
    /* the response */
    http_parser parser;
    struct http_scan scan;
    struct http_head resp;
    bool head_done;
    unsigned interim;
    struct body_reader body;
    bool paused;                  /* the sink said not ready */
    bool starting;                /* inside fetch_start: the end is told later */
    bool deferred;                /* an end is waiting in the inbox */
    bool cancelled;               /* ... and the sink no longer wants it */
    const struct proxy_error *last_error, *deferred_err;
};

static void on_event(struct upconn *uc, int revents);
static void next_attempt(struct fetch *f);

const struct http_head *fetch_response(const struct fetch *f)
{
    return &f->resp;
}

const char *fetch_peer(const struct fetch *f, char buf[64])
{
    addr_format(&f->peer, buf, 64, true);
    return buf;
}

const union sockaddr_u *fetch_peer_addr(const struct fetch *f)
{
    return &f->peer;
}

struct fetch_timings fetch_timings(const struct fetch *f)
{
    return f->times;
}

static const struct timeouts_config *timeouts(const struct fetch *f)
{
    return &f->gen->cfg->timeouts;
}

static void uncount(struct fetch *f)
{
    if (f->counted_inflight) {
        backend_end(f->backend);
        f->counted_inflight = false;
    }
}

static void free_fetch(struct fetch *f)
{
    uncount(f);
    if (f->uc)
        upconn_close(f->uc);
    arena_free(&f->arena);
    generation_release(f->gen);
    free(f);
}

static void finish(struct fetch *f, const struct proxy_error *err);

static void deferred_finish(void *owner, void *arg)
{
    (void)owner;
    struct fetch *f = arg;
    f->deferred = false;
    if (f->cancelled)
        free_fetch(f);
    else
        finish(f, f->deferred_err);
}

/* The end, told to the sink once. Never from inside fetch_start: a caller
 * must get its fetch back before hearing that it ended (libev's
 * "avoiding finishing before returning"). */
static void finish(struct fetch *f, const struct proxy_error *err)
{
    if (f->starting) {
        f->deferred = true;
        f->deferred_err = err;
        inbox_post(&f->w->inbox, deferred_finish, f);
        return;
    }
    struct upconn *uc = f->uc;
    f->state = FS_DONE;
    if (uc && err == NULL && f->resp.keep_alive && buf_len(&uc->in) == 0 && outq_empty(&uc->out)) {
        f->uc = NULL;
        uc->exchanges++;
        upconn_release(uc, f->t.keepalive, timeouts(f)->backend_idle);
    }
    if (err && f->backend && f->counted_inflight) { /* mid-exchange: a failed connect counted itself */
        backend_count_failure(f->backend);
        if (!f->head_done)
            backend_result(f->backend, err == &err_backend_timeout ? AR_TIMEOUT : AR_RESET, 0);
    }
    const struct fetch_sink_ops *ops = f->ops;
    void *sink = f->sink;
    free_fetch(f);
    ops->done(NULL, sink, err);
}

void fetch_cancel(struct fetch *f)
{
    if (f->deferred) {
        f->cancelled = true; /* the inbox message frees it */
        return;
    }
    free_fetch(f);
}

/* ---- connecting ---- */

static void attempt_failed(struct fetch *f, const struct proxy_error *err)
{
    char peer[64];
    if (f->t.quiet)
        log_debug("%s %s: %s (health check)", f->t.up ? "upstream" : "origin", fetch_peer(f, peer), err->text);
    else
        log_warn("%s %s: %s (cache fetch)", f->t.up ? "upstream" : "origin", fetch_peer(f, peer), err->text);
    if (f->uc) {
        upconn_close(f->uc);
        f->uc = NULL;
    }
    if (f->backend) {
        backend_connect_failed(f->backend);
        backend_result(f->backend, AR_CONNECT, 0);
        uncount(f);
    }
    f->last_error = err;
    next_attempt(f);
}

static void connect_peer(struct fetch *f, bool allow_pool)
{
    struct upconn *uc = allow_pool ? upconn_pool_take(f->w, &f->peer, on_event, f) : NULL;
    f->times = (struct fetch_timings){ .connect = ev_now(f->w->loop) };
    if (uc) {
        f->times.connected = f->times.connect; /* pooled: no connect */
        f->uc = uc;
        on_event(uc, EV_CUSTOM); /* connected already: send */
        return;
    }
    uc = upconn_connect(f->w, &f->peer, on_event, f);
    if (uc == NULL) {
        attempt_failed(f, errno == ECONNREFUSED ? &err_connect_refused : &err_connect_failed);
        return;
    }
    f->uc = uc;
    f->state = FS_CONNECTING;
    upconn_timeout(uc, timeouts(f)->backend_connect);
}

static void next_attempt(struct fetch *f)
{
    if (f->attempts >= f->t.tries) {
        finish(f, f->last_error ? f->last_error : &err_no_backend);
        return;
    }
    if (f->t.up == NULL) {
        if (f->addr_next >= f->t.addrs.n) {
            finish(f, f->last_error ? f->last_error : &err_no_backend);
            return;
        }
        f->peer = f->t.addrs.addr[f->addr_next++];
    } else {
        int i = f->attempts == 0 && f->t.backend >= 0 ? f->t.backend
                                                       : lb_pick_simple(f->t.up->lb, f->t.up, &f->t.tried);
        if (i < 0) {
            finish(f, f->last_error ? f->last_error : &err_no_backend);
            return;
        }
        lb_mark_tried(&f->t.tried, (unsigned)i);
        f->backend = &f->t.up->backends[i];
        f->peer = *backend_addr(f->backend);
        backend_begin(f->backend);
        f->counted_inflight = true;
    }
    if (f->attempts > 0)
        metric_add(&f->w->wm->retries, 1); /* a request's retries are counted when it ends; a fill's here */
    f->attempts++;
    connect_peer(f, true);
}

struct fetch *fetch_start(struct generation *g, const struct fetch_target *t, const char *head, size_t len,
                          unsigned method, const struct fetch_sink_ops *ops, void *sink)
{
    struct fetch *f = xcalloc(1, sizeof(*f));
    f->w = g->w;
    f->gen = g;
    generation_hold(g);
    f->ops = ops;
    f->sink = sink;
    f->t = *t;
    if (f->t.tries == 0)
        f->t.tries = t->up ? t->up->n : t->addrs.n;
    f->method = method;
    arena_init(&f->arena);
    char *copy = arena_alloc(&f->arena, len);
    memcpy(copy, head, len);
    f->head = slice_make(copy, len);
    f->state = FS_CONNECTING;
    f->starting = true;
    next_attempt(f);
    f->starting = false;
    return f;
}

/* ---- the exchange ---- */

static void send_head(struct fetch *f)
{
    struct upconn *uc = f->uc;
    f->state = FS_EXCHANGE;
    outq_push(&uc->out, f->head.ptr, f->head.len);
    int rc = outq_flush(&uc->out, &uc->tr, false);
    if (rc == -1) {
        finish(f, &err_backend_reset);
        return;
    }
    upconn_want_write(uc, rc == 0);
    upconn_want_read(uc, true);
    upconn_timeout(uc, timeouts(f)->backend_read);
}

/* The backend closed or failed before any response byte, on a pooled
 * connection: replaced once. */
static bool retry_stale(struct fetch *f)
{
    if (!f->uc->reused || f->resp_bytes || f->reused_retry_done)
        return false;
    f->reused_retry_done = true;
    metric_add(&f->w->wm->retries, 1);
    upconn_close(f->uc);
    f->uc = NULL;
    connect_peer(f, false);
    return true;
}

/* Reads heads from the buffer until the final one. Returns false when f
 * ended or must wait for more bytes. */
static bool read_head(struct fetch *f)
{
    struct upconn *uc = f->uc;
    const struct limits_config *lim = &f->gen->cfg->limits;
    while (!f->head_done) {
        if (buf_len(&uc->in) == 0)
            return false;
        struct http_limits hl = { lim->response_head_size, lim->response_head_size, 1000 };
        size_t len = 0;
        int status;
        const char *err = NULL;
        f->scan.response = true;
        switch (http_scan(&f->scan, buf_head(&uc->in), buf_len(&uc->in), &hl, &len, &status, &err)) {
        case SCAN_MORE:
            if (uc->in.end == uc->in.cap)
                buf_grow(&uc->in, uc->in.cap * 2); /* the scan limit bounds this */
            return false;
        case SCAN_BAD:
            log_warn("backend sent an invalid response head: %s (cache fetch)", err);
            finish(f, &err_bad_response);
            return false;
        case SCAN_DONE:
            break;
        }
        memset(&f->scan, 0, sizeof(f->scan));
        struct arena_mark mark = arena_mark(&f->arena);
        char *copy = arena_alloc(&f->arena, len);
        memcpy(copy, buf_head(&uc->in), len);
        buf_consume(&uc->in, &f->w->bufs, len);
        if (http_parse_response(&f->parser, copy, len, f->method == HTTP_HEAD, &f->resp, &f->arena, &err) != 0) {
            log_warn("backend sent an invalid response head: %s (cache fetch)", err);
            finish(f, &err_bad_response);
            return false;
        }
        if (f->resp.status / 100 == 1) {
            if (f->resp.status == 101 || ++f->interim > lim->interim_responses) {
                finish(f, f->resp.status == 101 ? &err_bad_response : &err_too_many_interim);
                return false;
            }
            arena_rewind(&f->arena, mark); /* interim heads are not kept */
            continue;
        }
        f->head_done = true;
        if (f->backend) { /* the server's live state hears fills and refreshes too */
            unsigned st = f->resp.status;
            backend_result(f->backend, st == 502 || st == 503 || st == 504 ? AR_HTTP_5XX : AR_OK,
                           f->times.first_byte - f->times.connect);
        }
        enum body_kind kind = !http_response_has_body(f->method, f->resp.status) ? BODY_NONE
                              : f->resp.chunked                                 ? BODY_CHUNKED
                              : f->resp.has_length                              ? BODY_LENGTH
                                                                                : BODY_UNTIL_CLOSE;
        body_init(&f->body, kind, f->resp.content_length);
        if (!f->ops->head(f, f->sink, &f->resp)) {
            fetch_cancel(f);
            return false;
        }
        if (f->body.done) {
            finish(f, NULL);
            return false;
        }
    }
    return true;
}

struct feed_ctx {
    struct fetch *f;
    bool stop;
};

static void on_body(void *arg, const char *p, size_t n)
{
    struct feed_ctx *x = arg;
    if (!x->stop && !x->f->ops->data(x->f, x->f->sink, p, n))
        x->stop = true;
}

/* Gives the sink what the buffer holds. Returns false when f ended. */
static bool feed_body(struct fetch *f)
{
    struct upconn *uc = f->uc;
    size_t avail = buf_len(&uc->in);
    if (avail == 0)
        return true;
    const char *err = NULL;
    struct feed_ctx x = { f, false };
    ssize_t n = body_feed(&f->body, buf_head(&uc->in), avail, on_body, &x, &err);
    if (x.stop) {
        fetch_cancel(f);
        return false;
    }
    if (n < 0) {
        log_warn("backend sent an invalid response body: %s (cache fetch)", err);
        f->resp.keep_alive = false;
        finish(f, &err_bad_response);
        return false;
    }
    buf_consume(&uc->in, &f->w->bufs, (size_t)n);
    if (f->body.done) {
        if (buf_len(&uc->in) > 0)
            f->resp.keep_alive = false; /* bytes past the end: not reusable */
        finish(f, NULL);
        return false;
    }
    return true;
}

static bool sink_ready(struct fetch *f)
{
    return f->ops->ready == NULL || f->ops->ready(f, f->sink);
}

static void read_more(struct fetch *f)
{
    struct upconn *uc = f->uc;
    for (int round = 0; round < 8; round++) {
        if (f->head_done && !sink_ready(f)) {
            f->paused = true;
            upconn_want_read(uc, false);
            upconn_timeout(uc, 0); /* the readers are slow, not the backend */
            return;
        }
        size_t room = buf_prepare(&uc->in, &f->w->bufs);
        ssize_t n = transport_read(&uc->tr, uc->in.data + uc->in.end, room);
        if (n > 0) {
            uc->in.end += (size_t)n;
            if (!f->resp_bytes) { /* the first byte: the response time, as a request's */
                f->times.first_byte = ev_now(f->w->loop);
                metrics_response_time(f->w->wm, f->t.up ? f->t.up->m : NULL, f->backend ? f->backend->m : NULL,
                                      f->times.first_byte - f->times.connect);
            }
            f->resp_bytes = true;
            upconn_timeout(uc, timeouts(f)->backend_read);
            if (!f->head_done && !read_head(f))
                return;
            if (!feed_body(f))
                return;
            if ((size_t)n < room)
                return;
        } else if (n == 0) {
            if (!f->resp_bytes && retry_stale(f))
                return;
            if (f->head_done && body_eof_ok(&f->body)) {
                f->resp.keep_alive = false;
                finish(f, NULL);
            } else {
                finish(f, f->head_done ? &err_backend_cut : f->resp_bytes ? &err_bad_response : &err_backend_closed);
            }
            return;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (buf_len(&uc->in) == 0)
                buf_release(&uc->in, &f->w->bufs);
            return;
        } else {
            if (!f->resp_bytes && retry_stale(f))
                return;
            finish(f, f->head_done ? &err_backend_cut : &err_backend_reset);
            return;
        }
    }
}

void fetch_resume(struct fetch *f)
{
    if (!f->paused || f->state != FS_EXCHANGE)
        return;
    f->paused = false;
    upconn_want_read(f->uc, true);
    upconn_timeout(f->uc, timeouts(f)->backend_read);
    read_more(f);
}

static void on_event(struct upconn *uc, int revents)
{
    struct fetch *f = uc->owner;
    if (revents == EV_CUSTOM) {
        send_head(f);
    } else if (revents & EV_TIMER) {
        if (f->state == FS_CONNECTING)
            attempt_failed(f, &err_connect_timeout);
        else
            finish(f, f->head_done ? &err_backend_cut : &err_backend_timeout);
    } else if (f->state == FS_CONNECTING) {
        int e = upconn_socket_error(uc);
        if (e) {
            attempt_failed(f, e == ECONNREFUSED ? &err_connect_refused : &err_connect_failed);
            return;
        }
        uc->connected = true;
        f->times.connected = ev_now(f->w->loop);
        upconn_want_write(uc, false);
        send_head(f);
    } else if (revents & EV_WRITE) {
        int rc = outq_flush(&uc->out, &uc->tr, false);
        if (rc == -1)
            finish(f, &err_backend_reset);
        else
            upconn_want_write(uc, rc == 0);
    } else if (revents & EV_READ) {
        read_more(f);
    }
}
