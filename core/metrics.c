/* metrics.c - counting (the request path, each worker into its own slots),
 * sharing the counters of whatever a reload keeps (metrics_bind), and
 * reading them all (sums and the Prometheus text). See metrics.h for who
 * writes and who reads, and why that is race-free. */
#include "metrics.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lua/hooks.h"
#include "cache.h"
#include "config.h"
#include "conn.h"
#include "jsonw.h"
#include "log.h"
#include "luxy.h"
#include "request.h"
#include "upstream.h"
#include "worker.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "metrics need lock-free 64-bit atomics");
_Static_assert(HOOK_COUNT <= METRICS_HOOKS, "METRICS_HOOKS must cover every hook");

/* Upper bounds of the histogram buckets, in microseconds (the last bucket,
 * +Inf, has none). */
static const uint64_t bounds_us[METRICS_BUCKETS - 1] = { 1000,   5000,   10000,   25000,   50000,   100000,
                                                         250000, 500000, 1000000, 2500000, 5000000, 10000000 };
static const char *const bounds_text[METRICS_BUCKETS] = { "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                                          "0.5",   "1",     "2.5",  "5",     "10",  "+Inf" };
static const char *const class_names[METRICS_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx", "other" };
static const char *const cache_results[METRICS_CACHE_RESULTS] = { "hit", "miss", "stale", "revalidated", "bypass" };

/* ---- the process's object ---- */

static void *aligned(size_t n)
{
    size_t size = (n + METRICS_LINE - 1) / METRICS_LINE * METRICS_LINE;
    void *p = aligned_alloc(METRICS_LINE, size ? size : METRICS_LINE);
    if (p == NULL) { /* as xmalloc: a proxy that limps on after malloc failed corrupts traffic */
        log_error("out of memory (%zu bytes)", size);
        abort();
    }
    memset(p, 0, size ? size : METRICS_LINE);
    return p;
}

struct metrics *metrics_new(unsigned nworkers)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    m->nworkers = nworkers;
    m->workers = aligned(nworkers * sizeof(*m->workers));
    m->started = ev_time();
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m->workers);
    free(m);
}

void metrics_generation(struct metrics *m, unsigned id, double loaded_at, bool reload)
{
    pthread_mutex_lock(&m->lock);
    m->generation = id;
    m->generation_loaded = loaded_at;
    if (reload) {
        m->reloads_ok++;
        m->last_reload = ev_time();
        m->last_reload_ok = true;
        m->last_reload_error[0] = '\0';
    }
    pthread_mutex_unlock(&m->lock);
}

void metrics_reload_refused(struct metrics *m, const char *why)
{
    pthread_mutex_lock(&m->lock);
    m->reloads_refused++;
    m->last_reload = ev_time();
    m->last_reload_ok = false;
    snprintf(m->last_reload_error, sizeof(m->last_reload_error), "%s", why);
    pthread_mutex_unlock(&m->lock);
}

/* ---- blocks: one identity's slots ---- */

static struct metrics_block *block_new(enum metrics_kind kind, unsigned nworkers)
{
    static const size_t size[] = { sizeof(struct metrics_listener_slot), sizeof(struct metrics_group_slot),
                                   sizeof(struct metrics_server_slot) };
    struct metrics_block *b = xcalloc(1, sizeof(*b));
    atomic_init(&b->refs, 1);
    b->kind = kind;
    b->nslots = nworkers;
    b->slots = aligned(nworkers * size[kind]);
    return b;
}

