/* api_request.c - the luxy.request class: a handle (api_handle.c) that
 * stops working when the request ends, so that a reference a script kept
 * errors cleanly instead of touching freed or reused memory.
 * Reading works in every hook; changing the request only in on_request,
 * before anything has been sent. */
#include <lauxlib.h>
#include <stdlib.h>

#include "../core/addr.h"
#include "../core/conn.h"
#include "../core/config.h"
#include "../core/request.h"
#include "../core/upstream.h"
#include "api.h"
#include "hooks.h"

static struct request *check_request(lua_State *L, int idx)
{
    return api_handle_check(L, idx, API_KIND_REQUEST);
}

static void check_mutable(lua_State *L, const char *what)
{
    unsigned h = vm_of(L)->current_hook;
    if (h == HOOK_ON_LOG)
        luaL_error(L, "%s is not allowed in on_log (the request is over)", what);
    if (h != HOOK_ON_REQUEST)
        luaL_error(L, "%s is only allowed in on_request (the request has been sent)", what);
}

void api_push_request(lua_State *L, struct request *r)
{
    api_handle_push(L, r, API_KIND_REQUEST);
}

void api_request_end(lua_State *L, struct request *r)
{
    api_handle_release(vm_of(L), r);
    if (r->lua_ctx_ref != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, r->lua_ctx_ref);
        r->lua_ctx_ref = LUA_NOREF;
    }
}

/* ---- methods ---- */

static int req_header(lua_State *L)
{
    return api_headers_get(L, &check_request(L, 1)->head.headers, 2);
}

/* req:client_header(name): the field as the client sent it, before the
 * anonymity level or the forwarding rules changed it. */
static int req_client_header(lua_State *L)
{
    struct request *r = check_request(L, 1);
    return api_headers_get(L, r->client_fields.v ? &r->client_fields : &r->head.headers, 2);
}

static int req_headers(lua_State *L)
{
    return api_headers_table(L, &check_request(L, 1)->head.headers);
}

static int req_set_header(lua_State *L)
{
    struct request *r = check_request(L, 1);
    check_mutable(L, "req:set_header()");
    api_headers_set(L, r, &r->head.headers, 2, 3, 1);
    return 0;
}

static int req_add_header(lua_State *L)
{
    struct request *r = check_request(L, 1);
    check_mutable(L, "req:add_header()");
    api_headers_set(L, r, &r->head.headers, 2, 3, 0);
    return 0;
}

static int req_del_header(lua_State *L)
{
    struct request *r = check_request(L, 1);
    check_mutable(L, "req:del_header()");
    api_headers_del(L, &r->head.headers, 2);
    return 0;
}

/* req:respond(status [, body [, headers]]): answer here; nothing is sent to
 * a backend. headers: { name = "value" or { "v1", "v2" } }. */
static int req_respond(lua_State *L)
{
    struct request *r = check_request(L, 1);
    check_mutable(L, "req:respond()");
    lua_Integer status = luaL_checkinteger(L, 2);
    luaL_argcheck(L, status >= 200 && status <= 999, 2, "status must be between 200 and 999");
    struct slice body = lua_isnoneornil(L, 3) ? slice_make("", 0) : api_request_string(L, r, 3);
    headers_init(&r->local_headers);
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 4)) { /* stack: [..., name, value] */
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_argerror(L, 4, "header names must be strings");
            if (lua_istable(L, -1)) {
                lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
                for (lua_Integer i = 1; i <= n; i++) {
                    lua_rawgeti(L, -1, i);
                    api_headers_set(L, r, &r->local_headers, -3, -1, 0);
                    lua_pop(L, 1);
                }
            } else {
                api_headers_set(L, r, &r->local_headers, -2, -1, 0);
            }
            lua_pop(L, 1);
        }
    }
    r->local_body = body;
    r->local_status = (unsigned)status;
    return 0;
}

/* req:client_in("10.0.0.0/8"): is the client's address in that network? */
static int req_client_in(lua_State *L)
{
    struct request *r = check_request(L, 1);
    struct cidr c;
    if (cidr_parse(luaL_checkstring(L, 2), &c) == -1)
        return luaL_argerror(L, 2, "not a network such as \"10.0.0.0/8\"");
    lua_pushboolean(L, cidr_match(&c, request_client_addr(r)));
    return 1;
}

static const luaL_Reg methods[] = {
    { "header", req_header },         { "headers", req_headers },
    { "set_header", req_set_header }, { "add_header", req_add_header },
    { "del_header", req_del_header }, { "respond", req_respond },
    { "client_in", req_client_in },   { "client_header", req_client_header },
    { NULL, NULL },
};

/* ---- properties ---- */

static void push_slice(lua_State *L, struct slice s)
{
    if (s.ptr)
        lua_pushlstring(L, s.ptr, s.len);
    else
        lua_pushnil(L);
}

static void push_ctx(lua_State *L, struct request *r)
{
    if (r->lua_ctx_ref == LUA_NOREF) {
        lua_newtable(L);
        r->lua_ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->lua_ctx_ref);
}

