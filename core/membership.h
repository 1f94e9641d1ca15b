/* membership.h - servers added to and removed from upstream groups at
 * run time (the admin API), without touching the configuration file.
 * A change is checked against the running configuration and queued; the
 * main thread then builds a new generation from the running one's source
 * with every queued change applied, and switches the workers to it the
 * way a reload does (server.c): in-flight requests finish where they
 * began, and every other server keeps its live state and counters. The
 * changes stay until the next reload from the file, which makes the file
 * the truth again (docs/balancing.md). */
#ifndef LUXY_MEMBERSHIP_H
#define LUXY_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>

struct config;

/* Any thread: checks adding (add) or removing server spec ("ip:port",
 * an address literal) of upstream against cur, then queues it and wakes
 * the main thread. Returns 0, or -1 with err. */
int membership_change(const struct config *cur, const char *upstream, const char *spec, unsigned weight, bool add,
                      char *err, size_t errlen);

/* Main thread: applies every queued change to cfg (a fresh load of the
 * running source), in order; one that no longer fits is logged and
 * dropped. */
void membership_apply(struct config *cfg);
/* Main thread: a reload from the file forgets them. */
void membership_forget(void);

/* The signal that wakes the main thread for a change (SIGRTMIN). */
int membership_signal(void);

#endif
