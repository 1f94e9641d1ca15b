/* budget.c - the count hook and the charges (see budget.h). The hook runs
 * every BUDGET_GRAIN instructions, so a short hook (most are) never calls
 * it; each time it takes the grain from what is left and looks at the
 * clock. It is set once per call, at the start (which also restarts its
 * count), and left set in between: it does nothing outside a call. */
#include "budget.h"

#include <lauxlib.h>
#include <stdio.h>

#include "../core/luxy.h"
#include "vm.h"

static struct budget *budget_of(lua_State *L)
{
    return &vm_of(L)->budget;
}

static void set_grain(lua_State *L, struct budget *b, int grain);

static int raise_at(lua_State *L, int level);

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct budget *b = budget_of(L);
    if (!b->active)
        return; /* the hook stays set between calls (budget_end) */
    b->left -= b->grain;
    if (b->left > 0 && b->seconds > 0 && luxy_monotonic() > b->deadline)
        b->out_of_time = true;
    if (b->left <= 0 || b->out_of_time) {
        raise_at(L, 0); /* level 0 inside a hook: the Lua function that ran */
        return;
    }
    set_grain(L, b, b->left < BUDGET_GRAIN ? (int)b->left : BUDGET_GRAIN);
}

static void set_grain(lua_State *L, struct budget *b, int grain)
{
    if (grain == b->grain)
        return;
    b->grain = grain;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, grain);
}

void budget_begin(lua_State *L, struct budget *b, unsigned long units, double seconds)
{
    b->total = (long)min(units, (unsigned long)0x3fffffffffffffff);
    b->left = b->total;
    b->active = true;
    b->out_of_time = false;
    b->exhausted = false;
    b->message[0] = 0;
    b->seconds = seconds;
    b->started = luxy_monotonic(); /* the deadline's start, and the hook's time (metrics) */
    b->deadline = seconds > 0 ? b->started + seconds : 0;
    b->grain = b->left < BUDGET_GRAIN ? (int)b->left : BUDGET_GRAIN;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, b->grain);
}

bool budget_end(lua_State *L, struct budget *b)
{
    /* the hook stays: clearing it here and setting it again at the next
     * begin would be two lua_sethook calls per call instead of one */
    (void)L;
    b->active = false;
    return b->exhausted || b->left < 0;
}

static int raise_at(lua_State *L, int level)
{
    struct budget *b = budget_of(L);
    b->left = 0;
    b->exhausted = true;
    /* fire again at the very next instruction: a pcall in the script that
     * catches this error gets no chance to carry on */
    b->grain = 0;
    set_grain(L, b, 1);
    luaL_where(L, level);
    if (b->out_of_time)
        lua_pushfstring(L, "time budget exceeded (ran longer than %d ms; the instruction budget is %I)",
                        (int)(b->seconds * 1000 + 0.5), (lua_Integer)b->total);
    else
        lua_pushfstring(L, "instruction budget exceeded (%I instructions, library work included)",
                        (lua_Integer)b->total);
    lua_concat(L, 2);
    if (b->message[0] == 0)
        snprintf(b->message, sizeof(b->message), "%s", lua_tostring(L, -1));
    return lua_error(L);
}

int budget_exhausted(lua_State *L)
{
    return raise_at(L, 1); /* level 1: the Lua code that called the library */
}

void budget_charge(lua_State *L, long n)
{
    struct budget *b = budget_of(L);
    if (!b->active)
        return;
    b->left -= n;
    if (b->left <= 0)
        budget_exhausted(L);
}

long budget_left(lua_State *L)
{
    struct budget *b = budget_of(L);
    return b->active ? b->left : 0x3fffffffffffffff;
}

void budget_settle(lua_State *L, long left)
{
    struct budget *b = budget_of(L);
    if (!b->active)
        return;
    b->left = left;
    if (b->left <= 0)
        budget_exhausted(L);
}
