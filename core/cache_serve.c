/* cache_serve.c - a request through the cache (cache_serve.h).
 *
 *   cache_begin: PURGE, or the key (cache_key, else scheme://host:port/path?query)
 *     -> lookup: READY  -> fresh: serve (HIT, or 304 to a conditional request)
 *                        -> stale, stale-while-revalidate: serve STALE, refresh in the background
 *                        -> stale: refresh it (one at a time; others wait), then serve
 *                BUSY   -> wait for its head, look again
 *                nothing-> fill it: route (proxy.c), fetch (cache_fill.c), read it as it fills (MISS)
 *                PASS   -> to the origin (BYPASS), through the ordinary proxy path
 *
 * Serving streams the entry's chunks at this client's pace (sendmsg of
 * slices of stored memory); when it catches up with a fill it waits for a
 * notification, like a request waiting for a head. Waiting requests are
 * on their worker's list, so a notification only ever touches requests
 * that are still alive. */
#include "cache_serve.h"
#include "decide.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>

#include "../lua/hooks.h"
#include "../lua/vm.h"
#include "cache.h"
#include "cache_fill.h"
#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "request.h"
#include "upstream.h"
#include "worker.h"

#define SERVE_CHUNK (1u << 20)   /* bytes queued at once */

static void lookup(struct request *r);
static void stream(struct request *r);

bool cache_applies(const struct request *r)
{
    if (r->w->cache == NULL || !r->lc->cache || r->tunnel)
        return false;
    unsigned m = r->head.method;
    if (m == HTTP_PURGE)
        return true;
    /* a GET or HEAD with a body would make a response depend on it */
    return (m == HTTP_GET || m == HTTP_HEAD) && !r->head.chunked && !(r->head.has_length && r->head.content_length);
}

static struct cache *store(const struct request *r)
{
    return r->w->cache;
}

static void hold_entry(struct request *r, struct cache_entry *e)
{
    if (e)
        cache_entry_hold(e);
    if (r->centry)
        cache_entry_release(r->centry);
    r->centry = e;
}

/* ---- the key ---- */

/* scheme://host:port/path?query; the host lower-cased. */
static struct slice default_key(struct request *r)
{
    struct slice host = r->origin_host;
    unsigned port = r->origin_port;
    if (host.ptr == NULL) {
        host = headers_get(&r->head.headers, H_HOST);
        if (host.ptr == NULL)
            host = SLICE_LIT("");
        const char *colon = NULL;
        for (size_t i = host.len; i > 0; i--) /* a port after the last ':' (not inside [v6]) */
            if (host.ptr[i - 1] == ':' || host.ptr[i - 1] == ']') {
                if (host.ptr[i - 1] == ':')
                    colon = host.ptr + i - 1;
                break;
            }
        port = 80;
        if (colon) {
            port = (unsigned)atoi(colon + 1);
            host.len = (size_t)(colon - host.ptr);
        }
    }
    size_t cap = host.len + r->path.len + r->query.len + 32;
    char *k = arena_alloc(&r->arena, cap), *w = k;
    memcpy(w, "http://", 7);
    w += 7;
    for (size_t i = 0; i < host.len; i++)
        *w++ = (host.ptr[i] >= 'A' && host.ptr[i] <= 'Z') ? (char)(host.ptr[i] + 32) : host.ptr[i];
    w += snprintf(w, 8, ":%u", port);
    memcpy(w, r->path.ptr, r->path.len);
    w += r->path.len;
    if (r->query.ptr) {
        *w++ = '?';
        memcpy(w, r->query.ptr, r->query.len);
        w += r->query.len;
    }
    return slice_make(k, (size_t)(w - k));
}

/* The key of r: the script's (cache_key), or the default. Returns false
 * when r bypasses the cache (the script said false), or r failed. */
