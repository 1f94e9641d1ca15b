/* health.h - active health checks: an HTTP probe of each server of an
 * upstream with `health = { path = ... }`, every interval, through the
 * client-less fetch (fetch.h) on the worker's loop. One worker probes a
 * given server (the servers are dealt round the workers), and the verdict
 * goes into the server's shared state (server_state.h), so every worker
 * sees it: `fall` failures in a row mark it down, `rise` passes bring it
 * back (ramping its weight when the group has slow_start). Only the
 * current generation probes; the state outlives reloads. */
#ifndef LUXY_HEALTH_H
#define LUXY_HEALTH_H

struct generation;
struct upstream;

/* Starts this worker's probes of up's servers (none without health.path). */
void health_start(struct upstream *up, struct generation *g);
/* Stops them (the generation is no longer current, or goes). */
void health_stop(struct upstream *up);

#endif
