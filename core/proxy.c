/* proxy.c - the backend half of an exchange.
 *
 * Flow: route (upstream pick or origin DNS) -> connect or take a pooled
 * connection -> queue the head -> stream the body from the client buffer ->
 * read the response head -> on_response -> stream the body to the client.
 * Bytes are relayed without copies: slices of one side's input buffer are
 * queued on the other side's output, and the input is not read again until
 * that output has drained. That one rule is the backpressure.
 *
 * Each event handler does one thing and returns; whatever may end the
 * request (request_fail, conn_close, request_response_complete) is the last
 * thing it does with r. */
#include "proxy.h"
#include "decide.h"
#include "trace.h"
#include "retry_budget.h"
#include "hedge.h"
#include "lb_request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "../lua/hooks.h"
#include "cache_fill.h"
#include "cache_serve.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "tunnel.h"
#include "upconn.h"
#include "upstream.h"
#include "worker.h"

static void on_backend_event(struct upconn *uc, int revents);
static void next_attempt(struct request *r);
static void connect_peer(struct request *r, bool allow_pool);
static bool process_response(struct request *r);

static const struct timeouts_config *timeouts(const struct request *r)
{
    return &r->gen->cfg->timeouts;
}

/* The backend_read timer measures the backend's silence while luxy waits
 * on the backend: for it to take request bytes, or for its response once
 * the request is all sent. While the client is the slow side (still
 * uploading, or not reading the response) the client's timers govern and
 * this one is off. Called on every change, it also re-arms: activity. */
static void backend_timer(struct request *r)
{
    struct upconn *uc = r->uc;
    bool client_reading = !outq_empty(&r->conn->out);
    bool client_uploading = !r->body_done && !r->upload_stopped && outq_empty(&uc->out);
    upconn_timeout(uc, client_reading || client_uploading ? 0 : timeouts(r)->backend_read);
}

static const char *peer_text(struct request *r, char buf[ADDR_STRLEN])
{
    addr_format(&r->peer, buf, ADDR_STRLEN, true);
    return buf;
}

/* ---- routing ---- */

static bool is_own_address(struct worker *w, const union sockaddr_u *a)
{
    const struct config *cfg = worker_cfg(w); /* the sockets luxy listens on now */
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const union sockaddr_u *l = &cfg->listeners[i].addr;
        if (addr_equal(l, a))
            return true;
        if (!addr_is_any(l) || addr_port(l) != addr_port(a))
            continue;
        if (addr_is_loopback(a))
            return true;
        for (unsigned k = 0; k < w->nlocal_addrs; k++) {
            union sockaddr_u local = w->local_addrs[k];
            addr_set_port(&local, addr_port(a));
            if (addr_equal(&local, a))
                return true;
        }
    }
    return false;
}

static void origin_resolved(struct request *r, const struct resolved *res)
{
    const struct destination_rules *deny = &r->lc->deny;
    r->addrs = *res;
    unsigned kept = 0;
    for (unsigned i = 0; i < r->addrs.n; i++) {
        union sockaddr_u a = r->addrs.addr[i];
        addr_set_port(&a, r->origin_port);
        if (is_own_address(r->w, &a)) {
            r->peer = a;
            request_fail(r, &err_loop);
            return;
        }
        /* checked on the address connected to: a name cannot smuggle one in */
        if (deny->nnets && destination_addr_denied(deny, &a))
            continue;
        r->addrs.addr[kept++] = a;
    }
    if (r->addrs.n && kept == 0) {
        char text[ADDR_STRLEN];
        addr_format(&r->addrs.addr[0], text, sizeof(text), false);
        log_info("client %s: destination %.*s (%s) refused (deny_destinations)", r->from_ip,
                 (int)min(r->origin_host.len, (size_t)256), r->origin_host.ptr, text);
        request_fail(r, &err_destination_denied);
        return;
    }
    r->addrs.n = kept;
    if (unlikely(r->trace)) {
        char text[ADDR_STRLEN];
        addr_format(&r->addrs.addr[0], text, sizeof(text), true);
        trace_add(r->trace, "route", "origin %.*s resolved: %u address%s, first %s", (int)min(r->origin_host.len, (size_t)256),
                  r->origin_host.ptr, kept, kept == 1 ? "" : "es", text);
    }
    r->state = RS_CONNECTING;
    next_attempt(r);
}

static void resolve_failed(struct request *r, const char *err)
{
    size_t n = r->origin_host.len + strlen(err) + 4;
    char *detail = arena_alloc(&r->arena, n);
    snprintf(detail, n, "%.*s: %s", (int)r->origin_host.len, r->origin_host.ptr, err);
    request_fail_detail(r, &err_resolve_failed, detail);
}

static void on_resolved(void *arg, const struct resolved *res, const char *err)
{
    struct request *r = arg;
    struct conn *c = r->conn;
    conn_hold(c);
    if (res)
        origin_resolved(r, res);
    else
        resolve_failed(r, err);
    conn_release(c);
}

