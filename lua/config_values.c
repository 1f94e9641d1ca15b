/* config_values.c (lua/) - the pieces every directive is written with:
 * where the directive was called, strict option tables (an unknown key is
 * an error naming the known ones), and readers for durations, sizes,
 * integers, booleans, strings, lists and networks that raise with the
 * user's file:line on a bad value. */
#include "config_dsl.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/headers.h"
#include "../core/luxy.h"
#include "config.h"
#include "vm.h"

/* The line of the file that called the directive running now. */
int caller_line(lua_State *L)
{
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
        return ar.currentline;
    return 0;
}

/* ---- values ---- */

int config_parse_duration(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return -1;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        *out = v;
    else if (strcmp(end, "ms") == 0)
        *out = v / 1000;
    else if (strcmp(end, "m") == 0)
        *out = v * 60;
    else if (strcmp(end, "h") == 0)
        *out = v * 3600;
    else
        return -1;
    return 0;
}

int config_parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return -1;
    static const struct { const char *unit; double mult; } units[] = {
        { "", 1 },          { "B", 1 },          { "K", 1024 },       { "KB", 1024 },
        { "M", 1048576 },   { "MB", 1048576 },   { "G", 1073741824 }, { "GB", 1073741824 },
    };
    for (size_t i = 0; i < countof(units); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double bytes = v * units[i].mult;
            if (bytes > 1e18)
                return -1;
            *out = (unsigned long long)bytes;
            return 0;
        }
    }
    return -1;
}


/* ---- reading option tables ---- */

struct config *building(lua_State *L)
{
    return vm_of(L)->building;
}

/* A directive that raised leaves directive_running set: its error may have
 * been caught by a pcall in the file, but a configuration that lost a
 * directive half-way must not load. */
void directive_begin(lua_State *L)
{
    struct vm *vm = vm_of(L);
    if (vm->directive_running)
        luaL_error(L, "a configuration directive failed earlier (configuration errors cannot be caught with pcall)");
    vm->directive_running = true;
}

void directive_end(lua_State *L)
{
    vm_of(L)->directive_running = false;
}

/* Every string key of table t must be one of names (NULL-terminated). */
void check_keys(lua_State *L, int t, const char *what, const char *const *names,
                       bool positional)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TNUMBER && positional)
            continue;
        if (lua_type(L, -1) != LUA_TSTRING) {
            luaL_error(L, "%s: unexpected %s key", what, luaL_typename(L, -1));
            return;
        }
        const char *k = lua_tostring(L, -1);
        bool known = false;
        for (const char *const *n = names; *n && !known; n++)
            known = strcmp(*n, k) == 0;
        if (!known) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *const *n = names; *n; n++) {
                if (n != names)
                    luaL_addstring(&b, ", ");
                luaL_addstring(&b, *n);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown option '%s' (known: %s)", what, k, lua_tostring(L, -1));
            return;
        }
    }
}

/* stack: [...] -> [...]; the field's value is checked and converted. */
bool opt_field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    return true; /* value on top; the caller pops */
}

#define DURATION_MAX 1e7 /* about 115 days: beyond it a duration is a mistake */

double opt_duration(lua_State *L, int t, const char *what, const char *k, double dflt)
{
    if (!opt_field(L, t, k))
        return dflt;
    double v = -1;
    if (lua_type(L, -1) == LUA_TNUMBER)
        v = lua_tonumber(L, -1);
    else if (lua_type(L, -1) == LUA_TSTRING && config_parse_duration(lua_tostring(L, -1), &v) == -1)
        v = -1;
    if (!(v >= 0 && v <= DURATION_MAX)) /* also false for NaN */
        luaL_error(L, "%s: %s must be a duration from 0 to 1e7 seconds, such as 10, \"10s\" or \"250ms\"",
                   what, k);
    lua_pop(L, 1);
    return v;
}

