/* lab_spec.c - `luxy test SPEC.lua...`: the C side. A spec runs in a Lua
 * state of its own (plain Lua: it is the operator's test code, not a
 * policy); the configuration it names is loaded into a lab (core/lab.h),
 * whose hooks run in the server's sandbox. The spec's runner
 * (lua/lab/spec.lua, built in) calls lab.run(case) for each case: that
 * builds the request, runs the decisions exactly as the server would, and
 * returns what came out as a table the runner compares. */
#include "lab_spec.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cache.h"
#include "../core/cache_fill.h"
#include "../core/cache_serve.h"
#include "../core/clock.h"
#include "../core/generation.h"
#include "../core/lab.h"
#include "../core/log.h"
#include "../core/lb_request.h"
#include "../core/request.h"
#include "../core/trace.h"
#include "../core/upstream.h"
#include "../core/worker.h"
#include "embedded.h"

static struct lab *current;
static struct request *running; /* the case's request: its trace gets the log lines */

static struct sbuf pending;     /* lines logged before the request existed (while its head was read) */

static void capture(enum log_level lvl, const char *text, size_t n)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    if (running && running->trace)
        trace_add(running->trace, "log", "[%s] %.*s", names[lvl], (int)min(n, (size_t)900), text);
    else
        sbuf_printf(&pending, "[%s] %.*s\n", names[lvl], (int)min(n, (size_t)900), text);
}

