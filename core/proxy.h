/* proxy.h - the backend half of an exchange: choose a backend or resolve an
 * origin, connect (or reuse a pooled connection), send the head, stream the
 * request body, read the response and stream it to the client; retry what
 * is safe to retry; hand CONNECT and 101 over to a tunnel. */
#ifndef LUXY_PROXY_H
#define LUXY_PROXY_H

#include <stdbool.h>

struct request;

/* Routes r (upstream or origin) and starts the first attempt. */
void proxy_start(struct request *r);
/* More request body bytes are in the client buffer. */
void proxy_client_data(struct request *r);
/* The client took every queued response byte: read the backend again. */
void proxy_client_drained(struct request *r);
/* Ends r's use of its backend connection: back to the pool when the
 * exchange completed cleanly, closed otherwise; cancels DNS; fixes counts. */
void proxy_detach(struct request *r);

#endif
