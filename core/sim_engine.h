/* sim_engine.h - one simulation: a configuration (through the lab, so its
 * decisions are the server's own code), traffic (a trace or a workload)
 * and a backend model, run as discrete events on virtual time. */
#ifndef LUXY_SIM_ENGINE_H
#define LUXY_SIM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "sim_model.h"
#include "sim_result.h"
#include "sim_trace.h"

struct sim_run_options {
    const char *config_path;
    const char *upstream;          /* the group simulated; NULL: the first reverse listener's, or the only one */
    const char *balance;           /* a built-in strategy instead of the group's, or NULL */
    const struct sim_model *model;
    const struct sim_trace *trace; /* the traffic: a trace, */
    const char *workload_path;     /* or a workload file */
    const char *host;              /* Host of trace requests (access logs do not record it) */
    uint64_t seed;
    double duration;               /* seconds simulated at most; 0: all of the input */
};

/* Runs it; res is filled. 0, or -1 and err (the configuration, the group,
 * the workload). One per process: the lab is (lab.h). */
int sim_run(const struct sim_run_options *o, struct sim_result *res, char *err, size_t errlen);

#endif