static struct metrics_block *block_hold(struct metrics_block *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

static void block_release(struct metrics_block *b)
{
    if (b == NULL || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(b->slots);
    free(b);
}

/* Which occurrence of its spec server i of u is (0: the first): a group
 * may list one address twice, and each is a server of its own. */
static unsigned occurrence(const struct upstream_config *u, unsigned i)
{
    unsigned k = 0;
    for (unsigned j = 0; j < i; j++)
        k += strcmp(u->servers[j].spec, u->servers[i].spec) == 0;
    return k;
}

static const struct server_config *nth_server(const struct upstream_config *u, const char *spec, unsigned k)
{
    for (unsigned j = 0; j < u->nservers; j++)
        if (strcmp(u->servers[j].spec, spec) == 0 && k-- == 0)
            return &u->servers[j];
    return NULL;
}

static const struct upstream_config *same_group(const struct config *prev, const struct upstream_config *u)
{
    for (unsigned i = 0; prev && i < prev->nupstreams; i++)
        if (prev->upstreams[i].parent == u->parent && strcmp(prev->upstreams[i].name, u->name) == 0)
            return &prev->upstreams[i];
    return NULL;
}

void metrics_bind(struct metrics *m, struct config *cfg, const struct config *prev)
{
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        struct listener_config *l = &cfg->listeners[i];
        const struct listener_config *old = NULL;
        for (unsigned k = 0; prev && k < prev->nlisteners && old == NULL; k++)
            if (addr_equal(&prev->listeners[k].addr, &l->addr) && prev->listeners[k].stats)
                old = &prev->listeners[k];
        l->stats = old ? block_hold(old->stats) : block_new(MB_LISTENER, m->nworkers);
    }
    for (unsigned i = 0; i < cfg->nupstreams; i++) {
        struct upstream_config *u = &cfg->upstreams[i];
        const struct upstream_config *old = same_group(prev, u);
        u->stats = old && old->stats ? block_hold(old->stats) : block_new(MB_GROUP, m->nworkers);
        for (unsigned s = 0; s < u->nservers; s++) {
            const struct server_config *was = old ? nth_server(old, u->servers[s].spec, occurrence(u, s)) : NULL;
            u->servers[s].stats = was && was->stats ? block_hold(was->stats) : block_new(MB_SERVER, m->nworkers);
            /* the live state goes with the same identity; a new weight in the file wins */
            u->servers[s].state = was && was->state ? server_state_hold(was->state)
                                                    : server_state_new(u->servers[s].weight);
            if (was && was->state && was->weight != u->servers[s].weight)
                server_set_weight(u->servers[s].state, u->servers[s].weight);
        }
    }
}

void metrics_unbind(struct config *cfg)
{
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        block_release(cfg->listeners[i].stats);
        cfg->listeners[i].stats = NULL;
    }
    for (unsigned i = 0; i < cfg->nupstreams; i++) {
        struct upstream_config *u = &cfg->upstreams[i];
        block_release(u->stats);
        u->stats = NULL;
        for (unsigned s = 0; s < u->nservers; s++) {
            block_release(u->servers[s].stats);
            u->servers[s].stats = NULL;
            server_state_release(u->servers[s].state);
            u->servers[s].state = NULL;
        }
    }
}

/* ---- counting ---- */

void metrics_observe(struct metrics_histogram *h, double seconds)
{
    uint64_t us = seconds <= 0 ? 0 : seconds >= 1e9 ? (uint64_t)1e15 : (uint64_t)(seconds * 1e6 + 0.5);
    unsigned i = 0;
    while (i < METRICS_BUCKETS - 1 && us > bounds_us[i]) /* most are fast: a few compares */
        i++;
    metric_add(&h->n[i], 1);
    metric_add(&h->sum_us, us);
}

void metrics_response_time(struct metrics_worker *w, struct metrics_group_slot *g, struct metrics_server_slot *s,
                           double seconds)
{
    if (s) {
        metric_add(&s->responses, 1);
        metric_add(&s->response_us, seconds <= 0 ? 0 : seconds >= 1e9 ? (uint64_t)1e15 : (uint64_t)(seconds * 1e6 + 0.5));
    }
    metrics_observe(g ? &g->response : &w->origin, seconds);
}

static unsigned error_kind(const struct request *r, bool client_gone)
{
    if (r->error) {
        int i = proxy_error_index(r->error);
        return i >= 0 ? (unsigned)i : PROXY_ERROR_COUNT;
    }
    if (client_gone)
        return (unsigned)proxy_error_index(&err_client_gone);
    return PROXY_ERROR_COUNT; /* rejected: a head, target or method luxy refused */
}

static int cache_result(const char *status)
{
    switch (status[0]) {
    case 'H':
        return 0;
    case 'M':
        return 1;
    case 'S':
        return 2;
    case 'R':
        return 3;
    default:
        return 4;
    }
}

