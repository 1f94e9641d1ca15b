/* lb_least_conn.c - weighted least connections: the fewest in-flight
 * exchanges per unit of weight wins; backends that tie (an idle group, or
 * sequential traffic where every count is 0) share by smooth weighted
 * round robin, so weights 1:2:3 still split 1:2:3, as nginx does.
 * Counts are this worker's own. */
#include "lb.h"
#include "upstream.h"

/* Is a's load (inflight / weight) below b's? Compared without division. */
static int load_cmp(const struct backend *a, const struct backend *b)
{
    unsigned long x = (unsigned long)a->inflight * b->cfg->weight;
    unsigned long y = (unsigned long)b->inflight * a->cfg->weight;
    return x < y ? -1 : x > y;
}

static int least_conn_pick(struct upstream *up, const struct lb_tried *tried, bool any_health)
{
    int least = -1;
    for (unsigned i = 0; i < up->n; i++)
        if (lb_candidate(up, i, tried, any_health) &&
            (least < 0 || load_cmp(&up->backends[i], &up->backends[least]) < 0))
            least = (int)i;
    if (least < 0)
        return -1;
    /* smooth weighted round robin among those as lightly loaded */
    int best = -1, total = 0;
    for (unsigned i = 0; i < up->n; i++) {
        struct backend *b = &up->backends[i];
        if (!lb_candidate(up, i, tried, any_health) || load_cmp(b, &up->backends[least]) != 0)
            continue;
        b->current_weight += (int)b->cfg->weight;
        total += (int)b->cfg->weight;
        if (best < 0 || b->current_weight > up->backends[best].current_weight)
            best = (int)i;
    }
    up->backends[best].current_weight -= total;
    return best;
}

const struct lb_ops lb_least_conn = { "least_conn", least_conn_pick };
