/* lb_least_conn.c - weighted least connections over all workers: the
 * fewest exchanges in flight (every worker's, server_state.h) per unit of
 * weight wins; servers that tie (an idle group, or sequential traffic
 * where every count is 0) share by smooth weighted round robin, so
 * weights 1:2:3 still split 1:2:3, as nginx does.
 * Other workers change the counts while this one picks: each count and
 * weight is read once, into the pick's own snapshot, so the comparisons
 * agree with each other. */
#include "lb.h"
#include "upstream.h"

static int least_conn_pick(struct upstream *up, const struct lb_query *q)
{
    unsigned long inflight[LB_MAX_SERVERS], weight[LB_MAX_SERVERS];
    int least = -1;
    for (unsigned i = 0; i < up->n; i++) {
        if (!lb_candidate(up, i, q)) {
            weight[i] = 0; /* not a candidate */
            continue;
        }
        int64_t n = server_inflight(up->backends[i].st);
        inflight[i] = n > 0 ? (unsigned long)n : 0;
        weight[i] = lb_weight(up, i, q);
        /* is i's load (inflight / weight) below least's? compared without division */
        if (least < 0 || inflight[i] * weight[least] < inflight[least] * weight[i])
            least = (int)i;
    }
    if (least < 0)
        return -1;
    /* smooth weighted round robin among those as lightly loaded */
    int best = least;
    long total = 0;
    for (unsigned i = 0; i < up->n; i++) {
        if (weight[i] == 0 || inflight[i] * weight[least] != inflight[least] * weight[i])
            continue;
        struct backend *b = &up->backends[i];
        b->current_weight += (int)weight[i];
        total += (long)weight[i];
        if (b->current_weight > up->backends[best].current_weight)
            best = (int)i;
    }
    up->backends[best].current_weight -= (int)total;
    return best;
}

const struct lb_ops lb_least_conn = { .name = "least_conn", .pick = least_conn_pick };
