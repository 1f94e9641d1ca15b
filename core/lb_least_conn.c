/* lb_least_conn.c - fewest in-flight exchanges per unit of weight; ties go
 * round robin so an idle group still spreads its load. Counts are this
 * worker's own. */
#include "lb.h"
#include "upstream.h"

static int pick_pass(struct upstream *up, const struct lb_tried *tried, bool any_health)
{
    int best = -1;
    for (unsigned k = 0; k < up->n; k++) {
        unsigned i = (up->rr_offset + k) % up->n;
        if (!lb_candidate(up, i, tried, any_health))
            continue;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        /* inflight_i / weight_i < inflight_best / weight_best, without division */
        const struct backend *b = &up->backends[i], *c = &up->backends[best];
        if ((unsigned long)b->inflight * c->cfg->weight < (unsigned long)c->inflight * b->cfg->weight)
            best = (int)i;
    }
    if (best >= 0)
        up->rr_offset = (unsigned)best + 1;
    return best;
}

static int least_conn_pick(struct upstream *up, const struct lb_tried *tried)
{
    int i = pick_pass(up, tried, false);
    return i >= 0 ? i : pick_pass(up, tried, true);
}

const struct lb_ops lb_least_conn = { "least_conn", least_conn_pick };
