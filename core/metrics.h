/* metrics.h - what luxy counts as traffic flows, for the admin listener
 * (admin.c): its JSON API and the Prometheus text of GET /metrics
 * (docs/operations.md, "Metrics", lists every series).
 *
 * Who writes, who reads. Every counter has exactly one writer: the worker
 * that owns its slot. It adds with a relaxed load and a relaxed store (no
 * read-modify-write, so no lock prefix: a plain add on x86 and arm64),
 * which is exact because nobody else writes the slot. The admin handler,
 * running in any worker, reads every worker's slots with relaxed loads.
 * Everything read by another thread is _Atomic, so there is no data race;
 * everything is relaxed, so the request path pays nothing for ordering.
 * A reader may see one counter a moment ahead of another (a request
 * counted, its bytes not yet): each figure is right on its own, never
 * goes back, and all agree once traffic stops.
 *
 * Why atomics read in place, and not a snapshot through every worker's
 * inbox: the answer comes at once, even while another worker is deep in
 * a long hook or stopping, and the request path pays a plain add either
 * way. What makes reading another worker's counters safe is lifetime:
 * slots live in objects that outlive both their writer and every reader,
 *   - per worker (struct metrics_worker): in struct metrics, made by the
 *     main thread before the workers and freed after them;
 *   - per listener, upstream group and server (struct metrics_block): one
 *     object per identity (a listener's address; a group's name; a
 *     server's spec within its group), with a slot per worker, held by
 *     every configuration generation that has that identity (metrics_bind
 *     in the main thread, metrics_unbind when the generation goes). A
 *     reload shares the object of whatever stays, so counters carry over,
 *     and a worker that still serves the old generation (or a request
 *     that began on it) counts into the same slot as the new one. The
 *     admin handler reads the objects of its own request's generation,
 *     which the request's connection holds.
 * Slots are cache-line aligned: two workers never write the same line. */
#ifndef LUXY_METRICS_H
#define LUXY_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct cache;
struct config;
struct request;
struct sbuf;

#define METRICS_LINE 64
#define METRICS_HOOKS 8          /* >= HOOK_COUNT (lua/hooks.h; checked there) */
#define METRICS_BUCKETS 13       /* seconds: .001 .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10, +Inf */
#define METRICS_CLASSES 6        /* status 1xx, 2xx, 3xx, 4xx, 5xx, other */
#define METRICS_CACHE_RESULTS 5  /* HIT MISS STALE REVALIDATED BYPASS */
#define METRICS_ERRORS (PROXY_ERROR_COUNT + 1) /* + rejected: a head or target luxy refused */

typedef _Atomic uint64_t metric_t;
typedef _Atomic int64_t gauge_t;

