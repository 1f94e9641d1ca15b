/* lb_random.c - weighted random choice: no state of its own at all, which
 * makes it the strategy that behaves the same whatever the number of
 * workers. */
#include "lb.h"
#include "upstream.h"

static int random_pick(struct upstream *up, const struct lb_query *q)
{
    unsigned total = 0;
    for (unsigned i = 0; i < up->n; i++)
        if (lb_candidate(up, i, q))
            total += lb_weight(up, i, q);
    if (total == 0)
        return -1;
    unsigned r = lb_random32() % total;
    for (unsigned i = 0; i < up->n; i++) {
        if (!lb_candidate(up, i, q))
            continue;
        unsigned wt = lb_weight(up, i, q);
        if (r < wt)
            return (int)i;
        r -= wt;
    }
    return -1;
}

const struct lb_ops lb_random = { .name = "random", .pick = random_pick };