void proxy_start(struct request *r)
{
    struct worker *w = r->w;
    const struct proxy_error *err;
    if (decide_group(r, &err)) {
        r->state = RS_CONNECTING;
        next_attempt(r);
        return;
    }
    if (err) {
        if (err == &err_unknown_upstream) {
            struct slice name = r->upstream_name.len ? r->upstream_name : r->parent_name;
            request_fail_detail(r, err, arena_strndup(&r->arena, name.ptr, name.len));
        } else {
            request_fail(r, err);
        }
        return;
    }
    const struct resolved *res = NULL;
    const char *rerr = NULL;
    switch (resolve_lookup(w->resolver, r->origin_host.ptr, r->origin_host.len, &r->rwait,
                           on_resolved, r, &res, &rerr)) {
    case RESOLVE_DONE:
        origin_resolved(r, res);
        break;
    case RESOLVE_PENDING:
        r->state = RS_RESOLVING;
        break;
    case RESOLVE_FAILED:
        resolve_failed(r, rerr);
        break;
    }
}

/* Picks the next backend (upstream) or address (origin) and connects. */
static void next_attempt(struct request *r)
{
    const struct proxy_error *last = r->attempt_error ? r->attempt_error : &err_no_backend;
    if (r->up == NULL) {
        if (r->addr_next >= r->addrs.n) {
            request_fail(r, last);
            return;
        }
        if (r->cache_fill_pending) { /* the cache fetches, not this request */
            cache_routed(r, -1);
            return;
        }
        r->peer = r->addrs.addr[r->addr_next++];
        r->attempts++;
        connect_peer(r, true);
        return;
    }
    const struct proxy_error *err;
    int i = decide_backend(r, &err);
    if (i < 0 && r->cache_fill_pending && r->attempts == 0 && err == &err_all_down) {
        cache_routed(r, -1); /* every server is out: the cache may still answer stale (grace) */
        return;
    }
    if (i < 0) {
        request_fail(r, err);
        return;
    }
    if (r->cache_fill_pending) { /* the cache fetches, not this request */
        cache_routed(r, i);
        return;
    }
    decide_attempt_begin(r, (unsigned)i);
    r->peer = *backend_addr(r->backend);
    connect_peer(r, true);
}

/* Closes the current attempt's connection and ends its count in flight. */
static void close_attempt(struct request *r)
{
    if (r->uc) {
        upconn_close(r->uc);
        r->uc = NULL;
    }
    decide_attempt_close(r);
}

/* What arrived of a response head went with its attempt's connection:
 * the next attempt's is read from its start. */
static void forget_response_start(struct request *r)
{
    r->resp_bytes_seen = false;
    r->resp_parsed = 0;
    memset(&r->rscan, 0, sizeof(r->rscan));
}

/* The current attempt on r->backend failed with res: the server's state
 * hears it, and select_backend can see it on a retry (b.failure). */
static void note_failure(struct request *r, enum attempt_result res)
{
    decide_attempt_result(r, res, 0);
}

/* The attempt failed before anything was sent: try the next candidate. */
static void attempt_failed(struct request *r, const struct proxy_error *err)
{
    char peer[ADDR_STRLEN];
    log_warn("%s%s %s: %s", r->up ? "upstream " : "origin", r->up ? r->up->cfg->name : "",
             peer_text(r, peer), err->text);
    if (r->backend) {
        backend_connect_failed(r->backend);
        note_failure(r, AR_CONNECT);
    }
    close_attempt(r);
    r->attempt_error = err;
    if (hedge_take_over(r))
        return; /* a hedged second attempt is out: it carries on alone */
    next_attempt(r);
}

static void connect_peer(struct request *r, bool allow_pool)
{
    struct worker *w = r->w;
    struct upconn *uc = NULL;
    r->t_connect = ev_now(w->loop);
    r->t_connected = r->t_first_byte = 0;
    if (allow_pool && !r->tunnel)
        uc = upconn_pool_take(w, &r->peer, on_backend_event, r);
    if (uc) {
        r->t_connected = r->t_connect; /* pooled: no connect */
        r->uc = uc;
        r->state = RS_EXCHANGE;
        on_backend_event(uc, EV_CUSTOM); /* "connected": send the head */
        return;
    }
    uc = upconn_connect(w, &r->peer, on_backend_event, r);
    if (uc == NULL) {
        attempt_failed(r, errno == ECONNREFUSED ? &err_connect_refused : &err_connect_failed);
        return;
    }
    r->uc = uc;
    r->state = RS_CONNECTING;
    upconn_timeout(uc, timeouts(r)->backend_connect);
}

/* ---- serializing heads ---- */

#define FIELD_MAX_EXTRA (sizeof("Content-Length: 18446744073709551615\r\n") + sizeof("Connection: keep-alive\r\n") + 2)

/* "http://host[:port]" (the port when not 80) or, for CONNECT, "host:port". */
static void write_authority(struct request *r, struct wbuf *w, bool connect)
{
    bool v6 = memchr(r->origin_host.ptr, ':', r->origin_host.len) != NULL;
    if (!connect)
        wbuf_lit(w, "http://");
    if (v6)
        wbuf_char(w, '[');
    wbuf_slice(w, r->origin_host);
    if (v6)
        wbuf_char(w, ']');
    if (connect || r->origin_port != 80) {
        wbuf_char(w, ':');
        wbuf_u64(w, r->origin_port);
    }
}

