/* config.c (lua/) - the configuration language, in C.
 * Each directive checks its table strictly (an unknown option is an error
 * naming the options it knows: typos fail at load, not in production) and
 * raises with luaL_error, so messages carry the user's file:line. */
#include "config.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/headers.h"
#include "../core/lb.h"
#include "../core/log.h"
#include "../core/luxy.h"
#include "../core/shdict.h"
#include "hooks.h"
#include "vm.h"

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

/* The line of the file that called the directive running now. */
static int caller_line(lua_State *L)
{
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
        return ar.currentline;
    return 0;
}

/* ---- reading option tables ---- */

static struct config *building(lua_State *L)
{
    return vm_of(L)->building;
}

/* A directive that raised leaves directive_running set: its error may have
 * been caught by a pcall in the file, but a configuration that lost a
 * directive half-way must not load. */
static void directive_begin(lua_State *L)
{
    struct vm *vm = vm_of(L);
    if (vm->directive_running)
        luaL_error(L, "a configuration directive failed earlier (configuration errors cannot be caught with pcall)");
    vm->directive_running = true;
}

static void directive_end(lua_State *L)
{
    vm_of(L)->directive_running = false;
}

/* Runs the directive in upvalue 1 between directive_begin and _end. */
static int directive(lua_State *L)
{
    if (building(L) == NULL)
        return 0; /* a worker's state: the configuration is built already */
    lua_CFunction f = lua_tocfunction(L, lua_upvalueindex(1));
    directive_begin(L);
    int n = f(L);
    directive_end(L);
    return n;
}

/* Every string key of table t must be one of names (NULL-terminated). */
static void check_keys(lua_State *L, int t, const char *what, const char *const *names,
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
static bool opt_field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    return true; /* value on top; the caller pops */
}

#define DURATION_MAX 1e7 /* about 115 days: beyond it a duration is a mistake */

static double opt_duration(lua_State *L, int t, const char *what, const char *k, double dflt)
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

static unsigned long long opt_size(lua_State *L, int t, const char *what, const char *k,
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

static long long opt_int(lua_State *L, int t, const char *what, const char *k, long long dflt,
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

static bool opt_bool(lua_State *L, int t, const char *what, const char *k, bool dflt)
{
    if (!opt_field(L, t, k))
        return dflt;
    if (!lua_isboolean(L, -1))
        luaL_error(L, "%s: %s must be true or false", what, k);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static char *opt_string(lua_State *L, int t, const char *what, const char *k, const char *dflt)
{
    if (!opt_field(L, t, k))
        return dflt ? xstrdup(dflt) : NULL;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: %s must be a string", what, k);
    char *v = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return v;
}

/* ---- listen ---- */

static void parse_allow(lua_State *L, int t, struct listener_config *l, const char *what)
{
    if (!opt_field(L, t, "allow"))
        return;
    int a = lua_gettop(L);
    if (lua_type(L, a) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, a);
        lua_rawseti(L, -2, 1);
        lua_replace(L, a);
    }
    if (!lua_istable(L, a))
        luaL_error(L, "%s: allow must be a list of networks such as { \"127.0.0.0/8\" }", what);
    unsigned n = (unsigned)lua_rawlen(L, a);
    if (n == 0)
        luaL_error(L, "%s: allow is empty, nobody could connect (everyone: { \"0.0.0.0/0\", \"::/0\" })", what);
    l->allow = xcalloc(n, sizeof(*l->allow));
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, a, (lua_Integer)i + 1);
        const char *s = lua_tostring(L, -1);
        if (s == NULL || cidr_parse(s, &l->allow[i]) == -1)
            luaL_error(L, "%s: allow[%d] is not a network such as \"10.0.0.0/8\"", what, (int)i + 1);
        lua_pop(L, 1);
    }
    l->nallow = n;
    lua_pop(L, 1);
}