void metrics_request_end(const struct request *r, bool client_gone)
{
    struct worker *w = r->w;
    struct metrics_worker *wm = w->wm;
    const struct listener_config *lc = r->lc;
    if (unlikely(wm == NULL || lc->stats == NULL))
        return; /* not a running server's (tests) */
    struct metrics_listener_slot *ls = metrics_listener(lc->stats, w->id);
    unsigned st = r->status;
    metric_add(&ls->requests[st >= 100 && st < 600 ? st / 100 - 1 : METRICS_CLASSES - 1], 1);
    metric_add(&ls->bytes_out, r->bytes_out);
    metrics_observe(&ls->duration, ev_now(w->loop) - r->started);
    metric_add(&wm->requests, 1);
    if (unlikely(r->attempts > 1 || r->retried_fresh))
        metric_add(&wm->retries, (r->attempts > 1 ? r->attempts - 1 : 0) + (r->retried_fresh ? 1 : 0));
    if (unlikely(r->error || r->error_text))
        metric_add(&wm->errors[error_kind(r, client_gone)], 1);
    if (r->t_first_byte > 0 && !r->timed_by_fetch)
        metrics_response_time(wm, r->up ? r->up->m : NULL, r->backend ? r->backend->m : NULL,
                              r->t_first_byte - r->t_connect);
    if (r->cache_status)
        metric_add(&wm->cache_bytes[cache_result(r->cache_status)], r->bytes_out);
}

/* ---- reading ---- */

void metrics_sum_workers(const struct metrics *m, struct metrics_worker_sum *o)
{
    memset(o, 0, sizeof(*o));
    for (unsigned i = 0; i < m->nworkers; i++) {
        const struct metrics_worker *w = &m->workers[i];
        o->conns_open += gauge_get(&w->conns_open);
        o->tunnels_open += gauge_get(&w->tunnels_open);
        o->backend_open += gauge_get(&w->backend_open);
        o->pool_idle += gauge_get(&w->pool_idle);
        o->conns_accepted += metric_get(&w->conns_accepted);
        o->conns_denied += metric_get(&w->conns_denied);
        o->requests += metric_get(&w->requests);
        o->retries += metric_get(&w->retries);
        o->tunnel_up += metric_get(&w->tunnel_up);
        o->tunnel_down += metric_get(&w->tunnel_down);
        for (unsigned k = 0; k < METRICS_ERRORS; k++)
            o->errors[k] += metric_get(&w->errors[k]);
        for (unsigned k = 0; k < METRICS_HOOKS; k++) {
            o->hook_calls[k] += metric_get(&w->hook_calls[k]);
            o->hook_errors[k] += metric_get(&w->hook_errors[k]);
            o->hook_us[k] += metric_get(&w->hook_us[k]);
        }
        for (unsigned k = 0; k < METRICS_CACHE_RESULTS; k++)
            o->cache_bytes[k] += metric_get(&w->cache_bytes[k]);
    }
}

void metrics_sum_server(const struct server_config *sc, struct metrics_server_sum *o)
{
    struct metrics_block *b = sc->stats;
    memset(o, 0, sizeof(*o));
    for (unsigned i = 1; i <= b->nslots; i++) {
        const struct metrics_server_slot *s = metrics_server(b, i);
        o->requests += metric_get(&s->requests);
        o->failures += metric_get(&s->failures);
        o->responses += metric_get(&s->responses);
        o->response_us += metric_get(&s->response_us);
    }
    o->inflight = server_inflight(sc->state); /* every worker's, kept once in the shared state */
}

uint64_t metrics_sum_listener_requests(struct metrics_block *b)
{
    uint64_t n = 0;
    for (unsigned i = 1; i <= b->nslots; i++)
        for (unsigned k = 0; k < METRICS_CLASSES; k++)
            n += metric_get(&metrics_listener(b, i)->requests[k]);
    return n;
}

const char *metrics_error_kind(unsigned i)
{
    return i < PROXY_ERROR_COUNT ? proxy_errors[i]->kind : "rejected";
}

/* ---- the Prometheus text (exposition format 0.0.4) ---- */

struct hist_sum {
    uint64_t n[METRICS_BUCKETS];
    uint64_t sum_us;
};

