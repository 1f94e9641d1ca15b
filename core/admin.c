/* admin.c - an admin listener's requests (admin.h): who may ask (the
 * token, the Host and Origin checks), what the paths are, the JSON API
 * and the embedded status page. The counters and their Prometheus text
 * are metrics.c's, the purge body's parser is purge_body.c's.
 *
 * Every answer is made at once in the worker the request came to, from
 * the counters every worker keeps in place (metrics.h): no request waits
 * on another worker, so the page and /metrics answer even while a worker
 * is busy. Nothing here runs for traffic on other listeners. */
#include "admin.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../lua/embedded.h"
#include "../lua/hooks.h"
#include "cache.h"
#include "config.h"
#include "conn.h"
#include "generation.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "purge_body.h"
#include "request.h"
#include "server_state.h"
#include "worker.h"

#define ADMIN_BODY_MAX (16 * 1024)
#define ADMIN_PAGE "core/admin_page.html" /* embedded (Makefile EMBEDDED) */

enum route { R_PAGE, R_METRICS, R_STATUS, R_UPSTREAMS, R_CACHE, R_RELOAD, R_PURGE, R_SERVER, R_TRACES, R_COUNT };

static const struct {
    const char *path;
    bool post;                 /* POST (with a body); else GET and HEAD */
} routes[R_COUNT] = {
    [R_PAGE] = { "/", false },           [R_METRICS] = { "/metrics", false },
    [R_STATUS] = { "/api/status", false }, [R_UPSTREAMS] = { "/api/upstreams", false },
    [R_CACHE] = { "/api/cache", false },   [R_RELOAD] = { "/api/reload", true },
    [R_PURGE] = { "/api/purge", true },  [R_SERVER] = { "/api/server", true },
    [R_TRACES] = { "/api/traces", false },
};

/* ---- answering ---- */

static void add_header(struct request *r, const char *name, const char *value)
{
    headers_add(&r->local_headers, &r->arena, slice_make(name, strlen(name)), slice_make(value, strlen(value)));
}

/* Sends b's bytes (and frees b) as the response body. */
static void respond(struct request *r, unsigned status, const char *type, struct sbuf *b)
{
    size_t n = b->len;
    char *body = arena_alloc(&r->arena, n ? n : 1);
    memcpy(body, b->p ? b->p : "", n);
    sbuf_free(b);
    add_header(r, "Content-Type", type);
    add_header(r, "Cache-Control", "no-store");
    add_header(r, "X-Content-Type-Options", "nosniff");
    request_respond(r, status, slice_make(body, n));
}

void admin_respond_text(struct request *r, struct sbuf *b)
{
    respond(r, 200, "text/plain; charset=utf-8", b);
}

void admin_respond_json(struct request *r, unsigned status, struct sbuf *b)
{
    sbuf_add(b, "\n", 1);
    respond(r, status, "application/json", b);
}

/* {"error": msg} */
void admin_fail(struct request *r, unsigned status, const char *msg)
{
    struct sbuf b;
    struct jw w;
    sbuf_init(&b);
    jw_init(&w, &b);
    jw_object(&w);
    jw_key(&w, "error");
    jw_cstr(&w, msg);
    jw_end_object(&w);
    admin_respond_json(r, status, &b);
}

/* ---- who may ask ---- */

/* Compares in time that depends on the token's length only, never on how
 * much of it a guess got right. */
static bool token_matches(const char *want, struct slice got)
{
    size_t n = strlen(want);
    volatile unsigned char d = got.len != n;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(want[i] ^ (i < got.len ? got.ptr[i] : 0));
    return d == 0;
}

/* The value of ?name= in the query (the first), or ptr NULL. */
struct slice admin_query_param(struct slice q, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; q.ptr && i < q.len;) {
        const char *amp = memchr(q.ptr + i, '&', q.len - i);
        size_t end = amp ? (size_t)(amp - q.ptr) : q.len;
        if (end - i > nl && memcmp(q.ptr + i, name, nl) == 0 && q.ptr[i + nl] == '=')
            return slice_make(q.ptr + i + nl + 1, end - i - nl - 1);
        i = end + 1;
    }
    return SLICE_NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