static void parse_connect_ports(lua_State *L, int t, struct listener_config *l, const char *what)
{
    if (!opt_field(L, t, "connect_ports"))
        return;
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: connect_ports must be a list of ports such as { 443 }", what);
    unsigned n = (unsigned)lua_rawlen(L, -1);
    l->connect_ports = xcalloc(n ? n : 1, sizeof(*l->connect_ports));
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        lua_Integer p = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        if (p < 1 || p > 65535)
            luaL_error(L, "%s: connect_ports[%d] is not a port", what, (int)i + 1);
        l->connect_ports[i] = (uint16_t)p;
        lua_pop(L, 1);
    }
    l->nconnect_ports = n;
    lua_pop(L, 1);
}

static void set_default_allow_loopback(struct listener_config *l)
{
    /* a forward proxy open to the world is an abuse magnet: without an
     * explicit allow list only this host may use it */
    l->allow = xcalloc(2, sizeof(*l->allow));
    cidr_parse("127.0.0.0/8", &l->allow[0]);
    cidr_parse("::1", &l->allow[1]);
    l->nallow = 2;
}

static int dsl_listen(lua_State *L)
{
    struct config *c = building(L);
    if (lua_type(L, 1) == LUA_TSTRING) { /* listen "0.0.0.0:8080" */
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, 1);
        lua_rawseti(L, -2, 1);
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "mode", "allow", "upstream", "connect_ports", "via",
                                        "x_forwarded", "backlog", "keepalive", "cache", NULL };
    lua_rawgeti(L, 1, 1);
    const char *spec = lua_tostring(L, -1);
    if (spec == NULL)
        return luaL_error(L, "listen: the first item must be an address such as \"127.0.0.1:8080\"");
    char what[160];
    snprintf(what, sizeof(what), "listen %s", spec);
    check_keys(L, 1, what, keys, true);
    if (lua_rawlen(L, 1) != 1)
        return luaL_error(L, "%s: one address per listen", what);

    c->listeners = xrealloc(c->listeners, (c->nlisteners + 1) * sizeof(*c->listeners));
    struct listener_config *l = &c->listeners[c->nlisteners++];
    memset(l, 0, sizeof(*l));
    l->spec = xstrdup(spec);
    l->line = caller_line(L);
    char host[ADDR_HOSTLEN];
    uint16_t port;
    const char *err;
    if (addr_split(spec, strlen(spec), host, &port, 0, &err) == -1)
        return luaL_error(L, "%s: %s", what, err);
    if (addr_from_ip(host, port, &l->addr) == -1)
        return luaL_error(L, "%s: listen addresses must be IP addresses (\"0.0.0.0\", \"[::]\")", what);
    char *mode = opt_string(L, 1, what, "mode", "reverse");
    bool known_mode = strcmp(mode, "reverse") == 0 || strcmp(mode, "forward") == 0;
    l->mode = strcmp(mode, "forward") == 0 ? MODE_FORWARD : MODE_REVERSE;
    free(mode);
    if (!known_mode)
        return luaL_error(L, "%s: mode must be \"reverse\" or \"forward\"", what);
    /* options that would be silently meaningless for this mode */
    static const char *const forward_only[] = { "connect_ports", "keepalive", NULL };
    static const char *const reverse_only[] = { "upstream", NULL };
    for (const char *const *k = l->mode == MODE_FORWARD ? reverse_only : forward_only; *k; k++) {
        lua_getfield(L, 1, *k);
        bool given = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (given)
            return luaL_error(L, "%s: '%s' means nothing for a %s listener (it is for %s listeners)", what, *k,
                              l->mode == MODE_FORWARD ? "forward" : "reverse",
                              l->mode == MODE_FORWARD ? "reverse" : "forward");
    }
    parse_allow(L, 1, l, what);
    if (l->nallow == 0 && l->mode == MODE_FORWARD)
        set_default_allow_loopback(l);
    parse_connect_ports(L, 1, l, what);
    l->upstream = opt_string(L, 1, what, "upstream", NULL);
    if (opt_field(L, 1, "via")) {
        if (lua_isboolean(L, -1))
            l->via = lua_toboolean(L, -1) ? xstrdup("luxy") : NULL;
        else if (lua_type(L, -1) == LUA_TSTRING && headers_valid_value(slice_make(lua_tostring(L, -1), lua_rawlen(L, -1))))
            l->via = xstrdup(lua_tostring(L, -1));
        else
            return luaL_error(L, "%s: via must be true, false or a name", what);
        lua_pop(L, 1);
    } else {
        l->via = xstrdup("luxy");
    }
    l->x_forwarded = opt_bool(L, 1, what, "x_forwarded", true);
    l->cache = opt_bool(L, 1, what, "cache", true);
    l->backlog = (int)opt_int(L, 1, what, "backlog", 511, 1, 65535);
    l->keepalive = (unsigned)opt_int(L, 1, what, "keepalive", 64, 0, 100000);
    return 0;
}

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