static void hist_add(struct hist_sum *s, const struct metrics_histogram *h)
{
    for (unsigned i = 0; i < METRICS_BUCKETS; i++)
        s->n[i] += metric_get(&h->n[i]);
    s->sum_us += metric_get(&h->sum_us);
}

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, quote and newline escaped; bytes that are not
 * UTF-8 as U+FFFD (the format is UTF-8). */
static void label_value(struct sbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char_len(p + i, n - i);
        if (k == 0) {
            sbuf_str(b, "\xef\xbf\xbd");
            i++;
        } else if (p[i] == '\\' || p[i] == '"') {
            char esc[2] = { '\\', (char)p[i] };
            sbuf_add(b, esc, 2);
            i++;
        } else if (p[i] == '\n') {
            sbuf_str(b, "\\n");
            i++;
        } else {
            sbuf_add(b, s + i, k);
            i += k;
        }
    }
}

/* name{k1="v1",k2="v2"} with the labels that are not NULL. */
static void series(struct sbuf *b, const char *name, const char *suffix, const char *k1, const char *v1,
                   const char *k2, const char *v2, const char *k3, const char *v3)
{
    sbuf_str(b, name);
    sbuf_str(b, suffix);
    const char *k[3] = { k1, k2, k3 }, *v[3] = { v1, v2, v3 };
    bool any = false;
    for (int i = 0; i < 3; i++) {
        if (k[i] == NULL)
            continue;
        sbuf_str(b, any ? "," : "{");
        any = true;
        sbuf_printf(b, "%s=\"", k[i]);
        label_value(b, v[i]);
        sbuf_str(b, "\"");
    }
    if (any)
        sbuf_str(b, "}");
    sbuf_str(b, " ");
}

static void value_u(struct sbuf *b, uint64_t v)
{
    sbuf_printf(b, "%llu\n", (unsigned long long)v);
}

static void value_d(struct sbuf *b, double v)
{
    sbuf_printf(b, "%.6f\n", v);
}

static void sample(struct sbuf *b, const char *name, const char *k1, const char *v1, const char *k2, const char *v2,
                   uint64_t v)
{
    series(b, name, "", k1, v1, k2, v2, NULL, NULL);
    value_u(b, v);
}

static void histogram(struct sbuf *b, const char *name, const char *k, const char *v, const struct hist_sum *h)
{
    uint64_t cum = 0;
    for (unsigned i = 0; i < METRICS_BUCKETS; i++) {
        cum += h->n[i];
        series(b, name, "_bucket", k, v, "le", bounds_text[i], NULL, NULL);
        value_u(b, cum);
    }
    series(b, name, "_sum", k, v, NULL, NULL, NULL, NULL);
    value_d(b, (double)h->sum_us / 1e6);
    series(b, name, "_count", k, v, NULL, NULL, NULL, NULL);
    value_u(b, cum);
}

/* A server's label: its spec, and "#2", "#3"... for an address its group
 * lists more than once (series must be unique). */
static const char *server_label(const struct upstream_config *u, unsigned i, char *buf, size_t len)
{
    unsigned k = occurrence(u, i);
    if (k == 0)
        return u->servers[i].spec;
    snprintf(buf, len, "%s#%u", u->servers[i].spec, k + 1);
    return buf;
}

static void listeners_text(struct sbuf *b, const struct config *cfg)
{
    family(b, "luxy_requests_total", "counter",
           "Requests ended (response sent, or the client gone), by listener and status class of the response.");
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct listener_config *l = &cfg->listeners[i];
        uint64_t n[METRICS_CLASSES] = { 0 };
        for (unsigned w = 1; w <= l->stats->nslots; w++)
            for (unsigned k = 0; k < METRICS_CLASSES; k++)
                n[k] += metric_get(&metrics_listener(l->stats, w)->requests[k]);
        for (unsigned k = 0; k < METRICS_CLASSES; k++)
            if (k < METRICS_CLASSES - 1 || n[k])
                sample(b, "luxy_requests_total", "listener", l->spec, "status", class_names[k], n[k]);
    }
    family(b, "luxy_response_bytes_total", "counter", "Response body bytes sent to clients, by listener.");
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct listener_config *l = &cfg->listeners[i];
        uint64_t n = 0;
        for (unsigned w = 1; w <= l->stats->nslots; w++)
            n += metric_get(&metrics_listener(l->stats, w)->bytes_out);
        sample(b, "luxy_response_bytes_total", "listener", l->spec, NULL, NULL, n);
    }
    family(b, "luxy_request_duration_seconds", "histogram",
           "Time from a request's complete head to its last response byte, by listener.");
    for (unsigned i = 0; i < cfg->nlisteners; i++) {
        const struct listener_config *l = &cfg->listeners[i];
        struct hist_sum h = { { 0 }, 0 };
        for (unsigned w = 1; w <= l->stats->nslots; w++)
            hist_add(&h, &metrics_listener(l->stats, w)->duration);
        histogram(b, "luxy_request_duration_seconds", "listener", l->spec, &h);
    }
}

