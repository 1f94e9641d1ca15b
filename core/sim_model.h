/* sim_model.h - the backends of a simulation, as a Lua table file
 * describes them (docs/policy-lab.md, "Simulate a strategy"): per server
 * of the group its service slots, queue, latency distribution, failures,
 * and events at given times (slow-downs, failures, going down, leaving
 * and joining the group). */
#ifndef LUXY_SIM_MODEL_H
#define LUXY_SIM_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "server_state.h"
#include "sim_rng.h"

#define SIM_MAX_BACKENDS 256
#define SIM_MAX_EVENTS 1024

struct sim_backend_model {
    unsigned capacity;       /* requests served at once */
    unsigned queue;          /* waiting beyond them; more are refused (a connect failure) */
    double median, sigma;    /* lognormal service time: median seconds, log-sd; sigma 0: constant */
    double bandwidth;        /* response bytes per second added to the service time; 0: none */
    double connect;          /* seconds to connect, before queueing */
    double fail;             /* share of attempts that fail */
    enum attempt_result fail_kind;
};

enum sim_event_kind { SIM_SLOW, SIM_FAIL, SIM_DOWN, SIM_LEAVE, SIM_JOIN };

struct sim_model_event {
    double at, duration;     /* seconds from the start; duration 0: for good */
    unsigned backend;        /* 0-based */
    enum sim_event_kind kind;
    double value;            /* SIM_SLOW: the factor; SIM_FAIL: the share */
    enum attempt_result fail_kind;
    unsigned seq;            /* its place in the file: ties keep that order */
};

struct sim_model {
    struct sim_backend_model dflt;
    struct sim_backend_model b[SIM_MAX_BACKENDS];
    unsigned nb;             /* backends described (the rest take dflt) */
    struct sim_model_event ev[SIM_MAX_EVENTS];
    unsigned nev;            /* sorted by at */
};

/* Reads path into m. False and err (with the field) when it is wrong. */
bool sim_model_load(struct sim_model *m, const char *path, char *err, size_t errlen);
/* Backend i's model (dflt beyond the ones described). */
const struct sim_backend_model *sim_model_backend(const struct sim_model *m, unsigned i);
/* One service time of b (seconds), before slow-downs and bandwidth. */
double sim_model_service(const struct sim_backend_model *b, struct sim_rng *g);
/* "reset", "http_5xx", "connect", "timeout" -> attempt_result; -1 otherwise. */
int sim_model_fail_kind(const char *name);

#endif
