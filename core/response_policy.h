/* response_policy.h - the rules every final response head passes on its
 * way to the client, whoever produced it (a backend through proxy.c, the
 * cache through cache_serve.c): backend hiding and Via (reverse),
 * anonymity's response side (forward), the cache's status field, and the
 * on_response hook, once per request. One place, so that a hit and a
 * miss look the same to clients and scripts. */
#ifndef LUXY_RESPONSE_POLICY_H
#define LUXY_RESPONSE_POLICY_H

#include <stdbool.h>

struct request;

/* Applies them to r->resp. False when r ended (the hook failed: a 500 went
 * out instead). */
bool response_policy(struct request *r);

#endif
