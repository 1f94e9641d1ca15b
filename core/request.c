/* request.c - the front half of an exchange: read the head, apply the
 * listener's rules and the header hygiene, run on_request, then either
 * answer here or hand over to proxy.c; finish with the access log line.
 * Every path ends in exactly one of request_finish (response flushed) or
 * request_client_gone (connection lost); both free the request. */
#include "request.h"

#include "clock.h"

#include <inttypes.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../lua/hooks.h"
#include "../lua/vm.h"
#include "admin.h"
#include "cache_serve.h"
#include "config.h"
#include "conn.h"
#include "decide.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "proxy_auth.h"
#include "request_id.h"
#include "trace.h"
#include "trace_ring.h"
#include "upstream.h"
#include "worker.h"

#define SPARE_REQUESTS_MAX 64

static struct request *request_new(struct conn *c)
{
    struct worker *w = c->w;
    struct request *r = w->spare_requests;
    struct arena keep;
    if (r) {
        w->spare_requests = r->next_free;
        keep = r->arena;
    } else {
        r = xmalloc(sizeof(*r));
        arena_init(&keep);
    }
    memset(r, 0, sizeof(*r));
    r->arena = keep;
    r->conn = c;
    r->w = w;
    r->gen = c->gen; /* held by the connection, which outlives the request */
    r->lc = c->lc;
    r->from = &c->peer;
    r->from_ip = c->peer_ip;
    r->from_ip_len = c->peer_ip_len;
    r->denied = c->denied;
    r->started = clock_now(w->loop);
    r->lua_ctx_ref = LUA_NOREF;
    headers_init(&r->local_headers);
    c->req = r;
    return r;
}

void request_free(struct request *r)
{
    struct worker *w = r->w;
    proxy_auth_cancel(r);
    hooks_request_end(r->gen->vm, r);
    arena_reset(&r->arena);
    unsigned spare = 0;
    for (struct request *s = w->spare_requests; s && spare < SPARE_REQUESTS_MAX; s = s->next_free)
        spare++;
    if (spare >= SPARE_REQUESTS_MAX) {
        arena_free(&r->arena);
        free(r);
        return;
    }
    r->next_free = w->spare_requests;
    w->spare_requests = r;
}

struct slice request_client_ip(const struct request *r)
{
    return r->client_ip.ptr ? r->client_ip : slice_make(r->from_ip, r->from_ip_len);
}

const union sockaddr_u *request_client_addr(const struct request *r)
{
    return r->client_ip.ptr ? &r->client_addr : r->from;
}

/* ---- the access log ---- */

void request_log_entry(const struct request *r, struct access_entry *e, char peer[ADDR_STRLEN])
{
    const struct listener_config *lc = r->lc;
    memset(e, 0, sizeof(*e));
    e->time_ms = access_now_ms();
    e->client = request_client_ip(r);
    e->user = r->user;
    if (r->head.major) {
        const char *m = http_method_str(r->head.method);
        e->method = slice_make(m, strlen(m));
        e->target = r->head.target;
        e->major = r->head.major;
        e->minor = r->head.minor;
    } else {
        e->target = r->raw_line; /* what came of a head that could not be read */
    }
    e->status = r->status;
    e->bytes_sent = r->bytes_out;
    e->request_bytes = r->body_bytes;
    e->duration = ev_now(r->w->loop) - r->started;
    e->connect_time = r->t_connected ? r->t_connected - r->t_connect : -1;
    e->ttfb = r->t_first_byte ? r->t_first_byte - r->t_connect : -1;
    if (r->up)
        e->upstream = slice_make(r->up->cfg->name, strlen(r->up->cfg->name));
    if (r->peer.sa.sa_family)
        e->backend = slice_make(peer, addr_format(&r->peer, peer, ADDR_STRLEN, true));
    e->retries = (r->attempts > 1 ? r->attempts - 1 : 0) + (r->retried_fresh ? 1 : 0);
    if (r->cache_status)
        e->cache = slice_make(r->cache_status, strlen(r->cache_status));
    e->request_id = r->request_id;
    if (r->error_text)
        e->error = slice_make(r->error_text, strlen(r->error_text));
    e->listener = slice_make(lc->spec, strlen(lc->spec));
    e->user_agent = r->log_user_agent;
    e->referer = r->log_referer;
}

void request_log_hook(struct request *r, const struct access_entry *e)
{
    if (r->head.major && hooks_defined(r->gen->vm, HOOK_ON_LOG))
        hooks_on_log(r->gen->vm, r, e);
}

