/* health.c - active health checks (see health.h). */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>

#include "fetch.h"
#include "generation.h"
#include "log.h"
#include "luxy.h"
#include "metrics.h"
#include "upstream.h"
#include "worker.h"

struct health_prober {
    struct upstream *up;
    struct generation *gen;  /* up's (it stops the probes before it goes) */
    struct backend *b;
    ev_timer every;          /* the next probe */
    ev_timer deadline;       /* the running probe's timeout */
    struct fetch *f;         /* the running probe, or NULL */
    unsigned status;         /* its response's status, 0: none yet */
};

static bool probe_head(struct fetch *f, void *sink, const struct http_head *resp)
{
    (void)f;
    ((struct health_prober *)sink)->status = resp->status;
    return true;
}

static bool probe_data(struct fetch *f, void *sink, const char *p, size_t n)
{
    (void)f, (void)sink, (void)p, (void)n;
    return true; /* the body is read and dropped, bounded by the timeout */
}

static void verdict(struct health_prober *p, bool passed, const char *why)
{
    struct backend *b = p->b;
    const struct upstream_config *cfg = p->up->cfg;
    bool changed = passed ? server_check_passed(b->st, cfg, p->status) : server_check_failed(b->st, cfg, p->status);
    if (!changed)
        return;
    if (passed)
        log_warn("upstream %s: server %s is up (health check passed %u times%s)", cfg->name, b->cfg->spec,
                 cfg->health.rise, cfg->slow_start > 0 ? "; slow start" : "");
    else
        log_warn("upstream %s: server %s is down (health check: %s, %u times)", cfg->name, b->cfg->spec, why,
                 cfg->health.fall);
}

static void probe_done(struct fetch *f, void *sink, const struct proxy_error *err)
{
    (void)f;
    struct health_prober *p = sink;
    p->f = NULL;
    ev_timer_stop(p->up->w->loop, &p->deadline);
    const struct health_config *h = &p->up->cfg->health;
    char why[96];
    if (err) {
        p->status = 0;
        snprintf(why, sizeof(why), "%s", err->text);
        verdict(p, false, why);
    } else if (p->status < h->expect_lo || p->status > h->expect_hi) {
        snprintf(why, sizeof(why), "status %u", p->status);
        verdict(p, false, why);
    } else {
        verdict(p, true, NULL);
    }
}

static const struct fetch_sink_ops probe_ops = { probe_head, probe_data, NULL, probe_done };

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct health_prober *p = container_of(t, struct health_prober, deadline);
    if (p->f) {
        fetch_cancel(p->f);
        p->f = NULL;
        p->status = 0;
        verdict(p, false, "timed out");
    }
}

static void on_every(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct health_prober *p = container_of(t, struct health_prober, every);
    if (p->f)
        return; /* the last one is still out (its deadline judges it) */
    const struct health_config *h = &p->up->cfg->health;
    struct backend *b = p->b;
    char head[1024];
    const char *host = h->host ? h->host : b->cfg->spec;
    int n = snprintf(head, sizeof(head),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: luxy-health-check\r\nConnection: close\r\n\r\n",
                     h->path, host);
    if (n < 0 || (size_t)n >= sizeof(head))
        return; /* the loader bounds path and host */
    struct fetch_target ft = { .backend = -1, .tries = 1, .keepalive = 0, .quiet = true };
    ft.addrs.n = 1;
    ft.addrs.addr[0] = *backend_addr(b);
    p->status = 0;
    ev_timer_set(&p->deadline, h->timeout, 0);
    ev_timer_start(loop, &p->deadline);
    p->f = fetch_start(p->gen, &ft, head, (size_t)n, HTTP_GET, &probe_ops, p);
}

/* Which worker probes server k of all the groups' servers: dealt round. */
static unsigned prober_of(unsigned k, unsigned nworkers)
{
    return k % (nworkers ? nworkers : 1) + 1;
}

void health_start(struct upstream *up, struct generation *g)
{
    const struct health_config *h = &up->cfg->health;
    if (h->path == NULL || up->probers)
        return;
    struct worker *w = up->w;
    const struct config *cfg = g->cfg;
    unsigned first = 0; /* this group's first server among all groups' */
    for (unsigned u = 0; u < cfg->nupstreams && &cfg->upstreams[u] != up->cfg; u++)
        first += cfg->upstreams[u].nservers;
    unsigned nworkers = w->metrics ? w->metrics->nworkers : 1;
    up->probers = xcalloc(up->n, sizeof(*up->probers));
    for (unsigned i = 0; i < up->n; i++) {
        struct health_prober *p = &up->probers[i];
        p->up = up;
        p->gen = g;
        p->b = &up->backends[i];
        ev_timer_init(&p->every, on_every, 0.05 * (i + 1), h->interval); /* soon, spread a little */
        ev_timer_init(&p->deadline, on_deadline, h->timeout, 0);
        if (prober_of(first + i, nworkers) == w->id)
            ev_timer_start(w->loop, &p->every);
    }
}

void health_stop(struct upstream *up)
{
    if (up->probers == NULL)
        return;
    for (unsigned i = 0; i < up->n; i++) {
        struct health_prober *p = &up->probers[i];
        ev_timer_stop(up->w->loop, &p->every);
        ev_timer_stop(up->w->loop, &p->deadline);
        if (p->f)
            fetch_cancel(p->f);
        p->f = NULL;
    }
    free(up->probers);
    up->probers = NULL;
}
