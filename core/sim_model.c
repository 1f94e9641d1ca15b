/* sim_model.c - the backend model's file (sim_model.h). Latencies are
 * lognormal by median and p99, the way latencies are usually quoted:
 * sigma = ln(p99 / median) / z(0.99). */
#include "sim_model.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_table.h"

#define Z99 2.3263478740408408 /* the standard normal's 99th percentile */

int sim_model_fail_kind(const char *name)
{
    static const struct {
        const char *name;
        enum attempt_result res;
    } kinds[] = { { "reset", AR_RESET }, { "http_5xx", AR_HTTP_5XX }, { "connect", AR_CONNECT }, { "timeout", AR_TIMEOUT } };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(name, kinds[i].name) == 0)
            return (int)kinds[i].res;
    return -1;
}

static bool read_kind(lua_State *L, int idx, enum attempt_result dflt, enum attempt_result *out, char *err,
                      size_t errlen)
{
    char kind[16];
    if (!sim_table_string(L, idx, "fail_kind", "", kind, sizeof(kind), err, errlen))
        return false;
    if (!kind[0]) {
        *out = dflt;
        return true;
    }
    int k = sim_model_fail_kind(kind);
    if (k < 0) {
        snprintf(err, errlen, "fail_kind must be \"reset\", \"http_5xx\", \"connect\" or \"timeout\"");
        return false;
    }
    *out = (enum attempt_result)k;
    return true;
}

/* latency = seconds (constant) | { median = , p99 = } */
static bool read_latency(lua_State *L, int idx, struct sim_backend_model *b, char *err, size_t errlen)
{
    int t = lua_getfield(L, idx, "latency");
    bool ok = true;
    if (t == LUA_TNIL) {
    } else if (t == LUA_TTABLE) {
        double median = 0, p99 = 0;
        ok = sim_table_seconds(L, -1, "median", b->median, &median, err, errlen) &&
             sim_table_seconds(L, -1, "p99", 0, &p99, err, errlen);
        if (ok && !(median > 0)) {
            snprintf(err, errlen, "latency.median must be above 0");
            ok = false;
        } else if (ok && p99 > 0 && p99 < median) {
            snprintf(err, errlen, "latency.p99 must be at least the median");
            ok = false;
        } else if (ok) {
            b->median = median;
            b->sigma = p99 > 0 ? log(p99 / median) / Z99 : 0;
        }
    } else {
        double v = sim_seconds_value(L, -1);
        if (!(v > 0)) {
            snprintf(err, errlen, "latency must be a duration above 0 or { median = , p99 = }");
            ok = false;
        } else
            b->median = v, b->sigma = 0;
    }
    lua_pop(L, 1);
    return ok;
}

static bool read_backend(lua_State *L, int idx, struct sim_backend_model *b, char *err, size_t errlen)
{
    double cap = 0, queue = 0;
    if (!sim_table_number(L, idx, "capacity", b->capacity, &cap, err, errlen) ||
        !sim_table_number(L, idx, "queue", b->queue, &queue, err, errlen) || !read_latency(L, idx, b, err, errlen) ||
        !sim_table_number(L, idx, "bandwidth", b->bandwidth, &b->bandwidth, err, errlen) ||
        !sim_table_seconds(L, idx, "connect", b->connect, &b->connect, err, errlen) ||
        !sim_table_number(L, idx, "fail", b->fail, &b->fail, err, errlen) ||
        !read_kind(L, idx, b->fail_kind, &b->fail_kind, err, errlen))
        return false;
    if (!(cap >= 1 && cap <= 1e6) || !(queue >= 0 && queue <= 1e7)) {
        snprintf(err, errlen, "capacity must be 1..1000000 and queue 0..10000000");
        return false;
    }
    if (!(b->fail >= 0 && b->fail <= 1) || b->bandwidth < 0) {
        snprintf(err, errlen, "fail must be a share (0..1) and bandwidth at least 0");
        return false;
    }
    b->capacity = (unsigned)cap;
    b->queue = (unsigned)queue;
    return true;
}

