/* lb_rr.c - plain round robin: each usable server in turn, weights
 * ignored (this worker's turn; with several workers each keeps its own). */
#include "lb.h"
#include "upstream.h"

static int rr_pick(struct upstream *up, const struct lb_query *q)
{
    for (unsigned k = 0; k < up->n; k++) {
        unsigned i = (up->rr_next + k) % up->n;
        if (lb_candidate(up, i, q)) {
            up->rr_next = i + 1;
            return (int)i;
        }
    }
    return -1;
}

const struct lb_ops lb_rr = { .name = "rr", .pick = rr_pick };