static int dsl_upstream_body(lua_State *L)
{
    struct config *c = building(L);
    if (c == NULL)
        return 0;
    directive_begin(L);
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    char what[160];
    snprintf(what, sizeof(what), "upstream %s", name);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "balance", "tries", "resolve_every", "keepalive", NULL };
    check_keys(L, 1, what, keys, true);
    if (config_upstream(c, name))
        return luaL_error(L, "%s: defined twice", what);
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
    u->servers = xcalloc(n, sizeof(*u->servers));
    for (unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        parse_server(L, lua_gettop(L), u, what);
        lua_pop(L, 1);
    }
    u->balance = opt_string(L, 1, what, "balance", "wrr");
    if (lb_find(u->balance) == NULL)
        return luaL_error(L, "%s: unknown balance '%s' (known: %s)", what, u->balance, lb_names());
    u->tries = (unsigned)opt_int(L, 1, what, "tries", 0, 0, LB_MAX_SERVERS);
    u->resolve_every = opt_duration(L, 1, what, "resolve_every", 30);
    u->keepalive = (unsigned)opt_int(L, 1, what, "keepalive", 32, 0, 100000);
    directive_end(L);
    return 0;
}

/* upstream "name" { ... }: the name call returns the function that takes
 * the table. */
static int dsl_upstream(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    if (!headers_valid_name(slice_make(name, strlen(name))))
        return luaL_error(L, "upstream: invalid name '%s' (letters, digits, - and _)", name);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, dsl_upstream_body, 1);
    return 1;
}

/* ---- shared ---- */

static int dsl_shared_body(lua_State *L)
{
    struct config *c = building(L);
    if (c == NULL)
        return 0;
    directive_begin(L);
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    char what[160];
    snprintf(what, sizeof(what), "shared %s", name);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "size", NULL };
    check_keys(L, 1, what, keys, false);
    if (config_shared(c, name))
        return luaL_error(L, "%s: declared twice", what);
    uint64_t size = opt_size(L, 1, what, "size", 1u << 20, false);
    if (size < SHDICT_MIN_SIZE || size > SHDICT_MAX_SIZE)
        return luaL_error(L, "%s: size must be between 64KB and 64GB", what);
    c->shared = xrealloc(c->shared, (c->nshared + 1) * sizeof(*c->shared));
    struct shared_config *sc = &c->shared[c->nshared++];
    sc->name = xstrdup(name);
    sc->size = size;
    sc->line = caller_line(L);
    directive_end(L);
    return 0;
}

