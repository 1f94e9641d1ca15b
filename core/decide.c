/* decide.c - the decisions after the head (decide.h): on_request, the
 * cache or the route, the group, the backend of the group and the
 * attempts' results, and the rules on the response. The head's are in
 * decide_head.c. */
#include "decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lua/hooks.h"
#include "../lua/vm.h"
#include "backend_hiding.h"
#include "cache.h"
#include "cache_fill.h"
#include "cache_serve.h"
#include "clock.h"
#include "generation.h"
#include "lb_request.h"
#include "log.h"
#include "request.h"
#include "retry_budget.h"
#include "trace.h"
#include "trace_ring.h"
#include "upstream.h"
#include "worker.h"

static struct decision_out fail(const struct proxy_error *err)
{
    return (struct decision_out){ .what = DECIDE_FAIL, .err = err };
}

/* ---- the policy ---- */

/* Equal slices, either possibly empty (and NULL). */
static bool same(struct slice a, struct slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

struct route_seen {
    struct slice upstream_name, path, query;
};

/* Traced: what on_request decided (before: the route as it was). */
static void trace_policy(struct request *r, struct headers *seen, const struct route_seen *before)
{
    trace_step(r->trace, "on_request", seen, &r->head.headers);
    if (r->local_status)
        trace_add(r->trace, "on_request", "req:respond(%u): answered by the script", r->local_status);
    if (!same(r->upstream_name, before->upstream_name))
        trace_add(r->trace, "on_request", "route: upstream %.*s", (int)r->upstream_name.len, r->upstream_name.ptr);
    if (!same(r->path, before->path) || !same(r->query, before->query) || (r->query.ptr == NULL) != (before->query.ptr == NULL))
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

/* ---- luxy's own responses ---- */

/* "Sat, 28 Nov 2026 03:07:00 GMT", formatted once per second per thread. */
static struct slice http_date(double now)
{
    static _Thread_local time_t cached_at = -1;
    static _Thread_local char buf[40];
    static _Thread_local size_t len;
    time_t t = (time_t)now;
    if (t != cached_at) {
        struct tm tm;
        gmtime_r(&t, &tm);
        len = strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_at = t;
    }
    return slice_make(buf, len);
}

/* on_response on a response luxy made (an error page, req:respond): the
 * script sees it as res, with res.generated set, and may change its status
 * and fields. If the hook fails, the response goes out as it was: a failure
 * here must not turn into another error page and another call. */
static unsigned hook_generated_response(struct request *r, unsigned status)
{
    struct vm *vm = r->gen->vm;
    r->response_hooked = true;
    memset(&r->resp, 0, sizeof(r->resp));
    r->resp.status = status;
    r->resp.major = r->resp.minor = 1;
    r->resp.headers = headers_copy(&r->local_headers, &r->arena); /* a failed hook leaves the original */
    r->resp_generated = true;
    if (hooks_on_response(vm, r) != HOOK_OK) {
        log_warn("client %s: on_response failed on a %u made by luxy; it was sent unchanged", r->from_ip,
                 status);
        return status;
    }
    r->local_headers = r->resp.headers;
    return r->resp.status;
}

unsigned decide_local_response(struct request *r, unsigned status, struct slice body)
{
    struct headers *h = &r->local_headers;
    headers_del(h, H_CONTENT_LENGTH);
    headers_del(h, H_TRANSFER_ENCODING);
    headers_del(h, H_CONNECTION);
    if (headers_find(h, H_DATE, 0) < 0)
        headers_add(h, &r->arena, H_DATE, http_date(clock_now(r->w->loop)));
    if (body.len && headers_find(h, H_CONTENT_TYPE, 0) < 0)
        headers_add(h, &r->arena, H_CONTENT_TYPE, SLICE_LIT("text/plain; charset=utf-8"));
    if (r->lc->request_id) {
        if (r->request_id.len == 0)
            request_new_id(r); /* answered before the head's fields were looked at */
        /* a script's own value (req:respond) stays */
        if (r->id_sent && headers_find_quick(h, request_id_field(r)) < 0)
            headers_add(h, &r->arena, request_id_field(r), r->request_id);
    }
    /* only for a request that was read: a head that could not be parsed has
     * nothing a script could look at */
    if (r->head.major && !r->response_hooked && hooks_defined(r->gen->vm, HOOK_ON_RESPONSE))
        status = hook_generated_response(r, status);
    return status;
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

bool decide_backend_response(struct request *r)
{
    headers_strip_hop_by_hop(&r->resp.headers, 0);
    if (!decide_response(r))
        return false;
    if (r->sticky_set) /* a new client of a sticky group, or its server went: pin it */
        sticky_set_cookie(&r->resp.headers, &r->arena, r->up, r->sticky_set->index);
    return true;
}