static int req_index(lua_State *L)
{
    struct request *r = check_request(L, 1);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(API_KIND_REQUEST)) != LUA_TNIL)
        return 1; /* a method */
    lua_pop(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "method") == 0)
        lua_pushstring(L, http_method_str(r->head.method));
    else if (strcmp(k, "path") == 0)
        push_slice(L, r->path);
    else if (strcmp(k, "query") == 0)
        push_slice(L, r->query);
    else if (strcmp(k, "uri") == 0)
        push_slice(L, r->head.target);
    else if (strcmp(k, "host") == 0)
        push_slice(L, r->origin_host.ptr ? r->origin_host : headers_get(&r->head.headers, H_HOST));
    else if (strcmp(k, "origin") == 0) {
        if (r->origin_host.ptr) {
            bool v6 = memchr(r->origin_host.ptr, ':', r->origin_host.len) != NULL;
            lua_pushstring(L, v6 ? "[" : "");
            lua_pushlstring(L, r->origin_host.ptr, r->origin_host.len);
            lua_pushfstring(L, v6 ? "]:%d" : ":%d", (int)r->origin_port);
            lua_concat(L, 3);
        } else {
            lua_pushnil(L);
        }
    } else if (strcmp(k, "port") == 0)
        r->origin_port ? lua_pushinteger(L, r->origin_port) : lua_pushnil(L);
    else if (strcmp(k, "scheme") == 0)
        lua_pushliteral(L, "http");
    else if (strcmp(k, "version") == 0)
        lua_pushstring(L, r->head.minor == 0 ? "1.0" : "1.1");
    else if (strcmp(k, "client_ip") == 0)
        push_slice(L, request_client_ip(r));
    else if (strcmp(k, "peer_ip") == 0)
        lua_pushlstring(L, r->from_ip, r->from_ip_len);
    else if (strcmp(k, "client_port") == 0)
        lua_pushinteger(L, addr_port(r->from));
    else if (strcmp(k, "mode") == 0)
        lua_pushstring(L, r->lc->mode == MODE_FORWARD ? "forward" : "reverse");
    else if (strcmp(k, "listener") == 0)
        lua_pushstring(L, r->lc->spec);
    else if (strcmp(k, "upstream") == 0)
        push_slice(L, r->upstream_name.len ? r->upstream_name : SLICE_NULL);
    else if (strcmp(k, "ctx") == 0)
        push_ctx(L, r);
    else if (strcmp(k, "parent") == 0)
        push_slice(L, r->parent_name.len ? r->parent_name : SLICE_NULL);
    else if (strcmp(k, "user") == 0)
        push_slice(L, r->user.len ? r->user : SLICE_NULL);
    else if (strcmp(k, "id") == 0)
        push_slice(L, r->request_id.len ? r->request_id : SLICE_NULL);
    else if (strcmp(k, "anonymity") == 0)
        r->lc->mode == MODE_FORWARD ? (void)lua_pushstring(L, anonymity_level_name(r->anon_level))
                                          : lua_pushnil(L);
    else
        lua_pushnil(L);
    return 1;
}

/* Path and query go into the request line: no spaces, controls or '#'. */
static struct slice check_target_part(lua_State *L, struct request *r, int idx, bool path)
{
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    if (path && (len == 0 || s[0] != '/'))
        luaL_argerror(L, idx, "a path starts with '/'");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '#' || (path && c == '?'))
            luaL_argerror(L, idx, path ? "invalid character in path" : "invalid character in query");
    }
    return api_request_copy(L, r, s, len);
}

static int req_newindex(lua_State *L)
{
    struct request *r = check_request(L, 1);
    const char *k = luaL_checkstring(L, 2);
    check_mutable(L, "changing the request");
    if (strcmp(k, "path") == 0) {
        r->path = check_target_part(L, r, 3, true);
    } else if (strcmp(k, "query") == 0) {
        r->query = lua_isnil(L, 3) ? SLICE_NULL : check_target_part(L, r, 3, false);
    } else if (strcmp(k, "upstream") == 0) {
        if (lua_isnil(L, 3)) {
            r->upstream_name = SLICE_NULL;
            return 0;
        }
        size_t len;
        const char *name = luaL_checklstring(L, 3, &len);
        if (upstream_find(r->gen, name, len) == NULL)
            return luaL_error(L, "unknown upstream '%s'", name);
        r->upstream_name = api_request_copy(L, r, name, len);
    } else if (strcmp(k, "parent") == 0) {
        if (r->lc->mode != MODE_FORWARD)
            return luaL_error(L, "req.parent is for forward listeners");
        if (lua_isnil(L, 3)) {
            r->parent_name = SLICE_NULL; /* direct */
            return 0;
        }
        size_t len;
        const char *name = luaL_checklstring(L, 3, &len);
        if (parent_find(r->gen, name, len) == NULL)
            return luaL_error(L, "unknown parent '%s'", name);
        r->parent_name = api_request_copy(L, r, name, len);
    } else if (strcmp(k, "anonymity") == 0) {
        if (r->lc->mode != MODE_FORWARD)
            return luaL_error(L, "req.anonymity is for forward listeners");
        int level = lua_isboolean(L, 3) && !lua_toboolean(L, 3) ? ANON_OFF
                    : lua_type(L, 3) == LUA_TSTRING        ? anonymity_level_parse(lua_tostring(L, 3))
                                                           : -1;
        if (level < 0)
            return luaL_error(L, "req.anonymity must be \"transparent\", \"anonymous\", \"elite\" or false");
        request_set_anonymity(r, (enum anonymity_level)level);
    } else {
        return luaL_error(L, "request field '%s' cannot be set", k);
    }
    return 0;
}

static void req_tostring(lua_State *L, struct request *r)
{
    lua_pushfstring(L, "luxy.request (%s ", http_method_str(r->head.method));
    lua_pushlstring(L, r->path.ptr ? r->path.ptr : "", r->path.len);
    lua_pushliteral(L, ")");
    lua_concat(L, 3);
}

const struct api_handle_kind api_request_kind = {
    "luxy.request", methods, req_index, req_newindex, req_tostring,
};
