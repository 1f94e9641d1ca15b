/* lab.c - see lab.h. The lab is a worker that never runs its loop: the
 * configuration is loaded and bound as the server does it (server.c), the
 * worker side built by the same worker_init_detached, and each request is
 * a real struct request without a connection, so decide.c cannot tell a
 * lab request from a live one. */
#include "lab.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lua/hooks.h"
#include "../lua/vm.h"
#include "../lua/config.h"
#include "cache.h"
#include "clock.h"
#include "generation.h"
#include "lb.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "proxy_auth.h"
#include "inbox.h"
#include <time.h>
#include "request.h"
#include "request_id.h"
#include "shdict_registry.h"
#include "trace.h"
#include "upstream.h"
#include "worker.h"

/* 2026-01-01 00:00:00 UTC: a case that gives no time sees this one. */
#define LAB_DEFAULT_TIME 1767225600.0

struct lab {
    struct config_gen *cg;
    struct metrics *metrics;
    struct cache *cache;
    struct worker w;
    bool worker_built;
    struct authcheck *auth;    /* the password checker, when a listener has a users file */
    struct worker *workers[1]; /* the cache keeps this array (cache_set_workers) */
};

static void seed_lua(struct vm *vm, uint64_t seed)
{
    lua_State *L = vm->L;
    lua_getglobal(L, "math");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "randomseed");
        if (lua_isfunction(L, -1)) {
            lua_pushinteger(L, (lua_Integer)seed);
            if (lua_pcall(L, 1, 0, 0) != LUA_OK)
                lua_pop(L, 1);
        } else {
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

struct lab *lab_open(const struct lab_options *o, char *err, size_t errlen)
{
    struct lab *lab = xcalloc(1, sizeof(*lab));
    clock_virtual = o->start_time > 0 ? o->start_time : LAB_DEFAULT_TIME;
    lb_random_seed(o->seed * 0x9e3779b97f4a7c15ull + 1);
    request_id_seed(o->seed);
    if (o->quiet)
        log_current_level = LL_ERROR;
    lab->cg = config_gen_new(1);
    if (config_load(o->config_path, &lab->cg->cfg, err, errlen) == -1) {
        lab_close(lab);
        return NULL;
    }
    const struct config *cfg = &lab->cg->cfg;
    if (!o->quiet)
        for (char *line = cfg->warnings, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
            fprintf(stderr, "luxy: warning: %.*s\n", (int)(nl - line), line);
    lab->cache = cfg->cache ? cache_new(cfg->cache) : NULL;
    shdict_registry_open(cfg);
    lab->metrics = metrics_new(1);
    metrics_bind(lab->metrics, &lab->cg->cfg, NULL);
    lab->worker_built = true;
    if (worker_init_detached(&lab->w, 1, lab->cg, lab->cache, lab->metrics) == -1) {
        snprintf(err, errlen, "%s", lab->w.err);
        lab_close(lab);
        return NULL;
    }
    if (lab->cache) {
        lab->workers[0] = &lab->w;
        cache_set_workers(lab->cache, lab->workers, 1);
    }
    for (unsigned l = 0; l < cfg->nlisteners && lab->auth == NULL; l++) {
        if (cfg->listeners[l].auth.users) {
            struct authcheck_config ac = { 0 };
            if ((lab->auth = authcheck_new(&ac, err, errlen)) == NULL) {
                lab_close(lab);
                return NULL;
            }
            lab->w.auth = lab->auth;
        }
    }
    seed_lua(lab->w.gen->vm, o->seed);
    return lab;
}

void lab_close(struct lab *lab)
{
    if (lab == NULL)
        return;
    if (lab->worker_built)
        worker_destroy(&lab->w);
    if (lab->auth)
        authcheck_free(lab->auth);
    if (lab->cache)
        cache_free(lab->cache);
    if (lab->metrics) {
        metrics_unbind(&lab->cg->cfg);
        shdict_registry_free();
    }
    if (lab->cg)
        config_gen_release(lab->cg);
    if (lab->metrics)
        metrics_free(lab->metrics);
    clock_virtual = 0;
    free(lab);
}

void lab_set_time(struct lab *lab, double now)
{
    (void)lab;
    if (now > clock_virtual)
        clock_virtual = now;
}

double lab_time(const struct lab *lab)
{
    (void)lab;
    return clock_virtual;
}

struct generation *lab_generation(struct lab *lab)
{
    return lab->w.gen;
}

struct upstream *lab_upstream(struct lab *lab, const char *name)
{
    return upstream_find(lab->w.gen, name, strlen(name));
}

const struct listener_config *lab_listener(struct lab *lab, unsigned i)
{
    const struct config *cfg = lab->w.gen->cfg;
    return i < cfg->nlisteners ? &cfg->listeners[i] : NULL;
}

/* The head h describes, as a client would send it (in a's memory). */
static char *serialize_head(const struct lab_head *h, struct arena *a, size_t *len)
{
    size_t body = h->body ? strlen(h->body) : 0;
    size_t cap = strlen(h->method) + strlen(h->target) + 64;
    bool has_length = false;
    for (const char *const *f = h->fields; f && f[0] && f[1]; f += 2) {
        cap += strlen(f[0]) + strlen(f[1]) + 4;
        has_length |= strcasecmp(f[0], "Content-Length") == 0 || strcasecmp(f[0], "Transfer-Encoding") == 0;
    }
    char *p = arena_alloc(a, cap);
    size_t n = (size_t)snprintf(p, cap, "%s %s HTTP/1.%u\r\n", h->method, h->target, h->minor);
    for (const char *const *f = h->fields; f && f[0] && f[1]; f += 2)
        n += (size_t)snprintf(p + n, cap - n, "%s: %s\r\n", f[0], f[1]);
    if (body && !has_length)
        n += (size_t)snprintf(p + n, cap - n, "Content-Length: %zu\r\n", body);
    n += (size_t)snprintf(p + n, cap - n, "\r\n");
    *len = n;
    return p;
}

struct request *lab_request(struct lab *lab, const struct lab_head *h, struct decision_out *out, char *err,
                            size_t errlen)
{
    const struct listener_config *lc = lab_listener(lab, h->listener);
    if (lc == NULL) {
        snprintf(err, errlen, "listener %u: the configuration has %u", h->listener + 1,
                 lab->w.gen->cfg->nlisteners);
        return NULL;
    }
    const char *ip = h->client_ip ? h->client_ip : "127.0.0.1";
    union sockaddr_u *from = xcalloc(1, sizeof(*from));
    if (addr_from_ip(ip, h->client_port ? h->client_port : 40000, from) != 0) {
        snprintf(err, errlen, "client %s: not an IP address", ip);
        free(from);
        return NULL;
    }
    struct request *r = xcalloc(1, sizeof(*r));
    arena_init(&r->arena);
    r->w = &lab->w;
    r->gen = lab->w.gen;
    r->lc = lc;
    r->from = from;
    r->from_ip = arena_strndup(&r->arena, ip, strlen(ip));
    r->from_ip_len = strlen(ip);
    r->denied = !decide_client_allowed(lc, from);
    r->started = clock_virtual;
    r->lua_ctx_ref = LUA_NOREF;
    headers_init(&r->local_headers);
    if (h->trace)
        r->trace = trace_new(&r->arena);
    size_t len;
    char *head = serialize_head(h, &r->arena, &len);
    *out = decide_head(r, head, len);
    return r;
}

void lab_request_free(struct request *r)
{
    if (r == NULL)
        return;
    decide_attempt_close(r);
    if (r->centry)
        cache_entry_release(r->centry);
    hooks_request_end(r->gen->vm, r);
    arena_free(&r->arena);
    free((void *)r->from);
    free(r);
}

struct auth_wait {
    bool done;
    enum auth_result result;
};

static void auth_done(void *arg, enum auth_result res)
{
    struct auth_wait *w = arg;
    w->done = true;
    w->result = res;
}

enum auth_result lab_auth(struct request *r, const struct proxy_error **err)
{
    struct auth_wait wait = { 0 };
    enum auth_result res = proxy_auth_check(r, auth_done, &wait, err);
    /* a users file: the checker's threads hash, and answer through the
     * worker's inbox, which the lab empties itself (its loop never runs) */
    for (int i = 0; res == AUTH_PENDING && i < 30000 && !wait.done; i++) {
        struct timespec ms = { 0, 1000 * 1000 };
        nanosleep(&ms, NULL);
        inbox_run(&r->w->inbox);
    }
    if (res == AUTH_PENDING) {
        if (!wait.done) {
            proxy_auth_cancel(r);
            return AUTH_BUSY;
        }
        r->auth_ticket = NULL;
        res = wait.result;
    }
    if (res == AUTH_OK)
        r->user = r->user_claim;
    return res;
}

struct slice lab_backend_head(struct request *r)
{
    return proxy_serialize_request(r, &r->head.headers, r->head.method, r->backend, true);
}
