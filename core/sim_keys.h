/* sim_keys.h - where each key (request target) last went, to measure key
 * movement: after a server leaves or joins, how many keys that come back
 * go to another server than before. */
#ifndef LUXY_SIM_KEYS_H
#define LUXY_SIM_KEYS_H

#include <stdint.h>

#include "sim_result.h"

struct sim_keys {
    struct key_slot {
        uint64_t hash;       /* 0: empty */
        uint16_t backend;
        uint16_t epoch;      /* the number of changes before its last request */
    } *slots;
    uint64_t cap, n;
    unsigned epoch;
    unsigned left[SIM_MAX_CHANGES]; /* the server each change removed, or ~0u */
};

int sim_keys_init(struct sim_keys *k);
void sim_keys_free(struct sim_keys *k);
/* A membership change happens (res->changes[res->nchanges] is being added). */
void sim_keys_change(struct sim_keys *k, struct sim_result *res, double at, unsigned backend, int kind);
/* A request for key went first to backend. */
void sim_keys_pick(struct sim_keys *k, struct sim_result *res, uint64_t hash, unsigned backend);

#endif
