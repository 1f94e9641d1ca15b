/* api_response.c - the luxy.response class: the backend's response as the
 * client will get it, changeable in on_response (status and header fields;
 * the framing is the core's and cannot be broken from here). */
#include <lauxlib.h>
#include <string.h>

#include "../core/request.h"
#include "api.h"
#include "hooks.h"

static struct request *check_response(lua_State *L, int idx)
{
    return api_handle_check(L, idx, API_KIND_RESPONSE);
}

static void check_mutable(lua_State *L, const char *what)
{
    unsigned h = vm_of(L)->current_hook;
    if (h == HOOK_ON_LOG)
        luaL_error(L, "%s is not allowed in on_log (the response has been sent)", what);
    if (h != HOOK_ON_RESPONSE)
        luaL_error(L, "%s is only allowed in on_response", what);
}

void api_push_response(lua_State *L, struct request *r)
{
    api_handle_push(L, r, API_KIND_RESPONSE);
}

static int res_header(lua_State *L)
{
    return api_headers_get(L, &check_response(L, 1)->resp.headers, 2);
}

static int res_headers(lua_State *L)
{
    return api_headers_table(L, &check_response(L, 1)->resp.headers);
}

static int res_set_header(lua_State *L)
{
    struct request *r = check_response(L, 1);
    check_mutable(L, "res:set_header()");
    api_headers_set(L, r, &r->resp.headers, 2, 3, 1);
    return 0;
}

static int res_add_header(lua_State *L)
{
    struct request *r = check_response(L, 1);
    check_mutable(L, "res:add_header()");
    api_headers_set(L, r, &r->resp.headers, 2, 3, 0);
    return 0;
}

static int res_del_header(lua_State *L)
{
    struct request *r = check_response(L, 1);
    check_mutable(L, "res:del_header()");
    api_headers_del(L, &r->resp.headers, 2);
    return 0;
}

static const luaL_Reg methods[] = {
    { "header", res_header },         { "headers", res_headers },
    { "set_header", res_set_header }, { "add_header", res_add_header },
    { "del_header", res_del_header }, { NULL, NULL },
};

static int res_index(lua_State *L)
{
    struct request *r = check_response(L, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(API_KIND_RESPONSE)) != LUA_TNIL)
        return 1;
    lua_pop(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "status") == 0)
        lua_pushinteger(L, r->resp.status);
    else if (strcmp(k, "reason") == 0)
        lua_pushlstring(L, r->resp.reason.ptr ? r->resp.reason.ptr : "", r->resp.reason.len);
    else if (strcmp(k, "version") == 0)
        lua_pushstring(L, r->resp.minor == 0 ? "1.0" : "1.1");
    else if (strcmp(k, "generated") == 0)
        lua_pushboolean(L, r->resp_generated);
    else if (strcmp(k, "cache") == 0) /* "HIT", "MISS", ... or nil */
        r->cache_status ? (void)lua_pushstring(L, r->cache_status) : lua_pushnil(L);
    else
        lua_pushnil(L);
    return 1;
}

static int res_newindex(lua_State *L)
{
    struct request *r = check_response(L, 1);
    const char *k = luaL_checkstring(L, 2);
    check_mutable(L, "changing the response");
    if (strcmp(k, "status") != 0)
        return luaL_error(L, "response field '%s' cannot be set", k);
    lua_Integer s = luaL_checkinteger(L, 3);
    luaL_argcheck(L, s >= 200 && s <= 999, 3, "status must be between 200 and 999");
    /* a status whose body rules differ would break the framing */
    bool was_bodiless = r->resp.status == 204 || r->resp.status == 304;
    bool bodiless = s == 204 || s == 304;
    if (was_bodiless != bodiless)
        return luaL_error(L, "cannot change status %d to %d (body rules differ)", (int)r->resp.status, (int)s);
    r->resp.status = (unsigned)s;
    r->resp.reason = SLICE_NULL; /* the standard phrase goes with the new code */
    return 0;
}

const struct api_handle_kind api_response_kind = {
    "luxy.response", methods, res_index, res_newindex, NULL,
};
