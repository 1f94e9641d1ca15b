/* generation.c - see generation.h. */
#include "generation.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "../lua/vm.h"
#include "log.h"
#include "metrics.h"
#include "upstream.h"
#include "worker.h"

struct config_gen *config_gen_new(unsigned id)
{
    struct config_gen *cg = xcalloc(1, sizeof(*cg));
    atomic_init(&cg->refs, 1);
    cg->id = id;
    cg->loaded_at = ev_time();
    return cg;
}

void config_gen_hold(struct config_gen *cg)
{
    atomic_fetch_add_explicit(&cg->refs, 1, memory_order_relaxed);
}

void config_gen_release(struct config_gen *cg)
{
    if (atomic_fetch_sub_explicit(&cg->refs, 1, memory_order_acq_rel) != 1)
        return;
    metrics_unbind(&cg->cfg); /* a block a newer generation shares stays */
    config_free(&cg->cfg);
    free(cg);
}

struct generation *generation_new(struct worker *w, struct config_gen *cg, char *err, size_t errlen)
{
    struct generation *g = xcalloc(1, sizeof(*g));
    g->cg = cg;
    g->cfg = &cg->cfg;
    g->w = w;
    g->users = 1; /* the worker, while it is current */
    list_init(&g->link);
    g->vm = vm_new(g->cfg, w, err, errlen);
    if (g->vm == NULL) {
        free(g);
        return NULL;
    }
    config_gen_hold(cg);
    return g;
}

void generation_start(struct generation *g, const struct generation *prev)
{
    upstream_init(g, prev);
    g->started = true;
}

static void generation_free(struct generation *g)
{
    list_remove(&g->link);
    upstream_free(g);
    vm_free(g->vm);
    config_gen_release(g->cg);
    free(g);
}

void generation_release(struct generation *g)
{
    if (--g->users > 0)
        return;
    if (g->w->gen != g)
        log_info("generation %u: its last user ended; freed", g->cg->id);
    generation_free(g);
}

void generation_discard(struct generation *g)
{
    generation_free(g);
}