struct slice proxy_serialize_request(struct request *r, struct headers *h, unsigned method_id,
                                     const struct backend *b, bool body_framing)
{
    if (headers_find_id(h, HDR_HOST, 0) < 0) {
        /* HTTP/1.0 clients may omit Host; HTTP/1.1 backends require it */
        struct slice host = b ? slice_make(b->cfg->spec, strlen(b->cfg->spec)) : r->origin_host;
        headers_add_id(h, &r->arena, H_HOST, HDR_HOST, host);
    }
    const char *method = http_method_str(method_id);
    const char *parent_auth = r->via_parent && r->up ? r->up->cfg->proxy_authorization : NULL;
    size_t cap = strlen(method) + r->path.len + r->query.len + headers_size(h) +
                 sizeof("  /? HTTP/1.1\r\n") + FIELD_MAX_EXTRA +
                 (r->via_parent ? r->origin_host.len + sizeof("http://[]:65535") : 0) +
                 (parent_auth ? strlen(parent_auth) + sizeof("Proxy-Authorization: \r\n") : 0);
    char *start = arena_alloc(&r->arena, cap);
    struct wbuf w = wbuf_make(start, cap);
    wbuf_str(&w, method);
    wbuf_char(&w, ' ');
    if (r->via_parent) /* a proxy is asked in absolute form (CONNECT: the authority alone) */
        write_authority(r, &w, method_id == HTTP_CONNECT);
    if (method_id != HTTP_CONNECT) {
        if (r->path.len == 0)
            wbuf_char(&w, '/');
        wbuf_slice(&w, r->path);
        if (r->query.ptr) {
            wbuf_char(&w, '?');
            wbuf_slice(&w, r->query);
        }
    }
    wbuf_lit(&w, " HTTP/1.1\r\n");
    headers_write(h, &w);
    if (parent_auth) {
        wbuf_lit(&w, "Proxy-Authorization: ");
        wbuf_str(&w, parent_auth);
        wbuf_lit(&w, "\r\n");
    }
    if (!body_framing) {
        /* a bodiless fetch: no framing fields */
    } else if (r->head.chunked) {
        wbuf_lit(&w, "Transfer-Encoding: chunked\r\n");
    } else if (r->head.has_length) {
        wbuf_lit(&w, "Content-Length: ");
        wbuf_u64(&w, r->head.content_length);
        wbuf_lit(&w, "\r\n");
    }
    if (r->tunnel && body_framing && method_id != HTTP_CONNECT)
        wbuf_lit(&w, "Connection: upgrade\r\n");
    wbuf_lit(&w, "\r\n");
    return slice_make(start, wbuf_len(&w, start));
}

static struct slice request_head(struct request *r)
{
    return proxy_serialize_request(r, &r->head.headers, r->head.method, r->backend, true);
}

/* Status line, fields, framing and Connection for the client. */
struct slice proxy_response_head(struct request *r, const char *connection)
{
    struct headers *h = &r->resp.headers;
    struct slice reason = r->resp.reason.len ? r->resp.reason
                                             : slice_make(http_reason(r->resp.status), strlen(http_reason(r->resp.status)));
    size_t cap = reason.len + headers_size(h) + sizeof("HTTP/1.1 999 \r\n") + FIELD_MAX_EXTRA;
    char *start = arena_alloc(&r->arena, cap);
    struct wbuf w = wbuf_make(start, cap);
    wbuf_lit(&w, "HTTP/1.1 ");
    wbuf_u64(&w, r->resp.status);
    wbuf_char(&w, ' ');
    wbuf_slice(&w, reason);
    wbuf_lit(&w, "\r\n");
    headers_write(h, &w);
    if (r->framing == FRAME_LENGTH) {
        wbuf_lit(&w, "Content-Length: ");
        wbuf_u64(&w, r->resp.content_length);
        wbuf_lit(&w, "\r\n");
    } else if (r->framing == FRAME_CHUNKED) {
        wbuf_lit(&w, "Transfer-Encoding: chunked\r\n");
    }
    if (connection) {
        wbuf_lit(&w, "Connection: ");
        wbuf_str(&w, connection);
        wbuf_lit(&w, "\r\n");
    }
    wbuf_lit(&w, "\r\n");
    return slice_make(start, wbuf_len(&w, start));
}

/* ---- the request body, client -> backend ---- */

/* Queues a run of body bytes for the other side, re-framed as chunks when
 * the outgoing message is chunked. */
void proxy_queue_body(struct outq *q, const char *p, size_t n, bool chunked)
{
    if (chunked) {
        char size[24];
        struct wbuf w = wbuf_make(size, sizeof(size));
        wbuf_hex(&w, n);
        wbuf_lit(&w, "\r\n");
        outq_copy(q, size, wbuf_len(&w, size));
        outq_push(q, p, n);
        outq_copy(q, "\r\n", 2);
    } else {
        outq_push(q, p, n);
    }
}

