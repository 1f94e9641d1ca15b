/* config_upstream.c (lua/) - upstream "name" { ... } and parent "name"
 * { ... }: a group of servers, how requests are balanced over them
 * (balance, hash, sticky), how their health is judged (health, outlier,
 * slow_start) and how failed attempts are retried (tries, retry). */
#include "config_dsl.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/headers.h"
#include "../core/lb.h"
#include "../core/luxy.h"

/* ---- upstream ---- */

static void parse_server(lua_State *L, int idx, struct upstream_config *u, const char *what)
{
    struct server_config *s = &u->servers[u->nservers++];
    memset(s, 0, sizeof(*s));
    s->weight = 1;
    const char *spec;
    if (lua_type(L, idx) == LUA_TSTRING) {
        spec = lua_tostring(L, idx);
    } else if (lua_istable(L, idx)) {
        static const char *const keys[] = { "weight", NULL };
        check_keys(L, idx, what, keys, true);
        lua_rawgeti(L, idx, 1);
        spec = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (spec == NULL)
            luaL_error(L, "%s: a server table starts with its address: { \"10.0.0.1:80\", weight = 2 }", what);
        s->weight = (unsigned)opt_int(L, idx, what, "weight", 1, 1, 1000);
    } else {
        luaL_error(L, "%s: servers are \"host:port\" or { \"host:port\", weight = N }", what);
        return;
    }
    s->spec = xstrdup(spec);
    char host[ADDR_HOSTLEN];
    const char *err;
    if (addr_split(spec, strlen(spec), host, &s->port, 0, &err) == -1)
        luaL_error(L, "%s: server '%s': %s", what, spec, err);
    s->host = xstrdup(host);
}

/* "user:password" -> "Basic dXNlcjpwYXNzd29yZA==" (RFC 7617). */
static char *basic_credentials(const char *userpass)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(userpass);
    char *out = xmalloc(6 + (n + 2) / 3 * 4 + 1), *w = out;
    memcpy(w, "Basic ", 6);
    w += 6;
    const unsigned char *p = (const unsigned char *)userpass;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *w++ = tab[v >> 18 & 63];
        *w++ = tab[v >> 12 & 63];
        *w++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *w = '\0';
    return out;
}

/* A number option within [lo, hi]. */
static double opt_number(lua_State *L, int t, const char *what, const char *k, double dflt, double lo, double hi)
{
    if (!opt_field(L, t, k))
        return dflt;
    int isnum;
    double v = lua_tonumberx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || v < lo || v > hi)
        luaL_error(L, "%s: %s must be a number from %g to %g", what, k, lo, hi);
    return v;
}

/* "2xx", "200", "200-399" -> the accepted statuses. */
static void parse_expect(lua_State *L, const char *what, const char *e, struct health_config *h)
{
    unsigned a, b;
    char x[3];
    if (strlen(e) == 3 && e[0] >= '1' && e[0] <= '5' && e[1] == 'x' && e[2] == 'x') {
        h->expect_lo = (unsigned)(e[0] - '0') * 100;
        h->expect_hi = h->expect_lo + 99;
    } else if (sscanf(e, "%3u-%3u%1s", &a, &b, x) == 2 && a >= 100 && b <= 599 && a <= b) {
        h->expect_lo = a;
        h->expect_hi = b;
    } else if (sscanf(e, "%3u%1s", &a, x) == 1 && a >= 100 && a <= 599) {
        h->expect_lo = h->expect_hi = a;
    } else {
        luaL_error(L, "%s: health.expect must be like \"2xx\", \"200\" or \"200-399\" (got '%s')", what, e);
    }
}

