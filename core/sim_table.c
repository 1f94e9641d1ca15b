/* sim_table.c - the simulator's Lua table files (sim_table.h). */
#include "sim_table.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lua_State *sim_table_open(const char *path, char *err, size_t errlen)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* the libraries a table of numbers needs; no io or os: a model is data */
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    lua_settop(L, 0);
    if (luaL_loadfile(L, path) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
        lua_close(L);
        return NULL;
    }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: the file must return a table", path);
        lua_close(L);
        return NULL;
    }
    return L;
}

double sim_seconds_value(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER)
        return lua_tonumber(L, idx) >= 0 ? lua_tonumber(L, idx) : -1;
    if (lua_type(L, idx) != LUA_TSTRING)
        return -1;
    const char *s = lua_tostring(L, idx);
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0))
        return -1;
    if (strcmp(end, "ms") == 0)
        return v / 1000;
    if (strcmp(end, "s") == 0 || *end == 0)
        return v;
    if (strcmp(end, "m") == 0)
        return v * 60;
    if (strcmp(end, "h") == 0)
        return v * 3600;
    return -1;
}

bool sim_table_number(lua_State *L, int idx, const char *name, double dflt, double *out, char *err,
                      size_t errlen)
{
    int t = lua_getfield(L, idx, name);
    bool ok = true;
    if (t == LUA_TNIL)
        *out = dflt;
    else if (t == LUA_TNUMBER)
        *out = lua_tonumber(L, -1);
    else {
        snprintf(err, errlen, "%s must be a number", name);
        ok = false;
    }
    lua_pop(L, 1);
    return ok;
}

bool sim_table_seconds(lua_State *L, int idx, const char *name, double dflt, double *out, char *err,
                       size_t errlen)
{
    int t = lua_getfield(L, idx, name);
    bool ok = true;
    if (t == LUA_TNIL)
        *out = dflt;
    else if ((*out = sim_seconds_value(L, -1)) < 0) {
        snprintf(err, errlen, "%s must be a duration (a number of seconds, \"250ms\", \"2s\", \"5m\")", name);
        ok = false;
    }
    lua_pop(L, 1);
    return ok;
}

bool sim_table_string(lua_State *L, int idx, const char *name, const char *dflt, char *buf, size_t bufsz,
                      char *err, size_t errlen)
{
    int t = lua_getfield(L, idx, name);
    bool ok = true;
    const char *s = t == LUA_TNIL ? dflt : t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (!s || strlen(s) >= bufsz) {
        snprintf(err, errlen, "%s must be a string (under %zu bytes)", name, bufsz);
        ok = false;
    } else
        memcpy(buf, s, strlen(s) + 1);
    lua_pop(L, 1);
    return ok;
}
