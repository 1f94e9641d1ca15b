/* upstream.h - a worker's live view of its upstream groups: each server's
 * current addresses (host names are re-resolved in the background), its
 * in-flight count and counters, and the group's balancing state.
 * The counters are also counted in this worker's slot of the server's
 * metrics block (backend.m, metrics.h), which the generations before and
 * after a reload share and the admin listener reads from any worker. */
#ifndef LUXY_UPSTREAM_H
#define LUXY_UPSTREAM_H

#include <ev.h>
#include <stdbool.h>

#include "config.h"
#include "lb.h"
#include "metrics.h"
#include "resolve.h"

struct worker;
struct generation;
struct upstream;

struct backend {
    const struct server_config *cfg;
    struct upstream *up;
    unsigned index;              /* 0-based position in the group */
    struct resolved addrs;       /* current addresses, port set */
    unsigned next_addr;          /* rotates when a connect fails */
    int current_weight;          /* smooth weighted round robin (wrr, least_conn ties) */
    unsigned inflight;           /* exchanges using it now (this worker) */
    unsigned long requests, failures;
    bool healthy;                /* always true: no health checks yet (strategies already
                                    prefer healthy backends for when they come) */
    struct resolve_wait rwait;   /* background re-resolution */
    bool resolving;
    struct metrics_server_slot *m; /* the same counts, for the admin listener (metrics.h) */
};

struct upstream {
    const struct upstream_config *cfg;
    struct worker *w;
    struct backend *backends;
    unsigned n;
    const struct lb_ops *lb;
    ev_timer resolve_timer;
    struct metrics_group_slot *m; /* this worker's response times for the group */
    int lua_ref;                 /* the "backends" userdata, LUA_NOREF until first use */
};

/* Builds g's upstream runtime state and starts re-resolution timers, in
 * g's worker (see generation_start for prev). */
void upstream_init(struct generation *g, const struct generation *prev);
/* Stops the timers and lookups (a generation no longer current). */
void upstream_stop(struct generation *g);
void upstream_free(struct generation *g);
/* The group named name (len bytes) in g, or NULL. */
struct upstream *upstream_find(struct generation *g, const char *name, size_t len);
/* The parent proxy group named name, or NULL. */
struct upstream *parent_find(struct generation *g, const char *name, size_t len);
/* An exchange with b begins (counted in requests and in flight) / ends;
 * the plain fields are this generation's, for the balancers, b->m the
 * admin listener's copy (atomic, shared across reloads). */
static inline void backend_begin(struct backend *b)
{
    b->inflight++;
    b->requests++;
    metric_add(&b->m->requests, 1);
    gauge_add(&b->m->inflight, 1);
}
static inline void backend_end(struct backend *b)
{
    b->inflight--;
    gauge_add(&b->m->inflight, -1);
}
/* An exchange with b failed (not a connect: backend_connect_failed). */
static inline void backend_count_failure(struct backend *b)
{
    b->failures++;
    metric_add(&b->m->failures, 1);
}

/* The address to try next for b. */
const union sockaddr_u *backend_addr(struct backend *b);
/* A connect to b failed: rotate to its next address. */
void backend_connect_failed(struct backend *b);

#endif