const char *admin_query_decoded(const struct request *r, const char *name, char *buf, size_t cap)
{
    struct slice v = admin_query_param(r->target.query, name);
    if (v.ptr == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < v.len && n + 1 < cap; i++) {
        char c = v.ptr[i];
        int hi, lo;
        if (c == '%' && i + 2 < v.len && (hi = hexval(v.ptr[i + 1])) >= 0 && (lo = hexval(v.ptr[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0')
            return NULL;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return buf;
}

/* The credential r carries: Authorization: Bearer TOKEN, else ?token=TOKEN
 * (the status page's way: a browser cannot add a header to a link). false:
 * none at all. */
static bool credential(const struct request *r, struct slice *out)
{
    struct slice v = slice_trim(headers_get(&r->head.headers, SLICE_LIT("Authorization")));
    if (v.ptr) {
        bool bearer = v.len > 7 && slice_caseeq(slice_make(v.ptr, 6), "bearer", 6) && (v.ptr[6] == ' ' || v.ptr[6] == '\t');
        *out = bearer ? slice_trim(slice_make(v.ptr + 7, v.len - 7)) : SLICE_LIT("");
        return true;
    }
    *out = admin_query_param(r->target.query, "token");
    return out->ptr != NULL;
}

static bool ieq(const char *a, size_t n, const char *lit)
{
    return n == strlen(lit) && slice_caseeq(slice_make(a, n), lit, n);
}

/* Does the Host name this machine by address or as localhost? A page on
 * another site that rebinds its own name to 127.0.0.1 (DNS rebinding)
 * sends its own name: refused, so a listener without a token cannot be
 * read by a web page the operator happens to visit. */
static bool local_host(struct slice host)
{
    host = slice_trim(host);
    if (host.ptr == NULL)
        return true; /* HTTP/1.0 without Host: no browser does that */
    char buf[ADDR_HOSTLEN];
    size_t n = host.len;
    const char *p = host.ptr;
    if (n && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close == NULL || (size_t)(close - p - 1) >= sizeof(buf))
            return false;
        memcpy(buf, p + 1, (size_t)(close - p - 1));
        buf[close - p - 1] = '\0';
    } else {
        const char *colon = memchr(p, ':', n);
        size_t hl = colon ? (size_t)(colon - p) : n;
        if (ieq(p, hl, "localhost") || (hl > 10 && ieq(p + hl - 10, 10, ".localhost")))
            return true;
        if (hl >= sizeof(buf))
            return false;
        memcpy(buf, p, hl);
        buf[hl] = '\0';
    }
    union sockaddr_u a;
    return addr_from_ip(buf, 0, &a) == 0;
}

/* A POST from a browser page of another origin (a web page making the
 * operator's browser purge or reload: cross-site request forgery) carries
 * an Origin other than the listener's own. Tools send none. */
static bool same_origin(const struct request *r)
{
    struct slice o = slice_trim(headers_get(&r->head.headers, SLICE_LIT("Origin")));
    if (o.ptr == NULL)
        return true;
    struct slice host = slice_trim(headers_get(&r->head.headers, H_HOST));
    size_t skip = o.len > 7 && ieq(o.ptr, 7, "http://") ? 7 : o.len > 8 && ieq(o.ptr, 8, "https://") ? 8 : 0;
    return skip && host.ptr && o.len - skip == host.len &&
           slice_caseeq(slice_make(o.ptr + skip, o.len - skip), host.ptr, host.len);
}

/* ---- GET: the page and the JSON documents ---- */

static void page(struct request *r)
{
    const struct embedded_file *f = embedded_find(ADMIN_PAGE);
    if (f == NULL) {
        admin_fail(r, 500, "the status page is not built in");
        return;
    }
    add_header(r, "Content-Security-Policy",
               "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
               "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    add_header(r, "X-Frame-Options", "DENY");
    add_header(r, "Referrer-Policy", "no-referrer"); /* the URL may hold the token */
    add_header(r, "Content-Type", "text/html; charset=utf-8");
    add_header(r, "Cache-Control", "no-store");
    add_header(r, "X-Content-Type-Options", "nosniff");
    request_respond(r, 200, slice_make(f->data, f->len));
}

static const char *mode_name(enum listen_mode m)
{
    return m == MODE_FORWARD ? "forward" : m == MODE_ADMIN ? "admin" : "reverse";
}

static void status_json(struct request *r, struct jw *w)
{
    struct metrics *m = r->w->metrics;
    const struct config *cfg = r->gen->cfg;
    struct metrics_worker_sum ws;
    metrics_sum_workers(m, &ws);
    pthread_mutex_lock(&m->lock);
    unsigned gen = m->generation;
    double loaded = m->generation_loaded, last = m->last_reload;
    unsigned long ok = m->reloads_ok, refused = m->reloads_refused;
    bool last_ok = m->last_reload_ok;
    char last_error[sizeof(m->last_reload_error)];
    memcpy(last_error, m->last_reload_error, sizeof(last_error));
    pthread_mutex_unlock(&m->lock);
    double now = ev_time();

    jw_object(w);
    jw_key(w, "version");
    jw_cstr(w, LUXY_VERSION);
    jw_key(w, "pid");
    jw_int(w, (int64_t)getpid());
    jw_key(w, "started");
    jw_double(w, m->started);
    jw_key(w, "uptime_seconds");
    jw_double(w, now - m->started);
    jw_key(w, "now");
    jw_double(w, now);
    jw_key(w, "workers");
    jw_uint(w, m->nworkers);
    jw_key(w, "worker");
    jw_uint(w, r->w->id);
    jw_key(w, "config");
    jw_cstr(w, cfg->path);
    jw_key(w, "generation");
    jw_object(w);
    jw_key(w, "id");
    jw_uint(w, gen);
    jw_key(w, "loaded_at");
    jw_double(w, loaded);
    jw_key(w, "this_worker");
    jw_uint(w, r->gen->cg->id);
    jw_end_object(w);
    jw_key(w, "reloads");
    jw_object(w);
    jw_key(w, "ok");
    jw_uint(w, ok);
    jw_key(w, "refused");
    jw_uint(w, refused);
    jw_key(w, "last");
    if (last > 0) {
        jw_object(w);
        jw_key(w, "at");
        jw_double(w, last);
        jw_key(w, "ok");
        jw_bool(w, last_ok);
        jw_key(w, "error");
        jw_cstr(w, last_ok ? NULL : last_error);
        jw_end_object(w);
    } else {
        jw_null(w);
    }
    jw_end_object(w);
    jw_key(w, "connections");
    jw_object(w);
    jw_key(w, "open");
    jw_int(w, ws.conns_open);
    jw_key(w, "accepted");
    jw_uint(w, ws.conns_accepted);
    jw_key(w, "denied");
    jw_uint(w, ws.conns_denied);
    jw_key(w, "tunnels");
    jw_int(w, ws.tunnels_open);
    jw_key(w, "backend_open");
    jw_int(w, ws.backend_open);
    jw_key(w, "backend_idle");
    jw_int(w, ws.pool_idle);
    jw_end_object(w);
    uint64_t errors = 0;
    for (unsigned k = 0; k < METRICS_ERRORS; k++)
        errors += ws.errors[k];
    jw_key(w, "requests");
    jw_object(w);
    jw_key(w, "total");
    jw_uint(w, ws.requests);
    jw_key(w, "retries");
    jw_uint(w, ws.retries);
    jw_key(w, "errors");
    jw_uint(w, errors);
    jw_end_object(w);
    jw_key(w, "errors");
    jw_object(w);
    for (unsigned k = 0; k < METRICS_ERRORS; k++) {
        if (ws.errors[k] == 0)
            continue;
        jw_key(w, metrics_error_kind(k));
        jw_uint(w, ws.errors[k]);
    }
    jw_end_object(w);
    jw_key(w, "listeners");
    jw_array(w);
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct listener_config *l = &cfg->listeners[i];
        jw_object(w);
        jw_key(w, "address");
        jw_cstr(w, l->spec);
        jw_key(w, "mode");
        jw_cstr(w, mode_name(l->mode));
        jw_key(w, "requests");
        jw_uint(w, metrics_sum_listener_requests(l->stats));
        jw_end_object(w);
    }
    jw_end_array(w);
    jw_key(w, "hooks");
    jw_object(w);
    for (unsigned h = 0; h < HOOK_COUNT; h++) {
        jw_key(w, hook_names[h]);
        jw_object(w);
        jw_key(w, "defined");
        jw_bool(w, hooks_defined(r->gen->vm, (enum hook)h));
        jw_key(w, "calls");
        jw_uint(w, ws.hook_calls[h]);
        jw_key(w, "errors");
        jw_uint(w, ws.hook_errors[h]);
        jw_key(w, "seconds");
        jw_double(w, (double)ws.hook_us[h] / 1e6);
        jw_end_object(w);
    }
    jw_end_object(w);
    jw_key(w, "cache");
    jw_bool(w, r->w->cache != NULL);
    jw_end_object(w);
}

/* A server's live state, shared by every worker (server_state.h). */
static void server_json(struct jw *w, const struct upstream_config *u, const struct server_config *sc)
{
    const struct server_state *st = sc->state;
    uint64_t now = server_now_ms();
    jw_key(w, "weight");
    jw_uint(w, atomic_load_explicit(&st->weight, memory_order_relaxed));
    jw_key(w, "configured_weight");
    jw_uint(w, sc->weight);
    jw_key(w, "effective_weight");
    jw_double(w, (double)server_weight(st, u->slow_start, now) / SS_WEIGHT_UNIT);
    jw_key(w, "healthy");
    jw_bool(w, server_usable(st, now));
    jw_key(w, "state");
    jw_cstr(w, server_state_name(st, u->slow_start, now));
    jw_key(w, "reason");
    jw_cstr(w, server_reason_text(atomic_load_explicit(&st->reason, memory_order_relaxed)));
    jw_key(w, "latency_ms");
    jw_double(w, (double)atomic_load_explicit(&st->latency_us, memory_order_relaxed) / 1e3);
    jw_key(w, "error_rate");
    jw_double(w, server_error_rate(st, now));
    jw_key(w, "ejections");
    jw_uint(w, atomic_load_explicit(&st->ejections, memory_order_relaxed));
    uint64_t lf = atomic_load_explicit(&st->last_failure_ms, memory_order_relaxed);
    jw_key(w, "last_failure");
    if (lf) {
        jw_object(w);
        jw_key(w, "at");
        jw_double(w, (double)lf / 1000);
        jw_key(w, "kind");
        jw_cstr(w, attempt_result_name(atomic_load_explicit(&st->last_failure_kind, memory_order_relaxed)));
        jw_end_object(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "last_check_status");
    jw_uint(w, atomic_load_explicit(&st->last_check_status, memory_order_relaxed));
}

static void upstreams_json(struct request *r, struct jw *w)
{
    const struct config *cfg = r->gen->cfg;
    jw_object(w);
    jw_key(w, "upstreams");
    jw_array(w);
    for (unsigned i = 0; i < cfg->nupstreams; i++) {
        const struct upstream_config *u = &cfg->upstreams[i];
        jw_object(w);
        jw_key(w, "name");
        jw_cstr(w, u->name);
        jw_key(w, "parent");
        jw_bool(w, u->parent);
        jw_key(w, "balance");
        jw_cstr(w, u->balance);
        jw_key(w, "tries");
        jw_uint(w, u->tries ? u->tries : u->nservers);
        jw_key(w, "servers");
        jw_array(w);
        for (unsigned s = 0; s < u->nservers; s++) {
            const struct server_config *sc = &u->servers[s];
            struct metrics_server_sum ss;
            metrics_sum_server(sc, &ss);
            jw_object(w);
            jw_key(w, "address");
            jw_cstr(w, sc->spec);
            server_json(w, u, sc);
            jw_key(w, "requests");
            jw_uint(w, ss.requests);
            jw_key(w, "failures");
            jw_uint(w, ss.failures);
            jw_key(w, "in_flight");
            jw_int(w, ss.inflight > 0 ? ss.inflight : 0);
            jw_key(w, "response_time");
            jw_object(w);
            jw_key(w, "count");
            jw_uint(w, ss.responses);
            jw_key(w, "sum_seconds");
            jw_double(w, (double)ss.response_us / 1e6);
            jw_key(w, "mean_ms");
            if (ss.responses)
                jw_double(w, (double)ss.response_us / 1e3 / (double)ss.responses);
            else
                jw_null(w);
            jw_end_object(w);
            jw_end_object(w);
        }
        jw_end_array(w);
        jw_end_object(w);
    }
    jw_end_array(w);
    jw_end_object(w);
}

static void cache_json(struct request *r, struct jw *w)
{
    struct cache *c = r->w->cache;
    jw_object(w);
    jw_key(w, "enabled");
    jw_bool(w, c != NULL);
    if (c == NULL) {
        jw_end_object(w);
        return;
    }
    struct metrics_worker_sum ws;
    metrics_sum_workers(r->w->metrics, &ws);
    const struct cache_stats *st = &c->stats;
    uint64_t hits = atomic_load(&st->hits), misses = atomic_load(&st->misses), stale = atomic_load(&st->stale),
             reval = atomic_load(&st->revalidated);
    static const char *const results[METRICS_CACHE_RESULTS] = { "hit", "miss", "stale", "revalidated", "bypass" };
    struct {
        const char *name;
        uint64_t v;
    } fields[] = {
        { "size", c->cfg.size },
        { "max_object", c->cfg.max_object },
        { "used", cache_used(c) },
        { "entries", cache_entries(c) },
        { "hits", hits },
        { "misses", misses },
        { "stale", stale },
        { "revalidated", reval },
        { "bypass", atomic_load(&st->bypass) },
        { "stores", atomic_load(&st->stores) },
        { "evictions", atomic_load(&st->evictions) },
        { "purged", atomic_load(&st->purges) },
    };
    for (size_t i = 0; i < countof(fields); i++) {
        jw_key(w, fields[i].name);
        jw_uint(w, fields[i].v);
    }
    uint64_t served = hits + stale + reval;
    jw_key(w, "hit_ratio"); /* answered from the store, of the requests that looked it up */
    if (served + misses)
        jw_double(w, (double)served / (double)(served + misses));
    else
        jw_null(w);
    jw_key(w, "response_bytes");
    jw_object(w);
    for (unsigned k = 0; k < METRICS_CACHE_RESULTS; k++) {
        jw_key(w, results[k]);
        jw_uint(w, ws.cache_bytes[k]);
    }
    jw_end_object(w);
    jw_end_object(w);
}

static void get(struct request *r, enum route route)
{
    struct sbuf b;
    struct jw w;
    sbuf_init(&b);
    jw_init(&w, &b);
    switch (route) {
    case R_PAGE:
        page(r);
        return;
    case R_METRICS:
        metrics_prometheus(&b, r->w->metrics, r->gen->cfg, r->w->cache);
        respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
        return;
    case R_STATUS:
        status_json(r, &w);
        break;
    case R_UPSTREAMS:
        upstreams_json(r, &w);
        break;
    case R_TRACES:
        sbuf_free(&b);
        admin_traces(r);
        return;
    default:
        cache_json(r, &w);
        break;
    }
    admin_respond_json(r, 200, &b);
}

/* ---- POST: reload, purge ---- */

static void reload(struct request *r)
{
    if (r->w->stopping) {
        admin_fail(r, 503, "luxy is stopping: no reload");
        return;
    }
    log_info("admin: client %s asked for a reload", r->from_ip);
    kill(getpid(), SIGHUP); /* the main thread reloads, as for luxy -s reload */
    struct sbuf b;
    struct jw w;
    sbuf_init(&b);
    jw_init(&w, &b);
    jw_object(&w);
    jw_key(&w, "reload");
    jw_cstr(&w, "requested");
    jw_key(&w, "generation");
    jw_uint(&w, r->gen->cg->id);
    jw_key(&w, "message");
    jw_cstr(&w, "the main thread reads the file and checks it; a new generation in /api/status says it serves, "
                "the error log says why when it was refused");
    jw_end_object(&w);
    admin_respond_json(r, 202, &b);
}

static void purge(struct request *r)
{
    struct cache *c = r->w->cache;
    if (c == NULL) {
        admin_fail(r, 409, "there is no cache (no cache { } directive)");
        return;
    }
    struct slice ct = slice_trim(headers_get(&r->head.headers, H_CONTENT_TYPE));
    struct purge_request *p = arena_alloc(&r->arena, sizeof(*p));
    char err[256];
    int st = purge_body_parse(ct.ptr, ct.len, r->admin_body ? r->admin_body : "", r->admin_body_len, p, err,
                              sizeof(err));
    if (st) {
        admin_fail(r, (unsigned)st, err);
        return;
    }
    static const char *const by[] = { "url", "prefix", "tag" };
    unsigned n = p->by == PURGE_URL      ? cache_remove_key(c, slice_make(p->key, p->key_len))
                 : p->by == PURGE_PREFIX ? cache_remove_prefix(c, slice_make(p->key, p->key_len))
                                         : cache_remove_tag(c, slice_make(p->value, p->len));
    log_info("admin: client %s purged %s %.*s: %u entr%s removed", r->from_ip, by[p->by],
             (int)min(p->len, (size_t)512), p->value, n, n == 1 ? "y" : "ies");
    struct sbuf b;
    struct jw w;
    sbuf_init(&b);
    jw_init(&w, &b);
    jw_object(&w);
    jw_key(&w, "removed");
    jw_uint(&w, n);
    jw_key(&w, by[p->by]);
    jw_string(&w, p->value, p->len);
    if (p->by != PURGE_TAG) {
        jw_key(&w, "key");
        jw_string(&w, p->key, p->key_len);
    }
    jw_end_object(&w);
    admin_respond_json(r, 200, &b);
}

static void post(struct request *r, enum route route)
{
    if (route == R_RELOAD)
        reload(r);
    else if (route == R_SERVER)
        admin_server(r);
    else
        purge(r);
}

static void on_body(void *arg, const char *p, size_t n)
{
    struct request *r = arg;
    if (r->admin_body_len + n > ADMIN_BODY_MAX) {
        r->body_too_large = true; /* checked when the feed returns */
        return;
    }
    memcpy(r->admin_body + r->admin_body_len, p, n);
    r->admin_body_len += n;
}

void admin_client_data(struct request *r)
{
    struct conn *c = r->conn;
    if (r->body_done)
        return;
    size_t avail = buf_len(&c->in);
    if (avail == 0) {
        conn_timer(c, CT_BODY);
        return;
    }
    const char *err = NULL;
    ssize_t n = body_feed(&r->req_body, buf_head(&c->in), avail, on_body, r, &err);
    if (n < 0) {
        r->keep_alive = false;
        admin_fail(r, 400, err ? err : "invalid request body framing");
        return;
    }
    buf_consume(&c->in, &r->w->bufs, (size_t)n); /* on_body copied what it keeps */
    if (r->body_too_large) {
        r->keep_alive = false;
        admin_fail(r, 413, "the body is larger than 16 KB");
        return;
    }
    if (!r->req_body.done) {
        conn_timer(c, CT_BODY);
        return;
    }
    r->body_done = true;
    conn_timer(c, CT_NONE);
    post(r, (enum route)r->admin_route);
}

/* ---- routing ---- */

void admin_begin(struct request *r)
{
    struct conn *c = r->conn;
    const struct listener_config *lc = c->lc;
    r->state = RS_ADMIN;
    r->response_hooked = true; /* on_response is for traffic, not for luxy's own answers */
    r->tunnel = false;
    if (lc->token == NULL && !local_host(headers_get(&r->head.headers, H_HOST))) {
        log_info("admin: client %s: refused a Host that does not name this machine", c->peer_ip);
        admin_fail(r, 403, "without a token, the admin listener answers requests for an IP address or localhost only");
        return;
    }
    if (lc->token) {
        struct slice got;
        bool given = credential(r, &got);
        if (!given || !token_matches(lc->token, got)) {
            log_info("admin: client %s: %s token", c->peer_ip, given ? "a wrong" : "no");
            add_header(r, "WWW-Authenticate",
                       given ? "Bearer realm=\"luxy admin\", error=\"invalid_token\"" : "Bearer realm=\"luxy admin\"");
            admin_fail(r, 401, given ? "wrong token" : "this admin listener needs its token: Authorization: Bearer TOKEN");
            return;
        }
    }
    enum route route = R_COUNT;
    for (unsigned i = 0; i < R_COUNT && route == R_COUNT; i++)
        if (slice_eq(r->path, routes[i].path, strlen(routes[i].path)))
            route = (enum route)i;
    if (route == R_COUNT) {
        admin_fail(r, 404, "no such path (/, /metrics, /api/status, /api/upstreams, /api/cache, /api/reload, /api/purge, /api/server, /api/traces)");
        return;
    }
    unsigned m = r->head.method;
    bool ok = routes[route].post ? m == HTTP_POST : m == HTTP_GET || m == HTTP_HEAD;
    if (!ok) {
        add_header(r, "Allow", routes[route].post ? "POST" : "GET, HEAD");
        admin_fail(r, 405, routes[route].post ? "use POST" : "use GET");
        return;
    }
    if (!routes[route].post) {
        get(r, route);
        return;
    }
    if (!same_origin(r)) {
        log_info("admin: client %s: refused a cross-origin POST %s", c->peer_ip, routes[route].path);
        admin_fail(r, 403, "cross-origin requests are refused");
        return;
    }
    if (r->body_done) {
        post(r, route);
        return;
    }
    if (r->head.has_length && r->head.content_length > ADMIN_BODY_MAX) {
        r->keep_alive = false;
        admin_fail(r, 413, "the body is larger than 16 KB");
        return;
    }
    r->admin_route = route;
    r->admin_body = arena_alloc(&r->arena, ADMIN_BODY_MAX);
    if (r->head.minor >= 1 && headers_has_token(&r->head.headers, SLICE_LIT("Expect"), SLICE_LIT("100-continue"))) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        outq_copy(&c->out, cont, sizeof(cont) - 1);
        if (conn_flush(c, false) == -1) {
            conn_close(c, "writing to the client failed"); /* ends r */
            return;
        }
    }
    admin_client_data(r);
}
