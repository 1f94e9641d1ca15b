/* api_class.c - the classes' full userdata, checked by pointer.
 * luaL_checkudata looks the metatable up by its name in the registry, and
 * pushing a C string interns it (a strcmp in Lua's string cache) on every
 * call; even a metatable found by address costs a getmetatable, a registry
 * lookup and a compare. Instead every object of a class starts with a
 * header holding the class's address, and the check compares that.
 *
 * That is sound because every full userdata a script can reach either was
 * made here (the header) or starts with something that is never a class's
 * address: the shared dictionaries' box starts with a heap pointer or NULL,
 * the standard library's userdata are not reachable from the sandbox. The
 * metatable is also registered under the class's name, as
 * luaL_newmetatable does, so error messages still name the class. */
#include "api.h"

#include <lauxlib.h>
#include <stdalign.h>

/* the header, padded so the object after it is aligned like any malloc'd one */
#define HEADER ((sizeof(const struct api_class *) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

void api_class_new(lua_State *L, const struct api_class *c)
{
    luaL_newmetatable(L, c->name); /* [mt] */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, c);
}

void *api_class_object(lua_State *L, size_t size, int nuv, const struct api_class *c)
{
    char *p = lua_newuserdatauv(L, HEADER + size, nuv);
    *(const struct api_class **)(void *)p = c;
    lua_rawgetp(L, LUA_REGISTRYINDEX, c);
    lua_setmetatable(L, -2);
    return p + HEADER;
}

void *api_class_test(lua_State *L, int idx, const struct api_class *c)
{
    if (lua_type(L, idx) != LUA_TUSERDATA)
        return NULL;
    char *p = lua_touserdata(L, idx);
    if (lua_rawlen(L, idx) < HEADER || *(const struct api_class **)(void *)p != c)
        return NULL;
    return p + HEADER;
}

void *api_class_check(lua_State *L, int idx, const struct api_class *c)
{
    void *p = api_class_test(L, idx, c);
    if (p == NULL)
        luaL_typeerror(L, idx, c->name);
    return p;
}