static void on_req_body(void *arg, const char *p, size_t n)
{
    struct request *r = arg;
    uint64_t limit = r->gen->cfg->limits.body_size;
    r->body_bytes += n;
    if (limit && r->body_bytes > limit) {
        r->body_too_large = true; /* checked when the feed returns */
        return;
    }
    proxy_queue_body(&r->uc->out, p, n, r->head.chunked);
}

/* The backend answered before taking the whole body: stop sending it and
 * close both connections once the response is through. */
static void upload_stop(struct request *r)
{
    struct conn *c = r->conn;
    r->upload_stopped = true;
    r->keep_alive = false;
    r->uc_dirty = true;
    outq_reset(&r->uc->out);
    upconn_want_write(r->uc, false);
    if (r->body_parsed) {
        buf_consume(&c->in, &r->w->bufs, r->body_parsed);
        r->body_parsed = 0;
    }
}

/* May r be sent again? An idempotent method (RFC 9110 9.2.2) without a
 * body: a body streamed to a server that went away is gone. */
static bool resendable(const struct request *r)
{
    unsigned m = r->head.method;
    bool idempotent = m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS || m == HTTP_TRACE ||
                      m == HTTP_DELETE || m == HTTP_PUT;
    return idempotent && r->body_done && r->body_bytes == 0;
}

/* A pooled connection the backend had closed: the request never reached
 * it, so it is sent once more on a fresh one. */
static bool retryable_on_fresh_connection(const struct request *r)
{
    return r->uc->reused && !r->resp_bytes_seen && resendable(r) && !r->retried_fresh;
}

/* May a request that failed on a server mid-exchange go to another one?
 * Only when the client has had nothing of a response, and it may be sent
 * again. */
static bool retryable_elsewhere(const struct request *r)
{
    return r->up && r->backend && !r->resp_head_done && !r->resp_started && r->interim_count == 0 &&
           !r->tunnel && resendable(r);
}

/* The attempt failed mid-exchange with err (res for the server's state):
 * another server when that is safe, else the client's error. */
static void exchange_failed(struct request *r, const struct proxy_error *err, enum attempt_result res)
{
    if (r->backend && !r->resp_head_done)
        note_failure(r, res);
    if (r->hedge.uc && !r->resp_head_done && !r->resp_started) {
        backend_count_failure(r->backend);
        close_attempt(r); /* a hedged second attempt is out: it carries on alone */
        hedge_take_over(r);
        return;
    }
    hedge_drop(r);
    if (retryable_elsewhere(r)) {
        char peer[ADDR_STRLEN];
        log_warn("upstream %s %s: %s; trying another server", r->up->cfg->name, peer_text(r, peer), err->text);
        backend_count_failure(r->backend);
        close_attempt(r);
        forget_response_start(r);
        r->attempt_error = err;
        next_attempt(r);
        return;
    }
    if (r->backend)
        backend_count_failure(r->backend);
    request_fail(r, r->resp_head_done && err == &err_backend_closed ? &err_backend_cut : err);
}

/* The connection failed mid-exchange. */
static void backend_failed(struct request *r, const struct proxy_error *err)
{
    if (retryable_on_fresh_connection(r)) {
        log_debug("pooled backend connection was stale; retrying on a new one");
        upconn_close(r->uc);
        r->uc = NULL;
        r->retried_fresh = true;
        connect_peer(r, false);
        return;
    }
    exchange_failed(r, err, AR_RESET);
}

static void flush_to_backend(struct request *r)
{
    struct upconn *uc = r->uc;
    struct conn *c = r->conn;
    int rc = outq_flush(&uc->out, &uc->tr, false);
    if (rc == -1) {
        if (r->resp_head_done) {
            upload_stop(r);
            return;
        }
        backend_failed(r, &err_backend_reset);
        return;
    }
    if (rc == 0) {
        upconn_want_write(uc, true);
        conn_read_pause(c); /* the buffer is referenced until this drains */
        conn_timer(c, CT_NONE); /* the backend is slow, not the client */
        backend_timer(r);
        return;
    }
    upconn_want_write(uc, false);
    if (r->body_parsed) {
        buf_consume(&c->in, &r->w->bufs, r->body_parsed);
        r->body_parsed = 0;
    }
    if (!r->body_done) {
        conn_timer(c, CT_BODY);
        if (c->read_blocked)
            conn_read_resume(c);
    }
    backend_timer(r);
}

/* Parses the request body bytes waiting in the client buffer into the
 * backend's queue. Returns false when r has ended. */
