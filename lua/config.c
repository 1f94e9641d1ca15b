/* config.c (lua/) - the configuration language, in C.
 * Each directive checks its table strictly (an unknown option is an error
 * naming the options it knows: typos fail at load, not in production) and
 * raises with luaL_error, so messages carry the user's file:line. */
#include "config.h"
#include "config_dsl.h"

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

/* pid "/run/luxy.pid", or pid(false): none */
static int dsl_pid(lua_State *L)
{
    struct config *c = building(L);
    if (lua_isboolean(L, 1) && !lua_toboolean(L, 1)) {
        free(c->pid_file);
        c->pid_file = NULL;
        return 0;
    }
    size_t len;
    const char *p = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
    if (p == NULL || len == 0 || len > 1000 || memchr(p, '\0', len))
        return luaL_error(L, "pid: a path such as \"/run/luxy.pid\", or false for none");
    free(c->pid_file);
    c->pid_file = xstrdup(p);
    return 0;
}

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

/* A format name at the top of the stack (what names the option). */
static enum access_format format_value(lua_State *L, const char *what)
{
    const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int f = name ? access_format_parse(name) : -1;
    if (f < 0)
        luaL_error(L, "logs: %s must be \"luxy\", \"combined\" or \"json\"", what);
    return (enum access_format)f;
}

/* One access log at idx: "path", or { "path", format = "json" }. */
static void parse_access_log(lua_State *L, int idx, struct config *c, enum access_format dflt, const char *what)
{
    enum access_format f = dflt;
    const char *dest = NULL;
    if (lua_type(L, idx) == LUA_TSTRING) {
        dest = lua_tostring(L, idx);
    } else if (lua_istable(L, idx)) {
        static const char *const keys[] = { "format", NULL };
        char sub[64];
        snprintf(sub, sizeof(sub), "logs: %s", what);
        check_keys(L, idx, sub, keys, true);
        lua_rawgeti(L, idx, 1);
        dest = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 1); /* still referenced by the table */
        if (dest == NULL || lua_rawlen(L, idx) != 1)
            luaL_error(L, "logs: %s must be { \"path\", format = \"json\" } (one path; several logs are a list "
                          "of these)", what);
        lua_getfield(L, idx, "format");
        if (!lua_isnil(L, -1)) {
            char fwhat[64];
            snprintf(fwhat, sizeof(fwhat), "%s.format", what);
            f = format_value(L, fwhat);
        }
        lua_pop(L, 1);
    } else {
        luaL_error(L, "logs: %s must be a path, \"stdout\", \"stderr\", or { \"path\", format = \"json\" }",
                   what);
    }
    if (dest[0] == '\0' || strlen(dest) > 4000)
        luaL_error(L, "logs: %s: a path, \"stdout\" or \"stderr\"", what);
    for (unsigned i = 0; i < c->naccess_logs; i++)
        if (strcmp(c->access_logs[i].dest, dest) == 0)
            luaL_error(L, "logs: the access log %s is listed twice (one destination, one format)", dest);
    if (c->naccess_logs == ACCESS_LOGS_MAX)
        luaL_error(L, "logs: at most %d access logs", ACCESS_LOGS_MAX);
    config_add_access_log(c, dest, f);
}

/* logs { level =, error =, access =, access_format = }. access is a
 * destination (in access_format, "luxy" by default), false, or a list of
 * destinations, each "path" or { "path", format = "..." }; a table with
 * format = is one destination. */
static int dsl_logs(lua_State *L)
{
    struct config *c = building(L);
    c->logs_line = caller_line(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const keys[] = { "level", "error", "access", "access_format", NULL };
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
    enum access_format dflt = ACCESS_LUXY;
    bool format_given = opt_field(L, 1, "access_format");
    if (format_given) {
        dflt = format_value(L, "access_format");
        lua_pop(L, 1);
    }
    if (opt_field(L, 1, "access")) { /* stack: [..., access] */
        int a = lua_gettop(L);
        if (lua_isboolean(L, a) && !lua_toboolean(L, a)) {
            if (format_given)
                return luaL_error(L, "logs: access_format with access = false (there is no access log)");
            config_set_access_log(c, NULL, ACCESS_LUXY);
        } else if (lua_type(L, a) == LUA_TSTRING) {
            config_set_access_log(c, NULL, ACCESS_LUXY);
            parse_access_log(L, a, c, dflt, "access");
        } else if (lua_istable(L, a)) {
            config_set_access_log(c, NULL, ACCESS_LUXY);
            lua_getfield(L, a, "format");
            bool one = !lua_isnil(L, -1);
            lua_pop(L, 1);
            if (one) {
                parse_access_log(L, a, c, dflt, "access");
            } else {
                static const char *const list_keys[] = { "format", NULL };
                check_keys(L, a, "logs: access", list_keys, true);
                unsigned n = (unsigned)lua_rawlen(L, a);
                if (n == 0)
                    return luaL_error(L, "logs: access is an empty list (false: no access log)");
                for (unsigned i = 1; i <= n; i++) {
                    char what[32];
                    snprintf(what, sizeof(what), "access[%u]", i);
                    lua_rawgeti(L, a, (lua_Integer)i);
                    parse_access_log(L, lua_gettop(L), c, dflt, what);
                    lua_pop(L, 1);
                }
            }
        } else {
            return luaL_error(L, "logs: access must be a path, \"stdout\", \"stderr\", a list of them "
                                 "(each maybe { \"path\", format = \"json\" }) or false");
        }
        lua_pop(L, 1);
    } else if (format_given) {
        for (unsigned i = 0; i < c->naccess_logs; i++) /* the default (stdout) in that format */
            c->access_logs[i].format = dflt;
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
        if (h == HOOK_CACHE_STORE || h == HOOK_PROXY_AUTH)
            return luaL_error(L, "fail_open: %s always fails closed (%s)", name,
                              h == HOOK_PROXY_AUTH ? "a failing check must never let anyone in"
                                                   : "a failing rule never stores a response");
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
        { "cache", dsl_cache },       { "parent", dsl_parent },     { "shared", dsl_shared },
        { "pid", dsl_pid },
    };
    for (size_t i = 0; i < countof(dsl); i++) {
        lua_pushcfunction(L, dsl[i].func);
        /* upstream "x", parent "x", shared "x" return the directive */
        if (dsl[i].func != dsl_upstream && dsl[i].func != dsl_parent && dsl[i].func != dsl_shared)
            lua_pushcclosure(L, directive, 1);
        lua_setglobal(L, dsl[i].name);
    }
}