static bool find_key(struct request *r, bool *failed)
{
    struct vm *vm = r->gen->vm;
    *failed = false;
    if (hooks_defined(vm, HOOK_CACHE_KEY)) {
        bool bypass;
        struct slice key;
        if (hooks_cache_key(vm, r, &key, &bypass) != HOOK_OK) {
            *failed = true;
            return false;
        }
        if (bypass)
            return false;
        if (key.ptr) {
            r->cache_key = key;
            return true;
        }
    }
    r->cache_key = default_key(r);
    return true;
}

/* ---- going to the origin instead ---- */

static void pass(struct request *r, const char *status)
{
    hold_entry(r, NULL);
    r->cache_status = status;
    atomic_fetch_add(&store(r)->stats.bypass, 1);
    proxy_start(r);
}

/* ---- waiting ---- */

static void after_wait(struct request *r);

static void resume(struct request *r)
{
    if (r->cwaiting) {
        list_remove(&r->cwait_link);
        r->cwaiting = false;
    }
    if (r->cwait == WAIT_DATA)
        stream(r);
    else
        after_wait(r);
}

/* Waits for e to change (what); resumes at once when it already did. */
static void wait_on(struct request *r, struct cache_entry *e, enum cache_wait_for what, uint64_t pos)
{
    if (e != r->centry)
        hold_entry(r, e);
    r->cwait = what;
    if (!cache_wait(e, r->w->id, what, pos)) {
        resume(r);
        return;
    }
    if (!r->cwaiting) {
        list_insert_tail(&r->w->cache_waiters, &r->cwait_link);
        r->cwaiting = true;
    }
}

void cache_wake(struct worker *w, struct cache_entry *e)
{
    cache_fill_wake(w, e);
    /* take the ones waiting on e off the list first: resuming may end a
     * request, or make another wait */
    struct list woken;
    list_init(&woken);
    for (struct list *it = w->cache_waiters.next; it != &w->cache_waiters;) {
        struct request *r = container_of(it, struct request, cwait_link);
        it = it->next;
        if (r->centry == e) {
            list_remove(&r->cwait_link);
            list_insert_tail(&woken, &r->cwait_link);
        }
    }
    while (!list_empty(&woken)) {
        struct request *r = container_of(list_first(&woken), struct request, cwait_link);
        list_remove(&r->cwait_link);
        r->cwaiting = false;
        struct conn *c = r->conn;
        conn_hold(c);
        resume(r);
        conn_release(c);
    }
}

/* A head, a failure, or a refresh's end came: what to do with r. */
static void serve(struct request *r, struct cache_entry *e, const char *status);

static void after_wait(struct request *r)
{
    if (r->cnext) {
        struct cache_entry *e = r->cnext;
        r->cnext = NULL;
        serve(r, e, r->cnext_status);
        cache_entry_release(e);
        return;
    }
    if (r->cfail) {
        hold_entry(r, NULL);
        request_fail(r, r->cfail);
        return;
    }
    struct cache_entry *e = r->centry;
    if (r->cfill) { /* the fill has not told us yet: a wake for something else */
        wait_on(r, e, r->cwait, 0);
        return;
    }
    pthread_mutex_lock(&e->c->lock);
    bool failed = e->state == CE_FAILED;
    pthread_mutex_unlock(&e->c->lock);
    hold_entry(r, NULL);
    if (failed) { /* the fill this request waited for failed: try the origin itself */
        pass(r, "MISS");
        return;
    }
    lookup(r);
}

/* ---- serving ---- */

static int64_t entry_age(const struct cache_entry *e, double now)
{
    double age = e->initial_age + (now - e->response_time);
    return age < 0 ? 0 : (int64_t)age;
}

