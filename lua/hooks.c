/* hooks.c - calling the policy hooks.
 * Every call goes through vm_call: a light C function and light userdata
 * are pushed (neither allocates, so nothing can fail outside the pcall),
 * and the C function pushes the real arguments under protection.
 * A hook declared fail-open that errors leaves the request as it was before
 * the hook ran: what it changed is rolled back from a snapshot. */
#include "hooks.h"

#include "../core/trace.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "../core/access_log.h"
#include "../core/config.h"
#include "../core/metrics.h"
#include "../core/log.h"
#include "../core/request.h"
#include "../core/upstream.h"
#include "../core/worker.h"
#include "api.h"

const char *const hook_names[HOOK_COUNT] = { "on_request", "select_backend", "on_response", "cache_key",
                                             "cache_store", "proxy_auth", "on_log" };

_Static_assert(HOOK_COUNT <= countof(((struct vm *)0)->hook_refs), "vm.hook_refs must hold every hook");

int hooks_parse_name(const char *name)
{
    for (int i = 0; i < HOOK_COUNT; i++)
        if (strcmp(name, hook_names[i]) == 0)
            return i;
    return -1;
}

int hooks_find(struct vm *vm, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    for (int i = 0; i < HOOK_COUNT; i++) {
        int t = lua_getglobal(L, hook_names[i]);
        if (t == LUA_TFUNCTION) {
            lua_Debug ar;
            lua_pushvalue(L, -1);
            lua_getinfo(L, ">S", &ar);
            snprintf(vm->hook_where[i], sizeof(vm->hook_where[i]), "%s (%s:%d)", hook_names[i], ar.short_src,
                     ar.linedefined);
            vm->hook_refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
        } else {
            lua_pop(L, 1);
            if (t != LUA_TNIL) {
                snprintf(err, errlen, "%s must be a function, not a %s", hook_names[i],
                         lua_typename(L, t));
                return -1;
            }
        }
    }
    return 0;
}

static bool fails_open(const struct vm *vm, enum hook h)
{
    return vm->cfg && (vm->cfg->fail_open & (1u << h));
}

static void push_hook(lua_State *L, enum hook h)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm_of(L)->hook_refs[h]);
}

/* An error about what hook h returned, naming where the hook is defined
 * (the hook has returned: there is no line of it running). */
static int hook_error(lua_State *L, enum hook h, const char *what)
{
    lua_Debug ar;
    push_hook(L, h);
    lua_getinfo(L, ">S", &ar);
    return luaL_error(L, "%s:%d: %s %s", ar.short_src, ar.linedefined, hook_names[h], what);
}

/* ---- snapshots for fail-open hooks ---- */

struct snapshot {
    struct headers headers;
    struct slice path, query, upstream;
    unsigned status;
};


/* ---- on_request ---- */

static int call_on_request(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    push_hook(L, HOOK_ON_REQUEST);
    api_push_request(L, r);
    lua_call(L, 1, 0);
    return 0;
}

/* stack: [..., handler, function, nargs arguments] -> [...]; r: the
 * request the hook is about (traced), or NULL */
static int run_call(struct vm *vm, enum hook h, struct request *r, int nargs)
{
    vm->current_hook = h;
    int rc = vm_call_handled(vm, vm->hook_where[h], nargs, 0);
    vm->current_hook = HOOK_NONE;
    if (unlikely(r && r->trace))
        trace_add(r->trace, "hook", "%s: %s in %.3f ms, %ld budget units%s%s", vm->hook_where[h],
                  rc == 0 ? "ran" : "failed", (luxy_monotonic() - vm->budget.started) * 1000,
                  vm->budget.total - vm->budget.left, rc == 0 ? "" : ": ", rc == 0 ? "" : vm->last_error);
    if (vm->w) { /* a worker's state: count the call, its failure, its time */
        struct metrics_worker *m = vm->w->wm;
        double us = (luxy_monotonic() - vm->budget.started) * 1e6;
        metric_add(&m->hook_calls[h], 1);
        metric_add(&m->hook_us[h], us > 0 ? (uint64_t)us : 0);
        if (rc != 0)
            metric_add(&m->hook_errors[h], 1);
    }
    return rc;
}