/* The access line(s) and on_log: once per request, at its end. */
static void request_log(struct request *r)
{
    if (unlikely(r->trace)) {
        trace_add(r->trace, "end", "%u, %llu body bytes sent, %u attempt%s, %.3f ms (connect %.3f ms, first byte %.3f ms)%s%s",
                  r->status, (unsigned long long)r->bytes_out, r->attempts, r->attempts == 1 ? "" : "s",
                  (clock_now(r->w->loop) - r->started) * 1000,
                  r->t_connected ? (r->t_connected - r->t_connect) * 1000 : 0,
                  r->t_first_byte ? (r->t_first_byte - r->t_connect) * 1000 : 0, r->error_text ? ": " : "",
                  r->error_text ? r->error_text : "");
        trace_publish(r);
    }
    if (!log_access_enabled() && !hooks_defined(r->gen->vm, HOOK_ON_LOG))
        return;
    struct access_entry e;
    char peer[ADDR_STRLEN];
    request_log_entry(r, &e, peer);
    access_log_write(&e);
    request_log_hook(r, &e);
}

/* ---- ending ---- */

static void request_finish(struct request *r)
{
    struct conn *c = r->conn;
    bool keep = r->keep_alive;
    proxy_detach(r);
    request_log(r);
    metrics_request_end(r, false);
    c->req = NULL;
    request_free(r);
    conn_exchange_done(c, keep);
}

void request_client_gone(struct request *r, const char *why)
{
    if (!r->resp_done && !r->error_text)
        r->error_text = why;
    if (!r->resp_started)
        r->status = 499; /* nothing was sent: nginx's code for a client that left */
    /* what is still queued never reached the client */
    size_t pending = r->conn->out.bytes;
    r->bytes_out = r->bytes_out > pending ? r->bytes_out - pending : 0;
    log_debug("client %s: exchange abandoned: %s", r->from_ip, why);
    proxy_detach(r);
    request_log(r);
    metrics_request_end(r, true);
    request_free(r);
}

void request_response_complete(struct request *r)
{
    struct conn *c = r->conn;
    r->state = RS_DONE;
    r->resp_done = true;
    switch (conn_flush(c, false)) {
    case 1:
        request_finish(r);
        break;
    case 0:
        break; /* request_client_drained finishes it */
    default:
        conn_close(c, "writing to the client failed");
        break;
    }
}

void request_client_drained(struct request *r)
{
    if (r->state == RS_DONE)
        request_finish(r);
    else if (r->state == RS_CACHE)
        cache_client_drained(r);
    else
        proxy_client_drained(r);
}

void request_client_data(struct request *r)
{
    if (r->state == RS_ADMIN)
        admin_client_data(r);
    else
        proxy_client_data(r);
}

/* ---- local responses ---- */

const char *request_connection_header(const struct request *r)
{
    if (!r->keep_alive || !r->head.keep_alive)
        return "close";
    return r->head.minor == 0 ? "keep-alive" : NULL; /* 1.1 keeps alive by default */
}

void request_respond(struct request *r, unsigned status, struct slice body)
{
    struct conn *c = r->conn;
    r->state = RS_LOCAL;
    r->resp_started = true;
    if (!r->body_done || r->w->stopping)
        r->keep_alive = false; /* unread body bytes would be taken for a request */
    struct headers *h = &r->local_headers;
    status = decide_local_response(r, status, body);
    r->status = status;
    if (r->head.major && hooks_defined(r->gen->vm, HOOK_ON_LOG)) {
        /* on_log's res: this response, as it goes out */
        memset(&r->resp, 0, sizeof(r->resp));
        r->resp.status = status;
        r->resp.major = r->resp.minor = 1;
        r->resp.headers = *h;
        r->resp_generated = true;
    }

    const char *reason = http_reason(status);
    const char *connection = request_connection_header(r);
    size_t cap = sizeof("HTTP/1.1 999 \r\n") + strlen(reason) + headers_size(h) +
                 sizeof("Content-Length: 18446744073709551615\r\n") + sizeof("Connection: keep-alive\r\n") + 2;
    char *start = arena_alloc(&r->arena, cap);
    struct wbuf w = wbuf_make(start, cap);
    wbuf_lit(&w, "HTTP/1.1 ");
    wbuf_u64(&w, status);
    wbuf_char(&w, ' ');
    wbuf_str(&w, reason);
    wbuf_lit(&w, "\r\n");
    headers_write(h, &w);
    if (http_status_has_body(status)) { /* HEAD too: the length it would have */
        wbuf_lit(&w, "Content-Length: ");
        wbuf_u64(&w, body.len);
        wbuf_lit(&w, "\r\n");
    }
    if (connection) {
        wbuf_lit(&w, "Connection: ");
        wbuf_str(&w, connection);
        wbuf_lit(&w, "\r\n");
    }
    wbuf_lit(&w, "\r\n");
    outq_push(&c->out, start, wbuf_len(&w, start));
    if (http_response_has_body(r->head.method, status)) {
        outq_push(&c->out, body.ptr, body.len);
        r->bytes_out = body.len;
    }
    request_response_complete(r);
}

