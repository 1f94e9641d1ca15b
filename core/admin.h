/* admin.h - requests to an admin listener (listen { ..., mode = "admin" }):
 * the status page, GET /metrics and the JSON API (docs/operations.md, "Admin listener").
 * luxy answers them itself; nothing is proxied and no hook runs. */
#ifndef LUXY_ADMIN_H
#define LUXY_ADMIN_H

#include "luxy.h"

struct request;
struct sbuf;

/* A parsed request on an admin listener (request_begin, after the allow
 * list and the target checks): answers it, or reads its body first. */
void admin_begin(struct request *r);
/* More bytes from the client while the body is read (r->state RS_ADMIN). */
void admin_client_data(struct request *r);

/* For the handlers in admin_*.c: answer JSON (takes b), answer
 * {"error": msg}, the first ?name= of a query (ptr NULL: none). */
void admin_respond_json(struct request *r, unsigned status, struct sbuf *b);
void admin_respond_text(struct request *r, struct sbuf *b);
void admin_fail(struct request *r, unsigned status, const char *msg);
struct slice admin_query_param(struct slice q, const char *name);
/* r's first ?name= with %XX and '+' decoded into buf (NUL-terminated;
 * what does not fit is cut), or NULL when absent or holding a NUL. */
const char *admin_query_decoded(const struct request *r, const char *name, char *buf, size_t cap);

/* POST /api/server?upstream=U&server=ADDR&action=drain|undrain|weight|add|remove[&weight=N]
 * (admin_servers.c). */
void admin_server(struct request *r);
/* GET /api/traces (admin_traces.c). */
void admin_traces(struct request *r);

#endif
