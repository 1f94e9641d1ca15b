/* lb_random.c - weighted random choice: no state of its own at all, which
 * makes it the strategy that behaves the same whatever the number of
 * workers. The weights are read once per pick (the admin may change one
 * meanwhile). */
#include "lb.h"
#include "upstream.h"

static int random_pick(struct upstream *up, const struct lb_query *q)
{
    unsigned weight[LB_MAX_SERVERS];
    unsigned long total = 0;
    for (unsigned i = 0; i < up->n; i++) {
        weight[i] = lb_candidate(up, i, q) ? lb_weight(up, i, q) : 0;
        total += weight[i];
    }
    if (total == 0)
        return -1;
    unsigned long r = lb_random32() % total;
    for (unsigned i = 0; i < up->n; i++) {
        if (r < weight[i])
            return (int)i;
        r -= weight[i];
    }
    return -1; /* not reached: r < total */
}

const struct lb_ops lb_random = { .name = "random", .pick = random_pick };
