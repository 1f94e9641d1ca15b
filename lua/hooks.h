/* hooks.h - the only door from the core into Lua. Each hook is looked up
 * once after the file loads (a registry ref); a hook that is not defined
 * costs nothing: the core checks hooks_defined and skips the call. */
#ifndef LUXY_HOOKS_H
#define LUXY_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include <lauxlib.h>

#include "../core/luxy.h"
#include "vm.h"

struct request;
struct upstream;
struct access_entry;

/* New hooks go at the end: HOOK_COUNT must stay last. */
enum hook { HOOK_ON_REQUEST, HOOK_SELECT_BACKEND, HOOK_ON_RESPONSE, HOOK_CACHE_KEY, HOOK_CACHE_STORE,
            HOOK_PROXY_AUTH, HOOK_ON_LOG, HOOK_COUNT };
#define HOOK_NONE HOOK_COUNT

/* Results: HOOK_OK - ran (or failed open); HOOK_FAILED - failed closed, the
 * request gets a 500; HOOK_SKIPPED - select_backend failed open: use the
 * built-in strategy. */
enum { HOOK_OK, HOOK_FAILED, HOOK_SKIPPED };

extern const char *const hook_names[HOOK_COUNT];

/* The hook called name, or -1. */
int hooks_parse_name(const char *name);

/* Finds the global hook functions. -1 with err when one is not a function. */
int hooks_find(struct vm *vm, char *err, size_t errlen);

static inline bool hooks_defined(const struct vm *vm, enum hook h)
{
    return vm->hook_refs[h] != LUA_NOREF;
}

int hooks_on_request(struct vm *vm, struct request *r);
/* *index: 0-based backend, or -1 when the script returned nil. */
int hooks_select_backend(struct vm *vm, struct request *r, struct upstream *up, int *index);
int hooks_on_response(struct vm *vm, struct request *r);

/* cache_key(req): *key (copied into r's arena) and HOOK_OK; *bypass when
 * it returned false; neither when it returned nil (the default key). */
int hooks_cache_key(struct vm *vm, struct request *r, struct slice *key, bool *bypass);

/* What cache_store(req, res) decided. */
struct cache_store_decision {
    int store;               /* -1: nil (the RFC decides), 0: false, 1: store */
    int64_t ttl, grace;      /* seconds, or -1 */
    struct slice strip[16];  /* fields not to keep in the stored copy */
    unsigned nstrip;
};
/* Runs cache_store on r (r->resp is the response). An error is logged and
 * means "do not store": the safe side for a cache, whatever fail_open says. */
int hooks_cache_store(struct vm *vm, struct request *r, struct cache_store_decision *d);

/* proxy_auth(req, user, password) on a listener whose auth has no users
 * file: *allow when it returned true. Fails closed, always: an error never
 * lets anyone in (HOOK_FAILED: the request gets a 500). */
int hooks_proxy_auth(struct vm *vm, struct request *r, struct slice user, struct slice password, bool *allow);

/* on_log(req, res, info) once r is over: res is the response as sent
 * (nil when none was), info what e says. Read-only (changing req or res
 * raises) and always fail-open: an error is logged and counted, nothing
 * else happens. Not run from inside another hook (logged instead). */
void hooks_on_log(struct vm *vm, struct request *r, const struct access_entry *e);

/* The request is over: its Lua objects stop working. */
void hooks_request_end(struct vm *vm, struct request *r);

#endif
