/* lib_match.c - string.find, string.match, string.gmatch and string.gsub
 * for scripts, on lua/pattern.c: the same arguments, results and error
 * messages as Lua 5.4's own, but every step of a search is charged to the
 * call's budget (budget.h), so no pattern can hold a worker past it. */
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "budget.h"
#include "lib.h"
#include "pattern.h"

/* Lua's posrelatI: a start position, 1-based, clipped to [1, len + 1]. */
static size_t start_pos(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static void start(lua_State *L, struct pat_state *m, const char *s, size_t ls, const char *p,
                  size_t lp)
{
    pat_init(m, s, ls, p, lp, budget_left(L));
}

/* Raises the matcher's error, if any. */
static void check(lua_State *L, struct pat_state *m)
{
    if (m->error == NULL)
        return;
    if (m->error == pat_out_of_steps)
        budget_exhausted(L);
    luaL_error(L, "%s", m->error);
}

/* The search is over: what it spent comes off the budget. */
static void settle(lua_State *L, struct pat_state *m)
{
    check(L, m);
    budget_settle(L, m->steps);
}

/* stack: [...] -> [..., capture i] */
static void push_capture(lua_State *L, struct pat_state *m, int i, const char *s, const char *e)
{
    const char *cap;
    ptrdiff_t len = pat_capture(m, i, s, e, &cap);
    check(L, m);
    if (len == PAT_POSITION)
        lua_pushinteger(L, (cap - m->src_init) + 1);
    else
        lua_pushlstring(L, cap, (size_t)len);
}

/* stack: [...] -> [..., captures...]; whole: the match itself when the
 * pattern has no captures. Returns how many. */
static int push_captures(lua_State *L, struct pat_state *m, const char *s, const char *e,
                         bool whole)
{
    int n = pat_ncaptures(m, whole);
    luaL_checkstack(L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_capture(L, m, i, s, e);
    return n;
}

static const char *plain_find(const char *s, size_t ls, const char *p, size_t lp)
{
    if (lp == 0)
        return s;
    if (lp > ls)
        return NULL;
    return memmem(s, ls, p, lp);
}

static int find_aux(lua_State *L, bool find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        lua_pushnil(L);
        return 1;
    }
    budget_charge(L, (long)(lp / BUDGET_SCAN_PER_UNIT));
    if (find && (lua_toboolean(L, 4) || pat_nospecials(p, lp))) {
        budget_charge(L, (long)((ls - init) / BUDGET_SCAN_PER_UNIT) + 1);
        const char *found = plain_find(s + init, ls - init, p, lp);
        if (found == NULL) {
            lua_pushnil(L);
            return 1;
        }
        lua_pushinteger(L, (found - s) + 1);
        lua_pushinteger(L, (found - s) + (lua_Integer)lp);
        return 2;
    }
    bool anchor = lp > 0 && *p == '^';
    if (anchor)
        p++, lp--;
    struct pat_state m;
    start(L, &m, s, ls, p, lp);
    const char *s1 = s + init;
    do {
        const char *e = pat_match(&m, s1, p);
        if (e != NULL) {
            settle(L, &m);
            if (!find)
                return push_captures(L, &m, s1, e, true);
            lua_pushinteger(L, (s1 - s) + 1);
            lua_pushinteger(L, e - s);
            return push_captures(L, &m, NULL, NULL, false) + 2;
        }
        check(L, &m);
    } while (s1++ < m.src_end && !anchor);
    settle(L, &m);
    lua_pushnil(L);
    return 1;
}

static int str_find(lua_State *L)
{
    return find_aux(L, true);
}

static int str_match(lua_State *L)
{
    return find_aux(L, false);
}

/* ---- gmatch ---- */

struct gmatch_state {
    const char *src;       /* where the next search starts */
    const char *p;
    size_t lp;
    const char *lastmatch; /* end of the last match: an empty match there is skipped */
    struct pat_state m;
};

static int gmatch_next(lua_State *L)
{
    struct gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
    g->m.steps = budget_left(L);
    for (const char *src = g->src; src <= g->m.src_end; src++) {
        const char *e = pat_match(&g->m, src, g->p);
        check(L, &g->m);
        if (e != NULL && e != g->lastmatch) {
            g->src = g->lastmatch = e;
            settle(L, &g->m);
            return push_captures(L, &g->m, src, e, true);
        }
    }
    g->src = g->m.src_end + 1; /* done: later calls find nothing at once */
    settle(L, &g->m);
    return 0;
}

static int str_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2); /* the closure keeps both strings alive */
    struct gmatch_state *g = lua_newuserdatauv(L, sizeof(*g), 0);
    if (init > ls)
        init = ls + 1;
    pat_init(&g->m, s, ls, p, lp, 0);
    g->src = s + init;
    g->p = p;
    g->lp = lp;
    g->lastmatch = NULL;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* ---- gsub ---- */