/* health = { path = "/healthz", interval = "2s", timeout = "1s", rise = 2, fall = 3, expect = "2xx", host = ... } */
static void parse_health(lua_State *L, struct upstream_config *u, const char *what)
{
    struct health_config *h = &u->health;
    h->interval = 2, h->timeout = 1, h->rise = 2, h->fall = 3, h->expect_lo = 200, h->expect_hi = 399;
    if (!opt_field(L, 1, "health"))
        return;
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: health must be a table: { path = \"/healthz\", interval = \"2s\" }", what);
    int t = lua_gettop(L);
    char hw[200];
    snprintf(hw, sizeof(hw), "%s health", what);
    static const char *const keys[] = { "path", "interval", "timeout", "rise", "fall", "expect", "host", NULL };
    check_keys(L, t, hw, keys, false);
    h->path = opt_string(L, t, hw, "path", "/");
    if (h->path[0] != '/' || strlen(h->path) > 512 || strpbrk(h->path, " \r\n\t") != NULL)
        luaL_error(L, "%s: path must start with / (no spaces, at most 512 bytes)", hw);
    h->interval = opt_duration(L, t, hw, "interval", 2);
    h->timeout = opt_duration(L, t, hw, "timeout", 1);
    if (h->interval < 0.01 || h->timeout < 0.01)
        luaL_error(L, "%s: interval and timeout must be at least 10ms", hw);
    h->rise = (unsigned)opt_int(L, t, hw, "rise", 2, 1, 100);
    h->fall = (unsigned)opt_int(L, t, hw, "fall", 3, 1, 100);
    char *expect = opt_string(L, t, hw, "expect", "2xx");
    parse_expect(L, hw, expect, h);
    free(expect);
    h->host = opt_string(L, t, hw, "host", NULL);
    if (h->host && (strlen(h->host) > 255 || !headers_valid_value(slice_make(h->host, strlen(h->host)))))
        luaL_error(L, "%s: host is not a valid Host value", hw);
    lua_pop(L, 1);
}

/* outlier = { consecutive = 5, error_rate = 0.5, min_requests = 20, eject = "10s", max_eject = "5m",
 *             max_share = 0.5 } or false */
static void parse_outlier(lua_State *L, struct upstream_config *u, const char *what)
{
    struct outlier_config *o = &u->outlier;
    o->consecutive = 5, o->error_rate = 0, o->min_requests = 20, o->eject = 10, o->max_eject = 300,
    o->max_share = 0.5;
    if (!opt_field(L, 1, "outlier"))
        return;
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
        o->consecutive = 0;
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: outlier must be a table or false", what);
    int t = lua_gettop(L);
    char ow[200];
    snprintf(ow, sizeof(ow), "%s outlier", what);
    static const char *const keys[] = { "consecutive", "error_rate", "min_requests", "eject", "max_eject",
                                        "max_share", NULL };
    check_keys(L, t, ow, keys, false);
    o->consecutive = (unsigned)opt_int(L, t, ow, "consecutive", 5, 0, 10000);
    o->error_rate = opt_number(L, t, ow, "error_rate", 0, 0, 1);
    o->min_requests = (unsigned)opt_int(L, t, ow, "min_requests", 20, 1, 1000000);
    o->eject = opt_duration(L, t, ow, "eject", 10);
    o->max_eject = opt_duration(L, t, ow, "max_eject", 300);
    o->max_share = opt_number(L, t, ow, "max_share", 0.5, 0, 1);
    if (o->eject <= 0 || o->max_eject < o->eject)
        luaL_error(L, "%s: eject must be positive and max_eject at least eject", ow);
    lua_pop(L, 1);
}

/* retry = { budget = 0.2, min_per_second = 10, timeout = "10s" } */
static void parse_retry(lua_State *L, struct upstream_config *u, const char *what)
{
    struct retry_config *r = &u->retry;
    r->budget = 0.2, r->min_per_second = 10, r->timeout = 0;
    if (!opt_field(L, 1, "retry"))
        return;
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: retry must be a table: { budget = 0.2, min_per_second = 10, timeout = \"10s\" }", what);
    int t = lua_gettop(L);
    char rw[200];
    snprintf(rw, sizeof(rw), "%s retry", what);
    static const char *const keys[] = { "budget", "min_per_second", "timeout", NULL };
    check_keys(L, t, rw, keys, false);
    r->budget = opt_number(L, t, rw, "budget", 0.2, 0, 100);
    r->min_per_second = (unsigned)opt_int(L, t, rw, "min_per_second", 10, 0, 1000000);
    r->timeout = opt_duration(L, t, rw, "timeout", 0);
    lua_pop(L, 1);
}

/* upstream "name" { ... } and parent "name" { ... } (upvalue 2 true): a
 * group of servers; a parent group's servers are HTTP proxies that
 * forward requests get sent through. */
