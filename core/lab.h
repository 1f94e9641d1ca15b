/* lab.h - a configuration loaded for decisions only: `luxy test` and
 * `luxy simulate`. It is what a worker of the server would build from the
 * file (the same Lua state and sandbox, the same upstream groups and
 * shared server states, the same cache settings), with no listening
 * socket, no event loop running and a virtual clock (clock.h). Requests
 * are made from heads described by the caller and go through decide.h:
 * the same code the server runs.
 * One lab per process (the virtual clock and the random sequences are
 * the process's). */
#ifndef LUXY_LAB_H
#define LUXY_LAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authcheck.h"
#include "decide.h"

struct lab;
struct request;
struct upstream;
struct generation;
struct vm;

struct lab_options {
    const char *config_path;   /* the configuration file (Lua) */
    double start_time;         /* the virtual clock at the start (seconds since the epoch); 0: a fixed default */
    uint64_t seed;             /* math.random in the hooks, and the strategies' random numbers */
    bool quiet;                /* warnings and the error log go nowhere (simulate) */
};

/* Loads the configuration and builds its worker side. NULL and err. */
struct lab *lab_open(const struct lab_options *o, char *err, size_t errlen);
void lab_close(struct lab *lab);

/* The virtual clock: luxy.now(), server states, retry budgets. Time only
 * moves forward. */
void lab_set_time(struct lab *lab, double now);
double lab_time(const struct lab *lab);

struct generation *lab_generation(struct lab *lab);
/* The group called name (not a parent), or NULL. */
struct upstream *lab_upstream(struct lab *lab, const char *name);
/* Listener i of the configuration, or NULL. */
const struct listener_config *lab_listener(struct lab *lab, unsigned i);

/* A request head as a case or a trace line describes it. */
struct lab_head {
    const char *method;          /* "GET" */
    const char *target;          /* "/path?q" or "http://host/path" */
    unsigned minor;              /* HTTP/1.minor (1) */
    const char *const *fields;   /* name, value, name, value, ..., NULL */
    const char *client_ip;       /* the peer ("127.0.0.1" when NULL) */
    uint16_t client_port;
    unsigned listener;           /* index into the configuration's listeners */
    const char *body;            /* a request body (its length is sent) or NULL */
    bool trace;                  /* record its decisions (r->trace) */
};

/* Makes a request from h and runs decide_head on it (serialized and parsed
 * by the server's parser: the same strictness). *out says what luxy
 * decided so far; when it is DECIDE_POLICY the caller goes on with
 * decide_policy. NULL and err when h cannot be made into a head at all. */
struct request *lab_request(struct lab *lab, const struct lab_head *h, struct decision_out *out, char *err,
                            size_t errlen);
/* Ends a request: its attempt still counted in flight ends (as a
 * cancellation), its Lua objects and arena are freed. */
void lab_request_free(struct request *r);

/* A stored response for r's key (r->cache_key, after cache_plan) in the
 * lab's cache, stored age seconds before the virtual clock, as the answer
 * to a request with the fields asked (NULL: r's own; they choose the
 * variant under Vary); false without a cache or when it could not be
 * kept. lab_cache_clear empties the cache (every case starts from an
 * empty one). */
struct http_head;
struct headers;
bool lab_cache_put(struct request *r, const struct http_head *resp, struct slice body, double age,
                   const struct headers *asked);
void lab_cache_clear(struct lab *lab);

/* r's proxy credentials (decide_head said DECIDE_AUTH), checked as the
 * server checks them: a users file hashed by the checker's threads (the
 * lab waits for them, 30 s at most: then AUTH_BUSY), or proxy_auth.
 * AUTH_OK sets r->user; *err is set when the hook failed. */
enum auth_result lab_auth(struct request *r, const struct proxy_error **err);

/* The head r would send to its backend now: the request line and fields as
 * the server serializes them (in r's arena). */
struct slice lab_backend_head(struct request *r);

#endif