/* The replacement string at index 3 with %0-%9 and %% expanded. */
static void add_string(lua_State *L, struct pat_state *m, luaL_Buffer *b, const char *s,
                       const char *e)
{
    size_t l;
    const char *news = lua_tolstring(L, 3, &l);
    budget_charge(L, (long)(l / BUDGET_SCAN_PER_UNIT));
    const char *p;
    while ((p = memchr(news, '%', l)) != NULL) {
        luaL_addlstring(b, news, (size_t)(p - news));
        p++; /* the character after '%' (the string's NUL at its end) */
        if (*p == '%') {
            luaL_addchar(b, *p);
        } else if (*p == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (*p >= '1' && *p <= '9') {
            const char *cap;
            ptrdiff_t len = pat_capture(m, *p - '1', s, e, &cap);
            check(L, m);
            if (len == PAT_POSITION) {
                lua_pushinteger(L, (cap - m->src_init) + 1);
                luaL_addvalue(b);
            } else {
                luaL_addlstring(b, cap, (size_t)len);
            }
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        l -= (size_t)(p + 1 - news);
        news = p + 1;
    }
    luaL_addlstring(b, news, l);
}

/* Adds the replacement for the match s..e; returns whether it changed
 * anything. */
static bool add_value(lua_State *L, struct pat_state *m, luaL_Buffer *b, const char *s,
                      const char *e, int tr)
{
    switch (tr) {
    case LUA_TFUNCTION: {
        lua_pushvalue(L, 3);
        int n = push_captures(L, m, s, e, true);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        push_capture(L, m, 0, s, e);
        lua_gettable(L, 3);
        break;
    default: /* a string or a number */
        add_string(L, m, b, s, e);
        return true;
    }
    if (!lua_toboolean(L, -1)) { /* nil or false: keep the original */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return false;
    }
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return true;
}

static int str_gsub(lua_State *L)
{
    size_t srcl, lp;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *lastmatch = NULL;
    int tr = lua_type(L, 3);
    lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                     3, "string/function/table");
    bool anchor = lp > 0 && *p == '^';
    lua_Integer n = 0;
    bool changed = false;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (anchor)
        p++, lp--;
    struct pat_state m;
    start(L, &m, src, srcl, p, lp);
    while (n < max_s) {
        const char *e = pat_match(&m, src, p);
        check(L, &m);
        if (e != NULL && e != lastmatch) {
            n++;
            /* the replacement may run Lua code: its cost is the budget's */
            budget_settle(L, m.steps);
            changed = add_value(L, &m, &b, src, e, tr) || changed;
            m.steps = budget_left(L);
            src = lastmatch = e;
        } else if (src < m.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    settle(L, &m);
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(m.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void lib_match_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        { "find", str_find },   { "match", str_match }, { "gmatch", str_gmatch },
        { "gsub", str_gsub },   { NULL, NULL },
    };
    lua_getglobal(L, LUA_STRLIBNAME); /* stack: [string] */
    luaL_setfuncs(L, funcs, 0);
    lua_pop(L, 1);
}
