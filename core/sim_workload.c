/* sim_workload.c - synthetic traffic (sim_workload.h). Arrivals and the
 * requests' contents draw from two sequences of their own, so changing the
 * key mix does not change when requests arrive. */
#include "sim_workload.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_table.h"

static bool read_phases(lua_State *L, int idx, struct sim_workload *w, char *err, size_t errlen)
{
    int t = lua_getfield(L, idx, "phases");
    bool ok = true;
    if (t == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n < 1 || n > SIM_MAX_PHASES) {
            snprintf(err, errlen, "phases: 1..%d of { rate = , mean = }", SIM_MAX_PHASES);
            ok = false;
        }
        for (lua_Integer i = 1; ok && i <= n; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TTABLE) {
                snprintf(err, errlen, "phases[%lld] must be { rate = , mean = }", (long long)i);
                ok = false;
            } else {
                double rate = -1, mean = -1;
                ok = sim_table_number(L, -1, "rate", -1, &rate, err, errlen) &&
                     sim_table_seconds(L, -1, "mean", -1, &mean, err, errlen);
                if (ok && !(rate >= 0 && rate <= 1e7 && mean > 0)) {
                    snprintf(err, errlen, "phases[%lld]: rate (0..) and mean (> 0 seconds) are required", (long long)i);
                    ok = false;
                }
                w->phases[w->nphases].rate = rate;
                w->phases[w->nphases].mean = mean;
                w->nphases++;
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        snprintf(err, errlen, "phases must be a list");
        ok = false;
    }
    lua_pop(L, 1);
    return ok;
}

static bool read_keys(lua_State *L, int idx, struct sim_workload *w, char *err, size_t errlen)
{
    double count = 1, zipf = 0;
    int t = lua_getfield(L, idx, "keys");
    bool ok = true;
    if (t == LUA_TTABLE)
        ok = sim_table_number(L, -1, "count", 1000, &count, err, errlen) &&
             sim_table_number(L, -1, "zipf", 1.0, &zipf, err, errlen) &&
             sim_table_string(L, -1, "prefix", "/item/", w->prefix, sizeof(w->prefix), err, errlen);
    else if (t == LUA_TNIL)
        strcpy(w->prefix, "/");
    else {
        snprintf(err, errlen, "keys must be { count = , zipf = , prefix = }");
        ok = false;
    }
    lua_pop(L, 1);
    if (!ok)
        return false;
    if (!(count >= 1 && count <= SIM_MAX_KEYS) || !(zipf >= 0 && zipf <= 10)) {
        snprintf(err, errlen, "keys: count must be 1..%d and zipf 0..10", SIM_MAX_KEYS);
        return false;
    }
    w->keys = (unsigned)count;
    w->zipf = zipf;
    w->cdf = malloc(w->keys * sizeof(*w->cdf));
    if (!w->cdf) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    double sum = 0;
    for (unsigned k = 0; k < w->keys; k++)
        w->cdf[k] = sum += pow((double)k + 1, -w->zipf);
    for (unsigned k = 0; k < w->keys; k++)
        w->cdf[k] /= sum;
    return true;
}

