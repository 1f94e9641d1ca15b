/* lb.c - the strategy table and what the strategies share. */
#include "lb.h"

#include <stdio.h>
#include <string.h>

#include "upstream.h"

static const struct lb_ops *const strategies[] = { &lb_wrr, &lb_rr, &lb_random, &lb_least_conn, &lb_p2c,
                                                   &lb_p2c_ewma, &lb_chash, &lb_chash_bounded, &lb_ip_hash,
                                                   &lb_first };

const struct lb_ops *lb_find(const char *name)
{
    for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
        if (strcmp(strategies[i]->name, name) == 0)
            return strategies[i];
    return NULL;
}

const char *lb_names(void)
{
    static char names[256];
    if (names[0] == '\0') { /* filled on first use (config load, one thread) */
        size_t n = 0;
        for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", strategies[i]->name);
    }
    return names;
}

int lb_pick(const struct lb_ops *ops, struct upstream *up, const struct lb_query *q)
{
    upstream_catch_up(up);
    if (ops->keyed && !q->has_key)
        ops = &lb_wrr;
    return ops->pick(up, q);
}

int lb_pick_simple(const struct lb_ops *ops, struct upstream *up, const struct lb_tried *tried)
{
    struct lb_query q = { .tried = tried, .now_ms = server_now_ms() };
    return lb_pick(ops, up, &q);
}

bool lb_candidate(const struct upstream *up, unsigned i, const struct lb_query *q)
{
    return !lb_is_tried(q->tried, i) && server_usable(up->backends[i].st, q->now_ms);
}

unsigned lb_weight(const struct upstream *up, unsigned i, const struct lb_query *q)
{
    return server_weight(up->backends[i].st, up->cfg->slow_start, q->now_ms);
}

/* FNV-1a then a 64-bit finalizer (murmur3's fmix): well spread for ring
 * positions and short keys alike. */
uint64_t lb_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static _Thread_local uint64_t random_state;

void lb_random_seed(uint64_t seed)
{
    random_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint32_t lb_random32(void)
{
    uint64_t x = random_state;
    if (x == 0)
        x = server_now_ms() ^ (uint64_t)(uintptr_t)&random_state ^ 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    random_state = x;
    return (uint32_t)(x >> 16);
}
