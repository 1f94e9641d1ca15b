/* lb_least_conn.c - weighted least connections over all workers: the
 * fewest exchanges in flight (every worker's, server_state.h) per unit of
 * weight wins; servers that tie (an idle group, or sequential traffic
 * where every count is 0) share by smooth weighted round robin, so
 * weights 1:2:3 still split 1:2:3, as nginx does. */
#include "lb.h"
#include "upstream.h"

/* Is i's load (inflight / weight) below j's? Compared without division. */
static int load_cmp(const struct upstream *up, unsigned i, unsigned j, const struct lb_query *q)
{
    unsigned long x = (unsigned long)server_inflight(up->backends[i].st) * lb_weight(up, j, q);
    unsigned long y = (unsigned long)server_inflight(up->backends[j].st) * lb_weight(up, i, q);
    return x < y ? -1 : x > y;
}

static int least_conn_pick(struct upstream *up, const struct lb_query *q)
{
    int least = -1;
    for (unsigned i = 0; i < up->n; i++)
        if (lb_candidate(up, i, q) && (least < 0 || load_cmp(up, i, (unsigned)least, q) < 0))
            least = (int)i;
    if (least < 0)
        return -1;
    /* smooth weighted round robin among those as lightly loaded */
    int best = -1, total = 0;
    for (unsigned i = 0; i < up->n; i++) {
        struct backend *b = &up->backends[i];
        if (!lb_candidate(up, i, q) || load_cmp(up, i, (unsigned)least, q) != 0)
            continue;
        int wt = (int)lb_weight(up, i, q);
        b->current_weight += wt;
        total += wt;
        if (best < 0 || b->current_weight > up->backends[best].current_weight)
            best = (int)i;
    }
    up->backends[best].current_weight -= total;
    return best;
}

const struct lb_ops lb_least_conn = { .name = "least_conn", .pick = least_conn_pick };
