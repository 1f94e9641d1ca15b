/* decide.c - the decisions of an exchange, apart from its sockets (see
 * decide.h): the listener's rules, the route the mode gives, the header
 * hygiene, anonymity, request ids, on_request, the cache or the route, the
 * backend of the group, and the rules on the response. */
#include "decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lua/hooks.h"
#include "../lua/vm.h"
#include "backend_hiding.h"
#include "cache.h"
#include "cache_fill.h"
#include "cache_serve.h"
#include "clock.h"
#include "forwarding.h"
#include "generation.h"
#include "lb_request.h"
#include "log.h"
#include "request.h"
#include "request_id.h"
#include "trace.h"
#include "trace_ring.h"
#include "retry_budget.h"
#include "upstream.h"
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
    char *p = arena_alloc(&r->arena, host.len + 16);
    int n = r->target.port == 80
                ? snprintf(p, host.len + 16, v6 ? "[%.*s]" : "%.*s", (int)host.len, host.ptr)
                : snprintf(p, host.len + 16, v6 ? "[%.*s]:%u" : "%.*s:%u", (int)host.len, host.ptr,
                           r->target.port);
    return slice_make(p, (size_t)n);
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

/* Traced: what stage changed in the fields since *before, which then
 * becomes the fields as they are now. */