static int dsl_group_body(lua_State *L)
{
    struct config *c = building(L);
    if (c == NULL)
        return 0;
    directive_begin(L);
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    bool parent = lua_toboolean(L, lua_upvalueindex(2));
    char what[160];
    snprintf(what, sizeof(what), "%s %s", parent ? "parent" : "upstream", name);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "balance", "tries", "resolve_every", "keepalive", "health", "outlier",
                                        "retry", "slow_start", "hash", "hash_balance", "sticky", "hedge", NULL };
    static const char *const parent_keys[] = { "balance", "tries", "resolve_every", "keepalive", "auth",
                                               "health", "outlier", "retry", "slow_start", NULL };
    check_keys(L, 1, what, parent ? parent_keys : keys, true);
    for (unsigned i = 0; i < c->nupstreams; i++)
        if (strcmp(c->upstreams[i].name, name) == 0)
            return luaL_error(L, "%s: the name is taken by %s %s (line %d)", what,
                              c->upstreams[i].parent ? "parent" : "upstream", name, c->upstreams[i].line);
    unsigned n = (unsigned)lua_rawlen(L, 1);
    if (n == 0)
        return luaL_error(L, "%s: no servers", what);
    if (n > LB_MAX_SERVERS)
        return luaL_error(L, "%s: at most %d servers", what, LB_MAX_SERVERS);
    c->upstreams = xrealloc(c->upstreams, (c->nupstreams + 1) * sizeof(*c->upstreams));
    struct upstream_config *u = &c->upstreams[c->nupstreams++];
    memset(u, 0, sizeof(*u));
    u->name = xstrdup(name);
    u->line = caller_line(L);
    u->parent = parent;
    u->servers = xcalloc(n, sizeof(*u->servers));
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        parse_server(L, lua_gettop(L), u, what);
        lua_pop(L, 1);
    }
    /* a parent group fails over in order; an upstream spreads the load */
    u->balance = opt_string(L, 1, what, "balance", parent ? "first" : "wrr");
    if (lb_find(u->balance) == NULL)
        return luaL_error(L, "%s: unknown balance '%s' (known: %s)", what, u->balance, lb_names());
    u->tries = (unsigned)opt_int(L, 1, what, "tries", 0, 0, LB_MAX_SERVERS);
    u->resolve_every = opt_duration(L, 1, what, "resolve_every", 30);
    u->keepalive = (unsigned)opt_int(L, 1, what, "keepalive", 32, 0, 100000);
    parse_health(L, u, what);
    parse_outlier(L, u, what);
    parse_retry(L, u, what);
    u->slow_start = opt_duration(L, 1, what, "slow_start", 0);
    u->hedge = opt_duration(L, 1, what, "hedge", 0);
    u->hash = opt_string(L, 1, what, "hash", NULL);
    if (u->hash && strcmp(u->hash, "uri") != 0 && strcmp(u->hash, "path") != 0 && strcmp(u->hash, "ip") != 0 &&
        strncmp(u->hash, "header:", 7) != 0 && strncmp(u->hash, "cookie:", 7) != 0)
        return luaL_error(L, "%s: hash must be \"uri\", \"path\", \"ip\", \"header:Name\" or \"cookie:name\"", what);
    if (u->hash && (strncmp(u->hash, "header:", 7) == 0 || strncmp(u->hash, "cookie:", 7) == 0) &&
        !headers_valid_name(slice_make(u->hash + 7, strlen(u->hash + 7))))
        return luaL_error(L, "%s: hash '%s': not a valid name after the colon", what, u->hash);
    u->hash_balance = opt_number(L, 1, what, "hash_balance", 1.25, 1, 100);
    u->sticky = opt_string(L, 1, what, "sticky", NULL);
    if (u->sticky && !headers_valid_name(slice_make(u->sticky, strlen(u->sticky))))
        return luaL_error(L, "%s: sticky must be a cookie name", what);
    if (parent && opt_field(L, 1, "auth")) {
        const char *cred = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || strchr(cred, ':') == NULL || cred[0] == ':' ||
            !headers_valid_value(slice_make(cred, strlen(cred))))
            return luaL_error(L, "%s: auth must be \"user:password\" (sent as Proxy-Authorization: Basic)", what);
        u->proxy_authorization = basic_credentials(cred);
        lua_pop(L, 1);
    }
    directive_end(L);
    return 0;
}

/* upstream "name" { ... }: the name call returns the function that takes
 * the table. */
static int group(lua_State *L, bool parent)
{
    const char *name = luaL_checkstring(L, 1);
    if (!headers_valid_name(slice_make(name, strlen(name))))
        return luaL_error(L, "%s: invalid name '%s' (letters, digits, - and _)", parent ? "parent" : "upstream",
                          name);
    lua_pushvalue(L, 1);
    lua_pushboolean(L, parent);
    lua_pushcclosure(L, dsl_group_body, 2);
    return 1;
}

int dsl_upstream(lua_State *L)
{
    return group(L, false);
}

int dsl_parent(lua_State *L)
{
    return group(L, true);
}