/* The one writer's add. */
static inline void metric_add(metric_t *m, uint64_t n)
{
    atomic_store_explicit(m, atomic_load_explicit(m, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void gauge_add(gauge_t *g, int64_t n)
{
    atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + n, memory_order_relaxed);
}
/* Anyone's read. */
static inline uint64_t metric_get(const metric_t *m)
{
    return atomic_load_explicit(m, memory_order_relaxed);
}
static inline int64_t gauge_get(const gauge_t *g)
{
    return atomic_load_explicit(g, memory_order_relaxed);
}

/* Observations per bucket (not cumulative: the text makes them so), the
 * last one +Inf; their count is the histogram's count, so _count always
 * equals the +Inf bucket. */
struct metrics_histogram {
    metric_t n[METRICS_BUCKETS];
    metric_t sum_us;           /* microseconds */
};

/* Per worker, for the whole process. */
struct metrics_worker {
    _Alignas(METRICS_LINE) gauge_t conns_open;
    gauge_t tunnels_open;
    gauge_t backend_open;      /* backend and origin connections: connecting, busy or idle (not tunnels') */
    gauge_t pool_idle;         /* ... of them idle in the keep-alive pool */
    metric_t conns_accepted, conns_denied;
    metric_t requests;         /* ended (every listener's) */
    metric_t retries;          /* attempts after the first, and stale pooled connections replaced */
    metric_t errors[METRICS_ERRORS];
    metric_t hook_calls[METRICS_HOOKS], hook_errors[METRICS_HOOKS], hook_us[METRICS_HOOKS];
    metric_t cache_bytes[METRICS_CACHE_RESULTS]; /* body bytes sent, by what the cache did */
    metric_t tunnel_up, tunnel_down;             /* bytes through closed tunnels */
    struct metrics_histogram origin;             /* forward requests straight to an origin */
};

struct metrics_listener_slot {
    _Alignas(METRICS_LINE) metric_t requests[METRICS_CLASSES];
    metric_t bytes_out;        /* response body bytes sent to clients */
    struct metrics_histogram duration; /* complete head to last byte */
};

struct metrics_group_slot {
    _Alignas(METRICS_LINE) struct metrics_histogram response; /* connect start to first response byte */
};

struct metrics_server_slot {
    _Alignas(METRICS_LINE) metric_t requests, failures;
    metric_t responses, response_us; /* timed exchanges (a first byte came) and their time */
};

enum metrics_kind { MB_LISTENER, MB_GROUP, MB_SERVER };

/* One identity's counters, a slot per worker (see above). */
struct metrics_block {
    _Atomic unsigned refs;
    enum metrics_kind kind;
    unsigned nslots;
    void *slots;               /* aligned_alloc: nslots slots of kind's type */
};

static inline struct metrics_listener_slot *metrics_listener(struct metrics_block *b, unsigned worker_id)
{
    return (struct metrics_listener_slot *)b->slots + (worker_id - 1);
}
static inline struct metrics_group_slot *metrics_group(struct metrics_block *b, unsigned worker_id)
{
    return (struct metrics_group_slot *)b->slots + (worker_id - 1);
}
static inline struct metrics_server_slot *metrics_server(struct metrics_block *b, unsigned worker_id)
{
    return (struct metrics_server_slot *)b->slots + (worker_id - 1);
}

/* The process's: per-worker slots and what the main thread publishes. */
struct metrics {
    unsigned nworkers;
    struct metrics_worker *workers; /* [id - 1] */
    double started;            /* wall clock */
    pthread_mutex_t lock;      /* the fields below (main thread writes, admin reads) */
    unsigned generation;       /* serving (every worker was switched to it) */
    double generation_loaded;
    unsigned long reloads_ok, reloads_refused;
    double last_reload;        /* 0: none yet */
    bool last_reload_ok;
    char last_reload_error[1024];
};

struct metrics *metrics_new(unsigned nworkers);
void metrics_free(struct metrics *m);
static inline struct metrics_worker *metrics_worker(struct metrics *m, unsigned worker_id)
{
    return &m->workers[worker_id - 1];
}

/* Main thread: gives every listener, group and server of cfg its block,
 * the one prev had for the same identity when there is one (prev may be
 * NULL). */
void metrics_bind(struct metrics *m, struct config *cfg, const struct config *prev);
/* Drops cfg's references (any thread: when its generation goes). */
void metrics_unbind(struct config *cfg);

/* Main thread: generation id serves since loaded_at; a reload was refused. */
void metrics_generation(struct metrics *m, unsigned id, double loaded_at, bool reload);
void metrics_reload_refused(struct metrics *m, const char *why);

/* ---- the request path (the owning worker) ---- */

/* r ended (its response flushed, or its client gone): status class,
 * duration, bytes, errors, retries, response times. */
void metrics_request_end(const struct request *r, bool client_gone);
/* A backend exchange's response began after `seconds` (connect start to
 * first byte), on server slot s of group slot g (either may be NULL;
 * neither: a forward request straight to an origin, worker w). */
void metrics_response_time(struct metrics_worker *w, struct metrics_group_slot *g, struct metrics_server_slot *s,
                           double seconds);
void metrics_observe(struct metrics_histogram *h, double seconds);

/* ---- reading (any worker) ---- */

/* Sums of every worker's slot. */
struct metrics_worker_sum {
    int64_t conns_open, tunnels_open, backend_open, pool_idle;
    uint64_t conns_accepted, conns_denied, requests, retries, tunnel_up, tunnel_down;
    uint64_t errors[METRICS_ERRORS];
    uint64_t hook_calls[METRICS_HOOKS], hook_errors[METRICS_HOOKS], hook_us[METRICS_HOOKS];
    uint64_t cache_bytes[METRICS_CACHE_RESULTS];
};
struct metrics_server_sum {
    uint64_t requests, failures, responses, response_us;
    int64_t inflight;          /* every worker's (server_state.h) */
};
void metrics_sum_workers(const struct metrics *m, struct metrics_worker_sum *out);
struct server_config;
void metrics_sum_server(const struct server_config *sc, struct metrics_server_sum *out);
uint64_t metrics_sum_listener_requests(struct metrics_block *b);

/* The name of an error kind (errors.h order, then "rejected"). */
const char *metrics_error_kind(unsigned i);

/* The Prometheus text exposition (format 0.0.4) of everything, for the
 * configuration cfg (the admin request's generation). */
void metrics_prometheus(struct sbuf *out, struct metrics *m, const struct config *cfg, struct cache *cache);

#endif
