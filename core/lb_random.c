/* lb_random.c - weighted random choice: no shared state at all, which makes
 * it the strategy that behaves the same whatever the number of workers. */
#include <stdlib.h>

#include "lb.h"
#include "upstream.h"

static _Thread_local unsigned seed;

static int random_pick(struct upstream *up, const struct lb_tried *tried, bool any_health)
{
    unsigned total = 0;
    for (unsigned i = 0; i < up->n; i++)
        if (lb_candidate(up, i, tried, any_health))
            total += up->backends[i].cfg->weight;
    if (total == 0)
        return -1;
    if (seed == 0)
        seed = (unsigned)(uintptr_t)&seed ^ (unsigned)rand();
    unsigned r = (unsigned)rand_r(&seed) % total;
    for (unsigned i = 0; i < up->n; i++) {
        if (!lb_candidate(up, i, tried, any_health))
            continue;
        unsigned wt = up->backends[i].cfg->weight;
        if (r < wt)
            return (int)i;
        r -= wt;
    }
    return -1;
}

const struct lb_ops lb_random = { "random", random_pick };