static bool parse_body(struct request *r)
{
    struct conn *c = r->conn;
    size_t avail = buf_len(&c->in);
    if (avail == 0) {
        conn_timer(c, CT_BODY);
        return true;
    }
    const char *err = NULL;
    ssize_t n = body_feed(&r->req_body, buf_head(&c->in), avail, on_req_body, r, &err);
    if (r->body_too_large) {
        r->keep_alive = false;
        request_fail(r, &err_body_too_large);
        return false;
    }
    if (n < 0) {
        r->keep_alive = false;
        log_info("client %s: bad request body: %s", c->peer_ip, err);
        request_fail_detail(r, &err_bad_request_body, err);
        return false;
    }
    r->body_parsed = (size_t)n;
    if (r->req_body.done) {
        r->body_done = true;
        if (r->head.chunked)
            outq_copy(&r->uc->out, "0\r\n\r\n", 5); /* trailers are not forwarded */
    }
    conn_timer(c, r->body_done ? CT_NONE : CT_BODY);
    return true;
}

void proxy_client_data(struct request *r)
{
    if (r->state != RS_EXCHANGE || r->body_done || r->body_parsed || r->upload_stopped)
        return;
    if (parse_body(r))
        flush_to_backend(r);
}

/* ---- the response, backend -> client ---- */

static void on_resp_body(void *arg, const char *p, size_t n)
{
    struct request *r = arg;
    r->bytes_out += n;
    proxy_queue_body(&r->conn->out, p, n, r->framing == FRAME_CHUNKED);
}

/* The body reader reached the end of the response. */
static void response_body_done(struct request *r)
{
    r->resp_done = true;
    if (r->framing == FRAME_CHUNKED)
        outq_copy(&r->conn->out, "0\r\n\r\n", 5);
}

/* Everything queued to the client went out. Returns true when r goes on
 * streaming (false: it completed, or ended). */
static bool response_drained(struct request *r)
{
    struct upconn *uc = r->uc;
    if (r->resp_parsed) {
        buf_consume(&uc->in, &r->w->bufs, r->resp_parsed);
        r->resp_parsed = 0;
    }
    if (r->resp_done) {
        request_response_complete(r);
        return false;
    }
    upconn_want_read(uc, true);
    backend_timer(r);
    return true;
}

/* Returns true when everything went out and r is still streaming. */
static bool flush_response(struct request *r)
{
    /* MSG_MORE while the backend has more ready: fuller packets to the
     * client; read_from_backend uncorks when it finds nothing waiting */
    bool more = !r->resp_done && r->backend_more;
    switch (conn_flush(r->conn, more)) {
    case 1:
        return response_drained(r);
    case 0:
        /* the client is slower than the backend: stop reading it; the
         * client's send timeout runs instead of the backend's */
        upconn_want_read(r->uc, false);
        backend_timer(r);
        return false;
    default:
        conn_close(r->conn, "writing to the client failed");
        return false;
    }
}

static bool process_response(struct request *r);

void proxy_client_drained(struct request *r)
{
    if (r->uc == NULL || r->state != RS_EXCHANGE || !response_drained(r))
        return;
    /* interim heads stopped reading while the client was slow: the next
     * head may already wait in the buffer */
    if (!r->resp_head_done && buf_len(&r->uc->in) > 0)
        process_response(r);
}

/* 100 Continue, 102, 103: passed on to HTTP/1.1 clients, each as a copy
 * in the client's queue; the parsed head is then forgotten (the arena is
 * rewound to mark), so an exchange holds at most one interim head at a
 * time. Bounded in count and bytes; the backend is not read again until
 * the client took the interim head. Returns true when the next head can
 * be read now, false when r ended or waits for the client. */
static bool forward_interim(struct request *r, struct arena_mark mark, size_t len)
{
    const struct limits_config *lim = &r->gen->cfg->limits;
    r->interim_count++;
    r->interim_bytes += len;
    if (r->interim_count > lim->interim_responses || r->interim_bytes > lim->interim_bytes) {
        char peer[ADDR_STRLEN];
        log_warn("backend %s sent more than %u interim responses or %zu bytes of them; answered 502",
                 peer_text(r, peer), lim->interim_responses, lim->interim_bytes);
        request_fail(r, &err_too_many_interim);
        return false;
    }
    if (r->head.minor >= 1) {
        headers_strip_hop_by_hop(&r->resp.headers, 0);
        r->framing = FRAME_NONE;
        struct slice head = proxy_response_head(r, NULL);
        outq_copy(&r->conn->out, head.ptr, head.len);
    }
    arena_rewind(&r->arena, mark);
    headers_init(&r->resp.headers);
    r->resp.reason = SLICE_NULL;
    if (outq_empty(&r->conn->out))
        return true;
    switch (conn_flush(r->conn, false)) {
    case 1:
        return true;
    case 0:
        upconn_want_read(r->uc, false); /* proxy_client_drained reads on */
        backend_timer(r);
        return false;
    default:
        conn_close(r->conn, "writing to the client failed");
        return false;
    }
}

static void upgrade_to_tunnel(struct request *r);
static void parent_connect_answered(struct request *r);

/* The final response head is parsed: policy, framing, queue it. Returns
 * false when r has ended. */
