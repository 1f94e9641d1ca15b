/* api_shared.c - luxy.shared(name): handles on the process's shared
 * dictionaries (core/shdict.c), the same dictionary in every worker.
 *
 * A handle boxes a pointer to a dictionary that lives as long as the
 * process (core/shdict_registry.c), so it needs no finalizer and may be
 * kept anywhere; luxy.shared returns the same handle for a name every time.
 * Operations are for hooks: the file's top level runs once per worker and
 * again for every check, and while it runs in the main thread's loading
 * states the dictionaries do not exist yet, so there every operation
 * raises the same clear error (taking a handle is fine everywhere).
 *
 * Every method checks its arguments (misuse raises, so the hook fails with
 * its file:line), charges the budget for the bytes it copies or compares
 * before doing so (a value read out is charged before it is pushed), and
 * answers the outcomes a script must handle with false or nil and a short
 * word: "exists", "not found", "not a number", "too big". */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/config.h"
#include "../core/luxy.h"
#include "../core/shdict.h"
#include "../core/shdict_registry.h"
#include "api.h"
#include "budget.h"
#include "vm.h"

#define SHARED_CLASS "luxy.shared"
/* What a call costs beyond the bytes it moves (the lock, a hash, a lookup,
 * the binding): about 100 ns, as long as this many VM instructions. */
#define CALL_UNITS 16
/* A worker keeps the buffer values are copied out through, unless a big
 * value grew it past this: then it is let go after use. */
#define BUF_KEEP (64u << 10)

_Static_assert(sizeof(lua_Integer) == sizeof(int64_t), "shdict integers are Lua integers");

/* Expiry's clock: monotonic (the same in every worker), or the lab's
 * virtual clock (luxy test, luxy simulate), so a TTL lapses when a case's
 * time says so. */
static double shared_now(void)
{
    return clock_virtual > 0 ? clock_virtual : luxy_monotonic();
}

struct shared_box {
    struct shdict *d;   /* NULL until the dictionaries exist (loading states) */
    char name[SHDICT_NAME_MAX + 1];
};

static const char handles_key = 0; /* registry[&handles_key]: name -> handle, one per name */

/* ---- arguments ---- */

static struct shdict *check_dict(lua_State *L)
{
    struct shared_box *box = luaL_checkudata(L, 1, SHARED_CLASS);
    if (vm_of(L)->loading)
        return luaL_error(L, "luxy.shared('%s'): dictionary operations belong in hooks, not at the file's top "
                          "level (it runs once per worker and for every check, before the dictionaries exist)",
                          box->name), NULL;
    if (box->d == NULL)
        box->d = shdict_registry_find(box->name);
    if (box->d == NULL)
        return luaL_error(L, "luxy.shared('%s'): the dictionary does not exist in this Lua state", box->name), NULL;
    return box->d;
}

static struct slice check_key(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        luaL_argerror(L, idx, lua_pushfstring(L, "key must be a string, not %s", luaL_typename(L, idx)));
    size_t len;
    const char *k = lua_tolstring(L, idx, &len);
    luaL_argcheck(L, len >= 1 && len <= SHDICT_KEY_MAX, idx, "key must be 1 to 65535 bytes");
    return slice_make(k, len);
}

/* A string, number or boolean; nil only where nil_ok. */
static void check_value(lua_State *L, int idx, struct shdict_value *v, bool nil_ok)
{
    switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL:
        if (!nil_ok)
            luaL_argerror(L, idx, "value expected (a string, number or boolean)");
        v->type = SHDICT_NIL;
        break;
    case LUA_TBOOLEAN:
        v->type = SHDICT_BOOL;
        v->u.b = lua_toboolean(L, idx);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v->type = SHDICT_INT;
            v->u.i = lua_tointeger(L, idx);
        } else {
            v->type = SHDICT_FLOAT;
            v->u.f = lua_tonumber(L, idx);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        v->type = SHDICT_STRING;
        v->u.s = slice_make(s, len);
        break;
    }
    default:
        luaL_argerror(L, idx, lua_pushfstring(L, "a shared value is a string, number or boolean, not %s",
                                              luaL_typename(L, idx)));
    }
}

static void check_number(lua_State *L, int idx, struct shdict_value *v)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, idx, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, idx)));
    check_value(L, idx, v, false);
}

/* Seconds; nil or 0: no expiry. */
static double check_ttl(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    if (lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, idx, lua_pushfstring(L, "ttl must be a number of seconds, not %s", luaL_typename(L, idx)));
    double t = lua_tonumber(L, idx);
    luaL_argcheck(L, t >= 0 && isfinite(t), idx, "ttl must be a finite number of seconds, 0 or more (0: no expiry)");
    return t;
}