static bool read_sizes(lua_State *L, int idx, struct sim_workload *w, char *err, size_t errlen)
{
    int t = lua_getfield(L, idx, "sizes");
    bool ok = true;
    if (t == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n < 1 || n > SIM_MAX_SIZES) {
            snprintf(err, errlen, "sizes: 1..%d of { share = , bytes = }", SIM_MAX_SIZES);
            ok = false;
        }
        for (lua_Integer i = 1; ok && i <= n; i++) {
            double share = 0, bytes = -1;
            ok = lua_rawgeti(L, -1, i) == LUA_TTABLE && sim_table_number(L, -1, "share", 1, &share, err, errlen) &&
                 sim_table_number(L, -1, "bytes", -1, &bytes, err, errlen) && share > 0 && bytes >= 0 && bytes <= 1e15;
            if (!ok)
                snprintf(err, errlen, "sizes[%lld] must be { share = (> 0), bytes = (0..) }", (long long)i);
            else {
                w->sizes[w->nsizes].share = share;
                w->sizes[w->nsizes].bytes = (uint64_t)bytes;
                w->nsizes++;
                w->size_total += share;
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        snprintf(err, errlen, "sizes must be a list");
        ok = false;
    }
    lua_pop(L, 1);
    return ok;
}

bool sim_workload_from_table(struct sim_workload *w, lua_State *L, int idx, uint64_t seed, char *err,
                             size_t errlen)
{
    memset(w, 0, sizeof(*w));
    double rate = -1, clients = 0, requests = 0;
    idx = lua_absindex(L, idx);
    if (!sim_table_seconds(L, idx, "duration", 0, &w->duration, err, errlen) ||
        !sim_table_number(L, idx, "requests", 0, &requests, err, errlen) ||
        !sim_table_number(L, idx, "rate", -1, &rate, err, errlen) ||
        !sim_table_number(L, idx, "clients", 0, &clients, err, errlen) ||
        !sim_table_seconds(L, idx, "think", 0, &w->think, err, errlen) || !read_phases(L, idx, w, err, errlen) ||
        !sim_table_string(L, idx, "method", "GET", w->method, sizeof(w->method), err, errlen) ||
        !sim_table_string(L, idx, "host", "localhost", w->host, sizeof(w->host), err, errlen) ||
        !read_sizes(L, idx, w, err, errlen) || !read_keys(L, idx, w, err, errlen)) {
        sim_workload_free(w);
        return false;
    }
    const char *why = NULL;
    if (!(requests >= 0 && requests <= 1e12) || !(clients >= 0 && clients <= 100000))
        why = "requests must be 0..1e12 and clients 0..100000";
    else if (clients > 0 && (rate >= 0 || w->nphases))
        why = "a workload is either open (rate or phases) or closed (clients), not both";
    else if (clients == 0 && rate < 0 && !w->nphases)
        why = "a workload needs rate, phases or clients";
    else if (rate >= 0 && w->nphases)
        why = "rate and phases: one or the other";
    else if (rate > 1e7)
        why = "rate must be at most 1e7 per second";
    else if (w->duration == 0 && requests == 0)
        why = "a workload needs duration or requests (where it ends)";
    if (why) {
        snprintf(err, errlen, "%s", why);
        sim_workload_free(w);
        return false;
    }
    if (rate >= 0) {
        w->phases[0].rate = rate, w->phases[0].mean = INFINITY;
        w->nphases = 1;
    }
    w->requests = (uint64_t)requests;
    w->clients = (unsigned)clients;
    if (!w->nsizes) {
        w->sizes[0].share = 1, w->sizes[0].bytes = 0;
        w->nsizes = 1, w->size_total = 1;
    }
    sim_rng_seed(&w->arrivals, seed, 1);
    sim_rng_seed(&w->draws, seed, 2);
    w->phase_end = w->nphases ? sim_rng_exp(&w->arrivals, w->phases[0].mean) : 0;
    if (w->nphases && isinf(w->phases[0].mean))
        w->phase_end = INFINITY;
    return true;
}

bool sim_workload_load(struct sim_workload *w, const char *path, uint64_t seed, char *err, size_t errlen)
{
    char why[256];
    lua_State *L = sim_table_open(path, err, errlen);
    if (!L)
        return false;
    bool ok = sim_workload_from_table(w, L, 1, seed, why, sizeof(why));
    if (!ok)
        snprintf(err, errlen, "%s: %s", path, why);
    lua_close(L);
    return ok;
}

void sim_workload_free(struct sim_workload *w)
{
    free(w->cdf);
    w->cdf = NULL;
}

static bool over(const struct sim_workload *w, double t)
{
    return (w->requests && w->made >= w->requests) || (w->duration > 0 && t >= w->duration);
}

double sim_workload_next_arrival(struct sim_workload *w)
{
    if (w->clients || over(w, w->t))
        return -1;
    for (unsigned guard = 0; guard < 1000000; guard++) {
        double rate = w->phases[w->phase].rate;
        double dt = rate > 0 ? sim_rng_exp(&w->arrivals, 1.0 / rate) : INFINITY;
        if (w->t + dt < w->phase_end) {
            w->t += dt;
            if (over(w, w->t))
                return -1;
            w->made++;
            return w->t;
        }
        /* the phase ends first: arrivals are memoryless, start afresh in the next */
        w->t = w->phase_end;
        if (isinf(w->t) || over(w, w->t))
            return -1;
        w->phase = (w->phase + 1) % w->nphases;
        w->phase_end = w->t + sim_rng_exp(&w->arrivals, w->phases[w->phase].mean);
    }
    return -1; /* phases of rate 0 only */
}

bool sim_workload_take(struct sim_workload *w, double now)
{
    if (over(w, now))
        return false;
    w->made++;
    return true;
}

void sim_workload_request(struct sim_workload *w, struct sim_wreq *out)
{
    double u = sim_rng_unit(&w->draws);
    unsigned lo = 0, hi = w->keys - 1; /* the first key whose cdf reaches u */
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (w->cdf[mid] >= u)
            hi = mid;
        else
            lo = mid + 1;
    }
    out->key = lo + 1;
    snprintf(out->target, sizeof(out->target), "%s%u", w->prefix, out->key);
    double s = sim_rng_unit(&w->draws) * w->size_total, acc = 0;
    out->bytes = w->sizes[w->nsizes - 1].bytes;
    for (unsigned i = 0; i < w->nsizes; i++)
        if (s < (acc += w->sizes[i].share)) {
            out->bytes = w->sizes[i].bytes;
            break;
        }
}