static bool start_response(struct request *r)
{
    struct worker *w = r->w;
    const struct listener_config *lc = r->lc;
    struct headers *h = &r->resp.headers;
    if (w->cache && lc->cache) {
        unsigned m = r->head.method;
        bool safe = m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS || m == HTTP_TRACE;
        if (!safe && r->resp.status < 400)
            cache_invalidate(r);
    }
    if (!decide_backend_response(r)) {
        request_fail(r, r->error);
        return false;
    }
    bool has_body = http_response_has_body(r->head.method, r->resp.status);
    if (!has_body) {
        r->framing = FRAME_NONE;
        if (r->resp.status == 204 || r->resp.status / 100 == 1)
            headers_del_id(h, HDR_CONTENT_LENGTH);
    } else {
        headers_del_id(h, HDR_CONTENT_LENGTH);
        if (r->resp.has_length)
            r->framing = FRAME_LENGTH;
        else if (r->head.minor >= 1)
            r->framing = FRAME_CHUNKED;
        else
            r->framing = FRAME_CLOSE;
    }
    if (r->framing == FRAME_CLOSE || !r->body_done || w->stopping)
        r->keep_alive = false;
    enum body_kind kind = !has_body ? BODY_NONE
                          : r->resp.chunked   ? BODY_CHUNKED
                          : r->resp.has_length ? BODY_LENGTH
                                               : BODY_UNTIL_CLOSE;
    body_init(&r->resp_body, kind, r->resp.content_length);
    struct slice head = proxy_response_head(r, request_connection_header(r));
    outq_push(&r->conn->out, head.ptr, head.len);
    r->resp_started = true;
    r->status = r->resp.status;
    if (r->resp_body.done)
        response_body_done(r);
    return true;
}

/* Reads one response head from the backend buffer. Returns true when a
 * head was handled and r is still alive. */
static bool read_response_head(struct request *r)
{
    struct upconn *uc = r->uc;
    const struct limits_config *lim = &r->gen->cfg->limits;
    struct http_limits hl = { lim->response_head_size, lim->response_head_size, 1000 };
    size_t len = 0;
    int status;
    const char *err = NULL;
    r->rscan.response = true;
    switch (http_scan(&r->rscan, buf_head(&uc->in), buf_len(&uc->in), &hl, &len, &status, &err)) {
    case SCAN_MORE:
        if (uc->in.end == uc->in.cap)
            buf_grow(&uc->in, uc->in.cap * 2); /* the scan limit bounds this */
        return false;
    case SCAN_BAD:
        log_warn("backend sent an invalid response head: %s", err);
        request_fail(r, &err_bad_response);
        return false;
    case SCAN_DONE:
        break;
    }
    memset(&r->rscan, 0, sizeof(r->rscan));
    struct arena_mark mark = arena_mark(&r->arena);
    char *copy = arena_alloc(&r->arena, len);
    memcpy(copy, buf_head(&uc->in), len);
    buf_consume(&uc->in, &r->w->bufs, len);
    if (http_parse_response(&r->rparser, copy, len, r->head.method == HTTP_HEAD, &r->resp,
                            &r->arena, &err) != 0) {
        log_warn("backend sent an invalid response head: %s", err);
        request_fail(r, &err_bad_response);
        return false;
    }
    if (r->resp.status == 101) {
        if (r->tunnel) {
            upgrade_to_tunnel(r);
        } else {
            log_warn("backend switched protocols without being asked");
            request_fail(r, &err_bad_response);
        }
        return false;
    }
    if (r->resp.status / 100 == 1)
        return forward_interim(r, mark, len);
    if (r->head.method == HTTP_CONNECT) { /* a parent's answer to CONNECT */
        parent_connect_answered(r);
        return false;
    }
    r->resp_head_done = true;
    if (r->backend) {
        unsigned st = r->resp.status;
        decide_attempt_result(r, st == 502 || st == 503 || st == 504 ? AR_HTTP_5XX : AR_OK,
                              r->t_first_byte - r->t_connect);
    }
    return start_response(r);
}

/* The response body turned out bad. While its head is only queued, the
 * client gets a clean 502 instead; once bytes went out, a cut. */
static void bad_response_body(struct request *r, bool head_unsent)
{
    if (head_unsent) {
        outq_reset(&r->conn->out);
        r->resp_started = false;
    }
    request_fail(r, &err_bad_response);
}

/* Handles what the backend buffer holds. Returns true when r is still
 * streaming and the client took everything (reading on makes sense). */
static bool process_response(struct request *r)
{
    struct upconn *uc = r->uc;
    bool head_unsent = !r->resp_head_done; /* queued below, not yet written */
    while (!r->resp_head_done) {
        if (buf_len(&uc->in) == 0 || !read_response_head(r))
            return false;
    }
    if (!r->resp_done && buf_len(&uc->in) > 0) {
        size_t avail = buf_len(&uc->in);
        const char *err = NULL;
        ssize_t n = body_feed(&r->resp_body, buf_head(&uc->in), avail, on_resp_body, r, &err);
        if (n < 0) {
            log_warn("backend sent an invalid response body: %s", err);
            bad_response_body(r, head_unsent);
            return false;
        }
        r->resp_parsed = (size_t)n;
        if (r->resp_body.done && (size_t)n < avail) {
            /* bytes beyond the declared end: the framing is a lie or the
             * backend is out of step, and the connection can't be reused */
            char peer[ADDR_STRLEN];
            log_warn("backend %s sent %zu bytes after the end of its response%s",
                     peer_text(r, peer), avail - (size_t)n,
                     head_unsent ? "; answered 502" : "; discarded");
            r->uc_dirty = true;
            if (head_unsent) {
                bad_response_body(r, true);
                return false;
            }
            /* part of it is out: the client gets exactly the response as
             * framed, which is all that can still be done honestly */
        }
        if (r->resp_body.done)
            response_body_done(r);
    }
    return flush_response(r);
}