/* f does the work under protection: pushes the hook and its arguments,
 * calls it, reads what it returned. */
static int run(struct vm *vm, enum hook h, lua_CFunction f, void *a, void *b, void *c)
{
    lua_State *L = vm->L;
    vm_push_handler(L);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, a);
    lua_pushlightuserdata(L, b);
    lua_pushlightuserdata(L, c);
    return run_call(vm, h, a, 3); /* every hook's first argument is its request */
}

/* A hook whose arguments are req (and res) and whose results are ignored
 * is called directly: pushing a handle cannot fail or allocate in Lua, so
 * it needs no protected helper (f is the fallback for the one case where
 * no handle is left, which raises). */
static int run_plain(struct vm *vm, enum hook h, struct request *r, bool with_res, lua_CFunction f)
{
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    vm_push_handler(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->hook_refs[h]);
    if (!api_handle_try_push(vm, r, API_KIND_REQUEST) ||
        (with_res && !api_handle_try_push(vm, r, API_KIND_RESPONSE))) {
        lua_settop(L, top);
        return run(vm, h, f, r, NULL, NULL);
    }
    return run_call(vm, h, r, with_res ? 2 : 1);
}

int hooks_on_request(struct vm *vm, struct request *r)
{
    struct snapshot s = { 0 };
    bool open = fails_open(vm, HOOK_ON_REQUEST);
    if (open) {
        s.headers = headers_copy(&r->head.headers, &r->arena);
        s.path = r->path, s.query = r->query, s.upstream = r->upstream_name;
    }
    if (run_plain(vm, HOOK_ON_REQUEST, r, false, call_on_request) == 0)
        return HOOK_OK;
    if (!open)
        return HOOK_FAILED;
    r->head.headers = s.headers;
    r->path = s.path, r->query = s.query, r->upstream_name = s.upstream;
    r->local_status = 0;
    headers_init(&r->local_headers);
    return HOOK_OK;
}

/* ---- select_backend ---- */

static int call_select_backend(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    struct upstream *up = lua_touserdata(L, 2);
    int *index = lua_touserdata(L, 3);
    push_hook(L, HOOK_SELECT_BACKEND);
    api_push_request(L, r);
    api_push_backends(L, up, r);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        *index = -1;
    } else if (lua_isinteger(L, -1)) {
        lua_Integer i = lua_tointeger(L, -1);
        if (i < 1 || i > (lua_Integer)up->n)
            return hook_error(L, HOOK_SELECT_BACKEND,
                              lua_pushfstring(L, "returned index %I, but upstream '%s' has %d server%s", i,
                                              up->cfg->name, (int)up->n, up->n == 1 ? "" : "s"));
        *index = (int)i - 1;
    } else {
        struct backend *b = api_to_backend(L, -1);
        if (b == NULL)
            return hook_error(L, HOOK_SELECT_BACKEND,
                              lua_pushfstring(L, "must return a backend, its index or nil (got %s)",
                                              luaL_typename(L, -1)));
        if (b->up != up)
            return hook_error(L, HOOK_SELECT_BACKEND,
                              lua_pushfstring(L, "returned %s of upstream '%s', not one of '%s'",
                                              b->cfg->spec, b->up->cfg->name, up->cfg->name));
        *index = (int)b->index;
    }
    return 0;
}

int hooks_select_backend(struct vm *vm, struct request *r, struct upstream *up, int *index)
{
    *index = -1;
    int rc = run(vm, HOOK_SELECT_BACKEND, call_select_backend, r, up, index);
    api_backends_release(vm->L, up);
    if (rc == 0)
        return HOOK_OK;
    return fails_open(vm, HOOK_SELECT_BACKEND) ? HOOK_SKIPPED : HOOK_FAILED;
}

/* ---- on_response ---- */

static int call_on_response(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    push_hook(L, HOOK_ON_RESPONSE);
    api_push_request(L, r);
    api_push_response(L, r);
    lua_call(L, 2, 0);
    return 0;
}