static void upstreams_text(struct sbuf *b, const struct config *cfg, const struct metrics *m)
{
    family(b, "luxy_upstream_response_seconds", "histogram",
           "Time from connecting (or taking a pooled connection) to the first response byte, by upstream or parent group.");
    for (unsigned i = 0; i < cfg->nupstreams; i++) {
        const struct upstream_config *u = &cfg->upstreams[i];
        struct hist_sum h = { { 0 }, 0 };
        for (unsigned w = 1; w <= u->stats->nslots; w++)
            hist_add(&h, &metrics_group(u->stats, w)->response);
        histogram(b, "luxy_upstream_response_seconds", "upstream", u->name, &h);
    }
    family(b, "luxy_origin_response_seconds", "histogram",
           "Forward requests sent straight to their origin: time from connecting to the first response byte.");
    struct hist_sum h = { { 0 }, 0 };
    for (unsigned w = 0; w < m->nworkers; w++)
        hist_add(&h, &m->workers[w].origin);
    histogram(b, "luxy_origin_response_seconds", NULL, NULL, &h);

    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        { "luxy_upstream_server_requests_total", "counter", "Exchanges sent to a server (each attempt counts)." },
        { "luxy_upstream_server_failures_total", "counter",
          "Exchanges with a server that failed: refused or timed-out connects, resets, cut or invalid responses." },
        { "luxy_upstream_server_in_flight", "gauge", "Exchanges with a server in progress now." },
        { "luxy_upstream_server_healthy", "gauge",
          "1 when the server may be picked (not down, ejected or drained), else 0." },
        { "luxy_upstream_server_weight", "gauge", "The server's weight now (admin-set, ramping in slow start)." },
        { "luxy_upstream_server_latency_seconds", "gauge",
          "EWMA of connect start to first response byte, every worker's attempts." },
        { "luxy_upstream_server_response_seconds", "summary",
          "Time from connecting to a server to its first response byte." },
    };
    for (size_t f = 0; f < countof(fam); f++) {
        family(b, fam[f].name, fam[f].type, fam[f].help);
        for (unsigned i = 0; i < cfg->nupstreams; i++) {
            const struct upstream_config *u = &cfg->upstreams[i];
            for (unsigned s = 0; s < u->nservers; s++) {
                struct metrics_server_sum ss;
                char buf[300];
                const char *label = server_label(u, s, buf, sizeof(buf));
                metrics_sum_server(&u->servers[s], &ss);
                switch (f) {
                case 0:
                    sample(b, fam[f].name, "upstream", u->name, "server", label, ss.requests);
                    break;
                case 1:
                    sample(b, fam[f].name, "upstream", u->name, "server", label, ss.failures);
                    break;
                case 2:
                    sample(b, fam[f].name, "upstream", u->name, "server", label,
                           (uint64_t)(ss.inflight > 0 ? ss.inflight : 0));
                    break;
                case 3:
                    sample(b, fam[f].name, "upstream", u->name, "server", label,
                           server_usable(u->servers[s].state, server_now_ms()));
                    break;
                case 4:
                    series(b, fam[f].name, "", "upstream", u->name, "server", label, NULL, NULL);
                    value_d(b, (double)server_weight(u->servers[s].state, u->slow_start, server_now_ms()) /
                                   SS_WEIGHT_UNIT);
                    break;
                case 5:
                    series(b, fam[f].name, "", "upstream", u->name, "server", label, NULL, NULL);
                    value_d(b, (double)atomic_load_explicit(&u->servers[s].state->latency_us,
                                                            memory_order_relaxed) / 1e6);
                    break;
                default:
                    series(b, fam[f].name, "_sum", "upstream", u->name, "server", label, NULL, NULL);
                    value_d(b, (double)ss.response_us / 1e6);
                    series(b, fam[f].name, "_count", "upstream", u->name, "server", label, NULL, NULL);
                    value_u(b, ss.responses);
                    break;
                }
            }
        }
    }
}

