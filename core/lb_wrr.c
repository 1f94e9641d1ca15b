/* lb_wrr.c - smooth weighted round robin (the nginx algorithm): every pick
 * adds each candidate's weight to its current weight, takes the largest and
 * subtracts the total from it. Weights 5,1,1 give a a b a c a a, never a
 * burst of five a's. Weights are live: an admin change or a slow start
 * shows at the next pick. */
#include "lb.h"
#include "upstream.h"

static int wrr_pick(struct upstream *up, const struct lb_query *q)
{
    int best = -1, total = 0;
    for (unsigned i = 0; i < up->n; i++) {
        if (!lb_candidate(up, i, q))
            continue;
        struct backend *b = &up->backends[i];
        int wt = (int)lb_weight(up, i, q);
        b->current_weight += wt;
        total += wt;
        if (best < 0 || b->current_weight > up->backends[best].current_weight)
            best = (int)i;
    }
    if (best >= 0)
        up->backends[best].current_weight -= total;
    return best;
}

const struct lb_ops lb_wrr = { .name = "wrr", .pick = wrr_pick };
