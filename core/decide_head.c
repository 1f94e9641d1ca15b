/* decide_head.c - the first decisions on a request head (decide.h): the
 * listener's allow list and mode (the route an absolute or CONNECT target
 * gives, the destination rules), the body limit, the header hygiene, the
 * client behind trusted proxies, the anonymity level or the forwarding
 * fields, and the request id. */
#include "decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lua/hooks.h"
#include "clock.h"
#include "forwarding.h"
#include "generation.h"
#include "log.h"
#include "request.h"
#include "request_id.h"
#include "trace.h"
#include "trace_ring.h"
#include "worker.h"

bool decide_client_allowed(const struct listener_config *lc, const union sockaddr_u *peer)
{
    if (lc->nallow == 0)
        return true;
    for (unsigned i = 0; i < lc->nallow; i++)
        if (cidr_match(&lc->allow[i], peer))
            return true;
    return false;
}

/* ---- request ids ---- */

struct slice request_id_field(const struct request *r)
{
    const struct listener_config *lc = r->lc;
    return slice_make(lc->request_id, lc->request_id_len);
}

/* The listener gives ids: r gets a new one. It goes to the next hop and
 * back to the client unless r is at anonymity elite, which hides that a
 * proxy is involved, from origins and clients: there the id stays in luxy
 * (logs, req.id). */
void request_new_id(struct request *r)
{
    char *p = arena_alloc(&r->arena, REQUEST_ID_LEN);
    request_id_make(p);
    r->request_id = slice_make(p, REQUEST_ID_LEN);
    r->id_sent = r->anon_level != ANON_ELITE;
}

/* r's fields toward the backend carry its id and nothing else in the id's
 * field: a client's own value there is dropped (replaced). */
static void put_request_id(struct request *r)
{
    struct headers *h = &r->head.headers;
    struct slice name = request_id_field(r);
    if (headers_find_quick(h, name) >= 0) /* inline: the usual answer is no, without a call */
        headers_del(h, name);
    r->id_sent = r->anon_level != ANON_ELITE;
    if (r->id_sent)
        headers_add(h, &r->arena, name, r->request_id);
}

/* The listener gives ids: a trusted peer's when it is a sane token, else
 * a new one. */
static void assign_request_id(struct request *r, bool peer_trusted)
{
    if (peer_trusted) {
        struct slice v = slice_trim(headers_get(&r->head.headers, request_id_field(r)));
        if (v.ptr && request_id_valid(v))
            r->request_id = v;
    }
    if (r->request_id.len == 0)
        request_new_id(r);
    put_request_id(r);
}

/* ---- the route the listener's mode gives ---- */

/* Host header value for an absolute-form or CONNECT target. */
static struct slice authority(struct request *r)
{
    struct slice host = r->target.host;
    bool v6 = memchr(host.ptr, ':', host.len) != NULL;
    char *p = arena_alloc(&r->arena, host.len + 8); /* "[" "]" ":65535" */
    struct wbuf w = wbuf_make(p, host.len + 8);     /* on every forward request: no snprintf */
    if (v6)
        wbuf_char(&w, '[');
    wbuf_slice(&w, host);
    if (v6)
        wbuf_char(&w, ']');
    if (r->target.port != 80) {
        wbuf_char(&w, ':');
        wbuf_u64(&w, r->target.port);
    }
    return slice_make(p, wbuf_len(&w, p));
}

static bool connect_port_allowed(const struct listener_config *lc, uint16_t port)
{
    if (lc->connect_any)
        return true;
    for (unsigned i = 0; i < lc->nconnect_ports; i++)
        if (lc->connect_ports[i] == port)
            return true;
    return false;
}

/* deny_destinations by name; the addresses are checked once resolved. */
static unsigned destination_allowed(struct request *r, const char **why)
{
    const struct destination_rules *d = &r->lc->deny;
    if (d->nhosts && destination_host_denied(d, r->origin_host)) {
        log_info("client %s: destination %.*s refused (deny_destinations)", r->from_ip,
                 (int)min(r->origin_host.len, (size_t)256), r->origin_host.ptr);
        *why = "the destination is not allowed";
        return 403;
    }
    return 0;
}

