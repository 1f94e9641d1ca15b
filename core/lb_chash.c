/* lb_chash.c - consistent hashing on a ring with virtual nodes (ketama):
 * each server owns 160 points per unit of weight, placed by hashing
 * "spec#k", so a server's points do not depend on the others and adding
 * or removing one of N servers moves about 1/N of the keys. A key goes to
 * the first point at or after its hash whose server may be picked (a
 * server down or drained hands its keys to its ring neighbours only).
 *   - chash: the key is what the upstream's `hash` says (default: the
 *     request target) or what select_backend passes to backends:chash(key);
 *   - chash_bounded: consistent hashing with bounded loads (Mirrokni et
 *     al., as HAProxy's hash-balance-factor): a server is skipped while it
 *     has more than hash_balance x the average in flight;
 *   - ip_hash: the key is the client's address.
 * The ring is this worker's, built at the first keyed pick (for the
 * group's strategy or a script's backends:chash()) from the servers'
 * weights, and built again after a weight changed (on_change). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "luxy.h"
#include "upstream.h"

#define POINTS_PER_WEIGHT 160
#define RING_MAX 65536

struct point {
    uint64_t at;
    unsigned server;
};

struct ring {
    unsigned n;
    struct point p[];
};

static int by_position(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at ? 1 : (x->server > y->server) - (x->server < y->server);
}

static unsigned ring_weight(const struct upstream *up, unsigned i)
{
    return atomic_load_explicit(&up->backends[i].st->weight, memory_order_relaxed);
}

static struct ring *ring_build(struct upstream *up)
{
    unsigned total = 0;
    for (unsigned i = 0; i < up->n; i++)
        total += ring_weight(up, i);
    unsigned per = POINTS_PER_WEIGHT;
    while (per > 1 && (unsigned long)per * total > RING_MAX)
        per /= 2;
    struct ring *r = xmalloc(sizeof(*r) + (size_t)per * total * sizeof(struct point));
    r->n = 0;
    for (unsigned i = 0; i < up->n; i++) {
        const char *spec = up->backends[i].cfg->spec;
        unsigned k = 0;
        for (unsigned j = 0; j < per * ring_weight(up, i); j++) {
            char name[600];
            /* a server listed twice gets points of its own */
            int len = snprintf(name, sizeof(name), "%s#%u#%u", spec, up->backends[i].occurrence, k++);
            r->p[r->n].at = lb_hash(name, (size_t)len);
            r->p[r->n].server = i;
            r->n++;
        }
    }
    qsort(r->p, r->n, sizeof(r->p[0]), by_position);
    for (unsigned i = 0; i < up->n; i++)
        up->ring_weights[i] = ring_weight(up, i);
    return r;
}

void lb_ring_free(struct upstream *up)
{
    free(up->ring);
    up->ring = NULL;
}

/* A weight changed: the ring is rebuilt at the next keyed pick. */
static void ring_on_change(struct upstream *up)
{
    for (unsigned i = 0; up->ring && i < up->n; i++)
        if (up->ring_weights[i] != ring_weight(up, i)) {
            lb_ring_free(up);
            return;
        }
}

/* The first point at or after h. */
static unsigned ring_find(const struct ring *r, uint64_t h)
{
    unsigned lo = 0, hi = r->n;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (r->p[mid].at < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->n ? 0 : lo;
}

int lb_ring_pick(struct upstream *up, const struct lb_query *q, double factor)
{
    if (up->ring == NULL)
        up->ring = ring_build(up);
    const struct ring *r = up->ring;
    if (r->n == 0)
        return -1;
    long cap = -1;
    if (factor > 0) {
        unsigned usable = 0;
        long inflight = 0;
        for (unsigned i = 0; i < up->n; i++)
            if (lb_candidate(up, i, q)) {
                usable++;
                inflight += (long)server_inflight(up->backends[i].st);
            }
        if (usable == 0)
            return -1;
        /* ceil(factor x average with this one) */
        double c = factor * (double)(inflight + 1) / usable;
        cap = (long)c + (c > (long)c);
    }
    unsigned start = ring_find(r, q->key);
    int fallback = -1;
    for (unsigned k = 0; k < r->n; k++) {
        unsigned s = r->p[(start + k) % r->n].server;
        if (!lb_candidate(up, s, q))
            continue;
        if (cap < 0 || server_inflight(up->backends[s].st) < cap)
            return (int)s;
        if (fallback < 0)
            fallback = (int)s;
    }
    return fallback;
}

static int chash_pick(struct upstream *up, const struct lb_query *q) { return lb_ring_pick(up, q, 0); }

static int chash_bounded_pick(struct upstream *up, const struct lb_query *q)
{
    return lb_ring_pick(up, q, up->cfg->hash_balance > 1 ? up->cfg->hash_balance : 1.25);
}

const struct lb_ops lb_chash = { .name = "chash", .pick = chash_pick, .on_change = ring_on_change, .keyed = true };
const struct lb_ops lb_chash_bounded = { .name = "chash_bounded", .pick = chash_bounded_pick,
                                         .on_change = ring_on_change, .keyed = true };
const struct lb_ops lb_ip_hash = { .name = "ip_hash", .pick = chash_pick, .on_change = ring_on_change,
                                   .keyed = true };