static void trace_step(struct request *r, const char *stage, struct headers *before)
{
    trace_fields(r->trace, stage, before, &r->head.headers);
    *before = headers_copy(&r->head.headers, &r->arena);
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
    headers_del(h, H_CONTENT_LENGTH); /* framing is re-declared on the way out */
    if (unlikely(r->trace))
        trace_step(r, "hygiene", &seen);
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
            trace_step(r, "anonymity", &seen);
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
            trace_step(r, "forwarding", &seen);
        }
    }
    if (lc->request_id) {
        assign_request_id(r, peer_trusted); /* after the rules: they must not drop it */
        if (unlikely(r->trace))
            trace_step(r, "request-id", &seen);
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
    uint64_t follow = atomic_load_explicit(&trace_follow_until_ms, memory_order_relaxed);
    if (unlikely((follow && server_loop_ms(clock_now(r->w->loop)) < follow) ||
                 (r->gen->cfg->nadmin && trace_field_accepted(r))) &&
        r->trace == NULL) /* asked for: someone follows the live traces, or the request carries the field */
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

/* ---- the policy ---- */

/* Traced: what on_request decided (before: the route as it was). */
struct route_seen {
    struct slice upstream_name, path, query;
};

static void trace_policy(struct request *r, struct headers *seen, const struct route_seen *before)
{
    trace_step(r, "on_request", seen);
    if (r->local_status)
        trace_add(r->trace, "on_request", "req:respond(%u): answered by the script", r->local_status);
    if (!slice_eq(r->upstream_name, before->upstream_name.ptr, before->upstream_name.len))
        trace_add(r->trace, "on_request", "route: upstream %.*s", (int)r->upstream_name.len, r->upstream_name.ptr);
    if (!slice_eq(r->path, before->path.ptr, before->path.len) ||
        !slice_eq(r->query, before->query.ptr, before->query.len))
        trace_add(r->trace, "on_request", "target: %.*s%s%.*s", (int)min(r->path.len, (size_t)512), r->path.ptr,
                  r->query.ptr ? "?" : "", (int)min(r->query.len, (size_t)256), r->query.ptr ? r->query.ptr : "");
}

struct decision_out decide_policy(struct request *r)
{
    struct vm *vm = r->gen->vm;
    r->state = RS_HOOKS;
    if (hooks_defined(vm, HOOK_ON_REQUEST)) {
        struct headers seen = { 0 };
        struct route_seen before = { r->upstream_name, r->path, r->query }; /* for the trace */
        if (unlikely(r->trace))
            seen = headers_copy(&r->head.headers, &r->arena);
        if (hooks_on_request(vm, r) != HOOK_OK)
            return fail(&err_hook);
        if (unlikely(r->trace))
            trace_policy(r, &seen, &before);
        if (r->local_status)
            return (struct decision_out){ .what = DECIDE_RESPOND };
    }
    headers_del(&r->head.headers, H_PROXY_AUTHORIZATION); /* meant for luxy, never forwarded */
    if (cache_applies(r))
        return (struct decision_out){ .what = DECIDE_CACHE };
    if (r->w->cache && r->lc->cache) {
        r->cache_status = "BYPASS"; /* a caching listener says why the cache was not used */
        if (unlikely(r->trace))
            trace_add(r->trace, "cache", "BYPASS: %s", r->tunnel ? "a tunnel" : "not a GET or HEAD without a body");
    }
    return (struct decision_out){ .what = DECIDE_ROUTE };
}

/* ---- the group ---- */

/* Through the parent proxy group. The parent resolves the name: only a
 * literal address can be checked against deny_destinations here. */
static struct upstream *parent_group(struct request *r, const struct proxy_error **err)
{
    struct upstream *up = parent_find(r->gen, r->parent_name.ptr, r->parent_name.len);
    if (up == NULL) {
        *err = &err_unknown_upstream;
        return NULL;
    }
    const struct destination_rules *deny = &r->lc->deny;
    char host[ADDR_HOSTLEN];
    union sockaddr_u a;
    if (deny->nnets && r->origin_host.len < sizeof(host)) {
        memcpy(host, r->origin_host.ptr, r->origin_host.len);
        host[r->origin_host.len] = '\0';
        if (addr_from_ip(host, r->origin_port, &a) == 0 && destination_addr_denied(deny, &a)) {
            *err = &err_destination_denied;
            return NULL;
        }
    }
    r->via_parent = true;
    return up;
}

struct upstream *decide_group(struct request *r, const struct proxy_error **err)
{
    *err = NULL;
    if (r->upstream_name.len) {
        r->up = upstream_find(r->gen, r->upstream_name.ptr, r->upstream_name.len);
        if (r->up == NULL)
            *err = &err_unknown_upstream;
        return r->up;
    }
    if (r->parent_name.len && r->origin_host.ptr)
        return r->up = parent_group(r, err);
    if (r->origin_host.ptr == NULL) {
        const struct listener_config *lc = r->lc;
        if (lc->mode == MODE_REVERSE)
            log_warn("listen %s has no upstream of its own and on_request chose none for %s %.*s", lc->spec,
                     http_method_str(r->head.method), (int)min(r->head.target.len, (size_t)256),
                     r->head.target.ptr);
        *err = lc->mode == MODE_FORWARD ? &err_no_route : &err_no_upstream;
    }
    return NULL; /* an origin by name */
}

/* ---- the backend ---- */

/* May r try again (attempt 2 and later)? Within the upstream's time and
 * retry budgets. */
static bool retry_allowed(struct request *r, struct upstream *up, uint64_t now_ms)
{
    const struct retry_config *rc = &up->cfg->retry;
    double now = clock_now(r->w->loop);
    if (rc->timeout > 0 && now - r->started > rc->timeout) {
        log_warn("upstream %s: no retry: %.1fs since the request began (retry.timeout)", up->cfg->name,
                 now - r->started);
        return false;
    }
    if (!retry_budget_take(&up->budget, rc, now_ms)) {
        log_warn("upstream %s: no retry: the retry budget is spent (%.0f%% of requests + %u/s)", up->cfg->name,
                 rc->budget * 100, rc->min_per_second);
        return false;
    }
    return true; /* counted in luxy_retries_total at the end (attempts - 1) */
}

/* No server of up may be picked (down, ejected or drained): a quick 503
 * that says when to come back, never a wait. */
static const struct proxy_error *all_down(struct upstream *up)
{
    log_warn("upstream %s: no server available (every one is down, ejected or drained)", up->cfg->name);
    return &err_all_down; /* with Retry-After, as every 503 of luxy's */
}

/* Traced: the servers as the pick saw them, and the one it chose. */
static void trace_pick(struct request *r, struct upstream *up, const struct lb_query *q, int chosen, const char *by)
{
    if (r->attempts > 0 && r->nfailed)
        trace_add(r->trace, "retry", "attempt %u: server %u failed (%s)", r->attempts + 1,
                  r->failed[r->nfailed - 1].server + 1, attempt_result_name(r->failed[r->nfailed - 1].result));
    for (unsigned k = 0; k < up->n; k++) {
        const struct server_state *st = up->backends[k].st;
        trace_add(r->trace, "balance", "%s server %u %s: %s, in flight %lld, latency %.1f ms, weight %u%s",
                  up->cfg->name, k + 1, up->backends[k].cfg->spec,
                  server_state_name(st, up->cfg->slow_start, q->now_ms),
                  (long long)atomic_load_explicit(&st->inflight, memory_order_relaxed),
                  (double)atomic_load_explicit(&st->latency_us, memory_order_relaxed) / 1000,
                  lb_weight(up, k, q) / SS_WEIGHT_UNIT,
                  lb_is_tried(q->tried, k) ? ", tried" : "");
    }
    if (chosen >= 0)
        trace_add(r->trace, "balance", "chose server %d %s (by %s)", chosen + 1, up->backends[chosen].cfg->spec, by);
    else
        trace_add(r->trace, "balance", "no server chosen (by %s)", by);
}

int decide_backend(struct request *r, const struct proxy_error **err)
{
    const struct proxy_error *last = r->attempt_error ? r->attempt_error : &err_no_backend;
    struct upstream *up = r->up;
    unsigned tries = up->cfg->tries ? up->cfg->tries : up->n;
    *err = last;
    if (r->attempts >= tries)
        return -1;
    uint64_t now_ms = server_loop_ms(clock_now(r->w->loop));
    if (r->attempts == 0)
        retry_budget_request(&up->budget, now_ms);
    else if (!retry_allowed(r, up, now_ms))
        return -1;
    struct lb_query q = { .tried = &r->tried, .now_ms = now_ms };
    int i = -1;
    int rc = HOOK_SKIPPED;
    if (hooks_defined(r->gen->vm, HOOK_SELECT_BACKEND))
        rc = hooks_select_backend(r->gen->vm, r, up, &i);
    if (rc == HOOK_FAILED) {
        *err = &err_hook;
        return -1;
    }
    if (rc == HOOK_OK && i >= 0 && (lb_is_tried(&r->tried, (unsigned)i) || !lb_candidate(up, (unsigned)i, &q))) {
        /* a script that does not look at b.tried or b.state picks a failed
         * or drained one: the upstream's own strategy chooses instead */
        log_debug("select_backend chose backend %d, which is %s; using %s", i + 1,
                  lb_is_tried(&r->tried, (unsigned)i) ? "tried already" : "not available", up->lb->name);
        rc = HOOK_SKIPPED;
    }
    if (rc == HOOK_SKIPPED) {
        i = up->cfg->sticky ? sticky_pick(r, up, &q) : -1;
        if (i < 0) {
            q.has_key = up->lb->keyed && lb_request_key(r, up, &q.key);
            i = lb_pick(up->lb, up, &q);
            if (up->cfg->sticky && i >= 0)
                r->sticky_set = &up->backends[i];
        }
    }
    if (unlikely(r->trace))
        trace_pick(r, up, &q, i, rc == HOOK_OK ? "select_backend" : up->cfg->sticky && !r->sticky_set ? "sticky" : up->lb->name);
    if (i < 0) { /* none left: the script said nil, or every server is out */
        *err = r->attempts > 0 ? last : rc == HOOK_OK ? &err_no_backend : all_down(up);
        return -1;
    }
    lb_mark_tried(&r->tried, (unsigned)i);
    *err = NULL;
    return i;
}

void decide_attempt_begin(struct request *r, unsigned i)
{
    struct backend *b = &r->up->backends[i];
    r->backend = b;
    backend_begin(b);
    r->counted_inflight = true;
    r->attempts++;
}

void decide_attempt_result(struct request *r, enum attempt_result res, double seconds)
{
    backend_result(r->backend, res, seconds);
    if (res != AR_OK && r->nfailed < sizeof(r->failed) / sizeof(r->failed[0]))
        r->failed[r->nfailed++] = (struct attempt_failure){ (uint16_t)r->backend->index, (uint8_t)res };
}

void decide_attempt_close(struct request *r)
{
    if (r->counted_inflight) {
        backend_end(r->backend);
        r->counted_inflight = false;
    }
}

void decide_attempt_end(struct request *r, enum attempt_result res, double seconds)
{
    decide_attempt_result(r, res, seconds);
    decide_attempt_close(r);
}

/* ---- the response ---- */

/* Is host:port one of this worker's backends: as configured, or the
 * address it resolved to? Only responses with a URL field ask. */
static bool is_backend(void *ctx, struct slice host, uint16_t port)
{
    const struct generation *g = ((struct request *)ctx)->gen;
    char text[ADDR_HOSTLEN];
    union sockaddr_u ip;
    bool literal = host.len < sizeof(text);
    if (literal) {
        memcpy(text, host.ptr, host.len);
        text[host.len] = '\0';
        literal = addr_from_ip(text, port, &ip) == 0;
    }
    for (unsigned u = 0; u < g->cfg->nupstreams; u++) {
        const struct upstream *up = &g->upstreams[u];
        for (unsigned i = 0; i < up->n; i++) {
            const struct backend *b = &up->backends[i];
            if (b->cfg->port == port && slice_caseeq(host, b->cfg->host, strlen(b->cfg->host)))
                return true;
            for (unsigned k = 0; literal && k < b->addrs.n; k++)
                if (addr_equal(&b->addrs.addr[k], &ip))
                    return true;
        }
    }
    return false;
}

/* The Host the client used, else the listener's address: where rewritten
 * URLs point. */
static struct slice public_host(void *ctx)
{
    struct request *r = ctx;
    struct slice host = slice_trim(headers_get(&r->head.headers, H_HOST));
    if (host.len && headers_valid_value(host) && !memchr(host.ptr, '/', host.len))
        return host;
    char *addr = arena_alloc(&r->arena, ADDR_STRLEN);
    return slice_make(addr, addr_format(&r->lc->addr, addr, ADDR_STRLEN, true));
}

bool decide_response(struct request *r)
{
    struct worker *w = r->w;
    const struct listener_config *lc = r->lc;
    struct headers *h = &r->resp.headers;
    if (lc->mode == MODE_REVERSE) {
        if (lc->hide_backend) {
            struct hiding_subject s = { public_host, is_backend, r };
            backend_hiding_apply(h, &r->arena, lc->server_header, &s);
        }
        if (lc->via)
            headers_add_via(h, &r->arena, slice_make(lc->via, strlen(lc->via)));
    } else if (r->anon_level != ANON_OFF) {
        struct anonymity_subject s = request_anonymity_subject(r);
        anonymity_response(h, &r->arena, &lc->anon, r->anon_level, &s);
    }
    if (w->cache && lc->cache) {
        const struct cache_config *cc = &w->cache->cfg;
        if (lc->mode == MODE_REVERSE)
            cache_drop_targeted(cc, h); /* meant for this cache, not the client */
        if (r->cache_status && cc->status_header)
            headers_set(h, &r->arena, slice_make(cc->status_header, strlen(cc->status_header)),
                        slice_make(r->cache_status, strlen(r->cache_status)));
    }
    if (unlikely(r->trace) && trace_field_accepted(r)) { /* asked for: where to find it */
        char n[24];
        snprintf(n, sizeof(n), "%llu", (unsigned long long)trace_number(r));
        headers_set(h, &r->arena, SLICE_LIT(TRACE_FIELD), slice_make(arena_strndup(&r->arena, n, strlen(n)), strlen(n)));
    }
    if (r->id_sent) { /* the client gets the id its request had, not the backend's */
        struct slice name = request_id_field(r);
        if (headers_find_quick(h, name) >= 0) /* inline: the usual answer is no, without a call */
            headers_del(h, name);
        headers_add(h, &r->arena, name, r->request_id);
    }
    if (hooks_defined(r->gen->vm, HOOK_ON_RESPONSE) && !r->response_hooked) {
        r->response_hooked = true;
        if (hooks_on_response(r->gen->vm, r) != HOOK_OK) {
            r->error = &err_hook;
            return false;
        }
    }
    return true;
}