/* Applies the listener's mode to the target. Returns 0 or a status. */
static unsigned route_by_mode(struct request *r, const char **why)
{
    const struct listener_config *lc = r->lc;
    struct http_target *t = &r->target;
    r->path = t->path;
    r->query = t->query;
    if (r->head.method == HTTP_CONNECT) {
        if (lc->mode != MODE_FORWARD) {
            *why = "CONNECT is only served by forward proxy listeners";
            return 405;
        }
        if (!connect_port_allowed(lc, t->port)) {
            *why = "CONNECT to this port is not allowed";
            return 403;
        }
        r->tunnel = true;
        r->origin_host = t->host;
        r->origin_port = t->port;
        if (lc->parent)
            r->parent_name = slice_make(lc->parent, strlen(lc->parent));
        return destination_allowed(r, why);
    }
    if (t->absolute) {
        if (!slice_caseeq_lit(t->scheme, "http")) {
            *why = "only http:// targets can be proxied (use CONNECT for https)";
            return 400;
        }
        /* RFC 9112 3.2.2: the target's authority replaces any Host */
        headers_set(&r->head.headers, &r->arena, H_HOST, authority(r));
        if (lc->mode == MODE_FORWARD) {
            r->origin_host = t->host;
            r->origin_port = t->port;
            if (lc->parent)
                r->parent_name = slice_make(lc->parent, strlen(lc->parent));
            unsigned st = destination_allowed(r, why);
            if (st)
                return st;
        }
    } else if (headers_find(&r->head.headers, H_HOST, 0) < 0 && r->head.minor >= 1) {
        *why = "missing Host header";
        return 400;
    }
    if (lc->mode == MODE_REVERSE && lc->upstream)
        r->upstream_name = slice_make(lc->upstream, strlen(lc->upstream));
    r->tunnel = r->head.upgrade;
    return 0;
}

struct anonymity_subject request_anonymity_subject(const struct request *r)
{
    const struct listener_config *lc = r->lc;
    struct anonymity_subject s = {
        .client_ip = request_client_ip(r), .host = r->origin_host, .port = r->origin_port,
        .via = lc->via ? slice_make(lc->via, strlen(lc->via)) : SLICE_NULL, .third_party = r->third_party,
    };
    return s;
}

static void anonymize(struct request *r)
{
    const struct listener_config *lc = r->lc;
    if (r->anon_level == ANON_OFF)
        return;
    if (lc->anon.cookies == COOKIES_THIRD_PARTY)
        r->third_party = anonymity_third_party(&r->head.headers, r->origin_host);
    struct anonymity_subject s = request_anonymity_subject(r);
    anonymity_request(&r->head.headers, &r->arena, &lc->anon, r->anon_level, &s);
}

void request_set_anonymity(struct request *r, enum anonymity_level level)
{
    r->head.headers = headers_copy(&r->client_fields, &r->arena);
    r->anon_level = level;
    anonymize(r);
    if (r->lc->request_id) /* the rules ran on the client's fields again */
        put_request_id(r);
}

/* ---- hygiene, anonymity, the client behind trusted proxies ---- */

/* The client behind trusted proxies, from their fields. */
static void find_client(struct request *r)
{
    const struct forwarding_config *fc = &r->lc->fwd;
    if (!forwarding_client(fc, &r->head.headers, &r->client_addr))
        return;
    char *text = arena_alloc(&r->arena, ADDR_STRLEN);
    size_t n = addr_format(&r->client_addr, text, ADDR_STRLEN, false);
    r->client_ip = slice_make(text, n);
}

static void apply_hygiene(struct request *r)
{
    const struct listener_config *lc = r->lc;
    struct headers *h = &r->head.headers;
    bool upgrade = r->tunnel && r->head.method != HTTP_CONNECT;
    struct headers seen;
    if (unlikely(r->trace))
        seen = headers_copy(h, &r->arena);
    /* Proxy-Authorization stays for on_request to check (proxy users);
     * request_begin removes it before anything is sent */
    headers_strip_hop_by_hop(h, (upgrade ? HOP_KEEP_UPGRADE : 0) | HOP_KEEP_PROXY_AUTH);
    headers_del_id(h, HDR_CONTENT_LENGTH); /* framing is re-declared on the way out */
    if (unlikely(r->trace))
        trace_step(r->trace, "hygiene", &seen, &r->head.headers);
    bool peer_trusted = lc->fwd.ntrusted && forwarding_trusted(&lc->fwd, r->from);
    if (peer_trusted)
        find_client(r);
    if (hooks_defined(r->gen->vm, HOOK_ON_REQUEST) || hooks_defined(r->gen->vm, HOOK_ON_RESPONSE))
        r->client_fields = headers_copy(h, &r->arena); /* for req:client_header, req.anonymity */
    if (lc->mode == MODE_FORWARD) {
        r->anon_level = lc->anon.level;
        anonymize(r);
        if (unlikely(r->trace)) {
            trace_add(r->trace, "anonymity", "level %s", anonymity_level_name(r->anon_level));
            trace_step(r->trace, "anonymity", &seen, &r->head.headers);
        }
    } else {
        struct forwarding_subject s = {
            .peer_trusted = peer_trusted, .peer_ip = slice_make(r->from_ip, r->from_ip_len),
            .host = slice_trim(headers_get(h, H_HOST)),
        };
        forwarding_request(h, &r->arena, &lc->fwd, &s);
        if (lc->via)
            headers_add_via(h, &r->arena, slice_make(lc->via, strlen(lc->via)));
        if (unlikely(r->trace)) {
            if (peer_trusted)
                trace_add(r->trace, "forwarding", "the peer is a trusted proxy: the client is %.*s",
                          (int)request_client_ip(r).len, request_client_ip(r).ptr);
            trace_step(r->trace, "forwarding", &seen, &r->head.headers);
        }
    }
    if (lc->request_id) {
        assign_request_id(r, peer_trusted); /* after the rules: they must not drop it */
        if (unlikely(r->trace))
            trace_step(r->trace, "request-id", &seen, &r->head.headers);
    }
}