static bool read_event(lua_State *L, int idx, struct sim_model_event *e, char *err, size_t errlen)
{
    double backend = 0;
    if (!sim_table_seconds(L, idx, "at", -1, &e->at, err, errlen) ||
        !sim_table_seconds(L, idx, "duration", 0, &e->duration, err, errlen) ||
        !sim_table_number(L, idx, "backend", 0, &backend, err, errlen))
        return false;
    if (e->at < 0) {
        snprintf(err, errlen, "at (when, seconds from the start) is required");
        return false;
    }
    if (!(backend >= 1 && backend <= SIM_MAX_BACKENDS) || backend != floor(backend)) {
        snprintf(err, errlen, "backend must be a server's position in its group (1..)");
        return false;
    }
    e->backend = (unsigned)backend - 1;
    int kinds = 0;
    double v;
    if (!sim_table_number(L, idx, "slow", 0, &v, err, errlen))
        return false;
    if (v > 0)
        e->kind = SIM_SLOW, e->value = v, kinds++;
    if (!sim_table_number(L, idx, "fail", -1, &v, err, errlen))
        return false;
    if (v >= 0) {
        if (v > 1) {
            snprintf(err, errlen, "fail must be a share (0..1)");
            return false;
        }
        e->kind = SIM_FAIL, e->value = v, kinds++;
        if (!read_kind(L, idx, AR_RESET, &e->fail_kind, err, errlen))
            return false;
    }
    static const struct {
        const char *name;
        enum sim_event_kind kind;
    } flags[] = { { "down", SIM_DOWN }, { "leave", SIM_LEAVE }, { "join", SIM_JOIN } };
    for (size_t i = 0; i < 3; i++) {
        lua_getfield(L, idx, flags[i].name);
        if (lua_toboolean(L, -1))
            e->kind = flags[i].kind, kinds++;
        lua_pop(L, 1);
    }
    if (kinds != 1) {
        snprintf(err, errlen, "an event is one of slow = F, fail = SHARE, down = true, leave = true, join = true");
        return false;
    }
    return true;
}

static int by_time(const void *a, const void *b)
{
    const struct sim_model_event *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq; /* qsort is not stable: keep the file's order */
}

bool sim_model_load(struct sim_model *m, const char *path, char *err, size_t errlen)
{
    char why[256] = "";
    memset(m, 0, sizeof(*m));
    m->dflt = (struct sim_backend_model){ .capacity = 64, .queue = 100000, .median = 0.010, .fail_kind = AR_RESET };
    lua_State *L = sim_table_open(path, err, errlen);
    if (!L)
        return false;
    bool ok = false;
    const char *where = "default";
    if (lua_getfield(L, 1, "default") == LUA_TTABLE && !read_backend(L, -1, &m->dflt, why, sizeof(why)))
        goto out;
    lua_pop(L, 1);
    for (unsigned i = 0; i < SIM_MAX_BACKENDS; i++)
        m->b[i] = m->dflt;
    where = "backends";
    int t = lua_getfield(L, 1, "backends");
    if (t == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_Integer k = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
            if (k < 1 || k > SIM_MAX_BACKENDS || !lua_istable(L, -1)) {
                snprintf(why, sizeof(why), "entries must be [position] = { ... } (1..%d)", SIM_MAX_BACKENDS);
                goto out;
            }
            if (!read_backend(L, -1, &m->b[k - 1], why, sizeof(why)))
                goto out;
            if ((unsigned)k > m->nb)
                m->nb = (unsigned)k;
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        snprintf(why, sizeof(why), "must be a table");
        goto out;
    }
    lua_pop(L, 1);
    where = "events";
    t = lua_getfield(L, 1, "events");
    if (t == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n > SIM_MAX_EVENTS) {
            snprintf(why, sizeof(why), "at most %d", SIM_MAX_EVENTS);
            goto out;
        }
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TTABLE) {
                snprintf(why, sizeof(why), "event %lld must be a table", (long long)i);
                goto out;
            }
            char evwhy[192];
            if (!read_event(L, lua_gettop(L), &m->ev[m->nev], evwhy, sizeof(evwhy))) {
                snprintf(why, sizeof(why), "event %lld: %s", (long long)i, evwhy);
                goto out;
            }
            m->ev[m->nev].seq = m->nev;
            m->nev++;
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        snprintf(why, sizeof(why), "must be a list of tables");
        goto out;
    }
    qsort(m->ev, m->nev, sizeof(m->ev[0]), by_time);
    ok = true;
out:
    if (!ok)
        snprintf(err, errlen, "%s: %s: %s", path, where, why);
    lua_close(L);
    return ok;
}

const struct sim_backend_model *sim_model_backend(const struct sim_model *m, unsigned i)
{
    return i < SIM_MAX_BACKENDS ? &m->b[i] : &m->dflt;
}

double sim_model_service(const struct sim_backend_model *b, struct sim_rng *g)
{
    if (b->sigma <= 0)
        return b->median;
    return b->median * exp(b->sigma * sim_rng_normal(g));
}
