/* lb_request.h - what balancing reads from a request: the hash key of the
 * keyed strategies (chash, chash_bounded, ip_hash) and the sticky cookie
 * that pins a client to a server. */
#ifndef LUXY_LB_REQUEST_H
#define LUXY_LB_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "lb.h"
#include "luxy.h"

struct request;
struct upstream;
struct backend;
struct headers;
struct arena;

/* r's key for up's strategy (ip_hash: the client's address; else what
 * the upstream's `hash` names, the request target by default). False
 * when r has none (no such header or cookie). */
bool lb_request_key(const struct request *r, const struct upstream *up, uint64_t *key);

/* Server b's id in sticky cookies, made once when its group is built. */
uint64_t sticky_server_id(const struct upstream *up, const struct backend *b);
/* The server r's sticky cookie names when it may take r, or -1. */
int sticky_pick(const struct request *r, struct upstream *up, const struct lb_query *q);
/* Adds Set-Cookie for up's sticky cookie naming server index to h. */
void sticky_set_cookie(struct headers *h, struct arena *a, const struct upstream *up, unsigned index);

/* The value of cookie name in the request's Cookie fields, or SLICE_NULL. */
struct slice request_cookie(const struct headers *h, struct slice name);

#endif