/* ---- the head ---- */

/* The route, the admin listener and the body limit, in that order. */
static struct decision_out refuse(enum decision what, unsigned status, const char *why)
{
    return (struct decision_out){ .what = what, .status = status, .why = why };
}

static struct decision_out fail(const struct proxy_error *err)
{
    return (struct decision_out){ .what = DECIDE_FAIL, .err = err };
}

struct decision_out decide_head(struct request *r, char *head, size_t len)
{
    const struct listener_config *lc = r->lc;
    const char *why = NULL;
    int status = http_parse_request(&r->parser, head, len, &r->head, &r->arena, &why);
    if (status) {
        r->head.major = 0; /* log what was received, not what was half parsed */
        return refuse(DECIDE_REJECT, (unsigned)status, why);
    }
    /* traced when asked: someone follows the live traces, or the request
     * carries the field; never the admin listener's own (the polls would
     * fill the stream they read) */
    uint64_t follow = atomic_load_explicit(&trace_follow_until_ms, memory_order_relaxed);
    if (unlikely((follow && server_loop_ms(clock_now(r->w->loop)) < follow) ||
                 (r->gen->cfg->nadmin && trace_field_accepted(r))) &&
        r->trace == NULL && lc->mode != MODE_ADMIN)
        r->trace = trace_new(&r->arena);
    if (unlikely(r->trace))
        trace_add(r->trace, "head", "%s %.*s HTTP/1.%u from %s on %s (%s)", http_method_str(r->head.method),
                  (int)min(r->head.target.len, (size_t)512), r->head.target.ptr, r->head.minor, r->from_ip,
                  lc->spec, lc->mode == MODE_FORWARD ? "forward" : lc->mode == MODE_REVERSE ? "reverse" : "admin");
    if (log_access_formats() & ACCESS_NEED_FIELDS) { /* as the client sent them, before any rule */
        r->log_user_agent = headers_get(&r->head.headers, SLICE_LIT("User-Agent"));
        r->log_referer = headers_get(&r->head.headers, SLICE_LIT("Referer"));
    }
    body_init(&r->req_body, r->head.chunked ? BODY_CHUNKED : r->head.has_length ? BODY_LENGTH : BODY_NONE,
              r->head.content_length);
    r->body_done = r->req_body.done;
    r->keep_alive = r->head.keep_alive;
    if (r->denied) {
        if (unlikely(r->trace))
            trace_add(r->trace, "access", "%s is not in the listener's allow list: 403", r->from_ip);
        log_info("client %s: not in the listener's allow list", r->from_ip);
        r->keep_alive = false;
        return refuse(DECIDE_REFUSE, 403, "access denied");
    }
    if ((status = http_split_target(&r->head, &r->target, &why)) != 0 ||
        (status = (int)route_by_mode(r, &why)) != 0) {
        if (unlikely(r->trace))
            trace_add(r->trace, "route", "refused with %d: %s", status, why);
        return refuse(status == 405 || status == 403 ? DECIDE_REFUSE : DECIDE_REJECT, (unsigned)status, why);
    }
    if (lc->mode == MODE_ADMIN)
        return (struct decision_out){ .what = DECIDE_ADMIN }; /* never proxied, no hooks */
    uint64_t limit = r->gen->cfg->limits.body_size;
    if (limit && r->head.has_length && r->head.content_length > limit) {
        r->keep_alive = false;
        return fail(&err_body_too_large);
    }
    apply_hygiene(r);
    return (struct decision_out){ .what = lc->auth.on ? DECIDE_AUTH : DECIDE_POLICY };
}

