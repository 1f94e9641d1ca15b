/* upstream.c - per-worker upstream state and background re-resolution.
 * Host names were resolved once at load (lua/config.c); every resolve_every
 * seconds each worker asks its own resolver again, so an address change
 * reaches new connections without a reload and without blocking. */
#include "upstream.h"

#include "clock.h"

#include <assert.h>
#include <lua.h>
#include <lauxlib.h>
#include <stdlib.h>

#include "lb_request.h"
#include "log.h"
#include "upconn.h"
#include "luxy.h"
#include "generation.h"
#include "health.h"
#include "worker.h"

static void on_resolve_timer(struct ev_loop *loop, ev_timer *t, int revents);

static bool is_ip_literal(const char *host)
{
    union sockaddr_u tmp;
    return addr_from_ip(host, 0, &tmp) == 0;
}

/* The server of prev's group with the same name, written the same way
 * (the same listing of it when a group lists one address twice). */
static const struct backend *same_server(const struct generation *prev, const struct upstream_config *uc,
                                         const struct backend *b)
{
    if (prev == NULL)
        return NULL;
    for (unsigned u = 0; u < prev->cfg->nupstreams; u++) {
        const struct upstream *old = &prev->upstreams[u];
        if (old->cfg->parent != uc->parent || strcmp(old->cfg->name, uc->name) != 0)
            continue;
        for (unsigned i = 0; i < old->n; i++)
            if (strcmp(old->backends[i].cfg->spec, b->cfg->spec) == 0 && old->backends[i].occurrence == b->occurrence)
                return &old->backends[i];
    }
    return NULL;
}

void upstream_init(struct generation *g, const struct generation *prev)
{
    const struct config *cfg = g->cfg;
    struct worker *w = g->w;
    g->upstreams = xcalloc(cfg->nupstreams ? cfg->nupstreams : 1, sizeof(*g->upstreams));
    for (unsigned u = 0; u < cfg->nupstreams; u++) {
        struct upstream *up = &g->upstreams[u];
        const struct upstream_config *uc = &cfg->upstreams[u];
        up->cfg = uc;
        up->w = w;
        up->n = uc->nservers;
        up->lb = lb_find(uc->balance);
        up->lua_ref = LUA_NOREF;
        assert(uc->stats != NULL);
        up->m = metrics_group(uc->stats, w->id);
        up->backends = xcalloc(up->n, sizeof(*up->backends));
        up->states = xcalloc(up->n, sizeof(*up->states));
        up->epoch_seen = atomic_load_explicit(&server_state_epoch, memory_order_relaxed);
        bool any_name = false;
        for (unsigned i = 0; i < up->n; i++) {
            struct backend *b = &up->backends[i];
            b->cfg = &uc->servers[i];
            b->up = up;
            b->index = i;
            for (unsigned j = 0; j < i; j++)
                b->occurrence += strcmp(uc->servers[j].spec, b->cfg->spec) == 0;
            b->addrs = b->cfg->addrs;
            if (uc->sticky)
                b->sticky_id = sticky_server_id(up, b);
            assert(b->cfg->stats != NULL && b->cfg->state != NULL); /* metrics_bind ran */
            b->m = metrics_server(b->cfg->stats, w->id); /* shared with prev's: counters carry over */
            b->st = up->states[i] = b->cfg->state;     /* shared by every worker, kept by a reload */
            const struct backend *old = same_server(prev, uc, b);
            if (old) { /* a reload keeps where the server is now */
                b->addrs = old->addrs;
                b->next_addr = old->next_addr;
            }
            any_name |= !is_ip_literal(b->cfg->host);
        }
        up->ring_weights = xcalloc(up->n, sizeof(*up->ring_weights));
        health_start(up, g);
        ev_timer_init(&up->resolve_timer, on_resolve_timer, uc->resolve_every, uc->resolve_every);
        if (any_name && uc->resolve_every > 0)
            ev_timer_start(w->loop, &up->resolve_timer);
    }
}

void upstream_stop(struct generation *g)
{
    if (g->upstreams == NULL)
        return;
    for (unsigned u = 0; u < g->cfg->nupstreams; u++) {
        struct upstream *up = &g->upstreams[u];
        ev_timer_stop(g->w->loop, &up->resolve_timer);
        health_stop(up);
        for (unsigned i = 0; i < up->n; i++) {
            resolve_cancel(&up->backends[i].rwait);
            up->backends[i].resolving = false;
        }
    }
}

