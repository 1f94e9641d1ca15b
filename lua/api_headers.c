/* api_headers.c - header access shared by luxy.request and luxy.response,
 * and the one place where strings from Lua are copied into a request's
 * arena: they live exactly as long as the exchange and count against
 * lua.memory meanwhile. */
#include <lauxlib.h>

#include "../core/request.h"
#include "api.h"
#include "vm.h"

void api_room(lua_State *L, size_t n)
{
    struct vm *vm = vm_of(L);
    if (!vm_fits(vm, n))
        luaL_error(L, "not enough memory: the script would make luxy hold %I more bytes, past lua.memory (%I bytes with the Lua heap)",
                   (lua_Integer)n, (lua_Integer)vm->mem_limit);
}

void api_hold(lua_State *L, struct request *r, size_t arena_used_before)
{
    size_t n = r->arena.used - arena_used_before;
    vm_hold(vm_of(L), n);
    r->lua_held += n;
}

struct slice api_request_copy(lua_State *L, struct request *r, const char *s, size_t len)
{
    api_room(L, len + 1);
    size_t before = r->arena.used;
    struct slice out = slice_make(arena_strndup(&r->arena, s, len), len);
    api_hold(L, r, before);
    return out;
}

struct slice api_request_string(lua_State *L, struct request *r, int idx)
{
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    return api_request_copy(L, r, s, len);
}

static struct slice check_name(lua_State *L, int idx)
{
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    struct slice name = slice_make(s, len);
    if (!headers_valid_name(name))
        luaL_argerror(L, idx, "invalid header name");
    return name;
}

/* Framing and connection management are the core's: a script that could
 * set Content-Length or Transfer-Encoding could desync the backend. */
static void check_settable(lua_State *L, struct slice name, int idx)
{
    static const struct slice managed[] = {
        SLICE_LIT("Content-Length"), SLICE_LIT("Transfer-Encoding"), SLICE_LIT("Connection"),
        SLICE_LIT("Keep-Alive"),     SLICE_LIT("TE"),                SLICE_LIT("Trailer"),
        SLICE_LIT("Upgrade"),        SLICE_LIT("Proxy-Connection"),
    };
    for (size_t i = 0; i < countof(managed); i++)
        if (slice_caseeq(name, managed[i].ptr, managed[i].len))
            luaL_argerror(L, idx, lua_pushfstring(L, "%s is managed by luxy (message framing)", managed[i].ptr));
}

int api_headers_get(lua_State *L, const struct headers *h, int name_idx)
{
    struct slice name = check_name(L, name_idx);
    int i = headers_find(h, name, 0);
    if (i < 0) {
        lua_pushnil(L);
        return 1;
    }
    /* several fields with one name read as one comma-joined value */
    int next = headers_find(h, name, (unsigned)i + 1);
    if (next < 0) {
        lua_pushlstring(L, h->v[i].value.ptr, h->v[i].value.len);
        return 1;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int k = i; k >= 0; k = headers_find(h, name, (unsigned)k + 1)) {
        if (k != i)
            luaL_addlstring(&b, ", ", 2);
        luaL_addlstring(&b, h->v[k].value.ptr, h->v[k].value.len);
    }
    luaL_pushresult(&b);
    return 1;
}

int api_headers_table(lua_State *L, const struct headers *h)
{
    /* { ["content-type"] = "text/html", ... }: lower-case names, joined
     * duplicates, so scripts can index without caring about case */
    lua_createtable(L, 0, (int)h->n);
    for (unsigned i = 0; i < h->n; i++) {
        char lower[256];
        size_t n = min(h->v[i].name.len, sizeof(lower));
        for (size_t k = 0; k < n; k++) {
            char ch = h->v[i].name.ptr[k];
            lower[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
        }
        lua_pushlstring(L, lower, n);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, h->v[i].value.ptr, h->v[i].value.len);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, h->v[i].value.ptr, h->v[i].value.len);
        }
        lua_rawset(L, -3);
    }
    return 1;
}

void api_headers_set(lua_State *L, struct request *r, struct headers *h, int name_idx,
                     int value_idx, int replace)
{
    struct slice name = check_name(L, name_idx);
    check_settable(L, name, name_idx);
    size_t len;
    int top = lua_gettop(L);
    /* numbers welcome (luaL_tolstring pushes them as strings); a string,
     * the usual case, needs no __tostring lookup */
    const char *v = lua_type(L, value_idx) == LUA_TSTRING ? lua_tolstring(L, value_idx, &len)
                                                           : luaL_tolstring(L, value_idx, &len);
    if (!headers_valid_value(slice_make(v, len)))
        luaL_argerror(L, value_idx, "header value contains CR, LF or another control character");
    /* the copies, and the field array when it has to grow */
    api_room(L, name.len + len + 2 + (h->n == h->cap ? (h->cap * 2 + 16) * sizeof(*h->v) : 0));
    size_t before = r->arena.used;
    struct slice n = slice_make(arena_strndup(&r->arena, name.ptr, name.len), name.len);
    struct slice val = slice_make(arena_strndup(&r->arena, v, len), len);
    lua_settop(L, top);
    if (replace)
        headers_set(h, &r->arena, n, val);
    else
        headers_add(h, &r->arena, n, val);
    api_hold(L, r, before);
}

void api_headers_del(lua_State *L, struct headers *h, int name_idx)
{
    headers_del(h, check_name(L, name_idx));
}