/* The fields a 304 carries from the stored response (RFC 9110 15.4.5). */
static void not_modified_fields(struct request *r, const struct headers *src)
{
    static const struct slice keep[] = { SLICE_LIT("Cache-Control"), SLICE_LIT("Content-Location"), SLICE_LIT("Date"),
                                         SLICE_LIT("ETag"), SLICE_LIT("Expires"), SLICE_LIT("Vary"),
                                         SLICE_LIT("Last-Modified") };
    headers_init(&r->resp.headers);
    for (unsigned i = 0; i < src->n; i++)
        for (size_t k = 0; k < countof(keep); k++)
            if (slice_caseeq(src->v[i].name, keep[k].ptr, keep[k].len))
                headers_add(&r->resp.headers, &r->arena, src->v[i].name, src->v[i].value);
}

static void add_field(struct request *r, struct slice name, const char *fmt, uint64_t a, uint64_t b, uint64_t c)
{
    char *v = arena_alloc(&r->arena, 80);
    int n = snprintf(v, 80, fmt, (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
    headers_set(&r->resp.headers, &r->arena, name, slice_make(v, (size_t)n));
}

static void serve(struct request *r, struct cache_entry *e, const char *status)
{
    struct conn *c = r->conn;
    struct cache *cs = store(r);
    hold_entry(r, e);
    r->state = RS_CACHE;
    r->cache_status = status;
    if (strcmp(status, "HIT") == 0)
        atomic_fetch_add(&cs->stats.hits, 1);
    else if (strcmp(status, "STALE") == 0)
        atomic_fetch_add(&cs->stats.stale, 1);
    else if (strcmp(status, "MISS") == 0)
        atomic_fetch_add(&cs->stats.misses, 1);
    double now = ev_now(r->w->loop);
    const struct headers *src = r->cache_own_head ? &r->resp.headers : &e->fields;
    struct headers fields = headers_copy(src, &r->arena);
    struct cache_body *b = e->body;
    pthread_mutex_lock(&b->lock);
    bool complete = b->state == CB_COMPLETE;
    int64_t known = complete ? (int64_t)b->length : b->expected;
    pthread_mutex_unlock(&b->lock);
    unsigned code = e->status;
    struct slice reason = e->reason;
    uint64_t start = 0, len = known >= 0 ? (uint64_t)known : UINT64_MAX;
    bool bodied = http_response_has_body(r->head.method, code);
    bool not_modified = code == 200 && cache_not_modified(&r->head.headers, &fields);

    memset(&r->resp, 0, sizeof(r->resp));
    r->resp.major = r->resp.minor = 1;
    r->resp.headers = fields;
    if (not_modified) {
        code = 304;
        reason = SLICE_NULL;
        not_modified_fields(r, &fields);
        bodied = false;
    } else if (code == 200 && r->head.method == HTTP_GET && known >= 0 &&
               headers_find(&r->head.headers, SLICE_LIT("Range"), 0) >= 0) {
        uint64_t rs, re;
        switch (http_range_parse(&r->head.headers, &fields, (uint64_t)known, &rs, &re)) {
        case RANGE_OK:
            code = 206;
            reason = SLICE_NULL;
            start = rs;
            len = re - rs + 1;
            add_field(r, SLICE_LIT("Content-Range"), "bytes %llu-%llu/%llu", rs, re, (uint64_t)known);
            break;
        case RANGE_UNSATISFIABLE: {
            char *v = arena_alloc(&r->arena, 48);
            int n = snprintf(v, 48, "bytes */%llu", (unsigned long long)known);
            hold_entry(r, NULL);
            r->state = RS_LOCAL;
            headers_init(&r->local_headers);
            headers_add(&r->local_headers, &r->arena, SLICE_LIT("Content-Range"), slice_make(v, (size_t)n));
            request_respond(r, 416, SLICE_LIT("416 Range Not Satisfiable\n"));
            return;
        }
        case RANGE_NONE:
            break;
        }
    }
    r->resp.status = code;
    r->resp.reason = reason;
    headers_del(&r->resp.headers, H_CONTENT_LENGTH);
    add_field(r, SLICE_LIT("Age"), "%llu", (uint64_t)entry_age(e, now), 0, 0);
    if (!decide_response(r)) {
        request_fail(r, r->error); /* the hook failed: a 500 goes out instead */
        return;
    }
    if (!bodied) {
        r->framing = FRAME_NONE;
        if (r->head.method == HTTP_HEAD && known >= 0 && code != 304)
            add_field(r, H_CONTENT_LENGTH, "%llu", (uint64_t)known, 0, 0);
    } else if (len != UINT64_MAX) {
        r->framing = FRAME_LENGTH;
        r->resp.content_length = len;
    } else if (r->head.minor >= 1) {
        r->framing = FRAME_CHUNKED;
    } else {
        r->framing = FRAME_CLOSE;
        r->keep_alive = false;
    }
    if (r->w->stopping)
        r->keep_alive = false;
    struct slice head = proxy_response_head(r, request_connection_header(r));
    outq_push(&c->out, head.ptr, head.len);
    r->resp_started = true;
    r->status = r->resp.status;
    if (!bodied) {
        hold_entry(r, NULL);
        request_response_complete(r);
        return;
    }
    cache_cursor_open(&r->ccur, b, start);
    r->cursor_open = true;
    r->cache_left = len;
    stream(r);
}

static void end_of_body(struct request *r)
{
    if (r->framing == FRAME_CHUNKED)
        outq_copy(&r->conn->out, "0\r\n\r\n", 5);
    cache_cursor_close(&r->ccur, r->centry->body);
    r->cursor_open = false;
    hold_entry(r, NULL);
    request_response_complete(r);
}

static void stream(struct request *r)
{
    struct conn *c = r->conn;
    struct cache_body *b = r->centry->body;
    for (int round = 0; round < 4; round++) {
        struct iovec iov[64];
        enum cache_body_state st = CB_FILLING;
        size_t limit = (size_t)min(r->cache_left, (uint64_t)SERVE_CHUNK);
        int n = limit ? cache_cursor_read(&r->ccur, b, iov, 64, limit, &st) : 0;
        for (int i = 0; i < n; i++) {
            proxy_queue_body(&c->out, iov[i].iov_base, iov[i].iov_len, r->framing == FRAME_CHUNKED);
            r->bytes_out += iov[i].iov_len;
            if (r->cache_left != UINT64_MAX)
                r->cache_left -= iov[i].iov_len;
        }
        if (r->cache_left == 0 || (n == 0 && st == CB_COMPLETE)) {
            end_of_body(r);
            return;
        }
        if (n == 0 && st == CB_FAILED) {
            /* the fill was cut: so is this response, honestly */
            r->state = RS_EXCHANGE;
            request_fail(r, &err_backend_cut);
            return;
        }
        if (n == 0 && outq_empty(&c->out)) { /* caught up with the fill */
            wait_on(r, r->centry, WAIT_DATA, r->ccur.pos);
            return;
        }
        switch (conn_flush(c, false)) {
        case 1:
            cache_cursor_sent(&r->ccur, b);
            continue;
        case 0:
            return; /* cache_client_drained goes on */
        default:
            conn_close(c, "writing to the client failed");
            return;
        }
    }
    conn_want_write(c); /* a fast client: go on in the next loop round */
}

void cache_client_drained(struct request *r)
{
    if (r->state != RS_CACHE || !r->cursor_open || r->cwaiting)
        return;
    cache_cursor_sent(&r->ccur, r->centry->body);
    stream(r);
}

/* ---- fills and refreshes ---- */

/* The fields a fetch for the cache sends: the client's, without what
 * would make the answer partial or conditional on the client's copy;
 * a refresh adds the stored validators. */
static struct headers fetch_fields(struct request *r, const struct cache_entry *old)
{
    static const struct slice drop[] = { SLICE_LIT("If-None-Match"), SLICE_LIT("If-Modified-Since"),
                                         SLICE_LIT("If-Match"), SLICE_LIT("If-Unmodified-Since"),
                                         SLICE_LIT("If-Range"), SLICE_LIT("Range") };
    struct headers h = headers_copy(&r->head.headers, &r->arena);
    for (size_t i = 0; i < countof(drop); i++)
        headers_del(&h, drop[i]);
    if (old) {
        struct slice etag = headers_get(&old->fields, SLICE_LIT("ETag"));
        struct slice lm = headers_get(&old->fields, SLICE_LIT("Last-Modified"));
        if (etag.ptr)
            headers_add(&h, &r->arena, SLICE_LIT("If-None-Match"), etag);
        if (lm.ptr)
            headers_add(&h, &r->arena, SLICE_LIT("If-Modified-Since"), lm);
    }
    return h;
}

static struct fetch_target target_of(struct request *r, int backend)
{
    struct fetch_target t;
    memset(&t, 0, sizeof(t));
    t.backend = backend;
    if (r->up) {
        t.up = r->up;
        t.tried = r->tried;
        t.tries = r->up->cfg->tries ? r->up->cfg->tries : r->up->n;
        t.keepalive = r->up->cfg->keepalive;
    } else {
        for (unsigned i = r->addr_next; i < r->addrs.n; i++)
            t.addrs.addr[t.addrs.n++] = r->addrs.addr[i];
        t.tries = t.addrs.n;
        t.keepalive = r->lc->keepalive;
    }
    return t;
}

void cache_routed(struct request *r, int backend)
{
    r->cache_fill_pending = false;
    struct fetch_target t = target_of(r, backend);
    struct cache_entry *old = r->crefresh;
    r->crefresh = NULL;
    struct headers h = fetch_fields(r, old);
    const struct backend *b = backend >= 0 ? &r->up->backends[backend] : NULL;
    struct slice head = proxy_serialize_request(r, &h, HTTP_GET, b, false);
    r->state = RS_CACHE;
    if (old) {
        cache_fill_start(r, NULL, old, &t, head);
        wait_on(r, old, WAIT_REVALIDATION, 0);
        cache_entry_release(old);
    } else {
        cache_fill_start(r, r->centry, NULL, &t, head);
        wait_on(r, r->centry, WAIT_HEAD, 0);
    }
}

/* Routing for a fetch goes through the proxy's own (upstream, the
 * script's select_backend, DNS for an origin); it ends in cache_routed,
 * or in request_fail. */
static void fetch_for(struct request *r, struct cache_entry *busy, struct cache_entry *old)
{
    r->cache_fill_pending = true;
    hold_entry(r, busy ? busy : old);
    if (old) {
        cache_entry_hold(old);
        r->crefresh = old;
    }
    proxy_start(r);
}

/* A background refresh (stale-while-revalidate): it needs a target at
 * once, without the script (no request waits for it): the upstream's own
 * strategy, or the origin's addresses if the resolver has them. */
static void background_refresh(struct request *r, struct cache_entry *e)
{
    struct fetch_target t;
    memset(&t, 0, sizeof(t));
    t.backend = -1;
    struct upstream *up = NULL;
    if (r->upstream_name.len)
        up = upstream_find(r->gen, r->upstream_name.ptr, r->upstream_name.len);
    else if (r->parent_name.len && r->origin_host.ptr &&
             (up = parent_find(r->gen, r->parent_name.ptr, r->parent_name.len))) {
        r->up = up; /* the refresh asks the parent, in absolute form */
        r->via_parent = true;
    }
    if (up) {
        t.up = up;
        t.tries = up->cfg->tries ? up->cfg->tries : up->n;
        t.keepalive = up->cfg->keepalive;
    } else if (r->origin_host.ptr) {
        const struct resolved *res = NULL;
        const char *err;
        struct resolve_wait rw = { 0 };
        if (resolve_lookup(r->w->resolver, r->origin_host.ptr, r->origin_host.len, &rw, NULL, NULL, &res, &err) !=
            RESOLVE_DONE) {
            resolve_cancel(&rw);
            cache_end_revalidation(e);
            return; /* not known now: the next request revalidates it */
        }
        t.addrs = *res;
        for (unsigned i = 0; i < t.addrs.n; i++)
            addr_set_port(&t.addrs.addr[i], r->origin_port);
        t.tries = t.addrs.n;
        t.keepalive = r->lc->keepalive;
    } else {
        cache_end_revalidation(e);
        return;
    }
    struct headers h = fetch_fields(r, e);
    struct slice head = proxy_serialize_request(r, &h, HTTP_GET, NULL, false);
    struct cache_fill *fl = cache_fill_start(r, NULL, e, &t, head);
    cache_fill_forget_trigger(fl); /* nobody waits for it */
    r->cfill = NULL;
}

/* ---- the lookup ---- */

static const char *const verdict_text[] = {
    [CV_FILL] = "MISS: not stored, or no stored variant matches (Vary): a fill starts",
    [CV_WAIT] = "MISS: another request is filling it: it waits for that fill",
    [CV_PASS] = "known uncacheable (hit-for-pass), or not stored: BYPASS",
    [CV_NOT_CACHED] = "not stored and the request says only-if-cached: 504",
    [CV_HIT] = "fresh: a HIT",
    [CV_HIT_FILLING] = "stale before its fill completed (max-age=0): a HIT on the fill",
    [CV_STALE] = "stale: served while it is refreshed (stale-while-revalidate)",
    [CV_REVALIDATE] = "stale or no-cache: asked again with its validators (served stale if the origin fails and grace allows)",
};

const char *cache_verdict_text(enum cache_verdict v)
{
    return verdict_text[v];
}

enum cache_verdict cache_verdict(struct request *r, double now, bool create, struct cache_entry **out)
{
    struct cache_entry *e = NULL;
    enum cache_found found = cache_lookup(store(r), r->cache_key, &r->head.headers, now, create && !r->creq.only_if_cached, &e);
    enum cache_verdict v;
    switch (found) {
    case CF_PASS:
        v = r->creq.only_if_cached ? CV_NOT_CACHED : CV_PASS;
        break;
    case CF_WAIT:
        v = CV_WAIT;
        break;
    case CF_FILL:
        v = CV_FILL;
        break;
    default: {
        struct cache_meta m = cache_entry_rules(e);
        int64_t grace = e->grace >= 0 ? e->grace : store(r)->cfg.grace;
        enum cache_use use = cache_usable(&m, &r->creq, entry_age(e, now), grace);
        if (use == USE_FRESH) {
            v = CV_HIT;
        } else if (use == USE_STALE_REVALIDATE) {
            v = CV_STALE;
        } else {
            pthread_mutex_lock(&e->body->lock);
            bool filling = e->body->state == CB_FILLING;
            pthread_mutex_unlock(&e->body->lock);
            v = filling ? CV_HIT_FILLING : r->creq.only_if_cached ? CV_NOT_CACHED : CV_REVALIDATE;
        }
        if (unlikely(r->trace))
            trace_add(r->trace, "cache", "key %.*s: stored, age %llds of %llds fresh", (int)min(r->cache_key.len, (size_t)400),
                      r->cache_key.ptr, (long long)entry_age(e, now), (long long)m.freshness);
        break;
    }
    }
    if (unlikely(r->trace))
        trace_add(r->trace, "cache", "%s", verdict_text[v]);
    *out = e;
    return v;
}

static void lookup(struct request *r)
{
    struct cache_entry *e;
    switch (cache_verdict(r, ev_now(r->w->loop), true, &e)) {
    case CV_NOT_CACHED:
        r->state = RS_LOCAL;
        request_fail(r, &err_not_cached);
        break;
    case CV_PASS:
        pass(r, "BYPASS");
        break;
    case CV_WAIT:
        wait_on(r, e, WAIT_HEAD, 0);
        break;
    case CV_FILL:
        fetch_for(r, e, NULL);
        break;
    case CV_HIT:
    case CV_HIT_FILLING:
        serve(r, e, "HIT");
        break;
    case CV_STALE:
        if (cache_begin_revalidation(e))
            background_refresh(r, e);
        serve(r, e, "STALE");
        break;
    case CV_REVALIDATE:
        if (cache_begin_revalidation(e))
            fetch_for(r, NULL, e);
        else
            wait_on(r, e, WAIT_REVALIDATION, 0);
        break;
    }
    if (e)
        cache_entry_release(e);
}

/* PURGE target [tags in the store's tag field]: from the allowed
 * networks; by tag when tags are given, else the URL's every variant. */
static void purge(struct request *r)
{
    struct cache *c = store(r);
    const struct cache_config *cc = &c->cfg;
    bool allowed = false;
    for (unsigned i = 0; i < cc->npurge_allow && !allowed; i++)
        allowed = cidr_match(&cc->purge_allow[i], r->from);
    if (!allowed) {
        log_info("client %s: PURGE refused (not in cache.purge)", r->from_ip);
        r->state = RS_LOCAL;
        request_fail(r, &err_purge_denied);
        return;
    }
    unsigned n = 0;
    struct slice field = cc->tag_header ? slice_make(cc->tag_header, strlen(cc->tag_header)) : SLICE_NULL;
    int t = field.ptr ? headers_find(&r->head.headers, field, 0) : -1;
    if (t >= 0) {
        for (; t >= 0; t = headers_find(&r->head.headers, field, (unsigned)t + 1)) {
            struct slice v = r->head.headers.v[t].value;
            size_t k = 0;
            while (k < v.len) {
                while (k < v.len && (v.ptr[k] == ' ' || v.ptr[k] == ','))
                    k++;
                size_t s = k;
                while (k < v.len && v.ptr[k] != ' ' && v.ptr[k] != ',')
                    k++;
                if (k > s)
                    n += cache_remove_tag(c, slice_make(v.ptr + s, k - s));
            }
        }
    } else {
        bool failed;
        if (!find_key(r, &failed)) {
            r->state = RS_LOCAL;
            request_fail(r, failed ? &err_hook : &err_purge_denied);
            return;
        }
        n = cache_remove_key(c, r->cache_key);
    }
    char *body = arena_alloc(&r->arena, 64);
    int len = snprintf(body, 64, n ? "purged %u\n" : "not in the cache\n", n);
    log_info("client %s: PURGE %.*s: %u entr%s removed", r->from_ip, (int)min(r->head.target.len, (size_t)256),
             r->head.target.ptr, n, n == 1 ? "y" : "ies");
    headers_init(&r->local_headers);
    request_respond(r, n ? 200 : 404, slice_make(body, (size_t)len));
}

enum cache_plan cache_plan(struct request *r)
{
    if (r->head.method == HTTP_PURGE)
        return CACHE_PURGE;
    r->cache_status = "BYPASS";
    bool failed;
    if (!find_key(r, &failed))
        return failed ? CACHE_KEY_FAILED : CACHE_BYPASS_SCRIPT;
    cache_request_parse(&r->creq, &r->head.headers);
    return r->creq.no_store ? CACHE_BYPASS_NO_STORE : CACHE_LOOKUP;
}

void cache_begin(struct request *r)
{
    switch (cache_plan(r)) {
    case CACHE_PURGE:
        purge(r);
        return;
    case CACHE_KEY_FAILED:
        request_fail(r, &err_hook);
        return;
    case CACHE_BYPASS_SCRIPT:
    case CACHE_BYPASS_NO_STORE:
        if (unlikely(r->trace))
            trace_add(r->trace, "cache", "BYPASS: %s", r->creq.no_store ? "the request says no-store" : "cache_key said false");
        pass(r, "BYPASS");
        return;
    case CACHE_LOOKUP:
        lookup(r);
        return;
    }
}

/* ---- the end of a request ---- */

void cache_detach(struct request *r)
{
    if (r->cwaiting) {
        list_remove(&r->cwait_link);
        r->cwaiting = false;
    }
    if (r->cursor_open) {
        cache_cursor_close(&r->ccur, r->centry->body);
        r->cursor_open = false;
    }
    if (r->cfill) {
        cache_fill_forget_trigger(r->cfill);
        r->cfill = NULL;
    }
    if (r->cache_fill_pending) { /* routing failed or never ended: nobody fetches */
        r->cache_fill_pending = false;
        if (r->crefresh)
            cache_end_revalidation(r->crefresh);
        else if (r->centry)
            cache_fill_abandon(r->centry, ev_now(r->w->loop), 0);
    }
    if (r->crefresh) {
        cache_entry_release(r->crefresh);
        r->crefresh = NULL;
    }
    if (r->cnext) {
        cache_entry_release(r->cnext);
        r->cnext = NULL;
    }
    hold_entry(r, NULL);
}

/* "http://Host[:port]/p" -> the key form "http://host:port/p", or empty. */
static struct slice url_key(struct request *r, struct slice url)
{
    if (url.len < 8 || !slice_caseeq(slice_make(url.ptr, 7), "http://", 7))
        return SLICE_NULL;
    const char *host = url.ptr + 7, *end = url.ptr + url.len;
    const char *path = memchr(host, '/', (size_t)(end - host));
    if (path == NULL)
        path = end;
    const char *colon = memchr(host, ':', (size_t)(path - host));
    size_t hlen = (size_t)((colon ? colon : path) - host);
    unsigned port = colon ? (unsigned)atoi(colon + 1) : 80;
    size_t cap = hlen + (size_t)(end - path) + 32;
    char *k = arena_alloc(&r->arena, cap), *w = k;
    memcpy(w, "http://", 7);
    w += 7;
    for (size_t i = 0; i < hlen; i++)
        *w++ = (host[i] >= 'A' && host[i] <= 'Z') ? (char)(host[i] + 32) : host[i];
    w += snprintf(w, 8, ":%u", port);
    if (path == end)
        *w++ = '/';
    memcpy(w, path, (size_t)(end - path));
    w += end - path;
    return slice_make(k, (size_t)(w - k));
}

void cache_invalidate(struct request *r)
{
    struct cache *c = store(r);
    bool failed;
    if (c == NULL || !r->lc->cache || !find_key(r, &failed))
        return;
    cache_remove_key(c, r->cache_key);
    /* and Location / Content-Location on the same origin (RFC 9111 4.4) */
    struct slice key = r->cache_key;
    const char *slash = key.len > 7 ? memchr(key.ptr + 7, '/', key.len - 7) : NULL;
    size_t origin = slash ? (size_t)(slash - key.ptr) : key.len; /* "http://host:port" */
    static const struct slice fields[] = { SLICE_LIT("Location"), SLICE_LIT("Content-Location") };
    for (size_t i = 0; i < countof(fields); i++) {
        struct slice loc = slice_trim(headers_get(&r->resp.headers, fields[i]));
        struct slice target = SLICE_NULL;
        if (loc.len && loc.ptr[0] == '/') {
            char *k = arena_alloc(&r->arena, origin + loc.len);
            memcpy(k, key.ptr, origin);
            memcpy(k + origin, loc.ptr, loc.len);
            target = slice_make(k, origin + loc.len);
        } else if (loc.len) {
            target = url_key(r, loc);
        }
        /* only the same origin: another one's entries are not ours to drop */
        if (target.len > origin && memcmp(target.ptr, key.ptr, origin) == 0 && target.ptr[origin] == '/')
            cache_remove_key(c, target);
    }
}