int hooks_on_response(struct vm *vm, struct request *r)
{
    struct snapshot s = { 0 };
    bool open = fails_open(vm, HOOK_ON_RESPONSE);
    if (open) {
        s.headers = headers_copy(&r->resp.headers, &r->arena);
        s.status = r->resp.status;
    }
    if (run_plain(vm, HOOK_ON_RESPONSE, r, true, call_on_response) == 0)
        return HOOK_OK;
    if (!open)
        return HOOK_FAILED;
    r->resp.headers = s.headers;
    r->resp.status = s.status;
    return HOOK_OK;
}

/* ---- cache_key ---- */

static int call_cache_key(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    struct slice *key = lua_touserdata(L, 2);
    bool *bypass = lua_touserdata(L, 3);
    push_hook(L, HOOK_CACHE_KEY);
    api_push_request(L, r);
    lua_call(L, 1, 1);
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
        *bypass = true;
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        if (lua_rawlen(L, -1) == 0 || lua_rawlen(L, -1) > 4096)
            return hook_error(L, HOOK_CACHE_KEY, "returned an empty key or one longer than 4096 bytes");
        *key = api_request_string(L, r, -1);
    } else if (!lua_isnil(L, -1)) {
        return hook_error(L, HOOK_CACHE_KEY,
                          lua_pushfstring(L, "must return a string, false or nil (got %s)", luaL_typename(L, -1)));
    }
    return 0;
}

int hooks_cache_key(struct vm *vm, struct request *r, struct slice *key, bool *bypass)
{
    *key = SLICE_NULL;
    *bypass = false;
    if (run(vm, HOOK_CACHE_KEY, call_cache_key, r, key, bypass) == 0)
        return HOOK_OK;
    *key = SLICE_NULL;
    *bypass = false;
    return fails_open(vm, HOOK_CACHE_KEY) ? HOOK_OK : HOOK_FAILED;
}

/* ---- cache_store ---- */

/* stack: [..., decision table] */
static void read_decision(lua_State *L, struct request *r, struct cache_store_decision *d)
{
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        if (strcmp(k, "ttl") == 0 || strcmp(k, "grace") == 0) {
            lua_Number v = lua_tonumber(L, -1);
            if (!lua_isnumber(L, -1) || !(v >= 0 && v <= 1e9)) /* NaN too */
                hook_error(L, HOOK_CACHE_STORE, lua_pushfstring(L, "%s must be a number of seconds", k));
            *(strcmp(k, "ttl") == 0 ? &d->ttl : &d->grace) = (int64_t)v;
        } else if (strcmp(k, "strip") == 0) {
            if (!lua_istable(L, -1))
                hook_error(L, HOOK_CACHE_STORE, "strip must be a list of header names");
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= n && d->nstrip < 16; i++) {
                lua_rawgeti(L, -1, i);
                if (lua_type(L, -1) != LUA_TSTRING)
                    hook_error(L, HOOK_CACHE_STORE, "strip must be a list of header names");
                d->strip[d->nstrip++] = api_request_string(L, r, -1);
                lua_pop(L, 1);
            }
        } else {
            hook_error(L, HOOK_CACHE_STORE, lua_pushfstring(L, "returned an unknown field '%s' (ttl, grace, strip)", k));
        }
        lua_pop(L, 1);
    }
}

static int call_cache_store(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    struct cache_store_decision *d = lua_touserdata(L, 2);
    push_hook(L, HOOK_CACHE_STORE);
    api_push_request(L, r);
    api_push_response(L, r);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        d->store = -1;
    } else if (lua_isboolean(L, -1)) {
        d->store = lua_toboolean(L, -1);
    } else if (lua_istable(L, -1)) {
        d->store = 1;
        read_decision(L, r, d);
    } else {
        return hook_error(L, HOOK_CACHE_STORE,
                          lua_pushfstring(L, "must return nil, a boolean or a table (got %s)", luaL_typename(L, -1)));
    }
    return 0;
}

int hooks_cache_store(struct vm *vm, struct request *r, struct cache_store_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->store = -1;
    d->ttl = d->grace = -1;
    if (run(vm, HOOK_CACHE_STORE, call_cache_store, r, d, NULL) == 0)
        return HOOK_OK;
    d->store = 0;
    return HOOK_FAILED;
}