static void cache_text(struct sbuf *b, struct cache *c, const struct metrics_worker_sum *ws)
{
    const struct cache_stats *st = &c->stats;
    uint64_t by_result[METRICS_CACHE_RESULTS] = { atomic_load(&st->hits), atomic_load(&st->misses),
                                                  atomic_load(&st->stale), atomic_load(&st->revalidated),
                                                  atomic_load(&st->bypass) };
    family(b, "luxy_cache_requests_total", "counter",
           "Requests through the cache, by result (what X-Cache says; bypass: sent to the origin, hit-for-pass included).");
    for (unsigned k = 0; k < METRICS_CACHE_RESULTS; k++)
        sample(b, "luxy_cache_requests_total", "result", cache_results[k], NULL, NULL, by_result[k]);
    family(b, "luxy_cache_response_bytes_total", "counter",
           "Response body bytes sent to clients of caching listeners, by cache result.");
    for (unsigned k = 0; k < METRICS_CACHE_RESULTS; k++)
        sample(b, "luxy_cache_response_bytes_total", "result", cache_results[k], NULL, NULL, ws->cache_bytes[k]);
    static const struct {
        const char *name, *help;
    } counters[] = {
        { "luxy_cache_stores_total", "Responses stored." },
        { "luxy_cache_evictions_total", "Entries evicted to make room (least recently used first)." },
        { "luxy_cache_purged_total", "Entries removed by PURGE or POST /api/purge." },
    };
    uint64_t cv[] = { atomic_load(&st->stores), atomic_load(&st->evictions), atomic_load(&st->purges) };
    for (size_t i = 0; i < countof(counters); i++) {
        family(b, counters[i].name, "counter", counters[i].help);
        sample(b, counters[i].name, NULL, NULL, NULL, NULL, cv[i]);
    }
    family(b, "luxy_cache_entries", "gauge", "Entries in the store (hit-for-pass markers included).");
    sample(b, "luxy_cache_entries", NULL, NULL, NULL, NULL, cache_entries(c));
    family(b, "luxy_cache_used_bytes", "gauge", "Memory the store uses: entries, heads, bodies, keys and index.");
    sample(b, "luxy_cache_used_bytes", NULL, NULL, NULL, NULL, cache_used(c));
    family(b, "luxy_cache_size_bytes", "gauge", "The store's configured size.");
    sample(b, "luxy_cache_size_bytes", NULL, NULL, NULL, NULL, c->cfg.size);
}

