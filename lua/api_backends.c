/* api_backends.c - luxy.backends (one upstream group, as select_backend
 * sees it) and luxy.backend (one server in it). Both box pointers into the
 * worker's upstream state, which lives as long as the worker, so the
 * objects are made once per group and reused for every request. Fields are
 * read live: inflight, requests, failures change as traffic flows. */
#include <lauxlib.h>
#include <string.h>

#include "../core/lb_request.h"
#include "../core/request.h"
#include "../core/upstream.h"
#include "api.h"

static const struct api_class backends_class = { "luxy.backends" };
static const struct api_class backend_class = { "luxy.backend" };

struct backends_box {
    struct upstream *up;
    struct request *r;   /* the request choosing, during select_backend */
};

static struct backends_box *check_backends(lua_State *L, int idx)
{
    return api_class_check(L, idx, &backends_class);
}

static struct backend *check_backend(lua_State *L, int idx)
{
    return *(struct backend **)api_class_check(L, idx, &backend_class);
}

struct backend *api_to_backend(lua_State *L, int idx)
{
    struct backend **b = api_class_test(L, idx, &backend_class);
    return b ? *b : NULL;
}

/* stack: [...] -> [..., backends]; its user value holds the backend objects */
void api_push_backends(lua_State *L, struct upstream *up, struct request *r)
{
    if (up->lua_ref == LUA_NOREF) {
        struct backends_box *box = api_class_object(L, sizeof(*box), 1, &backends_class);
        box->up = up;
        box->r = NULL;
        lua_createtable(L, (int)up->n, 0); /* [..., box, list] */
        for (unsigned i = 0; i < up->n; i++) {
            struct backend **b = api_class_object(L, sizeof(*b), 0, &backend_class);
            *b = &up->backends[i];
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setiuservalue(L, -2, 1);
        up->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, up->lua_ref);
    struct backends_box *box = api_class_test(L, -1, &backends_class);
    box->r = r;
}

void api_backends_release(lua_State *L, struct upstream *up)
{
    if (up->lua_ref == LUA_NOREF)
        return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, up->lua_ref);
    ((struct backends_box *)api_class_test(L, -1, &backends_class))->r = NULL;
    lua_pop(L, 1);
}

static void push_backend(lua_State *L, int list_idx, int i)
{
    if (i < 0) {
        lua_pushnil(L);
        return;
    }
    lua_getiuservalue(L, list_idx, 1);
    lua_rawgeti(L, -1, i + 1);
    lua_remove(L, -2);
}

static const struct lb_tried no_tries;

/* backends:wrr() / :rr() / :random() / :least_conn() / :p2c() / :p2c_ewma() /
 * :first() / :chash(key) / :chash_bounded(key) / :ip_hash() - the built-in
 * strategies, skipping servers this request already tried and those that
 * may not be picked now; nil when none may. */
static int pick_with(lua_State *L, const struct lb_ops *ops)
{
    struct backends_box *box = check_backends(L, 1);
    struct lb_query q = { .tried = box->r ? &box->r->tried : &no_tries, .now_ms = server_now_ms() };
    if (ops == &lb_ip_hash) {
        if (box->r) {
            struct slice ip = request_client_ip(box->r);
            q.key = lb_hash(ip.ptr, ip.len);
            q.has_key = true;
        }
    } else if (ops->keyed) {
        size_t len;
        const char *key = luaL_optlstring(L, 2, NULL, &len);
        if (key) {
            q.key = lb_hash(key, len);
            q.has_key = true;
        } else if (box->r) {
            q.has_key = lb_request_key(box->r, box->up, &q.key);
        }
    }
    if (ops->keyed && !q.has_key)
        return luaL_error(L, "backends:%s(key): a key string is needed here", ops->name);
    push_backend(L, 1, lb_pick(ops, box->up, &q));
    return 1;
}

static int b_wrr(lua_State *L) { return pick_with(L, &lb_wrr); }
static int b_rr(lua_State *L) { return pick_with(L, &lb_rr); }
static int b_random(lua_State *L) { return pick_with(L, &lb_random); }
static int b_least_conn(lua_State *L) { return pick_with(L, &lb_least_conn); }
static int b_p2c(lua_State *L) { return pick_with(L, &lb_p2c); }
static int b_p2c_ewma(lua_State *L) { return pick_with(L, &lb_p2c_ewma); }
static int b_chash(lua_State *L) { return pick_with(L, &lb_chash); }
static int b_chash_bounded(lua_State *L) { return pick_with(L, &lb_chash_bounded); }
static int b_ip_hash(lua_State *L) { return pick_with(L, &lb_ip_hash); }
static int b_first(lua_State *L) { return pick_with(L, &lb_first); }