/* ---- proxy_auth ---- */

struct auth_args {
    struct slice user, password;
    bool *allow;
};

static int call_proxy_auth(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    struct auth_args *a = lua_touserdata(L, 2);
    push_hook(L, HOOK_PROXY_AUTH);
    api_push_request(L, r);
    lua_pushlstring(L, a->user.ptr, a->user.len);
    lua_pushlstring(L, a->password.ptr, a->password.len);
    lua_call(L, 3, 1);
    if (!lua_isboolean(L, -1) && !lua_isnil(L, -1))
        return hook_error(L, HOOK_PROXY_AUTH,
                          lua_pushfstring(L, "must return true or false (got %s)", luaL_typename(L, -1)));
    *a->allow = lua_toboolean(L, -1);
    return 0;
}

int hooks_proxy_auth(struct vm *vm, struct request *r, struct slice user, struct slice password, bool *allow)
{
    *allow = false;
    struct auth_args a = { user, password, allow };
    if (run(vm, HOOK_PROXY_AUTH, call_proxy_auth, r, &a, NULL) == 0)
        return HOOK_OK;
    *allow = false;
    return HOOK_FAILED;
}

/* ---- on_log ---- */

/* stack: [..., t] -> [..., t]; t[k] = s, or nothing when s is empty */
static void set_string(lua_State *L, const char *k, struct slice s)
{
    if (s.len == 0)
        return;
    lua_pushlstring(L, s.ptr, s.len);
    lua_setfield(L, -2, k);
}

/* stack: [..., t] -> [..., t]; t[k] = seconds, or nothing when negative (none) */
static void set_seconds(lua_State *L, const char *k, double s)
{
    if (s < 0)
        return;
    lua_pushnumber(L, s);
    lua_setfield(L, -2, k);
}

/* stack: [...] -> [..., info] */
static void push_info(lua_State *L, const struct access_entry *e)
{
    lua_createtable(L, 0, 14);
    lua_pushinteger(L, e->status);
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, (lua_Integer)e->bytes_sent);
    lua_setfield(L, -2, "bytes_sent");
    lua_pushinteger(L, (lua_Integer)e->request_bytes);
    lua_setfield(L, -2, "request_bytes");
    lua_pushnumber(L, e->duration > 0 ? e->duration : 0);
    lua_setfield(L, -2, "duration");
    set_seconds(L, "connect_time", e->connect_time);
    set_seconds(L, "ttfb", e->ttfb);
    set_string(L, "upstream", e->upstream);
    set_string(L, "backend", e->backend);
    lua_pushinteger(L, e->retries);
    lua_setfield(L, -2, "retries");
    set_string(L, "cache", e->cache);
    set_string(L, "request_id", e->request_id);
    set_string(L, "error", e->error);
    if (e->tunnel) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "tunnel");
    }
}

static int call_on_log(lua_State *L)
{
    struct request *r = lua_touserdata(L, 1);
    const struct access_entry *e = lua_touserdata(L, 2);
    push_hook(L, HOOK_ON_LOG);
    api_push_request(L, r);
    if (r->resp_started)
        api_push_response(L, r);
    else
        lua_pushnil(L); /* nothing was sent */
    push_info(L, e);
    lua_call(L, 3, 0);
    return 0;
}

void hooks_on_log(struct vm *vm, struct request *r, const struct access_entry *e)
{
    if (vm->current_hook != HOOK_NONE) { /* a request ended while another hook ran: never nest */
        log_warn("on_log skipped for a request that ended during %s", hook_names[vm->current_hook]);
        return;
    }
    run(vm, HOOK_ON_LOG, call_on_log, r, (void *)e, NULL); /* fail-open: vm_call logged and counted it */
}

void hooks_request_end(struct vm *vm, struct request *r)
{
    vm_unhold(vm, r->lua_held);
    r->lua_held = 0;
    if (r->lua_slot != 0 || r->lua_ctx_ref != LUA_NOREF)
        api_request_end(vm->L, r);
}