static bool valid_shared_name(const char *s, size_t len)
{
    if (len < 1 || len > SHDICT_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

/* shared "name" { size = "8MB" }: as upstream, the name call returns the
 * function that takes the table. */
static int dsl_shared(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    if (!valid_shared_name(name, len))
        return luaL_error(L, "shared: invalid name '%s' (1 to 64 letters, digits, '_', '.' and '-')", name);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, dsl_shared_body, 1);
    return 1;
}

/* ---- global settings ---- */

static int dsl_workers(lua_State *L)
{
    struct config *c = building(L);
    if (lua_type(L, 1) == LUA_TSTRING && strcmp(lua_tostring(L, 1), "auto") == 0) {
        c->workers = 0;
        return 0;
    }
    lua_Integer n = lua_isinteger(L, 1) ? lua_tointeger(L, 1) : 0;
    if (n < 1 || n > 256)
        return luaL_error(L, "workers: a number from 1 to 256, or \"auto\"");
    c->workers = (unsigned)n;
    return 0;
}

static int dsl_timeouts(lua_State *L)
{
    struct config *c = building(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "client_header", "client_body", "client_idle", "send",
                                        "backend_connect", "backend_read", "backend_idle",
                                        "tunnel_idle", "grace", NULL };
    check_keys(L, 1, "timeouts", keys, false);
    struct timeouts_config *t = &c->timeouts;
    double *fields[] = { &t->client_header, &t->client_body, &t->client_idle, &t->send,
                         &t->backend_connect, &t->backend_read, &t->backend_idle,
                         &t->tunnel_idle, &t->grace };
    for (size_t i = 0; i < countof(fields); i++) {
        *fields[i] = opt_duration(L, 1, "timeouts", keys[i], *fields[i]);
        if (*fields[i] <= 0 && strcmp(keys[i], "grace") != 0)
            return luaL_error(L, "timeouts: %s must be more than 0", keys[i]);
    }
    return 0;
}

static int dsl_limits(lua_State *L)
{
    struct config *c = building(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "head_size", "request_line", "header_fields", "body_size",
                                        "response_head_size", "interim_responses", "interim_bytes",
                                        "max_connections", NULL };
    check_keys(L, 1, "limits", keys, false);
    struct limits_config *l = &c->limits;
    l->head_size = (size_t)opt_size(L, 1, "limits", "head_size", l->head_size, false);
    l->request_line = (size_t)opt_size(L, 1, "limits", "request_line", l->request_line, false);
    l->header_fields = (unsigned)opt_int(L, 1, "limits", "header_fields", l->header_fields, 1, 10000);
    bool unlimited = false;
    if (opt_field(L, 1, "body_size")) {
        unlimited = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    l->body_size = opt_size(L, 1, "limits", "body_size", l->body_size, true);
    if (l->body_size == 0 && !unlimited) /* 0 is how "no limit" is stored: say it with false */
        return luaL_error(L, "limits: body_size must be more than 0 (false: no limit)");
    l->response_head_size = (size_t)opt_size(L, 1, "limits", "response_head_size", l->response_head_size, false);
    l->interim_responses = (unsigned)opt_int(L, 1, "limits", "interim_responses", l->interim_responses, 0, 1000);
    l->interim_bytes = (size_t)opt_size(L, 1, "limits", "interim_bytes", l->interim_bytes, false);
    l->max_connections = (unsigned)opt_int(L, 1, "limits", "max_connections", l->max_connections, 1, 10000000);
    if (l->head_size < 1024 || l->head_size > (1u << 24) || l->response_head_size < 1024 ||
        l->response_head_size > (1u << 24))
        return luaL_error(L, "limits: head sizes must be between 1KB and 16MB");
    if (l->interim_bytes > (1u << 24))
        return luaL_error(L, "limits: interim_bytes must be 16MB or less");
    if (l->request_line < 64 || l->request_line > l->head_size)
        return luaL_error(L, "limits: request_line must be between 64 bytes and head_size");
    return 0;
}

static int dsl_lua(lua_State *L)
{
    struct config *c = building(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "memory", "instructions", "time", NULL };
    check_keys(L, 1, "lua", keys, false);
    c->lua.memory = (size_t)opt_size(L, 1, "lua", "memory", c->lua.memory, false);
    c->lua.instructions = (unsigned long)opt_int(L, 1, "lua", "instructions",
                                                 (long long)c->lua.instructions, 1000, 2000000000);
    c->lua.seconds = opt_duration(L, 1, "lua", "time", c->lua.seconds);
    if (c->lua.seconds > 60)
        return luaL_error(L, "lua: time must be 60s or less (0: no wall-clock limit)");
    if (c->lua.memory < (1u << 20))
        return luaL_error(L, "lua: memory must be at least 1MB");
    return 0;
}

static int dsl_logs(lua_State *L)
{
    struct config *c = building(L);
    c->logs_line = caller_line(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "level", "error", "access", NULL };
    check_keys(L, 1, "logs", keys, false);
    char *level = opt_string(L, 1, "logs", "level", NULL);
    if (level) {
        int lv = log_level_parse(level);
        free(level);
        if (lv < 0)
            return luaL_error(L, "logs: level must be error, warn, info or debug");
        c->log_level = lv;
    }
    char *e = opt_string(L, 1, "logs", "error", NULL);
    if (e) {
        free(c->error_log);
        c->error_log = e;
    }
    if (opt_field(L, 1, "access")) {
        char *a = NULL;
        if (lua_type(L, -1) == LUA_TSTRING)
            a = xstrdup(lua_tostring(L, -1));
        else if (!lua_isboolean(L, -1) || lua_toboolean(L, -1))
            return luaL_error(L, "logs: access must be a path, \"stdout\", \"stderr\" or false");
        free(c->access_log);
        c->access_log = a;
        lua_pop(L, 1);
    }
    return 0;
}

static int dsl_resolver(lua_State *L)
{
    struct config *c = building(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "servers", "timeout", "attempts", "max_ttl", "neg_ttl",
                                        "hosts", NULL };
    check_keys(L, 1, "resolver", keys, false);
    struct resolve_config *r = &c->resolver;
    if (opt_field(L, 1, "servers")) { /* stack: [..., list] */
        int list = lua_gettop(L);
        if (!lua_istable(L, list))
            return luaL_error(L, "resolver: servers must be a list such as { \"127.0.0.1:53\" }");
        lua_Integer n = (lua_Integer)lua_rawlen(L, list);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, list, i);
            const char *s = lua_tostring(L, -1);
            char host[ADDR_HOSTLEN];
            uint16_t port;
            const char *err;
            union sockaddr_u a;
            if (s == NULL || addr_split(s, strlen(s), host, &port, 53, &err) == -1 ||
                addr_from_ip(host, port, &a) == -1)
                return luaL_error(L, "resolver: servers[%d] is not \"ip[:port]\"", (int)i);
            lua_pop(L, 1);
            char norm[ADDR_STRLEN];
            addr_format(&a, norm, sizeof(norm), true);
            if (i > 1)
                luaL_addchar(&b, ',');
            luaL_addstring(&b, norm);
        }
        luaL_pushresult(&b); /* [..., list, csv] */
        free(c->resolver_servers);
        c->resolver_servers = xstrdup(lua_tostring(L, -1));
        r->servers = c->resolver_servers;
        lua_pop(L, 2);
    }
    double t = opt_duration(L, 1, "resolver", "timeout", r->timeout_ms / 1000.0);
    r->timeout_ms = (unsigned)(t * 1000);
    if (r->timeout_ms < 10)
        return luaL_error(L, "resolver: timeout must be at least 10ms");
    r->attempts = (unsigned)opt_int(L, 1, "resolver", "attempts", r->attempts, 1, 10);
    r->max_ttl = (unsigned)opt_duration(L, 1, "resolver", "max_ttl", r->max_ttl);
    r->neg_ttl = (unsigned)opt_duration(L, 1, "resolver", "neg_ttl", r->neg_ttl);
    if (opt_field(L, 1, "hosts")) {
        const char *path = NULL;
        if (lua_isboolean(L, -1) && !lua_toboolean(L, -1))
            path = "";
        else if (lua_type(L, -1) == LUA_TSTRING)
            path = lua_tostring(L, -1);
        else
            return luaL_error(L, "resolver: hosts must be a path or false");
        free((char *)r->hosts_path);
        r->hosts_path = xstrdup(path);
        lua_pop(L, 1);
    }
    return 0;
}