static void respond_error(struct request *r, unsigned status, const char *text, const char *detail)
{
    const char *reason = http_reason(status);
    size_t cap = 32 + strlen(reason) + strlen(text) + (detail ? strlen(detail) + 3 : 0);
    char *body = arena_alloc(&r->arena, cap);
    int n = detail ? snprintf(body, cap, "%u %s: %s (%s)\n", status, reason, text, detail)
                   : snprintf(body, cap, "%u %s: %s\n", status, reason, text);
    headers_init(&r->local_headers);
    headers_add(&r->local_headers, &r->arena, H_CACHE_CONTROL, SLICE_LIT("no-store"));
    if (status == 503) /* luxy's 503s are all short-lived: overload, every server down */
        headers_add(&r->local_headers, &r->arena, SLICE_LIT("Retry-After"), SLICE_LIT("1"));
    request_respond(r, status, slice_make(body, (size_t)max(n, 0)));
}

void request_fail_detail(struct request *r, const struct proxy_error *err, const char *detail)
{
    r->error = err;
    r->error_text = err->text;
    r->error_detail = detail;
    proxy_detach(r);
    if (r->resp_started) {
        /* part of the response is out: the only honest signal left is to
         * cut the connection, so the client sees a truncated message */
        log_warn("client %s: response cut: %s", r->from_ip, err->text);
        conn_close(r->conn, err->text);
        return;
    }
    if (err->status >= 500)
        log_warn("client %s: %s %.*s: %u %s%s%s", r->from_ip, http_method_str(r->head.method),
                 (int)min(r->head.target.len, (size_t)512), r->head.target.ptr, err->status,
                 err->text, detail ? ": " : "", detail ? detail : "");
    respond_error(r, err->status, err->text, detail);
}

void request_fail(struct request *r, const struct proxy_error *err)
{
    request_fail_detail(r, err, NULL);
}

/* A bad head: answer and close; the connection cannot be trusted to be in
 * step any more. */
static void reject(struct request *r, unsigned status, const char *why)
{
    r->keep_alive = false;
    r->error_text = why;
    log_info("client %s: rejected with %u: %s", r->from_ip, status, why);
    respond_error(r, status, why, NULL);
}

/* The first line of p[0..n) (without CRLF), at most 1024 bytes. */
static struct slice first_line(const char *p, size_t n)
{
    const char *cr = memchr(p, '\r', min(n, (size_t)1024));
    const char *lf = memchr(p, '\n', min(n, (size_t)1024));
    const char *end = cr && (!lf || cr < lf) ? cr : lf;
    return slice_make(p, end ? (size_t)(end - p) : min(n, (size_t)1024));
}

void request_reject(struct conn *c, unsigned status, const char *why)
{
    struct request *r = request_new(c);
    struct slice line = first_line(buf_head(&c->in), buf_len(&c->in));
    r->raw_line = slice_make(arena_strndup(&r->arena, line.ptr, line.len), line.len);
    /* nothing of the head is usable: drop the buffered bytes with it */
    buf_release(&c->in, &c->w->bufs);
    reject(r, status, why);
}

void request_begin(struct conn *c, size_t head_len)
{
    conn_adopt_current(c); /* a keep-alive connection follows a reload at its next request */
    struct request *r = request_new(c);
    char *head = arena_alloc(&r->arena, head_len);
    memcpy(head, buf_head(&c->in), head_len);
    buf_consume(&c->in, &c->w->bufs, head_len);
    struct decision_out d = decide_head(r, head, head_len);
    r->keep_alive &= !c->orphan;
    switch (d.what) {
    case DECIDE_REJECT:
        if (!r->head.major) /* unparsable: the log shows what was received */
            r->raw_line = first_line(head, head_len);
        reject(r, d.status, d.why);
        return;
    case DECIDE_REFUSE:
        respond_error(r, d.status, d.why, NULL);
        return;
    case DECIDE_FAIL:
        request_fail(r, d.err);
        return;
    case DECIDE_ADMIN:
        admin_begin(r); /* answered by luxy itself: never proxied, no hooks */
        return;
    case DECIDE_AUTH:
        proxy_auth_begin(r); /* request_policy follows once the user is known */
        return;
    default:
        request_policy(r);
        return;
    }
}

void request_policy(struct request *r)
{
    struct decision_out d = decide_policy(r);
    switch (d.what) {
    case DECIDE_FAIL:
        request_fail(r, d.err);
        return;
    case DECIDE_RESPOND:
        request_respond(r, r->local_status, r->local_body);
        return;
    case DECIDE_CACHE:
        cache_begin(r);
        return;
    default:
        proxy_start(r);
        return;
    }
}
