/* admin.h - requests to an admin listener (listen { ..., mode = "admin" }):
 * the status page, GET /metrics and the JSON API (docs/operations.md, "Admin listener").
 * luxy answers them itself; nothing is proxied and no hook runs. */
#ifndef LUXY_ADMIN_H
#define LUXY_ADMIN_H

struct request;

/* A parsed request on an admin listener (request_begin, after the allow
 * list and the target checks): answers it, or reads its body first. */
void admin_begin(struct request *r);
/* More bytes from the client while the body is read (r->state RS_ADMIN). */
void admin_client_data(struct request *r);

#endif