static void backend_eof(struct request *r)
{
    if (!r->resp_bytes_seen) {
        backend_failed(r, &err_backend_closed);
        return;
    }
    if (!r->resp_head_done) {
        log_warn("backend closed the connection in the middle of a response head");
        request_fail(r, &err_bad_response);
        return;
    }
    r->uc_dirty = true;
    if (!r->resp_done) {
        if (!body_eof_ok(&r->resp_body)) { /* only a close-delimited body ends here */
            request_fail(r, &err_backend_cut);
            return;
        }
        response_body_done(r);
    }
    flush_response(r);
}

static void read_from_backend(struct request *r)
{
    struct upconn *uc = r->uc;
    /* A full buffer means more is probably waiting: read again at once
     * rather than through another loop iteration (bounded, so one busy
     * exchange cannot starve the others). */
    for (int round = 0; round < 8; round++) {
        if (r->resp_parsed || r->resp_done) {
            upconn_want_read(uc, false); /* the buffer is still referenced */
            return;
        }
        /* the last read filled the buffer: a large response, read the
         * rest in big pieces (fewer reads and writes) */
        size_t room = r->backend_more ? buf_prepare_big(&uc->in, &r->w->bufs) : buf_prepare(&uc->in, &r->w->bufs);
        ssize_t n = transport_read(&uc->tr, uc->in.data + uc->in.end, room);
        if (n > 0) {
            uc->in.end += (size_t)n;
            if (!r->resp_bytes_seen) {
                r->t_first_byte = ev_now(r->w->loop);
                if (unlikely(r->hedge.armed))
                    hedge_drop(r); /* this one answered: a second attempt is not needed */
            }
            r->resp_bytes_seen = true;
            r->backend_more = (size_t)n == room;
            backend_timer(r);
            if (!process_response(r) || !r->backend_more)
                return;
        } else if (n == 0) {
            backend_eof(r);
            return;
        } else if (errno == EAGAIN || errno == EINTR) {
            r->backend_more = false;
            conn_uncork(r->conn); /* nothing more now: let held bytes go */
            return;
        } else {
            backend_failed(r, errno == ECONNRESET ? &err_backend_reset : &err_backend_closed);
            return;
        }
    }
}

/* ---- tunnels ---- */

/* Both sockets go to a tunnel; the request and the connection objects end
 * here without touching the sockets. The request's on_log runs now; its
 * access line is the tunnel's, when it closes. */
static void hand_over(struct request *r, const char *to_client, size_t to_client_len)
{
    struct conn *c = r->conn;
    struct worker *w = r->w;
    struct access_entry e;
    char peer[ADDR_STRLEN];
    request_log_entry(r, &e, peer);
    e.tunnel = true;
    struct transport backend = upconn_detach(r->uc);
    r->uc = NULL;
    struct transport client = conn_detach(c);
    tunnel_start(w, client, backend, buf_head(&c->in), buf_len(&c->in), to_client, to_client_len, &e,
                 r->started);
    request_log_hook(r, &e);
    proxy_detach(r);
    metrics_request_end(r, false); /* the request is done; the tunnel counts its own */
    c->req = NULL;
    request_free(r);
    conn_close(c, "handed over to a tunnel");
}

static const char connect_ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

static void establish_connect_tunnel(struct request *r)
{
    r->status = 200;
    hand_over(r, connect_ok, sizeof(connect_ok) - 1);
}

/* A parent opened the tunnel (2xx): the client's starts, with whatever the
 * origin already sent behind the parent's head; or it refused. */
static void parent_connect_answered(struct request *r)
{
    struct upconn *uc = r->uc;
    if (r->resp.status / 100 != 2) {
        char peer[ADDR_STRLEN];
        log_warn("parent %s %s answered CONNECT %.*s with %u", r->up->cfg->name, peer_text(r, peer),
                 (int)min(r->head.target.len, (size_t)256), r->head.target.ptr, r->resp.status);
        char *detail = arena_alloc(&r->arena, 32);
        snprintf(detail, 32, "it answered %u", r->resp.status);
        r->uc_dirty = true;
        request_fail_detail(r, &err_parent_refused, detail);
        return;
    }
    size_t extra = buf_len(&uc->in);
    char *out = arena_alloc(&r->arena, sizeof(connect_ok) - 1 + extra);
    memcpy(out, connect_ok, sizeof(connect_ok) - 1);
    if (extra)
        memcpy(out + sizeof(connect_ok) - 1, buf_head(&uc->in), extra);
    buf_consume(&uc->in, &r->w->bufs, extra);
    r->status = 200;
    hand_over(r, out, sizeof(connect_ok) - 1 + extra);
}

