/* trace.h - why a request went where it went: the decisions taken on it,
 * in order, each with the time since the request began. A request has a
 * trace only when someone asked (r->trace NULL otherwise: every trace
 * point is one pointer test): `luxy test` for every case, the server for
 * a request carrying the trace field from an admin-allowed network, or
 * while `luxy trace` follows the live stream (trace_ring.h).
 *
 * Events are kept in the request's arena as short lines under a stage
 * name ("head", "hygiene", "hook", "cache", "balance", "retry", "end");
 * header changes are computed by diffing two snapshots of the fields, so
 * the code that changes headers does not have to report its changes. */
#ifndef LUXY_TRACE_H
#define LUXY_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "headers.h"
#include "jsonw.h"

struct trace_event {
    struct trace_event *next;
    double at;                 /* seconds since the trace began */
    const char *stage;         /* static */
    char *text;                /* in the arena */
};

struct trace {
    struct arena *arena;       /* the request's */
    double started;            /* luxy_monotonic() */
    struct trace_event *first, *last;
    unsigned n;
    size_t bytes;              /* of text so far */
    bool full;                 /* a limit was reached: the rest was dropped */
};

/* A trace is bounded (what the ring keeps is too): events and text. */
#define TRACE_MAX_EVENTS 256
#define TRACE_MAX_BYTES (32 * 1024)

/* A new trace in a (the request's arena). */
struct trace *trace_new(struct arena *a);
/* Adds an event (printf-style text). */
void trace_add(struct trace *t, const char *stage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* One event per field that before and after differ in: "+ Name: value",
 * "- Name: value", "~ Name: old -> new" (what stage changed). Credentials
 * (Authorization, Proxy-Authorization) show their length, never their
 * value. */
void trace_fields(struct trace *t, const char *stage, const struct headers *before, const struct headers *after);
/* The same for a stage of a running change: what changed since *before,
 * which then becomes a copy of now (for the next stage). */
void trace_step(struct trace *t, const char *stage, struct headers *before, const struct headers *now);
/* The events as a JSON array of {"t": ms, "stage": ..., "what": ...}. */
void trace_json(const struct trace *t, struct jw *w);
/* The events as text lines ("  0.012 ms  hygiene  - Connection: close\n"). */
void trace_text(const struct trace *t, struct sbuf *out);

#endif
