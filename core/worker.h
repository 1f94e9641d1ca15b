/* worker.h - one thread = one ev_loop + its generations (configuration,
 * Lua state, upstream state; generation.h) + its own pools. Everything a
 * worker owns is touched only by its thread; other threads talk to it
 * through its inbox (stop, reload, cache fill wakeups). */
#ifndef LUXY_WORKER_H
#define LUXY_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "generation.h"
#include "inbox.h"
#include "list.h"

struct vm;
struct resolver;
struct upstream;
struct upconn_pool;
struct cache;
struct metrics;
struct metrics_worker;

struct listener {
    struct worker *w;
    const struct listener_config *cfg;
    int fd;
    ev_io io;
};

struct worker {
    unsigned id;
    pthread_t thread;
    struct ev_loop *loop;
    struct generation *gen;       /* current: new connections and requests start on it */
    struct list retired;          /* older generations still in use (generation.link) */
    struct resolver *resolver;
    struct bufpool bufs;
    struct listener *listeners;   /* one per listener of the current generation */
    unsigned nlisteners;
    struct upconn_pool *pool;     /* idle backend connections */
    struct list conns;            /* client connections */
    struct list tunnels;
    struct cache *cache;          /* the shared store, or NULL */
    struct authcheck *auth;       /* the shared password checker, or NULL */
    struct list cache_waiters;    /* requests waiting on an entry (request.cwait_link) */
    struct list cache_fills;      /* fetches for the cache running here */
    unsigned nconns;              /* client connections... */
    unsigned ntunnels;            /* ...and tunnels: both count against max_connections */
    bool accepting;               /* listeners started */
    bool stopping;
    struct inbox inbox;           /* messages from other threads (stop, cache wakeups) */
    ev_timer grace_timer;
    ev_timer accept_retry;        /* after EMFILE */
    struct request *spare_requests; /* freelist */
    union sockaddr_u *local_addrs; /* this host's addresses: loop detection */
    unsigned nlocal_addrs;
    struct metrics *metrics;      /* the process's counters (metrics.h), read by the admin listener */
    struct metrics_worker *wm;    /* ... this worker's slot of them: only this thread writes it */
    char err[256];                /* startup error, read by main */
};

/* Builds the worker's loop, resolver and pools, and its first generation
 * of cg (Lua state, upstream state; cg is bound to metrics already),
 * taking the listening fds (one per cg listener); it counts into its slot
 * of metrics. Returns 0 or -1 (w->err). Runs in the main thread, before
 * the worker thread starts. */
int worker_init(struct worker *w, unsigned id, struct config_gen *cg, const int *listen_fds,
                struct cache *cache, struct metrics *metrics);
/* The same without listeners: a worker whose loop the caller runs, or
 * never runs (the lab: luxy test, luxy simulate). */
int worker_init_detached(struct worker *w, unsigned id, struct config_gen *cg, struct cache *cache,
                         struct metrics *metrics);
/* Any thread: hands g (built with generation_new for w) and its listening
 * fds (one per listener of g; fresh[i]: opened for it, else one w already
 * listens on and keeps, queue and all) to the worker, which switches to
 * it; w closes the sockets g no longer has. */
void worker_switch(struct worker *w, struct generation *g, const int *listen_fds, const bool *fresh);
/* Runs the loop in a new thread. */
int worker_start(struct worker *w);
/* Asks the worker to stop (any thread): gracefully (requests in flight
 * have timeouts.grace to finish), or now (connections are cut). */
void worker_stop(struct worker *w, bool now);
void worker_join(struct worker *w);
void worker_destroy(struct worker *w);

/* Stop/restart accepting (connection limit, EMFILE, shutdown). */
void worker_pause_accept(struct worker *w);
void worker_resume_accept(struct worker *w);
/* Called when a connection or tunnel goes away: resumes accepting, finishes
 * a graceful stop when nothing is left. */
void worker_conn_gone(struct worker *w);

/* The current configuration (what new connections start under). */
static inline const struct config *worker_cfg(const struct worker *w)
{
    return w->gen->cfg;
}

/* Client connections and tunnels, as limits.max_connections counts them. */
static inline unsigned worker_clients(const struct worker *w)
{
    return w->nconns + w->ntunnels;
}

#endif
