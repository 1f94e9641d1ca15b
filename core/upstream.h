/* upstream.h - a worker's live view of its upstream groups: each server's
 * current addresses (host names are re-resolved in the background), its
 * in-flight count and counters, and the group's balancing state.
 * The counters are this worker's slot of the server's metrics block
 * (metrics.h): the generations before and after a reload share it, so
 * they carry over, and the admin listener reads them from any worker.
 * What all workers share about a server (health, drain, weight, in flight
 * everywhere, latency) is its server_state (server_state.h), held the same
 * way. */
#ifndef LUXY_UPSTREAM_H
#define LUXY_UPSTREAM_H

#include <ev.h>
#include <stdbool.h>

#include "config.h"
#include "lb.h"
#include "metrics.h"
#include "resolve.h"
#include "retry_budget.h"
#include "server_state.h"

struct worker;
struct generation;
struct upstream;
struct ring;

struct backend {
    const struct server_config *cfg;
    struct upstream *up;
    unsigned index;              /* 0-based position in the group */
    unsigned occurrence;         /* which listing of its spec in the group (0: the first) */
    uint64_t sticky_id;          /* its id in the group's sticky cookie (lb_request.h) */
    struct server_state *st;     /* shared by every worker (server_state.h) */
    struct resolved addrs;       /* current addresses, port set */
    unsigned next_addr;          /* rotates when a connect fails */
    int current_weight;          /* smooth weighted round robin (wrr, least_conn ties) */
    struct metrics_server_slot *m; /* requests, failures, response times: this worker's */
    struct resolve_wait rwait;   /* background re-resolution */
    bool resolving;
};

struct upstream {
    const struct upstream_config *cfg;
    struct worker *w;
    struct backend *backends;
    unsigned n;
    const struct lb_ops *lb;
    struct ring *ring;           /* the hash ring (lb_chash.c), built at the first keyed pick */
    unsigned *ring_weights;      /* the weights it was built with */
    unsigned rr_next;            /* rr's turn */
    unsigned epoch_seen;         /* server_state_epoch at the last on_change */
    struct server_state **states; /* every server's, for outlier detection's share */
    struct retry_budget budget;  /* this worker's retries against the group */
    struct health_prober *probers; /* this worker's active checks, or NULL */
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
/* Exchanges using b now, every worker's. */
static inline unsigned backend_inflight(const struct backend *b)
{
    int64_t n = server_inflight(b->st);
    return n > 0 ? (unsigned)n : 0;
}
/* An exchange with b begins (counted in requests and in flight) / ends. */
static inline void backend_begin(struct backend *b)
{
    metric_add(&b->m->requests, 1);
    server_begin(b->st);
}
static inline void backend_end(struct backend *b)
{
    server_end(b->st);
}
/* What an attempt on b ended with: the shared state (outlier detection)
 * and the strategy hear it. seconds: connect start to first byte. */
void backend_result(struct backend *b, enum attempt_result res, double seconds);
/* Tells the strategy when any server's state changed since it last heard. */
void upstream_catch_up(struct upstream *up);
/* An exchange with b failed (counted in its metrics; not a connect:
 * backend_connect_failed). */
static inline void backend_count_failure(struct backend *b)
{
    metric_add(&b->m->failures, 1);
}

/* The address to try next for b. */
const union sockaddr_u *backend_addr(struct backend *b);
/* A connect to b failed: rotate to its next address. */
void backend_connect_failed(struct backend *b);

#endif
