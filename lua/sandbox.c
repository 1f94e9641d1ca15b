/* sandbox.c - the standard library as scripts see it: what they may reach,
 * and what each call costs.
 *
 * Reach: base, string, table, math and utf8, os reduced to the clock; no
 * io, no files after load, no binary chunks, no C modules, no coroutines
 * (a coroutine made outside a hook would run without the budget), no
 * finalizers (the collector runs __gc outside every budget), and the
 * collector's settings stay luxy's.
 *
 * Cost: every library function whose work is not constant either charges
 * the budget for it before it runs (from its arguments: elements moved,
 * bytes scanned) or after (one unit per value it returned); the results
 * it allocates are charged by the allocator. So no single call can do
 * more than the budget allows, whatever its arguments (budget.h). */
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/luxy.h"
#include "api.h"
#include "budget.h"
#include "embedded.h"
#include "lib.h"
#include "vm.h"

/* ---- charging wrappers around the library's own functions ---- */

/* Units a call is about to cost, from its arguments (which it reads
 * without raising: the function itself checks them). */
typedef long (*cost_fn)(lua_State *L);

static long len_of(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TSTRING ? (long)lua_rawlen(L, idx) : 0;
}

static lua_Integer int_or(lua_State *L, int idx, lua_Integer dflt)
{
    return lua_isinteger(L, idx) ? lua_tointeger(L, idx) : dflt;
}

static long table_len(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TTABLE ? (long)lua_rawlen(L, idx) : 0;
}

/* A count of elements from i to j, saturated. */
static long span(lua_Integer i, lua_Integer j)
{
    if (j < i)
        return 0;
    lua_Unsigned n = (lua_Unsigned)j - (lua_Unsigned)i;
    return n >= 0x3fffffffffffffff ? 0x3fffffffffffffff : (long)n + 1;
}

static long cost_nargs(lua_State *L) { return lua_gettop(L); }
static long cost_format(lua_State *L) { return len_of(L, 1) / BUDGET_SCAN_PER_UNIT + lua_gettop(L); }
static long cost_scan1(lua_State *L) { return len_of(L, 1) / BUDGET_SCAN_PER_UNIT; }
static long cost_decode(lua_State *L) { return len_of(L, 1) / 4; }

static long cost_pack(lua_State *L)
{
    return len_of(L, 1) / 4 + lua_gettop(L);
}

static long cost_unpack_str(lua_State *L)
{
    return len_of(L, 1) / 4 + len_of(L, 2) / BUDGET_SCAN_PER_UNIT;
}

static long cost_concat(lua_State *L)
{
    return span(int_or(L, 3, 1), int_or(L, 4, table_len(L, 1)));
}

static long cost_insert(lua_State *L)
{
    return lua_gettop(L) >= 3 ? table_len(L, 1) : 1; /* a position shifts the rest */
}

static long cost_remove(lua_State *L)
{
    long n = table_len(L, 1);
    return lua_gettop(L) >= 2 ? (long)span(int_or(L, 2, n), n) : 1;
}

static long cost_move(lua_State *L)
{
    return span(int_or(L, 2, 1), int_or(L, 3, 0));
}

static long cost_sort(lua_State *L)
{
    long n = table_len(L, 1);
    return n < 2 ? 1 : (long)((double)n * ceil(log2((double)n)));
}

static long cost_tonumber(lua_State *L) { return len_of(L, 1) / BUDGET_SCAN_PER_UNIT; }

static long cost_rawequal(lua_State *L)
{
    return min(len_of(L, 1), len_of(L, 2)) / BUDGET_SCAN_PER_UNIT;
}

struct charged {
    const char *lib, *name;
    cost_fn before;   /* NULL: nothing before */
    bool per_result;  /* one unit per returned value, after */
};

static const struct charged charged[] = {
    { LUA_STRLIBNAME, "byte", NULL, true },
    { LUA_STRLIBNAME, "char", cost_nargs, false },
    { LUA_STRLIBNAME, "format", cost_format, false },
    { LUA_STRLIBNAME, "pack", cost_pack, false },
    { LUA_STRLIBNAME, "packsize", cost_scan1, false },
    { LUA_STRLIBNAME, "unpack", cost_unpack_str, true },
    { LUA_TABLIBNAME, "concat", cost_concat, false },
    { LUA_TABLIBNAME, "insert", cost_insert, false },
    { LUA_TABLIBNAME, "remove", cost_remove, false },
    { LUA_TABLIBNAME, "move", cost_move, false },
    { LUA_TABLIBNAME, "sort", cost_sort, false },
    { LUA_TABLIBNAME, "unpack", NULL, true },
    { LUA_TABLIBNAME, "pack", cost_nargs, false },
    { LUA_UTF8LIBNAME, "len", cost_decode, false },
    { LUA_UTF8LIBNAME, "codepoint", cost_decode, true },
    { LUA_UTF8LIBNAME, "offset", cost_decode, false },
    { LUA_UTF8LIBNAME, "char", cost_nargs, false },
    { NULL, "tonumber", cost_tonumber, false },
    { NULL, "rawequal", cost_rawequal, false },
    { NULL, "select", NULL, true },
};