/* The case's request exists: what was logged for it so far goes first. */
static void start_capture(struct request *r)
{
    running = r;
    for (char *line = pending.p, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
        trace_add(r->trace, "log", "%.*s", (int)(nl - line), line);
    sbuf_free(&pending);
    sbuf_init(&pending);
}
static double start_time; /* the virtual clock of a case that gives no time */

/* ---- reading a case ---- */

static const char *opt_string(lua_State *L, int t, const char *k, const char *dflt)
{
    lua_getfield(L, t, k);
    const char *s = lua_isstring(L, -1) ? lua_tostring(L, -1) : dflt;
    lua_pop(L, 1); /* the string stays referenced by the table */
    return s;
}

static double opt_number(lua_State *L, int t, const char *k, double dflt)
{
    lua_getfield(L, t, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

/* Two fields of a headers = { Name = "v" } table, in name order (names
 * that differ only in case by their bytes: the order never depends on the
 * table's). */
static int by_name(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int c = strcasecmp(x, y);
    return c ? c : strcmp(x, y);
}

/* The string at t[k] (a number made a string there, so that the table keeps
 * it alive), or NULL. */
static const char *field_string(lua_State *L, int t, int k_index)
{
    if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_pushvalue(L, k_index);
        lua_pushstring(L, lua_tostring(L, -2));
        lua_rawset(L, t); /* an existing key: allowed while traversing */
        lua_pop(L, 1);
        lua_pushvalue(L, k_index);
        lua_rawget(L, t);
    }
    return lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
}

static const char **add_field(const char **f, size_t *n, size_t *cap, const char *name, const char *value)
{
    if (name == NULL || value == NULL)
        return f;
    if (*n + 3 > *cap)
        f = realloc(f, (*cap *= 2) * sizeof(*f));
    f[(*n)++] = name;
    f[(*n)++] = value;
    return f;
}

/* headers = { {"Name", "v"}, ... } (in that order) and/or { Name = "v", ... }
 * (after those, in name order: a Lua table has no order of its own, and a
 * case must give the same head every run), into a NULL-terminated name,
 * value, ... array (strings kept alive by the case). */
static const char **read_fields(lua_State *L, int t)
{
    size_t cap = 2, n = 0;
    const char **f = malloc(cap * sizeof(*f));
    lua_getfield(L, t, "headers");
    if (lua_istable(L, -1)) {
        int h = lua_gettop(L);
        lua_Integer listed = (lua_Integer)lua_rawlen(L, h);
        for (lua_Integer k = 1; k <= listed; k++) {
            lua_rawgeti(L, h, k);
            if (lua_istable(L, -1)) {
                int pair = lua_gettop(L);
                lua_pushinteger(L, 1);
                lua_rawgeti(L, pair, 1);
                const char *name = field_string(L, pair, pair + 1);
                lua_pushinteger(L, 2);
                lua_rawgeti(L, pair, 2);
                const char *value = field_string(L, pair, pair + 3);
                f = add_field(f, &n, &cap, name, value);
                lua_settop(L, pair);
            }
            lua_pop(L, 1);
        }
        size_t named = n;
        lua_pushnil(L);
        while (lua_next(L, h)) {
            if (lua_type(L, -2) == LUA_TSTRING)
                f = add_field(f, &n, &cap, lua_tostring(L, -2), field_string(L, h, lua_gettop(L) - 1));
            lua_settop(L, h + 1); /* the key, for lua_next */
        }
        qsort(f + named, (n - named) / 2, 2 * sizeof(*f), by_name);
    }
    lua_pop(L, 1);
    f[n] = NULL;
    return f;
}

/* backends = { group = { [1] = { inflight = 3, latency = 0.02, state = "down" }, ... } } */
static void set_states(lua_State *L, int c)
{
    struct generation *g = lab_generation(current);
    for (unsigned u = 0; u < g->cfg->nupstreams; u++) { /* every case starts from a fresh group */
        struct upstream *up = &g->upstreams[u];
        for (unsigned i = 0; i < up->n; i++) {
            struct server_state *st = up->backends[i].st;
            unsigned weight = up->cfg->servers[i].weight;
            memset((char *)st + sizeof(st->refs), 0, sizeof(*st) - sizeof(st->refs));
            atomic_store(&st->weight, weight ? weight : 1);
        }
        memset(&up->budget, 0, sizeof(up->budget));
    }
    lua_getfield(L, c, "backends");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    int b = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, b)) {
        const char *name = lua_tostring(L, -2);
        struct upstream *up = name ? lab_upstream(current, name) : NULL;
        if (up == NULL)
            luaL_error(L, "backends.%s: the configuration has no upstream of that name", name ? name : "?");
        int servers = lua_gettop(L);
        for (unsigned i = 0; i < up->n; i++) {
            lua_rawgeti(L, servers, (lua_Integer)i + 1);
            if (lua_istable(L, -1)) {
                int s = lua_gettop(L);
                struct server_state *st = up->backends[i].st;
                atomic_store(&st->inflight, (int64_t)opt_number(L, s, "inflight", 0));
                uint64_t lat = (uint64_t)(opt_number(L, s, "latency", 0) * 1e6);
                atomic_store(&st->latency_us, lat);
                atomic_store(&st->peak_us, lat);
                atomic_store(&st->peak_at_ms, server_now_ms());
                double w = opt_number(L, s, "weight", 0);
                if (w >= 1)
                    atomic_store(&st->weight, (unsigned)w);
                const char *state = opt_string(L, s, "state", "up");
                unsigned down = strcmp(state, "down") == 0 ? SS_DOWN
                                : strcmp(state, "drained") == 0 || strcmp(state, "draining") == 0 ? SS_DRAINED
                                : strcmp(state, "ejected") == 0 ? SS_EJECTED : 0;
                if (down == 0 && strcmp(state, "up") != 0)
                    luaL_error(L, "backends.%s[%d].state: up, down, drained or ejected", name, (int)i + 1);
                atomic_store(&st->down, down);
                if (down == SS_EJECTED)
                    atomic_store(&st->eject_until_ms, server_now_ms() + 3600 * 1000);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    atomic_fetch_add(&server_state_epoch, 1);
}

/* ---- writing the outcome ---- */

static void push_slice(lua_State *L, struct slice s)
{
    if (s.ptr)
        lua_pushlstring(L, s.ptr, s.len);
    else
        lua_pushnil(L);
}

static void set_string(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

/* { {name, value}, ... } in order, and by name (lower-cased) the first value. */
static void push_fields(lua_State *L, const struct headers *h)
{
    lua_createtable(L, (int)h->n, 0);
    for (unsigned i = 0; i < h->n; i++) {
        lua_createtable(L, 2, 0);
        push_slice(L, h->v[i].name);
        lua_rawseti(L, -2, 1);
        push_slice(L, h->v[i].value);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* The head as the backend would get it: its request line, its fields. */
static void push_backend_head(lua_State *L, struct request *r)
{
    struct slice head = lab_backend_head(r);
    const char *p = head.ptr, *end = head.ptr + head.len;
    const char *eol = memchr(p, '\r', head.len);
    lua_pushlstring(L, p, (size_t)(eol - p));
    lua_setfield(L, -2, "request_line");
    lua_newtable(L);
    int n = 0;
    for (p = eol + 2; p < end && *p != '\r'; p = eol + 2) {
        eol = memchr(p, '\r', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL)
            break;
        const char *v = colon + 1;
        while (v < eol && *v == ' ')
            v++;
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, p, (size_t)(colon - p));
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, v, (size_t)(eol - v));
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, ++n);
    }
    lua_setfield(L, -2, "headers");
}

static const char *decision_name(enum decision d)
{
    static const char *const names[] = { "reject", "refuse", "fail", "admin", "auth", "policy", "respond", "cache",
                                         "route" };
    return names[d];
}

/* The route and the backend; fills outcome fields. */
static void route(lua_State *L, struct request *r)
{
    const struct proxy_error *err;
    struct upstream *up = decide_group(r, &err);
    if (err) {
        lua_pushinteger(L, err->status);
        lua_setfield(L, -2, "status");
        set_string(L, "error", err->text);
        set_string(L, "decision", "fail");
        return;
    }
    if (up == NULL) { /* an origin by name: the server resolves it */
        char origin[512];
        snprintf(origin, sizeof(origin), "%.*s:%u", (int)min(r->origin_host.len, (size_t)400), r->origin_host.ptr,
                 r->origin_port);
        set_string(L, "origin", origin);
        if (r->head.method != HTTP_CONNECT) /* a tunnel of its own sends no head: luxy connects and relays */
            push_backend_head(L, r);
        return;
    }
    set_string(L, up->cfg->parent ? "parent" : "upstream", up->cfg->name);
    int i = decide_backend(r, &err);
    if (i < 0) {
        lua_pushinteger(L, err->status);
        lua_setfield(L, -2, "status");
        set_string(L, "error", err->text);
        set_string(L, "decision", "fail");
        return;
    }
    decide_attempt_begin(r, (unsigned)i);
    set_string(L, "backend", r->backend->cfg->spec);
    lua_pushinteger(L, i + 1);
    lua_setfield(L, -2, "backend_index");
    push_backend_head(L, r);
}

/* outcome.response: what the client gets, once the response rules ran
 * (passed: they did; else the error they failed with). */
static void push_response(lua_State *L, struct request *r, bool passed)
{
    lua_newtable(L);
    if (!passed) {
        lua_pushinteger(L, r->error->status);
        lua_setfield(L, -2, "status");
        set_string(L, "error", r->error->text);
    } else {
        lua_pushinteger(L, r->resp.status);
        lua_setfield(L, -2, "status");
        push_fields(L, &r->resp.headers);
        lua_setfield(L, -2, "headers");
    }
    lua_setfield(L, -2, "response");
}

/* A response table (status, headers, length) as a head in r's arena. */
static void read_head(lua_State *L, int t, struct request *r, struct http_head *out)
{
    const char **f = read_fields(L, t);
    memset(out, 0, sizeof(*out));
    out->status = (unsigned)opt_number(L, t, "status", 200);
    out->major = out->minor = 1;
    headers_init(&out->headers);
    for (const char **p = f; p[0]; p += 2)
        headers_add(&out->headers, &r->arena, slice_make(arena_strndup(&r->arena, p[0], strlen(p[0])), strlen(p[0])),
                    slice_make(arena_strndup(&r->arena, p[1], strlen(p[1])), strlen(p[1])));
    free(f);
    double length = opt_number(L, t, "length", -1);
    if (length >= 0) {
        out->has_length = true;
        out->content_length = (uint64_t)length;
    }
}

/* case.stored: a response the cache holds for the key, stored `age`
 * seconds ago; then the lookup the server makes. Returns true when the
 * cache answers (HIT, STALE): no backend is asked. */
static bool lookup(lua_State *L, struct request *r, int c)
{
    lab_cache_clear(current);
    lua_getfield(L, c, "stored");
    bool stored = lua_istable(L, -1);
    if (stored) {
        int t = lua_gettop(L);
        struct http_head head;
        read_head(L, t, r, &head);
        const char *body = opt_string(L, t, "body", "");
        struct headers asked, *for_request = NULL;
        lua_getfield(L, t, "request"); /* the request it answered: its fields choose the variant */
        if (lua_istable(L, -1)) {
            struct http_head q;
            read_head(L, lua_gettop(L), r, &q);
            asked = q.headers;
            for_request = &asked;
        }
        lua_pop(L, 1);
        if (!lab_cache_put(r, &head, slice_make(body, strlen(body)), opt_number(L, t, "age", 0), for_request))
            trace_add(r->trace, "cache", "stored: the cache could not keep it (larger than max_object?)");
    }
    lua_pop(L, 1);
    struct cache_entry *e;
    enum cache_verdict v = cache_verdict(r, clock_virtual, false, &e);
    static const char *const names[] = { [CV_FILL] = "MISS", [CV_WAIT] = "MISS", [CV_PASS] = "MISS",
                                         [CV_NOT_CACHED] = "MISS", [CV_HIT] = "HIT", [CV_HIT_FILLING] = "HIT",
                                         [CV_STALE] = "STALE", [CV_REVALIDATE] = "REVALIDATE" };
    lua_getfield(L, -1, "cache");
    set_string(L, "lookup", names[v]);
    set_string(L, "verdict", v == CV_PASS ? "not stored, or no stored variant matches (Vary)" : cache_verdict_text(v));
    lua_pop(L, 1);
    bool answered = v == CV_HIT || v == CV_HIT_FILLING || v == CV_STALE;
    if (answered) {
        r->cache_status = names[v];
        memset(&r->resp, 0, sizeof(r->resp));
        r->resp.status = e->status;
        r->resp.major = r->resp.minor = 1;
        r->resp.headers = headers_copy(&e->fields, &r->arena);
        push_response(L, r, decide_response(r));
    }
    if (e)
        cache_entry_release(e);
    return answered;
}

/* case.response: the response side, as the client would get it. */
static void respond_side(lua_State *L, struct request *r, int c, bool cached)
{
    lua_getfield(L, c, "response");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    read_head(L, lua_gettop(L), r, &r->resp);
    if (cached)
        headers_strip_hop_by_hop(&r->resp.headers, 0); /* as a fill reads it (cache_fill.c) */
    lua_pop(L, 1);
    struct cache *store = r->w->cache;
    if (cached && store) {
        struct http_head resp = r->resp;
        struct headers fields = headers_copy(&r->resp.headers, &r->arena);
        struct cache_store_choice ch;
        cache_store_choose(&ch, &store->cfg, r->lc->mode == MODE_REVERSE, r->gen->vm, r, &r->head.headers, &resp,
                           &fields, (time_t)clock_virtual);
        r->resp = resp;
        r->resp.headers = fields;
        lua_getfield(L, -1, "cache");
        lua_pushboolean(L, ch.store);
        lua_setfield(L, -2, "store");
        set_string(L, "reason", ch.reason);
        lua_pushinteger(L, ch.script.ttl >= 0 ? ch.script.ttl : ch.meta.freshness);
        lua_setfield(L, -2, "ttl");
        if (ch.script.grace >= 0) {
            lua_pushinteger(L, ch.script.grace);
            lua_setfield(L, -2, "grace");
        }
        lua_pop(L, 1);
        r->cache_status = "MISS";
    }
    push_response(L, r, cached && store ? decide_response(r) : decide_backend_response(r));
}

static void push_trace(lua_State *L, struct request *r)
{
    struct sbuf b;
    sbuf_init(&b);
    trace_text(r->trace, &b);
    lua_pushlstring(L, b.p ? b.p : "", b.len);
    lua_setfield(L, -2, "trace");
    sbuf_free(&b);
}

/* lab.run(case) -> outcome */
static int l_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (current == NULL)
        return luaL_error(L, "no configuration: call config \"FILE\" first");
    /* each case sees its own time, or the lab's start: never the time an
     * earlier case left (a case must give the same outcome alone) */
    double t = opt_number(L, 1, "time", 0);
    clock_virtual = t > 0 ? t : start_time;
    set_states(L, 1);
    lua_getfield(L, 1, "request");
    if (!lua_istable(L, -1))
        return luaL_error(L, "the case has no request = { ... }");
    int q = lua_gettop(L);
    const char **fields = read_fields(L, q);
    struct lab_head h = {
        .method = opt_string(L, q, "method", "GET"),
        .target = opt_string(L, q, "target", opt_string(L, q, "path", "/")),
        .minor = strcmp(opt_string(L, q, "version", "1.1"), "1.0") == 0 ? 0 : 1,
        .fields = fields,
        .client_ip = opt_string(L, q, "client", NULL),
        .listener = (unsigned)opt_number(L, 1, "listener", 1) - 1,
        .body = opt_string(L, q, "body", NULL),
        .trace = true,
    };
    char err[256];
    struct decision_out d;
    struct request *r = lab_request(current, &h, &d, err, sizeof(err));
    free(fields);
    if (r == NULL)
        return luaL_error(L, "%s", err);
    start_capture(r);
    const char *user = opt_string(L, q, "user", NULL);
    lua_newtable(L);
    unsigned auth_status = 407;
    if (d.what == DECIDE_AUTH && user) { /* act as a signed-in user */
        r->user = slice_make(arena_strndup(&r->arena, user, strlen(user)), strlen(user));
        d.what = DECIDE_POLICY;
    } else if (d.what == DECIDE_AUTH) { /* the credentials the request carries, checked as the server does */
        const struct proxy_error *aerr;
        enum auth_result res = lab_auth(r, &aerr);
        if (aerr)
            d = (struct decision_out){ .what = DECIDE_FAIL, .err = aerr };
        else if (res == AUTH_OK)
            d.what = DECIDE_POLICY;
        else if (res == AUTH_BUSY)
            auth_status = 503;
        trace_add(r->trace, "auth", "%s", aerr ? "proxy_auth failed" : res == AUTH_OK ? "signed in" : res == AUTH_BUSY ? "too many checks" : "no valid credentials: 407");
    }
    if (d.what == DECIDE_POLICY)
        d = decide_policy(r);
    set_string(L, "decision", decision_name(d.what));
    switch (d.what) {
    case DECIDE_REJECT:
    case DECIDE_REFUSE:
        lua_pushinteger(L, d.status);
        lua_setfield(L, -2, "status");
        set_string(L, "error", d.why);
        break;
    case DECIDE_FAIL:
        lua_pushinteger(L, d.err->status);
        lua_setfield(L, -2, "status");
        set_string(L, "error", d.err->text);
        break;
    case DECIDE_AUTH:
        lua_pushinteger(L, auth_status);
        lua_setfield(L, -2, "status");
        set_string(L, "error", auth_status == 407 ? "proxy authentication needed: no valid Proxy-Authorization (or give request.user to act as a signed-in user)" : "too many logins are being checked");
        break;
    case DECIDE_RESPOND:
        /* what the client gets: Date, Content-Type, the id, on_response (request_respond) */
        lua_pushinteger(L, decide_local_response(r, r->local_status, r->local_body));
        lua_setfield(L, -2, "status");
        push_slice(L, r->local_body);
        lua_setfield(L, -2, "body");
        push_fields(L, &r->local_headers);
        lua_setfield(L, -2, "headers");
        break;
    case DECIDE_CACHE: {
        static const char *const plans[] = { "lookup", "purge", "bypass (cache_key)", "bypass (no-store)",
                                             "cache_key failed" };
        enum cache_plan plan = cache_plan(r);
        lua_newtable(L);
        push_slice(L, r->cache_key);
        lua_setfield(L, -2, "key");
        set_string(L, "plan", plans[plan]);
        lua_setfield(L, -2, "cache");
        trace_add(r->trace, "cache", "%s%s%.*s", plans[plan], r->cache_key.len ? ": key " : "",
                  (int)r->cache_key.len, r->cache_key.ptr);
        if (plan == CACHE_KEY_FAILED) {
            lua_pushinteger(L, 500);
            lua_setfield(L, -2, "status");
            set_string(L, "decision", "fail");
            break;
        }
        if (plan == CACHE_LOOKUP && lookup(L, r, 1))
            break; /* answered from the cache */
        if (plan != CACHE_PURGE) {
            route(L, r);
            respond_side(L, r, 1, plan == CACHE_LOOKUP);
        }
        break;
    }
    case DECIDE_ROUTE:
        route(L, r);
        respond_side(L, r, 1, false);
        break;
    default:
        break;
    }
    push_trace(L, r);
    running = NULL;
    lab_request_free(r);
    return 1;
}

/* lab.open(path, seed) */
static int l_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct lab_options o = { .config_path = path, .seed = (uint64_t)luaL_optinteger(L, 2, 1), .quiet = false };
    lab_close(current);
    char err[1024];
    if ((current = lab_open(&o, err, sizeof(err))) == NULL)
        return luaL_error(L, "%s", err);
    start_time = lab_time(current);
    return 0;
}

int lab_test_main(int argc, char **argv)
{
    const struct embedded_file *runner = embedded_find("lua/lab/spec.lua");
    if (runner == NULL) {
        fprintf(stderr, "luxy test: the spec runner is not built in\n");
        return 2;
    }
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    sbuf_init(&pending);
    log_capture = capture; /* a case's log lines go into its trace, not between the results */
    static const luaL_Reg fns[] = { { "open", l_open }, { "run", l_run }, { NULL, NULL } };
    luaL_newlib(L, fns);
    lua_setglobal(L, "lab");
    int rc = 2;
    if (luaL_loadbuffer(L, runner->data, runner->len, "=spec runner") == LUA_OK) {
        lua_createtable(L, argc, 0);
        for (int i = 1; i < argc; i++) {
            lua_pushstring(L, argv[i]);
            lua_rawseti(L, -2, i);
        }
        if (lua_pcall(L, 1, 1, 0) == LUA_OK)
            rc = (int)lua_tointeger(L, -1);
        else
            fprintf(stderr, "luxy test: %s\n", lua_tostring(L, -1));
    } else {
        fprintf(stderr, "luxy test: %s\n", lua_tostring(L, -1));
    }
    lua_close(L);
    lab_close(current);
    current = NULL;
    log_capture = NULL;
    sbuf_free(&pending);
    return rc;
}