static void upgrade_to_tunnel(struct request *r)
{
    struct upconn *uc = r->uc;
    if (!outq_empty(&r->conn->out)) {
        request_fail(r, &err_bad_response); /* an unsent 1xx before 101: give up */
        return;
    }
    headers_strip_hop_by_hop(&r->resp.headers, HOP_KEEP_UPGRADE);
    r->framing = FRAME_NONE;
    struct slice head = proxy_response_head(r, "upgrade");
    size_t extra = buf_len(&uc->in);
    char *out = arena_alloc(&r->arena, head.len + extra);
    memcpy(out, head.ptr, head.len);
    if (extra)
        memcpy(out + head.len, buf_head(&uc->in), extra);
    r->status = 101;
    hand_over(r, out, head.len + extra);
}

/* ---- events ---- */

static void send_head(struct request *r)
{
    struct upconn *uc = r->uc;
    r->state = RS_EXCHANGE;
    if (r->up_head.ptr == NULL)
        r->up_head = request_head(r);
    outq_push(&uc->out, r->up_head.ptr, r->up_head.len);
    upconn_want_read(uc, true);
    if (unlikely(r->up && r->up->cfg->hedge > 0))
        hedge_arm(r);
    if (!r->body_done && !parse_body(r))
        return;
    flush_to_backend(r);
}

static void on_connected(struct request *r)
{
    struct upconn *uc = r->uc;
    int e = upconn_socket_error(uc);
    if (e) {
        attempt_failed(r, e == ECONNREFUSED ? &err_connect_refused : &err_connect_failed);
        return;
    }
    uc->connected = true;
    r->t_connected = ev_now(r->w->loop);
    upconn_want_write(uc, false);
    if (r->head.method == HTTP_CONNECT && !r->via_parent)
        establish_connect_tunnel(r);
    else
        send_head(r); /* through a parent, CONNECT is a request it answers first */
}

static void on_backend_event(struct upconn *uc, int revents)
{
    struct request *r = uc->owner;
    struct conn *c = r->conn;
    conn_hold(c);
    if (revents == EV_CUSTOM) {
        send_head(r); /* a pooled connection: already connected */
    } else if (revents & EV_TIMER) {
        if (r->state == RS_CONNECTING)
            attempt_failed(r, &err_connect_timeout);
        else if (!r->resp_head_done)
            exchange_failed(r, &err_backend_timeout, AR_TIMEOUT);
        else
            request_fail(r, &err_backend_timeout);
    } else if (r->state == RS_CONNECTING) {
        on_connected(r);
    } else if (revents & EV_WRITE) {
        flush_to_backend(r);
    } else if (revents & EV_READ) {
        read_from_backend(r);
    }
    conn_release(c);
}

void proxy_detach(struct request *r)
{
    if (unlikely(r->hedge.armed))
        hedge_drop(r);
    if (r->cache_status)
        cache_detach(r);
    resolve_cancel(&r->rwait);
    decide_attempt_close(r);
    if (r->body_parsed && !r->conn->closing) {
        buf_consume(&r->conn->in, &r->w->bufs, r->body_parsed);
        r->body_parsed = 0;
    }
    struct upconn *uc = r->uc;
    if (uc == NULL)
        return;
    r->uc = NULL;
    if (r->resp_parsed) {
        buf_consume(&uc->in, &r->w->bufs, r->resp_parsed);
        r->resp_parsed = 0;
    }
    bool drained = r->backend && (atomic_load_explicit(&r->backend->st->down, memory_order_relaxed) & SS_DRAINED);
    bool reusable = r->resp_done && r->body_done && !r->upload_stopped && !r->uc_dirty && !drained &&
                    !r->tunnel && r->resp.keep_alive && outq_empty(&uc->out);
    if (reusable) {
        uc->exchanges++;
        upconn_release(uc, r->up ? r->up->cfg->keepalive : r->lc->keepalive,
                       timeouts(r)->backend_idle);
    } else {
        upconn_close(uc);
    }
}

/* ---- hedged attempts (hedge.c) ---- */

void proxy_hedge_adopt(struct request *r, struct upconn *uc, struct backend *b, ev_tstamp t_connect, bool connected)
{
    uc->on_event = on_backend_event;
    uc->owner = r;
    r->uc = uc;
    r->backend = b;
    r->counted_inflight = true; /* hedge.c began it */
    r->peer = uc->addr;
    r->t_connect = t_connect;
    r->t_connected = connected ? t_connect : 0;
    r->t_first_byte = 0;
    forget_response_start(r);
    r->state = connected ? RS_EXCHANGE : RS_CONNECTING; /* connecting: on_connected sends the head */
}

void proxy_hedge_won(struct request *r, struct upconn *uc, struct backend *b, ev_tstamp t_connect)
{
    close_attempt(r); /* the first one lost the race: no failure of its server */
    proxy_hedge_adopt(r, uc, b, t_connect, true);
    read_from_backend(r);
}
