/* fetch.h - a backend exchange that belongs to no client. It sends a
 * request head it is given (no body: GET, HEAD, conditional requests),
 * reads the response and hands it to a sink: the head, then the body as it
 * arrives, then the end. The sink paces it (ready) and may stop it. It
 * connects like the proxy does (a pooled connection when there is one, the
 * next server or address when a connect fails) and keeps its own timers.
 * Cache fills and refreshes use it (cache_serve.c); health probes and
 * hedged requests will. */
#ifndef LUXY_FETCH_H
#define LUXY_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "http.h"
#include "lb.h"
#include "resolve.h"

struct fetch;
struct generation;
struct worker;
struct upstream;

struct fetch_sink_ops {
    /* The final response head (valid during the call). Returns false to
     * stop the fetch (done is not called then). */
    bool (*head)(struct fetch *f, void *sink, const struct http_head *resp);
    /* Body bytes (valid during the call). Returns false to stop. */
    bool (*data)(struct fetch *f, void *sink, const char *p, size_t n);
    /* May more be read now? NULL: always. When it says no, the sink calls
     * fetch_resume once it may. */
    bool (*ready)(struct fetch *f, void *sink);
    /* The end: err NULL for a complete response; else why it failed (with
     * no head: nothing was given to the sink; after one: the body is cut).
     * The fetch is gone already (f is NULL). */
    void (*done)(struct fetch *f, void *sink, const struct proxy_error *err);
};

/* Where to send it. */
struct fetch_target {
    struct upstream *up;            /* an upstream (its strategy picks on failures) */
    int backend;                    /* ... the server chosen first (index), or -1 */
    struct lb_tried tried;          /* servers not to pick again */
    struct resolved addrs;          /* or an origin's addresses (port set) */
    unsigned tries;                 /* connection attempts in all */
    unsigned keepalive;             /* idle connections kept per address afterwards */
    bool quiet;                     /* failures logged at debug level (health probes:
                                       the state change is what is logged) */
};

/* Starts sending head[0..len) (copied) for method (HEAD: no body comes).
 * The sink's functions are called from the worker's loop, never before
 * this returns. */
struct fetch *fetch_start(struct generation *g, const struct fetch_target *t, const char *head, size_t len,
                          unsigned method, const struct fetch_sink_ops *ops, void *sink);
/* The sink is ready for more. */
void fetch_resume(struct fetch *f);
/* Stops and frees it; the sink is not called any more. */
void fetch_cancel(struct fetch *f);

/* The response's head as parsed, and where it came from (for logs). */
const struct http_head *fetch_response(const struct fetch *f);
const char *fetch_peer(const struct fetch *f, char buf[64]);

/* The current attempt's address and times (the worker loop's clock; 0:
 * did not happen): it began connecting (or took a pooled connection), was
 * connected, got its first response byte. */
struct fetch_timings {
    double connect, connected, first_byte;
};
const union sockaddr_u *fetch_peer_addr(const struct fetch *f);
struct fetch_timings fetch_timings(const struct fetch *f);

#endif
