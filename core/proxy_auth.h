/* proxy_auth.h - a forward listener's door: Proxy-Authorization: Basic is
 * checked, before on_request, against the listener's user file (hashed
 * off the event loop, authcheck.c) or by the proxy_auth hook. Missing or
 * wrong credentials get 407 with a Basic challenge; too many checks in
 * flight get 503 with Retry-After. The credential itself never goes
 * upstream (request.c removes the field after on_request). */
#ifndef LUXY_PROXY_AUTH_H
#define LUXY_PROXY_AUTH_H

struct request;

/* Checks r; request_policy(r) follows once the user is known, now or
 * from the worker's inbox. */
void proxy_auth_begin(struct request *r);
/* r ends: a check still in flight will not call back. */
void proxy_auth_cancel(struct request *r);

#endif