/* upvalue 1: the library function; upvalue 2: its index in charged[].
 * The function is called directly on this frame, so its argument errors
 * name the function as the script called it. */
static int charged_call(lua_State *L)
{
    lua_CFunction f = lua_tocfunction(L, lua_upvalueindex(1));
    const struct charged *c = &charged[lua_tointeger(L, lua_upvalueindex(2))];
    if (c->before)
        budget_charge(L, c->before(L) + 1);
    int n = f(L);
    if (c->per_result)
        budget_charge(L, n);
    return n;
}

static void wrap_charged(lua_State *L)
{
    for (size_t i = 0; i < countof(charged); i++) {
        const struct charged *c = &charged[i];
        if (c->lib)
            lua_getglobal(L, c->lib);
        else
            lua_pushglobaltable(L);         /* stack: [lib] */
        lua_getfield(L, -1, c->name);       /* [lib, f] */
        lua_pushinteger(L, (lua_Integer)i); /* [lib, f, i] */
        lua_pushcclosure(L, charged_call, 2);
        lua_setfield(L, -2, c->name);
        lua_pop(L, 1);
    }
}

/* ---- functions of our own ---- */

/* string.rep: Lua's loops n times even when every copy is empty. */
static int str_rep(lua_State *L)
{
    size_t l, lsep;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || (l == 0 && lsep == 0 ) || (n == 1 && l == 0)) {
        lua_pushliteral(L, "");
        return 1;
    }
    if (l + lsep < l || l + lsep > (size_t)LUA_MAXINTEGER / (size_t)n)
        return luaL_error(L, "resulting string too large");
    size_t total = (size_t)n * l + (size_t)(n - 1) * lsep;
    budget_charge(L, (long)(total / BUDGET_BYTES_PER_UNIT));
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, total);
    for (lua_Integer i = 0; i < n; i++) {
        if (i > 0 && lsep) {
            memcpy(p, sep, lsep);
            p += lsep;
        }
        memcpy(p, s, l);
        p += l;
    }
    luaL_pushresultsize(&b, total);
    return 1;
}

/* load(chunk [, name [, mode [, env]]]): text only (precompiled chunks can
 * break the VM's invariants); compiling costs the chunk's length. */
static int safe_load(lua_State *L)
{
    budget_charge(L, len_of(L, 1) / BUDGET_SCAN_PER_UNIT + 1);
    int n = lua_gettop(L);
    if (n < 3)
        lua_settop(L, 3);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n < 3 ? 3 : n, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable without __gc: a finalizer would run inside the collector,
 * where no budget applies and no error can be reported. */
static int safe_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in luxy scripts");
        lua_pop(L, 1);
    }
    return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* collectgarbage: the collector is luxy's to tune; a hook may look at it
 * but not make it do unbounded work. */
static int safe_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    bool loading = vm_of(L)->loading;
    if (strcmp(opt, "count") == 0 || strcmp(opt, "isrunning") == 0 ||
        (loading && (strcmp(opt, "collect") == 0 || strcmp(opt, "step") == 0)))
        return lua_tocfunction(L, lua_upvalueindex(1))(L);
    return luaL_error(L, "collectgarbage('%s') is not allowed %s", opt,
                      loading ? "in luxy scripts" : "in a hook (only 'count' and 'isrunning')");
}

/* The arguments joined by sep, as luaL_tolstring shows them.
 * stack: [args...] -> [args..., text] */