unsigned long long opt_size(lua_State *L, int t, const char *what, const char *k,
                                   unsigned long long dflt, bool allow_false)
{
    if (!opt_field(L, t, k))
        return dflt;
    unsigned long long v = 0;
    if (allow_false && lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
        v = 0;
    } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0) {
        v = (unsigned long long)lua_tointeger(L, -1);
    } else if (lua_type(L, -1) != LUA_TSTRING || config_parse_size(lua_tostring(L, -1), &v)) {
        luaL_error(L, "%s: %s must be a size such as 4096, \"32KB\" or \"1MB\"%s", what, k,
                   allow_false ? " (or false: no limit)" : "");
    }
    lua_pop(L, 1);
    return v;
}

long long opt_int(lua_State *L, int t, const char *what, const char *k, long long dflt,
                         long long lo, long long hi)
{
    if (!opt_field(L, t, k))
        return dflt;
    if (!lua_isinteger(L, -1))
        luaL_error(L, "%s: %s must be an integer", what, k);
    long long v = lua_tointeger(L, -1);
    if (v < lo || v > hi)
        luaL_error(L, "%s: %s must be between %I and %I", what, k, (lua_Integer)lo, (lua_Integer)hi);
    lua_pop(L, 1);
    return v;
}

bool opt_bool(lua_State *L, int t, const char *what, const char *k, bool dflt)
{
    if (!opt_field(L, t, k))
        return dflt;
    if (!lua_isboolean(L, -1))
        luaL_error(L, "%s: %s must be true or false", what, k);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

char *opt_string(lua_State *L, int t, const char *what, const char *k, const char *dflt)
{
    if (!opt_field(L, t, k))
        return dflt ? xstrdup(dflt) : NULL;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: %s must be a string", what, k);
    char *v = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return v;
}

/* A list of networks (allow, purge): stack top is the value. */
struct cidr *parse_networks(lua_State *L, int idx, const char *what, const char *k, unsigned *count)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, 1);
        lua_replace(L, idx);
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: %s must be a list of networks such as { \"127.0.0.1\" }", what, k);
    unsigned n = (unsigned)lua_rawlen(L, idx);
    struct cidr *nets = xcalloc(n ? n : 1, sizeof(*nets));
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        const char *s = lua_tostring(L, -1);
        if (s == NULL || cidr_parse(s, &nets[i]) == -1) {
            free(nets);
            luaL_error(L, "%s: %s[%d] is not a network such as \"10.0.0.0/8\"", what, k, (int)i + 1);
        }
        lua_pop(L, 1);
    }
    *count = n;
    return nets;
}

/* A string option that false turns off: stack top is the value. */
char *string_or_false(lua_State *L, const char *what, const char *k, const char *dflt)
{
    if (!opt_field(L, 1, k))
        return dflt ? xstrdup(dflt) : NULL;
    char *v = NULL;
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
        v = NULL;
    else if (lua_type(L, -1) == LUA_TSTRING && headers_valid_name(slice_make(lua_tostring(L, -1), lua_rawlen(L, -1))))
        v = xstrdup(lua_tostring(L, -1));
    else
        luaL_error(L, "%s: %s must be a header name or false", what, k);
    lua_pop(L, 1);
    return v;
}


/* A list of strings at t[k] (a single string is a list of one); each is
 * checked with valid() when given. NULL and *count 0 when absent. */
char **opt_string_list(lua_State *L, int t, const char *what, const char *k, unsigned *count,
                       bool (*valid)(const char *s))
{
    *count = 0;
    if (!opt_field(L, t, k))
        return NULL;
    int idx = lua_gettop(L);
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, idx);
        lua_rawseti(L, -2, 1);
        lua_replace(L, idx);
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: %s must be a list of strings", what, k);
    unsigned n = (unsigned)lua_rawlen(L, idx);
    char **v = xcalloc(n ? n : 1, sizeof(*v));
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        const char *e = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (e == NULL || (valid && !valid(e))) {
            for (unsigned j = 0; j < i; j++)
                free(v[j]);
            free(v);
            luaL_error(L, "%s: %s[%d] is not valid", what, k, (int)i + 1);
        }
        v[i] = xstrdup(e);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *count = n;
    return v;
}
