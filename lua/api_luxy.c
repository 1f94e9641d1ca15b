/* api_luxy.c - the luxy module: clock, logging and facts about the worker
 * the script runs in; luxy.shared comes from api_shared.c. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/luxy.h"
#include "../core/worker.h"
#include "api.h"
#include "lib.h"
#include "vm.h"

/* luxy.now(): the worker loop's time in seconds (cached per iteration, as
 * cheap as a field read); the wall clock while the config loads. */
static int l_now(lua_State *L)
{
    struct vm *vm = vm_of(L);
    /* a worker's state runs its top level in the main thread, at a reload */
    lua_pushnumber(L, clock_virtual > 0 ? clock_virtual : vm->w && !vm->loading ? ev_now(vm->w->loop) : ev_time());
    return 1;
}

static const luaL_Reg funcs[] = {
    { "now", l_now },
    { "log", lib_log },
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
    api_shared_open(L);
    lua_setglobal(L, "luxy");
}