static const luaL_Reg list_methods[] = {
    { "wrr", b_wrr },     { "rr", b_rr },
    { "random", b_random }, { "least_conn", b_least_conn },
    { "p2c", b_p2c },     { "p2c_ewma", b_p2c_ewma },
    { "chash", b_chash }, { "chash_bounded", b_chash_bounded },
    { "ip_hash", b_ip_hash }, { "first", b_first },
    { NULL, NULL },
};

static int backends_index(lua_State *L)
{
    struct backends_box *box = check_backends(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Integer i = luaL_checkinteger(L, 2);
        push_backend(L, 1, (i >= 1 && i <= (lua_Integer)box->up->n) ? (int)i - 1 : -1);
        return 1;
    }
    const char *k = luaL_checkstring(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    if (strcmp(k, "name") == 0)
        lua_pushstring(L, box->up->cfg->name);
    else
        lua_pushnil(L);
    return 1;
}

static int backends_len(lua_State *L)
{
    lua_pushinteger(L, check_backends(L, 1)->up->n);
    return 1;
}

static int backend_index(lua_State *L)
{
    struct backend *b = check_backend(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "addr") == 0)
        lua_pushstring(L, b->cfg->spec);
    else if (strcmp(k, "host") == 0)
        lua_pushstring(L, b->cfg->host);
    else if (strcmp(k, "port") == 0)
        lua_pushinteger(L, b->cfg->port);
    else if (strcmp(k, "weight") == 0)
        lua_pushinteger(L, atomic_load_explicit(&b->st->weight, memory_order_relaxed));
    else if (strcmp(k, "effective_weight") == 0)
        lua_pushnumber(L, (double)server_weight(b->st, b->up->cfg->slow_start, server_now_ms()) / SS_WEIGHT_UNIT);
    else if (strcmp(k, "index") == 0)
        lua_pushinteger(L, (lua_Integer)b->index + 1);
    else if (strcmp(k, "healthy") == 0 || strcmp(k, "available") == 0)
        lua_pushboolean(L, server_usable(b->st, server_now_ms()));
    else if (strcmp(k, "state") == 0)
        lua_pushstring(L, server_state_name(b->st, b->up->cfg->slow_start, server_now_ms()));
    else if (strcmp(k, "inflight") == 0)
        lua_pushinteger(L, backend_inflight(b));
    else if (strcmp(k, "latency") == 0) /* seconds, EWMA of connect start to first byte */
        lua_pushnumber(L, (double)atomic_load_explicit(&b->st->latency_us, memory_order_relaxed) / 1e6);
    else if (strcmp(k, "peak_latency") == 0)
        lua_pushnumber(L, (double)atomic_load_explicit(&b->st->peak_us, memory_order_relaxed) / 1e6);
    else if (strcmp(k, "error_rate") == 0)
        lua_pushnumber(L, server_error_rate(b->st, server_now_ms()));
    else if (strcmp(k, "last_failure") == 0) { /* seconds since the epoch, or nil */
        uint64_t ms = atomic_load_explicit(&b->st->last_failure_ms, memory_order_relaxed);
        if (ms)
            lua_pushnumber(L, (double)ms / 1000);
        else
            lua_pushnil(L);
    } else if (strcmp(k, "requests") == 0)
        lua_pushinteger(L, (lua_Integer)metric_get(&b->m->requests));
    else if (strcmp(k, "failures") == 0)
        lua_pushinteger(L, (lua_Integer)metric_get(&b->m->failures));
    else if (strcmp(k, "tried") == 0 || strcmp(k, "failure") == 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, b->up->lua_ref);
        struct backends_box *box = api_class_test(L, -1, &backends_class);
        const struct request *r = box ? box->r : NULL;
        if (k[0] == 't') {
            lua_pushboolean(L, r && lb_is_tried(&r->tried, b->index));
        } else { /* why this request's attempt on it failed: "connect", "reset", "timeout", "http_5xx" */
            const char *why = NULL;
            for (unsigned i = 0; r && i < r->nfailed; i++)
                if (r->failed[i].server == b->index)
                    why = attempt_result_name(r->failed[i].result);
            if (why)
                lua_pushstring(L, why);
            else
                lua_pushnil(L);
        }
    } else
        lua_pushnil(L);
    return 1;
}

static int backend_tostring(lua_State *L)
{
    lua_pushfstring(L, "luxy.backend (%s)", check_backend(L, 1)->cfg->spec);
    return 1;
}

void api_backends_open(lua_State *L)
{
    api_class_new(L, &backends_class); /* stack: [mt] */
    lua_pushstring(L, backends_class.name);   /* getmetatable() sees this, not the table */
    lua_setfield(L, -2, "__metatable");
    luaL_newlib(L, list_methods);         /* [mt, methods] */
    lua_pushcclosure(L, backends_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, backends_len);
    lua_setfield(L, -2, "__len");
    lua_pop(L, 1);
    api_class_new(L, &backend_class);
    lua_pushstring(L, backend_class.name);
    lua_setfield(L, -2, "__metatable");
    lua_pushcfunction(L, backend_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, backend_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
