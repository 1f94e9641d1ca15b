/* lb.h - the one interface every balancing strategy implements.
 * A strategy picks one backend of a group that this request has not tried
 * yet; retries pass the growing tried set, so a failed backend is never
 * picked twice for one request. lb_pick prefers backends marked healthy
 * (no health checking exists yet: every backend is marked healthy, see
 * upstream.h) and falls back to any untried one. */
#ifndef LUXY_LB_H
#define LUXY_LB_H

#include <stdbool.h>
#include <stdint.h>

#define LB_MAX_SERVERS 256

struct upstream;

struct lb_tried {
    uint64_t bits[LB_MAX_SERVERS / 64];
};

static inline bool lb_is_tried(const struct lb_tried *t, unsigned i)
{
    return (t->bits[i / 64] >> (i % 64)) & 1;
}

static inline void lb_mark_tried(struct lb_tried *t, unsigned i)
{
    t->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

struct lb_ops {
    const char *name;
    /* Index of the chosen candidate (lb_candidate), or -1 when there is
     * none. */
    int (*pick)(struct upstream *up, const struct lb_tried *tried, bool any_health);
};

/* The strategy called name ("wrr", "random", "least_conn"), or NULL. */
const struct lb_ops *lb_find(const char *name);
/* Names for error messages: "wrr, random, least_conn" (static). */
const char *lb_names(void);

/* Picks with ops: an untried healthy backend, else any untried one.
 * Returns its index or -1. */
int lb_pick(const struct lb_ops *ops, struct upstream *up, const struct lb_tried *tried);

/* Is backend i a candidate: not tried and healthy, or, when any_health,
 * merely not tried? For the strategies. */
bool lb_candidate(const struct upstream *up, unsigned i, const struct lb_tried *tried,
                  bool any_health);

extern const struct lb_ops lb_wrr, lb_random, lb_least_conn, lb_first;

#endif
