/* lb_first.c - the first usable server in configuration order: the
 * others stand by and take over, in order, when it fails (failover, as
 * HAProxy's "balance first"; the default of parent proxy groups). */
#include "lb.h"
#include "upstream.h"

static int first_pick(struct upstream *up, const struct lb_query *q)
{
    for (unsigned i = 0; i < up->n; i++)
        if (lb_candidate(up, i, q))
            return (int)i;
    return -1;
}

const struct lb_ops lb_first = { .name = "first", .pick = first_pick };