static const char *join_args(lua_State *L, int first, const char *sep)
{
    int n = lua_gettop(L); /* before the buffer: it takes a stack slot */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = first; i <= n; i++) {
        if (i > first)
            luaL_addstring(&b, sep);
        luaL_tolstring(L, i, NULL);
        budget_charge(L, (long)(lua_rawlen(L, -1) / BUDGET_SCAN_PER_UNIT));
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static int lua_print(lua_State *L)
{
    log_info("lua: %s", join_args(L, 1, "\t"));
    return 0;
}

/* luxy.log(level, ...): level is "error", "warn", "info" or "debug"; the
 * line names the script file and line. */
int lib_log(lua_State *L)
{
    int level = log_level_parse(luaL_checkstring(L, 1));
    if (level < 0)
        return luaL_argerror(L, 1, "level must be error, warn, info or debug");
    if (!log_enabled((enum log_level)level))
        return 0;
    const char *text = join_args(L, 2, " ");
    lua_Debug ar;
    char where[256] = "";
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        snprintf(where, sizeof(where), "%s:%d: ", ar.short_src, ar.currentline);
    log_msg((enum log_level)level, "lua: %s%s", where, text);
    return 0;
}

/* ---- require ---- */

static bool valid_module_name(const char *s)
{
    if (*s == '\0' || *s == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || (*s == '.' && s[1] != '.' && s[1] != '\0')))
            return false;
    return true;
}

/* Reads a whole file (config-load time only: never from a worker loop). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *data = xmalloc(cap);
    size_t got;
    while ((got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            data = xrealloc(data, cap *= 2);
    }
    fclose(f);
    *len = n;
    return data;
}

/* require(name): modules under "luxy." are built in (lua/luxy/); others
 * are read from the script's directory, and only while the file's top
 * level runs. */
static int lua_require(lua_State *L)
{
    struct vm *vm = vm_of(L);
    const char *name = luaL_checkstring(L, 1);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, name);
    if (lua_toboolean(L, -1))
        return 1;
    lua_pop(L, 1);
    if (!valid_module_name(name))
        return luaL_error(L, "invalid module name '%s'", name);
    char path[1024];
    snprintf(path, sizeof(path), "%s", name);
    for (char *p = path; *p; p++)
        if (*p == '.')
            *p = '/';
    char chunk[1700];
    int rc;
    if (strncmp(name, "luxy.", 5) == 0) {
        char ename[1100];
        snprintf(ename, sizeof(ename), "lua/%s.lua", path);
        const struct embedded_file *f = embedded_find(ename);
        if (f == NULL)
            return luaL_error(L, "module '%s' not found (no built-in %s)", name, ename);
        snprintf(chunk, sizeof(chunk), "@%s", ename);
        rc = luaL_loadbufferx(L, f->data, f->len, chunk, "t");
    } else {
        if (!vm->loading)
            return luaL_error(L, "require('%s'): modules can only be loaded while the configuration loads (call require at the top level)", name);
        char file[1600];
        snprintf(file, sizeof(file), "%s/%s.lua", vm->script_dir, path);
        size_t len;
        char *data = read_file(file, &len);
        if (data == NULL)
            return luaL_error(L, "module '%s' not found (looked for %s)", name, file);
        snprintf(chunk, sizeof(chunk), "@%s", file);
        rc = luaL_loadbufferx(L, data, len, chunk, "t");
        free(data);
    }
    if (rc != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name); /* loaded[name] = result */
    return 1;
}

/* ---- assembling it ---- */

/* os: only the clock and calendar. */
static void open_os_subset(lua_State *L)
{
    static const char *const keep[] = { "time", "clock", "date", "difftime", "getenv" };
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_newtable(L);
    for (size_t i = 0; i < countof(keep); i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setglobal(L, "os");
    lua_pop(L, 1);
}

/* global[name] = f with the old value as its upvalue */
static void replace_global(lua_State *L, const char *name, lua_CFunction f)
{
    lua_getglobal(L, name);
    lua_pushcclosure(L, f, 1);
    lua_setglobal(L, name);
}

void lib_open(lua_State *L)
{
    static const luaL_Reg libs[] = {
        { LUA_GNAME, luaopen_base },         { LUA_STRLIBNAME, luaopen_string },
        { LUA_TABLIBNAME, luaopen_table },   { LUA_MATHLIBNAME, luaopen_math },
        { LUA_UTF8LIBNAME, luaopen_utf8 },
    };
    for (size_t i = 0; i < countof(libs); i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    open_os_subset(L);
    wrap_charged(L);
    lib_match_open(L);
    lua_getglobal(L, LUA_STRLIBNAME); /* stack: [string] */
    lua_pushcfunction(L, str_rep);
    lua_setfield(L, -2, "rep");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");      /* no binary chunks either way */
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    replace_global(L, "load", safe_load);
    replace_global(L, "setmetatable", safe_setmetatable);
    replace_global(L, "collectgarbage", safe_collectgarbage);
    lua_register(L, "print", lua_print);
    lua_register(L, "require", lua_require);
}
