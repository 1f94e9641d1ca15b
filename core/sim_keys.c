/* sim_keys.c - key movement (sim_keys.h): an open-addressing table of key
 * hashes, each with the server its last request went to and the change
 * epoch it was seen in. A key's first request after a change compares. */
#include "sim_keys.h"

#include <stdlib.h>
#include <string.h>

#include "sim_model.h"

int sim_keys_init(struct sim_keys *k)
{
    memset(k, 0, sizeof(*k));
    k->cap = 4096;
    k->slots = calloc(k->cap, sizeof(*k->slots));
    return k->slots ? 0 : -1;
}

void sim_keys_free(struct sim_keys *k)
{
    free(k->slots);
    k->slots = NULL;
}

static struct key_slot *find(struct key_slot *slots, uint64_t cap, uint64_t hash)
{
    uint64_t i = hash & (cap - 1);
    while (slots[i].hash && slots[i].hash != hash)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(struct sim_keys *k)
{
    uint64_t cap = k->cap * 2;
    struct key_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (uint64_t i = 0; i < k->cap; i++)
        if (k->slots[i].hash)
            *find(slots, cap, k->slots[i].hash) = k->slots[i];
    free(k->slots);
    k->slots = slots, k->cap = cap;
    return 0;
}

void sim_keys_change(struct sim_keys *k, struct sim_result *res, double at, unsigned backend, int kind)
{
    if (res->nchanges >= SIM_MAX_CHANGES)
        return;
    struct sim_change *c = &res->changes[res->nchanges++];
    memset(c, 0, sizeof(*c));
    c->at = at, c->backend = backend, c->kind = kind;
    k->left[k->epoch] = kind == SIM_LEAVE ? backend : ~0u;
    k->epoch++;
}

void sim_keys_pick(struct sim_keys *k, struct sim_result *res, uint64_t hash, unsigned backend)
{
    if (!k->slots)
        return;
    hash |= 1; /* never 0: that marks an empty slot */
    if (k->n * 2 >= k->cap && grow(k) < 0)
        return;
    struct key_slot *s = find(k->slots, k->cap, hash);
    if (!s->hash) {
        s->hash = hash, s->backend = (uint16_t)backend, s->epoch = (uint16_t)k->epoch;
        k->n++;
        res->distinct_keys = k->n;
        return;
    }
    if (s->epoch != k->epoch && k->epoch > 0) {
        /* its first request since the last change: did it move? */
        struct sim_change *c = &res->changes[k->epoch - 1];
        c->seen++;
        if (s->backend != backend)
            c->moved++;
        if (s->backend == k->left[k->epoch - 1])
            c->had_to++;
    }
    s->backend = (uint16_t)backend, s->epoch = (uint16_t)k->epoch;
}
