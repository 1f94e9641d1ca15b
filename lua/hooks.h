/* hooks.h - the only door from the core into Lua. Each hook is looked up
 * once after the file loads (a registry ref); a hook that is not defined
 * costs nothing: the core checks hooks_defined and skips the call. */
#ifndef LUXY_HOOKS_H
#define LUXY_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include <lauxlib.h>

#include "vm.h"

struct request;
struct upstream;

enum hook { HOOK_ON_REQUEST, HOOK_SELECT_BACKEND, HOOK_ON_RESPONSE, HOOK_COUNT };
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

/* The request is over: its Lua objects stop working. */
void hooks_request_end(struct vm *vm, struct request *r);

#endif