static size_t value_bytes(const struct shdict_value *v)
{
    return v->type == SHDICT_STRING ? v->u.s.len : 0;
}

/* The operation's cost, before it runs: its own work and the bytes it
 * copies or compares. */
static void charge(lua_State *L, size_t bytes)
{
    budget_charge(L, CALL_UNITS + (long)(bytes / BUDGET_SCAN_PER_UNIT));
}

/* stack: [...] -> [..., value]; a string was copied out of the dictionary
 * and is charged before Lua copies it again. */
static void push_value(lua_State *L, const struct shdict_value *v)
{
    switch (v->type) {
    case SHDICT_BOOL:
        lua_pushboolean(L, v->u.b);
        break;
    case SHDICT_INT:
        lua_pushinteger(L, (lua_Integer)v->u.i);
        break;
    case SHDICT_FLOAT:
        lua_pushnumber(L, v->u.f);
        break;
    case SHDICT_STRING:
        budget_charge(L, (long)(v->u.s.len / BUDGET_SCAN_PER_UNIT));
        lua_pushlstring(L, v->u.s.ptr, v->u.s.len);
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

static void release_big_buf(lua_State *L)
{
    struct shdict_buf *buf = &vm_of(L)->shared_buf;
    if (buf->cap > BUF_KEEP)
        shdict_buf_free(buf);
}

/* stack: [...] -> [..., first, word]: a refusal the script handles. */
static int refuse(lua_State *L, bool as_false, int status)
{
    if (as_false)
        lua_pushboolean(L, 0);
    else
        lua_pushnil(L);
    lua_pushstring(L, shdict_strerror(status));
    return 2;
}

/* true, or nil, "too big" (a write that did not happen), or false and the
 * word for a condition that said no. */
static int write_result(lua_State *L, int status)
{
    if (status == SHDICT_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return refuse(L, status != SHDICT_TOO_BIG, status);
}

/* ---- methods ---- */

/* d:get(key) -> value or nil */
static int d_get(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    charge(L, key.len);
    struct shdict_value v;
    shdict_get(d, key, shared_now(), &v, &vm_of(L)->shared_buf);
    push_value(L, &v);
    release_big_buf(L);
    return 1;
}

/* d:set(key, value [, ttl]) -> true (nil value: delete), or nil, "too big" */
static int d_set(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    struct shdict_value v;
    check_value(L, 3, &v, true);
    double ttl = check_ttl(L, 4);
    charge(L, key.len + value_bytes(&v));
    return write_result(L, shdict_set(d, key, &v, ttl, shared_now()));
}

/* d:add(key, value [, ttl]) -> true, or false, "exists" */
static int d_add(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    struct shdict_value v;
    check_value(L, 3, &v, false);
    double ttl = check_ttl(L, 4);
    charge(L, key.len + value_bytes(&v));
    return write_result(L, shdict_add(d, key, &v, ttl, shared_now()));
}

/* d:replace(key, value [, ttl]) -> true, or false, "not found" */
static int d_replace(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    struct shdict_value v;
    check_value(L, 3, &v, false);
    double ttl = check_ttl(L, 4);
    charge(L, key.len + value_bytes(&v));
    return write_result(L, shdict_replace(d, key, &v, ttl, shared_now()));
}

/* d:incr(key, delta [, init [, init_ttl]]) -> the new value, or nil and
 * "not found" / "not a number" / "too big" */
static int d_incr(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    struct shdict_value delta, init;
    check_number(L, 3, &delta);
    bool has_init = !lua_isnoneornil(L, 4);
    if (has_init)
        check_number(L, 4, &init);
    double init_ttl = check_ttl(L, 5);
    charge(L, key.len);
    struct shdict_value out;
    int rc = shdict_incr(d, key, &delta, has_init ? &init : NULL, init_ttl, shared_now(), &out);
    if (rc != SHDICT_OK)
        return refuse(L, false, rc);
    push_value(L, &out);
    return 1;
}

/* d:cas(key, old, new [, ttl]) -> true; or false and the value found (nil:
 * absent); or nil, "too big". old nil: only if absent; new nil: delete. */
static int d_cas(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    struct shdict_value old, v;
    check_value(L, 3, &old, true);
    check_value(L, 4, &v, true);
    double ttl = check_ttl(L, 5);
    charge(L, key.len + value_bytes(&old) + value_bytes(&v));
    struct shdict_value cur;
    int rc = shdict_cas(d, key, &old, &v, ttl, shared_now(), &cur, &vm_of(L)->shared_buf);
    if (rc == SHDICT_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (rc != SHDICT_MISMATCH)
        return refuse(L, false, rc);
    lua_pushboolean(L, 0);
    push_value(L, &cur);
    release_big_buf(L);
    return 2;
}

/* d:delete(key) -> true if it was there, else false */
static int d_delete(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    charge(L, key.len);
    lua_pushboolean(L, shdict_delete(d, key, shared_now()) == SHDICT_OK);
    return 1;
}

/* d:ttl(key) -> seconds left (0: no expiry), or nil if absent */
static int d_ttl(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    charge(L, key.len);
    double left;
    if (shdict_ttl(d, key, shared_now(), &left) != SHDICT_OK)
        lua_pushnil(L);
    else if (left == 0)
        lua_pushinteger(L, 0); /* no expiry */
    else
        lua_pushnumber(L, left);
    return 1;
}

/* d:expire(key, ttl) -> true, or false, "not found"; ttl 0: no expiry */
static int d_expire(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct slice key = check_key(L, 2);
    luaL_checkany(L, 3);
    double ttl = check_ttl(L, 3);
    charge(L, key.len);
    return write_result(L, shdict_expire(d, key, ttl, shared_now()));
}

/* d:flush_all() -> the number of entries removed. Freeing them is charged
 * after the fact: a unit each (they were charged when written). */
static int d_flush_all(lua_State *L)
{
    struct shdict *d = check_dict(L);
    charge(L, 0);
    size_t n = shdict_flush_all(d);
    budget_charge(L, (long)min(n, (size_t)0x3fffffffffffffff));
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int d_count(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct shdict_stats st;
    shdict_stats(d, &st);
    lua_pushinteger(L, (lua_Integer)st.count);
    return 1;
}

static int d_free_space(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct shdict_stats st;
    shdict_stats(d, &st);
    lua_pushinteger(L, (lua_Integer)(st.capacity - st.used));
    return 1;
}

static int d_capacity(lua_State *L)
{
    struct shdict *d = check_dict(L);
    struct shdict_stats st;
    shdict_stats(d, &st);
    lua_pushinteger(L, (lua_Integer)st.capacity);
    return 1;
}

static int d_tostring(lua_State *L)
{
    struct shared_box *box = luaL_checkudata(L, 1, SHARED_CLASS);
    lua_pushfstring(L, SHARED_CLASS " (%s)", box->name);
    return 1;
}

/* ---- luxy.shared ---- */

/* luxy.shared(name) -> the handle of a declared dictionary. Where the
 * configuration is still being read (the loader), "declared" means by a
 * shared directive above this line. */
static int l_shared(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &handles_key); /* stack: [name, handles] */
    lua_pushvalue(L, 1);
    if (lua_rawget(L, -2) != LUA_TNIL)               /* [name, handles, handle] */
        return 1;
    lua_pop(L, 1);
    struct vm *vm = vm_of(L);
    const struct config *c = vm->building ? vm->building : vm->cfg;
    struct shdict *d = shdict_registry_find(name);
    if (c ? config_shared(c, name) == NULL : d == NULL)
        return luaL_error(L, "luxy.shared: no shared dictionary '%s' (declare it before using it: "
                          "shared \"%s\" { size = \"1MB\" })", name, name);
    struct shared_box *box = lua_newuserdatauv(L, sizeof(*box), 0);
    box->d = d;
    snprintf(box->name, sizeof(box->name), "%s", name);
    luaL_setmetatable(L, SHARED_CLASS);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);                            /* [name, handles, handle, name, handle] */
    lua_rawset(L, -4);
    return 1;
}

static const luaL_Reg methods[] = {
    { "get", d_get },       { "set", d_set },           { "add", d_add },
    { "replace", d_replace }, { "incr", d_incr },       { "cas", d_cas },
    { "delete", d_delete }, { "ttl", d_ttl },           { "expire", d_expire },
    { "flush_all", d_flush_all }, { "count", d_count }, { "free_space", d_free_space },
    { "capacity", d_capacity }, { NULL, NULL },
};

void api_shared_open(lua_State *L)
{
    luaL_newmetatable(L, SHARED_CLASS); /* stack: [luxy, mt] */
    lua_pushliteral(L, SHARED_CLASS);   /* getmetatable() sees this, not the table */
    lua_setfield(L, -2, "__metatable");
    luaL_newlib(L, methods);            /* [luxy, mt, methods] */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, d_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);                      /* no __gc: a handle owns nothing */
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &handles_key);
    lua_pushcfunction(L, l_shared);
    lua_setfield(L, -2, "shared");
}
