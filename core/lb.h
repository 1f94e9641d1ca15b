/* lb.h - the one interface every balancing strategy implements (one file
 * per strategy: lb_*.c).
 * A strategy picks one server of a group that may be picked now (not down,
 * ejected or drained: server_state.h) and that this request has not tried
 * yet; retries pass the growing tried set, so a failed server is never
 * picked twice for one request. When no server may be picked, pick says
 * -1 and the request gets a quick 503.
 * Besides pick, a strategy hears events: the result of every attempt
 * (on_result, in the worker that made it) and a change of any server's
 * state or weight (on_change, delivered to every worker before its next
 * pick), so it can keep state of its own (the hash ring is rebuilt when a
 * weight changes). */
#ifndef LUXY_LB_H
#define LUXY_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server_state.h"

#define LB_MAX_SERVERS 256

struct upstream;
struct backend;

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

/* What a pick knows about the request. */
struct lb_query {
    const struct lb_tried *tried;
    uint64_t now_ms;           /* server_now_ms() */
    uint64_t key;              /* the hash key (keyed strategies) */
    bool has_key;
};

struct lb_ops {
    const char *name;
    /* Index of the chosen candidate (lb_candidate), or -1 when there is none. */
    int (*pick)(struct upstream *up, const struct lb_query *q);
    /* Optional events. */
    void (*on_result)(struct upstream *up, struct backend *b, enum attempt_result res, double seconds);
    void (*on_change)(struct upstream *up);
    bool keyed;                /* picks by q->key (a hash): without one it picks as wrr */
};

/* The strategy called name, or NULL. */
const struct lb_ops *lb_find(const char *name);
/* Names for error messages: "wrr, rr, ..." (static). */
const char *lb_names(void);

/* Picks with ops among the candidates. Returns an index or -1. */
int lb_pick(const struct lb_ops *ops, struct upstream *up, const struct lb_query *q);
/* Same, from a tried set alone (no key; now read here). */
int lb_pick_simple(const struct lb_ops *ops, struct upstream *up, const struct lb_tried *tried);

/* Is server i a candidate: not tried and usable now? For the strategies. */
bool lb_candidate(const struct upstream *up, unsigned i, const struct lb_query *q);
/* Server i's weight now (admin-set, slow start). */
unsigned lb_weight(const struct upstream *up, unsigned i, const struct lb_query *q);

/* The hash ring (lb_chash.c): a pick on it, any strategy's (factor > 0:
 * bounded loads), and its end with the group's state. */
int lb_ring_pick(struct upstream *up, const struct lb_query *q, double factor);
void lb_ring_free(struct upstream *up);

/* A fast random number, this thread's own sequence (xorshift). */
uint32_t lb_random32(void);
/* Starts this thread's sequence at seed (the lab: runs that repeat). */
void lb_random_seed(uint64_t seed);

/* A 64-bit hash of a key (for keyed strategies and their callers). */
uint64_t lb_hash(const void *p, size_t n);

extern const struct lb_ops lb_wrr, lb_rr, lb_random, lb_least_conn, lb_first, lb_p2c, lb_p2c_ewma, lb_chash,
    lb_chash_bounded, lb_ip_hash;

#endif
