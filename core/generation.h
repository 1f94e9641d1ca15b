/* generation.h - a loaded configuration and what each worker built from
 * it. A reload makes a new generation and every worker switches to it;
 * whatever started under an older one (a connection's current request, a
 * cache fill) finishes on it, and the old one is freed when its last user
 * ends. Nothing on the request path reads "the" configuration: it reads
 * its own generation's.
 *
 *   struct config_gen   the configuration (process-wide, read-only once
 *                       loaded), refcounted by the workers' generations
 *                       and by the main thread while it is current;
 *   struct generation   one worker's side: the Lua state that ran the file
 *                       in that worker, the upstream runtime state; users
 *                       are the connections and fetches on it, plus the
 *                       worker while it is current. Touched by its worker
 *                       only (built in the main thread before it is
 *                       handed over through the worker's inbox). */
#ifndef LUXY_GENERATION_H
#define LUXY_GENERATION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "list.h"

struct worker;
struct vm;
struct upstream;

struct config_gen {
    _Atomic unsigned refs;
    unsigned id;               /* 1 at start, then one more per reload */
    double loaded_at;          /* wall clock */
    struct config cfg;
};

/* A new, empty configuration generation (one reference: the caller's). */
struct config_gen *config_gen_new(unsigned id);
void config_gen_hold(struct config_gen *cg);
/* Any thread; the last reference frees the configuration. */
void config_gen_release(struct config_gen *cg);

struct generation {
    struct config_gen *cg;
    const struct config *cfg;  /* &cg->cfg */
    struct worker *w;
    struct vm *vm;
    struct upstream *upstreams; /* parallel to cfg->upstreams */
    unsigned users;            /* connections and fetches on it, + 1 while current */
    bool started;              /* generation_start ran: timers are on w->loop */
    struct list link;          /* w->retired while it drains */
};

/* Builds w's generation of cg: runs the file in a new Lua state for w (in
 * the calling thread: the main thread, before the worker sees it).
 * NULL and err on failure. Holds a reference to cg. */
struct generation *generation_new(struct worker *w, struct config_gen *cg, char *err, size_t errlen);

/* In the worker's thread, when it becomes current: the upstream runtime
 * state (re-resolution timers on the worker's loop); servers that were in
 * prev (same group name, same address as written) keep their counters. */
void generation_start(struct generation *g, const struct generation *prev);

static inline void generation_hold(struct generation *g)
{
    g->users++;
}
/* The last user of a generation that is no longer current frees it. */
void generation_release(struct generation *g);

/* Frees a generation that never started (a reload that was given up). */
void generation_discard(struct generation *g);

#endif
