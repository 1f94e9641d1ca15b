/* lua_diff.h - runs string.find/match/gmatch/gsub in two Lua states, luxy's
 * sandboxed one (lua/lib_match.c on lua/pattern.c) and a plain one with
 * Lua's own string library, and returns both results as text, so that a
 * test can require them to be identical. Shared by tests/unit/test_pattern.c
 * and tests/fuzz/fuzz_pattern.c. */
#ifndef LUXY_LUA_DIFF_H
#define LUXY_LUA_DIFF_H

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#include "../../core/config.h"
#include "../../lua/vm.h"

/* run(op, s, p, a, b) -> "ok|type:value|..." or "err|message" */
static const char lua_diff_helper[] =
    "local function pack(ok, ...)\n"
    "  local t = { ok and 'ok' or 'err' }\n"
    "  for i = 1, select('#', ...) do\n"
    "    local v = select(i, ...)\n"
    "    t[#t + 1] = type(v) .. ':' .. tostring(v)\n"
    "  end\n"
    "  return table.concat(t, '|')\n"
    "end\n"
    "local repl = { a = 'A', b = false, c = 7, d = {} }\n"
    "function run(op, s, p, a, b)\n"
    "  if op == 0 then return pack(pcall(string.find, s, p, a, b)) end\n"
    "  if op == 1 then return pack(pcall(string.match, s, p, a)) end\n"
    "  if op == 2 then return pack(pcall(string.gsub, s, p, a, b)) end\n"
    "  if op == 3 then return pack(pcall(string.gsub, s, p,\n"
    "      function(...) return table.concat({ ... }, ',') end, b)) end\n"
    "  if op == 4 then return pack(pcall(string.gsub, s, p, repl, b)) end\n"
    "  return pack(pcall(function()\n"
    "    local out = {}\n"
    "    for x, y, z in string.gmatch(s, p, a) do\n"
    "      out[#out + 1] = tostring(x) .. '/' .. tostring(y) .. '/' .. tostring(z)\n"
    "      if #out > 1000 then break end\n"
    "    end\n"
    "    return table.concat(out, ';')\n"
    "  end))\n"
    "end\n";

struct lua_diff {
    struct config cfg;
    struct vm *ours;
    lua_State *ref;
};

/* units: the budget of each call in luxy's state. */
static inline int lua_diff_init(struct lua_diff *d, unsigned long units)
{
    char err[256];
    config_defaults(&d->cfg);
    d->ours = vm_new_loader(&d->cfg, 256u << 20, units, 0, err, sizeof(err));
    if (d->ours == NULL || vm_run_file(d->ours, lua_diff_helper, strlen(lua_diff_helper), "=diff",
                                       err, sizeof(err)) != 0) {
        fprintf(stderr, "lua_diff: %s\n", err);
        return -1;
    }
    d->ours->instructions = units;
    d->ref = luaL_newstate();
    luaL_openlibs(d->ref);
    if (luaL_loadbuffer(d->ref, lua_diff_helper, strlen(lua_diff_helper), "=diff") != LUA_OK ||
        lua_pcall(d->ref, 0, 0, 0) != LUA_OK)
        return -1;
    return 0;
}

static inline void lua_diff_free(struct lua_diff *d)
{
    vm_free(d->ours);
    lua_close(d->ref);
    config_free(&d->cfg);
}

/* stack: [] -> [] ; writes "result" into out. a/b: NULL for nil; a may
 * be an integer when a_int is set. */
static inline void lua_diff_push_args(lua_State *L, int op, const char *s, size_t sl,
                                      const char *p, size_t pl, const char *a, size_t al,
                                      long long a_int, int a_kind, long long b)
{
    lua_getglobal(L, "run");
    lua_pushinteger(L, op);
    lua_pushlstring(L, s, sl);
    lua_pushlstring(L, p, pl);
    if (a_kind == 1)
        lua_pushlstring(L, a, al);
    else if (a_kind == 2)
        lua_pushinteger(L, a_int);
    else
        lua_pushnil(L);
    if (b == -999)
        lua_pushnil(L);
    else
        lua_pushinteger(L, b);
}

static inline void take_result(lua_State *L, int rc, char *out, size_t cap)
{
    if (rc == 0) {
        size_t n;
        const char *r = lua_tolstring(L, -1, &n);
        snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), r ? r : "(nil)");
        lua_pop(L, 1);
    } else {
        snprintf(out, cap, "call failed");
    }
}

/* Returns 1 when luxy's state ran out of budget (out is then meaningless),
 * else 0 with both results written. */
static inline int lua_diff_run(struct lua_diff *d, int op, const char *s, size_t sl, const char *p,
                               size_t pl, const char *a, size_t al, long long a_int, int a_kind,
                               long long b, char *ours, char *ref, size_t cap)
{
    lua_diff_push_args(d->ours->L, op, s, sl, p, pl, a, al, a_int, a_kind, b);
    int rc = vm_call(d->ours, "diff", 5, 1);
    take_result(d->ours->L, rc, ours, cap);
    if (rc != 0 || strstr(ours, "budget exceeded"))
        return 1;
    lua_diff_push_args(d->ref, op, s, sl, p, pl, a, al, a_int, a_kind, b);
    rc = lua_pcall(d->ref, 5, 1, 0);
    take_result(d->ref, rc == LUA_OK ? 0 : -1, ref, cap);
    return 0;
}

#endif