/* A list of networks (allow, purge): stack top is the value. */
static struct cidr *parse_networks(lua_State *L, int idx, const char *what, const char *k, unsigned *count)
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
static char *string_or_false(lua_State *L, const char *what, const char *k, const char *dflt)
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

/* cache { size = "256MB", ... } */
static int dsl_cache(lua_State *L)
{
    struct config *c = building(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "size", "max_object", "heuristic", "heuristic_max", "grace", "pass_ttl",
                                        "status_header", "targeted", "tags", "purge", NULL };
    check_keys(L, 1, "cache", keys, false);
    if (c->cache)
        return luaL_error(L, "cache: declared twice (one store per process)");
    struct cache_config *cc = xcalloc(1, sizeof(*cc));
    c->cache = cc;
    cc->line = caller_line(L);
    cc->size = opt_size(L, 1, "cache", "size", 256ull << 20, false);
    if (cc->size < (1u << 20))
        return luaL_error(L, "cache: size must be at least 1MB");
    /* by default an object takes at most a quarter of the store (and 8 MB) */
    cc->max_object = opt_size(L, 1, "cache", "max_object", min(8ull << 20, cc->size / 4), false);
    if (cc->max_object == 0 || cc->max_object > cc->size / 2)
        return luaL_error(L, "cache: max_object must be more than 0 and at most half of size");
    cc->heuristic_fraction = 0.1;
    if (opt_field(L, 1, "heuristic")) {
        if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0 || lua_tonumber(L, -1) > 1)
            return luaL_error(L, "cache: heuristic must be a fraction from 0 to 1 (of the time since Last-Modified)");
        cc->heuristic_fraction = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    cc->heuristic_max = (int64_t)opt_duration(L, 1, "cache", "heuristic_max", 86400);
    cc->grace = (int64_t)opt_duration(L, 1, "cache", "grace", 0);
    cc->pass_ttl = (int64_t)opt_duration(L, 1, "cache", "pass_ttl", 120);
    cc->status_header = string_or_false(L, "cache", "status_header", "X-Cache");
    cc->targeted = string_or_false(L, "cache", "targeted", "Luxy-Cache-Control");
    cc->tag_header = string_or_false(L, "cache", "tags", "Surrogate-Key");
    if (opt_field(L, 1, "purge")) {
        cc->purge_allow = parse_networks(L, lua_gettop(L), "cache", "purge", &cc->npurge_allow);
        lua_pop(L, 1);
    } else { /* PURGE from this host only */
        cc->purge_allow = xcalloc(2, sizeof(*cc->purge_allow));
        cidr_parse("127.0.0.0/8", &cc->purge_allow[0]);
        cidr_parse("::1", &cc->purge_allow[1]);
        cc->npurge_allow = 2;
    }
    return 0;
}

