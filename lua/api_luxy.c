/* api_luxy.c - the luxy module: clock, logging and facts about the worker
 * the script runs in. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "../core/log.h"
#include "../core/luxy.h"
#include "../core/worker.h"
#include "api.h"
#include "vm.h"

/* luxy.now(): the worker loop's time in seconds (cached per iteration, as
 * cheap as a field read); the wall clock while the config loads. */
static int l_now(lua_State *L)
{
    struct vm *vm = vm_of(L);
    lua_pushnumber(L, vm->w ? ev_now(vm->w->loop) : ev_time());
    return 1;
}

/* luxy.log(level, ...): level is "error", "warn", "info" or "debug". */
static int l_log(lua_State *L)
{
    int level = log_level_parse(luaL_checkstring(L, 1));
    if (level < 0)
        return luaL_argerror(L, 1, "level must be error, warn, info or debug");
    if (!log_enabled((enum log_level)level))
        return 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int n = lua_gettop(L);
    for (int i = 2; i <= n; i++) {
        if (i > 2)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_Debug ar;
    char where[128] = "";
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        snprintf(where, sizeof(where), "%s:%d: ", ar.short_src, ar.currentline);
    log_msg((enum log_level)level, "lua: %s%s", where, lua_tostring(L, -1));
    return 0;
}

static const luaL_Reg funcs[] = {
    { "now", l_now },
    { "log", l_log },
    { NULL, NULL },
};

void api_luxy_open(lua_State *L)
{
    struct vm *vm = vm_of(L);
    luaL_newlib(L, funcs); /* stack: [luxy] */
    lua_pushliteral(L, LUXY_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, vm->w ? (lua_Integer)vm->w->id : 0);
    lua_setfield(L, -2, "worker_id");
    lua_setglobal(L, "luxy");
}
