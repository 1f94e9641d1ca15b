/* sim_workload.h - synthetic traffic (a Lua table file; docs/policy-lab.md):
 * open loop, arrivals at a rate that may switch between phases (on/off
 * bursts, a Markov-modulated Poisson process), or closed loop, N clients
 * that each send the next request when the last one is answered; keys
 * drawn from a Zipf popularity over N paths; a mix of response sizes. */
#ifndef LUXY_SIM_WORKLOAD_H
#define LUXY_SIM_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_rng.h"

#define SIM_MAX_PHASES 16
#define SIM_MAX_SIZES 16
#define SIM_MAX_KEYS 10000000

struct sim_workload {
    double duration;          /* seconds of arrivals; 0: until `requests` */
    uint64_t requests;        /* at most this many; 0: until `duration` */
    /* open loop */
    struct {
        double rate, mean;    /* arrivals per second; mean seconds in the phase */
    } phases[SIM_MAX_PHASES];
    unsigned nphases;
    /* closed loop (clients > 0) */
    unsigned clients;
    double think;             /* seconds between an answer and the next request */
    /* keys and sizes */
    unsigned keys;
    double zipf;              /* 0: uniform */
    double *cdf;              /* keys entries */
    char prefix[256], method[16], host[256];
    struct {
        double share;
        uint64_t bytes;
    } sizes[SIM_MAX_SIZES];
    unsigned nsizes;
    double size_total;
    /* the draws */
    struct sim_rng arrivals, draws;
    unsigned phase;
    double t, phase_end;
    uint64_t made;
};

/* One request of the workload. */
struct sim_wreq {
    char target[300];
    unsigned key;             /* 1: the most popular */
    uint64_t bytes;
};

/* Reads path (seeded by seed). False and err when it is wrong. */
bool sim_workload_load(struct sim_workload *w, const char *path, uint64_t seed, char *err, size_t errlen);
/* The same from a table already on L's stack at idx (tests build them). */
struct lua_State;
bool sim_workload_from_table(struct sim_workload *w, struct lua_State *L, int idx, uint64_t seed, char *err,
                             size_t errlen);
void sim_workload_free(struct sim_workload *w);

/* Open loop: the next arrival's time (seconds from the start), or -1 when
 * the workload is over. */
double sim_workload_next_arrival(struct sim_workload *w);
/* Closed loop: may another request be made? (Counts it.) */
bool sim_workload_take(struct sim_workload *w, double now);
/* The next request's key, target and response size. */
void sim_workload_request(struct sim_workload *w, struct sim_wreq *out);

#endif