static int dsl_fail_open(lua_State *L)
{
    struct config *c = building(L);
    if (lua_type(L, 1) == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_pushvalue(L, 1);
        lua_rawseti(L, -2, 1);
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        const char *name = lua_tostring(L, -1);
        int h = name ? hooks_parse_name(name) : -1;
        if (h < 0)
            return luaL_error(L, "fail_open: '%s' is not a hook (on_request, select_backend, on_response, cache_key)",
                              name ? name : "?");
        c->fail_open |= 1u << h;
        lua_pop(L, 1);
    }
    return 0;
}

void config_open_dsl(lua_State *L)
{
    static const luaL_Reg dsl[] = {
        { "listen", dsl_listen },     { "upstream", dsl_upstream }, { "workers", dsl_workers },
        { "timeouts", dsl_timeouts }, { "limits", dsl_limits },     { "lua", dsl_lua },
        { "logs", dsl_logs },         { "resolver", dsl_resolver }, { "fail_open", dsl_fail_open },
        { "cache", dsl_cache },       { "shared", dsl_shared },
    };
    for (size_t i = 0; i < countof(dsl); i++) {
        lua_pushcfunction(L, dsl[i].func);
        if (dsl[i].func != dsl_upstream && dsl[i].func != dsl_shared) /* "x" returns the directive */
            lua_pushcclosure(L, directive, 1);
        lua_setglobal(L, dsl[i].name);
    }
}
