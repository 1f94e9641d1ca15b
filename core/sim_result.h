/* sim_result.h - what one simulation measured: per backend, per request,
 * over time, and around membership changes. Plain fixed-size data (no
 * pointers), so a run in a child process hands it to the report whole. */
#ifndef LUXY_SIM_RESULT_H
#define LUXY_SIM_RESULT_H

#include <stdint.h>

#include "sim_model.h"

/* Latencies: log buckets, 48 a decade from 10 us to 1000 s (5% wide). */
#define SIM_HIST_PER_DECADE 48
#define SIM_HIST_MIN 1e-5
#define SIM_HIST (7 * SIM_HIST_PER_DECADE + 2)
/* Over time: coarser, 12 a decade (20% wide). */
#define SIM_SHIST_PER_DECADE 12
#define SIM_SHIST (7 * SIM_SHIST_PER_DECADE + 2)
#define SIM_SERIES_MAX 240
#define SIM_SERIES_BASE 0.1   /* seconds: the first bucket width; doubles as needed */
#define SIM_MAX_CHANGES 64

struct sim_hist {
    uint64_t n[SIM_HIST];
    uint64_t count;
    double max;
};

struct sim_backend_result {
    char spec[96];
    uint64_t attempts;       /* attempts it got */
    uint64_t first;          /* of which a request's first */
    uint64_t ok;
    uint64_t failed[5];      /* by enum attempt_result (AR_OK unused) */
    int64_t max_inflight;
    struct sim_hist lat;     /* attempt start to first byte, successful ones */
};

struct sim_bucket {
    uint32_t attempts[SIM_MAX_BACKENDS];
    float busy[SIM_MAX_BACKENDS];   /* attempts in flight x seconds: / width is the mean in flight */
    uint32_t requests, errors, retries;
    uint32_t lat[SIM_SHIST];  /* request latencies that ended in it */
};

struct sim_change {
    double at;
    unsigned backend;
    int kind;                /* SIM_LEAVE, SIM_JOIN */
    uint64_t seen;           /* keys asked for again after it (their first request since) */
    uint64_t moved;          /* of which went to another backend than before */
    uint64_t had_to;         /* of which had been on a server that left */
};

struct sim_result {
    char config[256];
    char upstream[128];
    char strategy[64];       /* the balance, or "select_backend" */
    unsigned nb;
    double seconds;          /* of simulated time */
    uint64_t requests;       /* that went to the group */
    uint64_t ok;             /* answered by a backend below 500 */
    uint64_t http_5xx;       /* a backend's 502/503/504, sent on */
    uint64_t failed;         /* luxy's error: no server, attempts or budget used up */
    uint64_t retries;        /* attempts after a request's first */
    uint64_t local;          /* answered by luxy itself (a refusal, a script's response, an error) */
    uint64_t cache;          /* through the cache: not simulated (hits and fills alike) */
    uint64_t other_route;    /* routed elsewhere than the group */
    uint64_t bad;            /* heads that could not be made into requests */
    uint64_t events;         /* simulation events processed */
    uint64_t distinct_keys;
    struct sim_hist lat;     /* arrival to the end, every request to the group */
    struct sim_backend_result b[SIM_MAX_BACKENDS];
    struct sim_change changes[SIM_MAX_CHANGES];
    unsigned nchanges;
    double width;            /* of a bucket, seconds */
    unsigned nseries;
    struct sim_bucket series[SIM_SERIES_MAX];
};

void sim_hist_add(struct sim_hist *h, double seconds);
/* The q-quantile (0..1) in seconds (a bucket's middle); 0 when empty. */
double sim_hist_quantile(const struct sim_hist *h, double q);
unsigned sim_shist_bucket(double seconds);
double sim_shist_quantile(const uint32_t *lat, double q);

#endif
