/* proxy.h - the backend half of an exchange: choose a backend or resolve an
 * origin, connect (or reuse a pooled connection), send the head, stream the
 * request body, read the response and stream it to the client; retry what
 * is safe to retry; hand CONNECT and 101 over to a tunnel. */
#ifndef LUXY_PROXY_H
#define LUXY_PROXY_H

#include <ev.h>
#include <stdbool.h>

#include <stdbool.h>
#include <stddef.h>

#include "luxy.h"

struct request;
struct headers;
struct backend;
struct outq;
struct upconn;

/* Routes r (upstream or origin) and starts the first attempt. */
void proxy_start(struct request *r);
/* More request body bytes are in the client buffer. */
void proxy_client_data(struct request *r);
/* The client took every queued response byte: read the backend again. */
void proxy_client_drained(struct request *r);
/* Ends r's use of its backend connection: back to the pool when the
 * exchange completed cleanly, closed otherwise; cancels DNS; fixes counts. */
void proxy_detach(struct request *r);

/* The head to send for r: method, path and query, the fields h, framing
 * for r's body when body_framing. For b (or the origin) as Host when the
 * client sent none. In r's arena. */
struct slice proxy_serialize_request(struct request *r, struct headers *h, unsigned method,
                                     const struct backend *b, bool body_framing);
/* r->resp as a head for the client, with r->framing and Connection. */
struct slice proxy_response_head(struct request *r, const char *connection);
/* Queues a run of body bytes (by reference), re-framed as a chunk when
 * chunked. */
void proxy_queue_body(struct outq *q, const char *p, size_t n, bool chunked);

/* hedge.c: a hedged second attempt becomes r's attempt, after the first
 * failed (adopt: connected or still connecting) or when it answered first
 * (won: the first is closed and the answer read). */
void proxy_hedge_adopt(struct request *r, struct upconn *uc, struct backend *b, ev_tstamp t_connect, bool connected);
void proxy_hedge_won(struct request *r, struct upconn *uc, struct backend *b, ev_tstamp t_connect);

#endif
