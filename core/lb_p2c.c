/* lb_p2c.c - power of two choices: two usable servers at random, the
 * less loaded one wins. "p2c" compares exchanges in flight (every
 * worker's) per unit of weight; "p2c_ewma" compares a peak-EWMA latency
 * score, (peak latency + 1ms) x (in flight + 1) / weight, as Finagle and
 * Linkerd do: a server that turns slow loses traffic at once, and comes
 * back as its latency decays (with its samples, and with time when it
 * gets none: server_peak_latency). Two random picks avoid the herd that
 * "always the least loaded" makes when every worker sees the same counts. */
#include "lb.h"
#include "upstream.h"

static double score(const struct upstream *up, unsigned i, const struct lb_query *q, bool latency)
{
    const struct server_state *s = up->backends[i].st;
    double load = (double)server_inflight(s) + (latency ? 1 : 0);
    if (latency)
        load *= server_peak_latency(s, q->now_ms) + 1000;
    return load / lb_weight(up, i, q);
}

static int p2c(struct upstream *up, const struct lb_query *q, bool latency)
{
    unsigned cand[LB_MAX_SERVERS], n = 0;
    for (unsigned i = 0; i < up->n; i++)
        if (lb_candidate(up, i, q))
            cand[n++] = i;
    if (n == 0)
        return -1;
    if (n == 1)
        return (int)cand[0];
    unsigned a = lb_random32() % n, b = lb_random32() % (n - 1);
    if (b >= a)
        b++; /* two different ones */
    double sa = score(up, cand[a], q, latency), sb = score(up, cand[b], q, latency);
    return (int)(sb < sa ? cand[b] : cand[a]);
}

static int p2c_pick(struct upstream *up, const struct lb_query *q) { return p2c(up, q, false); }
static int p2c_ewma_pick(struct upstream *up, const struct lb_query *q) { return p2c(up, q, true); }

const struct lb_ops lb_p2c = { .name = "p2c", .pick = p2c_pick };
const struct lb_ops lb_p2c_ewma = { .name = "p2c_ewma", .pick = p2c_ewma_pick };