void metrics_prometheus(struct sbuf *b, struct metrics *m, const struct config *cfg, struct cache *cache)
{
    struct metrics_worker_sum ws;
    metrics_sum_workers(m, &ws);
    pthread_mutex_lock(&m->lock);
    unsigned gen = m->generation;
    double loaded = m->generation_loaded;
    unsigned long ok = m->reloads_ok, refused = m->reloads_refused;
    pthread_mutex_unlock(&m->lock);

    family(b, "luxy_info", "gauge", "Always 1; the version is a label.");
    sample(b, "luxy_info", "version", LUXY_VERSION, NULL, NULL, 1);
    family(b, "luxy_start_time_seconds", "gauge", "When this luxy process started (Unix time).");
    series(b, "luxy_start_time_seconds", "", NULL, NULL, NULL, NULL, NULL, NULL);
    value_d(b, m->started);
    family(b, "luxy_workers", "gauge", "Worker threads.");
    sample(b, "luxy_workers", NULL, NULL, NULL, NULL, m->nworkers);
    family(b, "luxy_config_generation", "gauge", "The configuration generation serving (1 at start, one more per reload).");
    sample(b, "luxy_config_generation", NULL, NULL, NULL, NULL, gen);
    family(b, "luxy_config_loaded_time_seconds", "gauge", "When the serving generation was loaded (Unix time).");
    series(b, "luxy_config_loaded_time_seconds", "", NULL, NULL, NULL, NULL, NULL, NULL);
    value_d(b, loaded);
    family(b, "luxy_reloads_total", "counter", "Reloads, by result: ok (a new generation serves) or refused.");
    sample(b, "luxy_reloads_total", "result", "ok", NULL, NULL, ok);
    sample(b, "luxy_reloads_total", "result", "refused", NULL, NULL, refused);

    family(b, "luxy_connections_open", "gauge", "Client connections open now (tunnels not included).");
    sample(b, "luxy_connections_open", NULL, NULL, NULL, NULL, (uint64_t)(ws.conns_open > 0 ? ws.conns_open : 0));
    family(b, "luxy_connections_accepted_total", "counter", "Client connections accepted.");
    sample(b, "luxy_connections_accepted_total", NULL, NULL, NULL, NULL, ws.conns_accepted);
    family(b, "luxy_connections_denied_total", "counter",
           "Client connections from outside their listener's allow list (answered 403).");
    sample(b, "luxy_connections_denied_total", NULL, NULL, NULL, NULL, ws.conns_denied);
    family(b, "luxy_tunnels_open", "gauge", "CONNECT and Upgrade tunnels open now.");
    sample(b, "luxy_tunnels_open", NULL, NULL, NULL, NULL, (uint64_t)(ws.tunnels_open > 0 ? ws.tunnels_open : 0));
    family(b, "luxy_tunnel_bytes_total", "counter",
           "Bytes relayed by tunnels that closed: up (client to backend) and down.");
    sample(b, "luxy_tunnel_bytes_total", "direction", "up", NULL, NULL, ws.tunnel_up);
    sample(b, "luxy_tunnel_bytes_total", "direction", "down", NULL, NULL, ws.tunnel_down);
    family(b, "luxy_backend_connections_open", "gauge",
           "Connections to backends and origins open now: connecting, busy or idle in the pools (tunnels not included).");
    sample(b, "luxy_backend_connections_open", NULL, NULL, NULL, NULL,
           (uint64_t)(ws.backend_open > 0 ? ws.backend_open : 0));
    family(b, "luxy_backend_idle_connections", "gauge", "Idle keep-alive connections to backends and origins in the pools.");
    sample(b, "luxy_backend_idle_connections", NULL, NULL, NULL, NULL, (uint64_t)(ws.pool_idle > 0 ? ws.pool_idle : 0));

    listeners_text(b, cfg);
    family(b, "luxy_retries_total", "counter",
           "Backend attempts after a request's first (failed connects) and stale pooled connections replaced.");
    sample(b, "luxy_retries_total", NULL, NULL, NULL, NULL, ws.retries);
    family(b, "luxy_errors_total", "counter",
           "Requests that did not end as a complete response, by kind (docs/operations.md lists them).");
    for (unsigned k = 0; k < METRICS_ERRORS; k++)
        sample(b, "luxy_errors_total", "kind", metrics_error_kind(k), NULL, NULL, ws.errors[k]);
    upstreams_text(b, cfg, m);

    family(b, "luxy_hook_calls_total", "counter", "Calls of each Lua hook.");
    for (unsigned h = 0; h < HOOK_COUNT; h++)
        sample(b, "luxy_hook_calls_total", "hook", hook_names[h], NULL, NULL, ws.hook_calls[h]);
    family(b, "luxy_hook_errors_total", "counter",
           "Lua hook calls that failed (an error, the budget or the memory limit).");
    for (unsigned h = 0; h < HOOK_COUNT; h++)
        sample(b, "luxy_hook_errors_total", "hook", hook_names[h], NULL, NULL, ws.hook_errors[h]);
    family(b, "luxy_hook_seconds_total", "counter", "Wall-clock time spent in each Lua hook.");
    for (unsigned h = 0; h < HOOK_COUNT; h++) {
        series(b, "luxy_hook_seconds_total", "", "hook", hook_names[h], NULL, NULL, NULL, NULL);
        value_d(b, (double)ws.hook_us[h] / 1e6);
    }
    if (cache)
        cache_text(b, cache, &ws);
    family(b, "luxy_log_dropped_lines_total", "counter", "Log lines dropped because the log writer fell behind.");
    sample(b, "luxy_log_dropped_lines_total", NULL, NULL, NULL, NULL, log_dropped());
}