void upstream_free(struct generation *g)
{
    if (g->upstreams == NULL)
        return;
    upstream_stop(g);
    for (unsigned u = 0; u < g->cfg->nupstreams; u++) {
        struct upstream *up = &g->upstreams[u];
        lb_ring_free(up);
        free(up->ring_weights);
        free(up->backends);
        free(up->states);
    }
    free(g->upstreams);
    g->upstreams = NULL;
}

static struct upstream *find_group(struct generation *g, const char *name, size_t len, bool parent)
{
    for (unsigned u = 0; u < g->cfg->nupstreams; u++) {
        const struct upstream_config *cfg = g->upstreams[u].cfg;
        if (cfg->parent == parent && strlen(cfg->name) == len && memcmp(cfg->name, name, len) == 0)
            return &g->upstreams[u];
    }
    return NULL;
}

struct upstream *upstream_find(struct generation *g, const char *name, size_t len)
{
    return find_group(g, name, len, false);
}

struct upstream *parent_find(struct generation *g, const char *name, size_t len)
{
    return find_group(g, name, len, true);
}

const union sockaddr_u *backend_addr(struct backend *b)
{
    return &b->addrs.addr[b->next_addr % b->addrs.n];
}

void backend_connect_failed(struct backend *b)
{
    backend_count_failure(b);
    if (b->addrs.n > 1)
        b->next_addr = (b->next_addr + 1) % b->addrs.n;
}

void backend_result(struct backend *b, enum attempt_result res, double seconds)
{
    struct upstream *up = b->up;
    if (server_result(b->st, res, seconds, server_loop_ms(clock_now(up->w->loop)), up->cfg, up->states, up->n))
        log_warn("upstream %s: server %s ejected for %.0fs (%s: %u in a row, %.0f%% failed over %ds); "
                 "last: %s", up->cfg->name, b->cfg->spec,
                 (double)(atomic_load_explicit(&b->st->eject_until_ms, memory_order_relaxed) - server_now_ms()) / 1000,
                 server_reason_text(atomic_load_explicit(&b->st->reason, memory_order_relaxed)),
                 up->cfg->outlier.consecutive, 100 * server_error_rate(b->st, server_now_ms()), SS_WINDOW,
                 attempt_result_name(res));
    if (up->lb->on_result)
        up->lb->on_result(up, b, res, seconds);
}

void upstream_catch_up(struct upstream *up)
{
    unsigned e = atomic_load_explicit(&server_state_epoch, memory_order_relaxed);
    if (e == up->epoch_seen)
        return;
    up->epoch_seen = e;
    for (unsigned i = 0; i < up->n; i++) { /* a drained server's idle connections go now */
        struct backend *b = &up->backends[i];
        if (atomic_load_explicit(&b->st->down, memory_order_relaxed) & SS_DRAINED)
            for (unsigned a = 0; a < b->addrs.n; a++)
                upconn_pool_drop(up->w, &b->addrs.addr[a]);
    }
    if (up->lb->on_change)
        up->lb->on_change(up);
}

static void apply_answer(struct backend *b, const struct resolved *res)
{
    if (res->n == 0)
        return;
    b->addrs = *res;
    for (unsigned i = 0; i < b->addrs.n; i++)
        addr_set_port(&b->addrs.addr[i], b->cfg->port);
    b->next_addr = 0;
}

static void on_resolved(void *arg, const struct resolved *res, const char *err)
{
    struct backend *b = arg;
    b->resolving = false;
    if (res)
        apply_answer(b, res);
    else
        log_warn("upstream %s: re-resolving %s failed (%s); keeping the last addresses",
                 b->up->cfg->name, b->cfg->host, err);
}

static void on_resolve_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct upstream *up = container_of(t, struct upstream, resolve_timer);
    for (unsigned i = 0; i < up->n; i++) {
        struct backend *b = &up->backends[i];
        if (b->resolving || is_ip_literal(b->cfg->host))
            continue;
        const struct resolved *res;
        const char *err;
        switch (resolve_lookup(up->w->resolver, b->cfg->host, strlen(b->cfg->host), &b->rwait,
                               on_resolved, b, &res, &err)) {
        case RESOLVE_DONE:
            apply_answer(b, res);
            break;
        case RESOLVE_PENDING:
            b->resolving = true;
            break;
        case RESOLVE_FAILED:
            log_warn("upstream %s: re-resolving %s failed (%s); keeping the last addresses",
                     up->cfg->name, b->cfg->host, err);
            break;
        }
    }
}
