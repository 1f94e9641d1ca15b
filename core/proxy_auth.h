/* proxy_auth.h - a forward listener's door: Proxy-Authorization: Basic is
 * checked, before on_request, against the listener's user file (hashed
 * off the event loop, authcheck.c) or by the proxy_auth hook. Missing or
 * wrong credentials get 407 with a Basic challenge; too many checks in
 * flight get 503 with Retry-After. The credential itself never goes
 * upstream (request.c removes the field after on_request). */
#ifndef LUXY_PROXY_AUTH_H
#define LUXY_PROXY_AUTH_H

#include "authcheck.h"

struct request;
struct proxy_error;

/* The verdict on r's credentials, without answering: AUTH_OK (the claimed
 * user in r->user_claim), AUTH_DENIED (none, unreadable or wrong: a 407),
 * AUTH_BUSY (a 503), or AUTH_PENDING: done(arg, result) follows from the
 * worker's inbox. *err is set when the proxy_auth hook failed (a 500). */
enum auth_result proxy_auth_check(struct request *r, authcheck_done_fn done, void *arg,
                                  const struct proxy_error **err);

/* Checks r; request_policy(r) follows once the user is known, now or
 * from the worker's inbox. */
void proxy_auth_begin(struct request *r);
/* r ends: a check still in flight will not call back. */
void proxy_auth_cancel(struct request *r);

#endif
