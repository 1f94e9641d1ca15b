/* api_class.c - the classes' metatables found by address, not by name.
 * luaL_checkudata and luaL_setmetatable look a metatable up by its name
 * in the registry, and pushing a C string interns it (a strcmp in Lua's
 * string cache) on every call: a select_backend that reads backends and
 * returns one did that about ten times per request. A class here is a
 * static object whose address is the registry key (lua_rawgetp). The
 * metatable is also registered under its name, as luaL_newmetatable does,
 * so error messages and luaL_testudata still work. */
#include "api.h"

#include <lauxlib.h>

void api_class_new(lua_State *L, const struct api_class *c)
{
    luaL_newmetatable(L, c->name); /* [mt] */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, c);
}

void api_class_set(lua_State *L, const struct api_class *c)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, c);
    lua_setmetatable(L, -2);
}

void *api_class_test(lua_State *L, int idx, const struct api_class *c)
{
    void *p = lua_touserdata(L, idx);
    if (p == NULL || !lua_getmetatable(L, idx))
        return NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, c);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}

void *api_class_check(lua_State *L, int idx, const struct api_class *c)
{
    void *p = api_class_test(L, idx, c);
    if (p == NULL)
        luaL_typeerror(L, idx, c->name);
    return p;
}
