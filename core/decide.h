/* decide.h - the decisions of an exchange, apart from its sockets.
 *
 * A request head goes in; what comes out is what luxy will do with it:
 * answer it here (a refusal, a script's response, an error), send it
 * through the cache, or send it to a route (an upstream group, a parent
 * proxy, an origin by name), and which backend of the group. On the way the
 * listener's rules, the header hygiene, the anonymity level, the request id
 * and the hooks change the request's fields: they are what the backend
 * would receive.
 *
 * The server calls these from request.c and proxy.c; `luxy test` and
 * `luxy simulate` (lab.c) call the same functions on requests that have no
 * connection. Nothing here reads r->conn or does I/O: the inputs are the
 * request (its head, r->lc, r->from) and its generation (configuration,
 * Lua state, server states), and the clock is clock.h's. */
#ifndef LUXY_DECIDE_H
#define LUXY_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "config.h"
#include "errors.h"
#include "server_state.h"

struct request;
struct upstream;

enum decision {
    DECIDE_REJECT,  /* a bad head: answer status (why) and close the connection */
    DECIDE_REFUSE,  /* refused by the listener's rules: answer status (why) */
    DECIDE_FAIL,    /* answer err (request_fail) */
    DECIDE_ADMIN,   /* an admin listener's request: luxy answers it */
    DECIDE_AUTH,    /* proxy credentials to check (off the loop), then decide_policy */
    DECIDE_POLICY,  /* the head passed: decide_policy is next */
    DECIDE_RESPOND, /* answer r->local_status / r->local_body (a script's req:respond) */
    DECIDE_CACHE,   /* through the cache (cache_serve.c) */
    DECIDE_ROUTE,   /* to r->upstream_name, r->parent_name or r->origin_host */
};

struct decision_out {
    enum decision what;
    unsigned status;                /* REJECT, REFUSE */
    const char *why;                /* REJECT, REFUSE: for the page and the log (static) */
    const struct proxy_error *err;  /* FAIL */
};

/* Is a peer in the listener's allow list (none: everyone)? */
bool decide_client_allowed(const struct listener_config *lc, const union sockaddr_u *peer);

/* Reads the head r->arena holds at head[0..len): parse, the listener's
 * rules (allow list, mode, CONNECT ports, destinations, body size), the
 * header hygiene, the anonymity level and the request id. r->denied says
 * whether the peer passed the allow list. */
struct decision_out decide_head(struct request *r, char *head, size_t len);

/* After decide_head (and proxy authentication): on_request, then the
 * cache or the route. */
struct decision_out decide_policy(struct request *r);

/* The route's group: r->up from r->upstream_name or r->parent_name. NULL
 * when the route is an origin by name (r->origin_host: DNS). On an error
 * *err is set. */
struct upstream *decide_group(struct request *r, const struct proxy_error **err);

/* The next backend of r->up for r's next attempt: retry limits and the
 * retry budget, select_backend, stickiness, the group's strategy. Returns
 * its index, marked tried (the caller counts it in flight with
 * decide_attempt_begin), or -1 and *err; cache fills may take -1 with
 * err_all_down on a first attempt (stale answers may still do). */
int decide_backend(struct request *r, const struct proxy_error **err);

/* The attempt on backend i of r->up begins: counted in flight. */
void decide_attempt_begin(struct request *r, unsigned i);
/* Its result, after seconds: the server's state and the strategy hear it;
 * select_backend sees a failure on a retry (b.failure). */
void decide_attempt_result(struct request *r, enum attempt_result res, double seconds);
/* It is over (its connection closed or went back to the pool): no longer
 * in flight. Once per begin; nothing when it was not counted. */
void decide_attempt_close(struct request *r);
/* Both, for the lab: a result, then the end. */
void decide_attempt_end(struct request *r, enum attempt_result res, double seconds);

/* Applies the listener's response rules and on_response to r->resp:
 * backend hiding, anonymity, the cache's fields, the request id. False
 * (r->error set) when on_response failed closed. */
bool decide_response(struct request *r);
/* A backend's final head, straight from it (not through the cache): its
 * hop-by-hop fields out, decide_response, then the sticky cookie that
 * pins a new client of a sticky group. */
bool decide_backend_response(struct request *r);

/* A response luxy makes (an error page, req:respond): its fields in
 * r->local_headers get Date, a Content-Type for a body, the request id,
 * and on_response (res.generated) runs on it once. Returns the status to
 * send (the script may change it). */
unsigned decide_local_response(struct request *r, unsigned status, struct slice body);

/* Forward requests: what the anonymity rules need about r. */
struct anonymity_subject request_anonymity_subject(const struct request *r);
/* Applies level to the request's fields as the client sent them
 * (req.anonymity from on_request: what the script changed before is lost). */
void request_set_anonymity(struct request *r, enum anonymity_level level);
/* The field r's listener carries ids in (its request_id must be set). */
struct slice request_id_field(const struct request *r);
/* r gets a new id (answered before its fields were read). */
void request_new_id(struct request *r);

#endif
