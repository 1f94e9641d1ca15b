/* server.c - the running process (server.h). The main thread owns no
 * traffic: it opens the listening sockets (one SO_REUSEPORT socket per
 * listener and worker, after a probe, so a port in use fails loudly before
 * anything starts), builds the workers and waits for signals.
 *
 * A reload (SIGHUP, luxy -s reload) loads and checks the file in the main
 * thread, as -t does, while the workers keep serving; a broken file is
 * refused and logged with file:line. Then every worker gets its new
 * generation through its inbox: listening sockets of listeners that stay
 * are kept (nothing queued in the kernel is lost), new ones are opened
 * here first, dropped ones are closed by their worker. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lua/config.h"
#include "authcheck.h"
#include "cache.h"
#include "cache_serve.h"
#include "log.h"
#include "membership.h"
#include "metrics.h"
#include "pidfile.h"
#include "sdnotify.h"
#include "shdict_registry.h"
#include "sockets.h"
#include "worker.h"

struct server {
    const char *path;          /* the configuration file, NULL: the embedded default */
    const struct server_start *start;
    struct config_gen *cur;    /* what the workers run (or are switching to) */
    unsigned nw;
    struct worker *workers;
    struct worker **ptrs;
    int *fds;                  /* [worker * nlisteners + listener] of cur: the workers own them */
    struct cache *cache;
    struct authcheck *auth;
    struct metrics *metrics;   /* the counters the admin listener reads (metrics.h) */
    sigset_t sigs;
    char pid_file[1024];       /* written by this process, or empty */
};

/* Every signal an operator or a tool like logrotate may send: none may
 * kill luxy with requests in flight. */
static void operator_signals(sigset_t *set)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH };
    sigemptyset(set);
    for (size_t i = 0; i < countof(sigs); i++)
        sigaddset(set, sigs[i]);
    sigaddset(set, membership_signal()); /* the admin API's server changes, from a worker */
}

static bool is_stop_signal(int sig)
{
    return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
}

static void describe(const struct config *c, unsigned id)
{
    log_info("luxy %s: %u worker%s, configuration %s (generation %u)", LUXY_VERSION, c->workers,
             c->workers == 1 ? "" : "s", c->path, id);
    for (unsigned i = 0; i < c->nlisteners; i++) {
        const struct listener_config *l = &c->listeners[i];
        char who[512] = "everyone";
        size_t n = 0;
        for (unsigned k = 0; k < l->nallow && n < sizeof(who) - 64; k++) {
            char net[ADDR_STRLEN];
            union sockaddr_u a;
            memset(&a, 0, sizeof(a));
            a.sa.sa_family = (sa_family_t)l->allow[k].family;
            if (a.sa.sa_family == AF_INET)
                memcpy(&a.in.sin_addr, l->allow[k].net, 4);
            else
                memcpy(&a.in6.sin6_addr, l->allow[k].net, 16);
            addr_format(&a, net, sizeof(net), false);
            n += (size_t)snprintf(who + n, sizeof(who) - n, "%s%s/%u", k ? ", " : "", net, l->allow[k].bits);
        }
        if (l->mode == MODE_FORWARD) {
            log_info("listening on %s: forward proxy for clients in %s; try: curl -x http://%s http://example.com/",
                     l->spec, who, l->spec);
        } else if (l->mode == MODE_ADMIN) {
            log_info("listening on %s: admin (status page, /metrics, /api/) for clients in %s, %s", l->spec, who,
                     l->token ? "with a token" : "no token");
        } else {
            const struct upstream_config *u = l->upstream ? config_upstream(c, l->upstream) : NULL;
            if (u)
                log_info("listening on %s: reverse proxy to upstream %s (%u server%s, %s) for %s", l->spec,
                         u->name, u->nservers, u->nservers == 1 ? "" : "s", u->balance, who);
            else
                log_info("listening on %s: reverse proxy, routed by on_request, for %s", l->spec, who);
        }
    }
    for (char *line = c->warnings, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
        log_warn("%.*s", (int)(nl - line), line);
}

/* The password checker, made when a configuration first needs one. */
static int need_auth(struct server *s, const struct config *cfg, char *err, size_t errlen)
{
    for (unsigned l = 0; l < cfg->nlisteners && s->auth == NULL; l++) {
        if (cfg->listeners[l].auth.users) {
            struct authcheck_config ac = { 0 };
            if ((s->auth = authcheck_new(&ac, err, errlen)) == NULL)
                return -1;
            for (unsigned i = 0; i < s->nw; i++)
                s->workers[i].auth = s->auth; /* before the switch that needs it is posted */
        }
    }
    return 0;
}

/* ---- reload ---- */

static bool same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static bool same_access_logs(const struct config *a, const struct config *b)
{
    if (a->naccess_logs != b->naccess_logs)
        return false;
    for (unsigned i = 0; i < a->naccess_logs; i++)
        if (strcmp(a->access_logs[i].dest, b->access_logs[i].dest) != 0 ||
            a->access_logs[i].format != b->access_logs[i].format)
            return false;
    return true;
}

/* What a reload cannot change in a running process: said once, clearly. */
static void warn_restart_only(const struct config *old, const struct config *cfg)
{
    if (old->workers != cfg->workers)
        log_warn("reload: workers changed (%u -> %u): takes effect at a restart", old->workers, cfg->workers);
    if (!same_string(old->error_log, cfg->error_log) || !same_access_logs(old, cfg) ||
        old->log_level != cfg->log_level)
        log_warn("reload: logs { } changed: takes effect at a restart (SIGUSR1 reopens the same files)");
    if (!same_string(old->resolver.servers, cfg->resolver.servers) ||
        old->resolver.timeout_ms != cfg->resolver.timeout_ms || old->resolver.attempts != cfg->resolver.attempts)
        log_warn("reload: resolver { } changed: takes effect at a restart");
    bool had = old->cache != NULL, has = cfg->cache != NULL;
    if (had != has || (had && (old->cache->size != cfg->cache->size || old->cache->max_object != cfg->cache->max_object)))
        log_warn("reload: cache { } changed: the store keeps its settings and contents until a restart");
}

static int find_listener(const struct config *c, const union sockaddr_u *a)
{
    for (unsigned i = 0; i < c->nlisteners; i++)
        if (addr_equal(&c->listeners[i].addr, a))
            return (int)i;
    return -1;
}

/* A new generation, then every worker switched to it: from the file
 * (SIGHUP, luxy -s reload) or, for servers added or removed through the
 * admin API (membership.h), from the running generation's own source
 * with those changes applied. */
static void reload(struct server *s, bool from_file)
{
    const struct config *old = &s->cur->cfg;
    if (from_file)
        log_info("reload: reading %s", old->path);
    else
        log_info("reload: applying the servers added and removed through the admin API");
    sdnotify("RELOADING=1");
    struct config_gen *ng = config_gen_new(s->cur->id + 1);
    char err[1024];
    int rc;
    if (from_file) {
        rc = config_load(s->path, &ng->cfg, err, sizeof(err));
        if (rc == 0)
            membership_forget(); /* the file is the truth again */
    } else {
        rc = config_load_source(old->path, old->source, strlen(old->source), &ng->cfg, err, sizeof(err));
        if (rc == 0)
            membership_apply(&ng->cfg);
    }
    if (rc == -1) {
        log_error("reload refused: %s; generation %u keeps serving", err, s->cur->id);
        metrics_reload_refused(s->metrics, err);
        config_gen_release(ng);
        sdnotify("READY=1");
        return;
    }
    metrics_bind(s->metrics, &ng->cfg, &s->cur->cfg); /* what stays keeps its counters */
    const struct config *cfg = &ng->cfg;
    warn_restart_only(old, cfg);
    unsigned nl = cfg->nlisteners, nw = s->nw;
    int *fds = xcalloc((size_t)nw * (nl ? nl : 1), sizeof(int));
    bool *fresh = xcalloc((size_t)nw * (nl ? nl : 1), sizeof(bool));
    struct generation **gens = xcalloc(nw, sizeof(*gens));
    for (size_t i = 0; i < (size_t)nw * nl; i++)
        fds[i] = -1;
    bool ok = true;
    for (unsigned l = 0; l < nl && ok; l++) {
        int was = find_listener(old, &cfg->listeners[l].addr);
        for (unsigned w = 0; w < nw && ok; w++) {
            if (was >= 0) {
                fds[w * nl + l] = s->fds[w * old->nlisteners + (unsigned)was];
            } else if ((w == 0 && sockets_probe(&cfg->listeners[l], err, sizeof(err)) == -1) ||
                       (fds[w * nl + l] = sockets_open(&cfg->listeners[l], err, sizeof(err))) == -1) {
                ok = false;
            } else {
                fresh[w * nl + l] = true;
            }
        }
    }
    if (ok && need_auth(s, cfg, err, sizeof(err)) == -1)
        ok = false;
    if (ok)
        shdict_registry_open(cfg); /* before the new Lua states: their top level takes handles */
    for (unsigned w = 0; w < nw && ok; w++) {
        char why[512];
        gens[w] = generation_new(&s->workers[w], ng, why, sizeof(why));
        if (gens[w] == NULL) {
            snprintf(err, sizeof(err), "worker %u: %s", w + 1, why);
            ok = false;
        }
    }
    if (!ok) {
        log_error("reload refused: %s; generation %u keeps serving", err, s->cur->id);
        metrics_reload_refused(s->metrics, err);
        for (unsigned w = 0; w < nw; w++)
            if (gens[w])
                generation_discard(gens[w]);
        for (size_t i = 0; i < (size_t)nw * nl; i++)
            if (fresh[i])
                close(fds[i]);
        free(gens);
        free(fresh);
        free(fds);
        config_gen_release(ng);
        sdnotify("READY=1");
        return;
    }
    for (unsigned w = 0; w < nw; w++)
        worker_switch(&s->workers[w], gens[w], &fds[w * nl], &fresh[w * nl]);
    free(gens);
    free(fresh);
    free(s->fds);
    s->fds = fds;
    config_gen_release(s->cur);
    s->cur = ng;
    metrics_generation(s->metrics, ng->id, ng->loaded_at, true);
    log_info("reload: generation %u is serving; requests in flight finish on the one they began on", ng->id);
    sdnotify("READY=1");
    describe(cfg, ng->id);
}

/* ---- signals ---- */

static void other_signal(struct server *s, int sig)
{
    switch (sig) {
    case SIGUSR1:
        log_info("SIGUSR1: reopening the log files");
        log_reopen();
        break;
    case SIGHUP:
        if (s)
            reload(s, true);
        else
            log_info("SIGHUP while stopping: no reload");
        break;
    case SIGUSR2:
        if (s == NULL)
            log_info("SIGUSR2 while stopping: no upgrade");
        break; /* a running server handles it in its loop */
    default:
        if (sig == membership_signal() && s)
            reload(s, false);
        else
            log_debug("signal %d (%s) ignored", sig, strsignal(sig));
        break;
    }
}

/* Waits for the workers; a second stop signal meanwhile stops at once. */
static void join_workers(struct server *s, unsigned started)
{
    for (unsigned i = 0; i < started; i++) {
        while (pthread_tryjoin_np(s->workers[i].thread, NULL) == EBUSY) {
            struct timespec ts = { 0, 100 * 1000 * 1000 };
            int sig = sigtimedwait(&s->sigs, NULL, &ts);
            if (sig > 0 && is_stop_signal(sig)) {
                log_warn("second stop signal (%s): exiting now", strsignal(sig));
                log_stop();
                _exit(1);
            }
            if (sig > 0)
                other_signal(NULL, sig);
        }
    }
}

/* ---- start and stop ---- */

/* The sockets of cur's listeners: taken over from the process this one
 * upgrades where it listened on the same address, else opened. */
static int open_sockets(struct server *s, char *err, size_t errlen)
{
    const struct config *cfg = &s->cur->cfg;
    unsigned nl = cfg->nlisteners;
    struct inherited *in = s->start->inherited;
    s->fds = xcalloc((size_t)s->nw * (nl ? nl : 1), sizeof(int));
    for (size_t i = 0; i < (size_t)s->nw * nl; i++)
        s->fds[i] = -1;
    int *taken = xcalloc(s->nw, sizeof(int));
    for (unsigned l = 0; l < nl; l++) {
        if (in && upgrade_take(in, &cfg->listeners[l].addr, s->nw, taken)) {
            for (unsigned i = 0; i < s->nw; i++)
                s->fds[i * nl + l] = taken[i];
            continue;
        }
        if (sockets_probe(&cfg->listeners[l], err, errlen) == -1)
            goto fail;
        for (unsigned i = 0; i < s->nw; i++)
            if ((s->fds[i * nl + l] = sockets_open(&cfg->listeners[l], err, errlen)) == -1)
                goto fail;
    }
    free(taken);
    if (in)
        upgrade_close_unused(in);
    return 0;
fail:
    free(taken);
    return -1;
}

/* SIGUSR2: a new process of the binary at our path takes the sockets over;
 * true when it serves (this one then stops accepting and drains). */
static bool upgrade(struct server *s)
{
    char err[1024];
    log_info("SIGUSR2: upgrading: starting %s", s->start->exe);
    if (upgrade_start(s->start->exe, s->start->argv, &s->cur->cfg, s->fds, s->nw, 60, err, sizeof(err)) == 0) {
        log_info("upgrade: this process (%ld) stops accepting and drains", (long)getpid());
        return true;
    }
    log_error("upgrade failed: %s; this process keeps serving", err);
    if (s->pid_file[0] && pidfile_write(s->pid_file, err, sizeof(err)) == -1) /* the new one may have written it */
        log_warn("%s", err);
    return false;
}

int server_run(struct config_gen *cg, struct server_start *start)
{
    struct server s = { .path = start->path, .start = start, .cur = cg, .nw = cg->cfg.workers };
    const struct config *cfg = &cg->cfg;
    char err[1024] = "";
    int status = 1;
    operator_signals(&s.sigs);
    pthread_sigmask(SIG_BLOCK, &s.sigs, NULL); /* the workers never see these: main waits for them */
    s.workers = xcalloc(s.nw, sizeof(*s.workers));
    s.ptrs = xcalloc(s.nw, sizeof(*s.ptrs));
    for (unsigned i = 0; i < s.nw; i++)
        s.ptrs[i] = &s.workers[i];
    s.cache = cfg->cache ? cache_new(cfg->cache) : NULL;
    if (s.cache) {
        cache_set_workers(s.cache, s.ptrs, s.nw);
        cache_set_wake(cache_wake);
    }
    shdict_registry_open(cfg); /* before the workers: their top level may take handles */
    s.metrics = metrics_new(s.nw);
    metrics_bind(s.metrics, &cg->cfg, NULL);
    metrics_generation(s.metrics, cg->id, cg->loaded_at, false);
    unsigned built = 0, started = 0;
    if (open_sockets(&s, err, sizeof(err)) == -1)
        goto out;
    for (; built < s.nw; built++) {
        if (worker_init(&s.workers[built], built + 1, cg, &s.fds[built * cfg->nlisteners], s.cache, s.metrics) == -1) {
            snprintf(err, sizeof(err), "worker %u: %s", built + 1, s.workers[built].err);
            for (unsigned l = 0; l < cfg->nlisteners; l++) { /* not taken over: ours to close */
                close(s.fds[built * cfg->nlisteners + l]);
                s.fds[built * cfg->nlisteners + l] = -1;
            }
            built++; /* half built: worker_destroy frees what it has */
            goto out;
        }
        for (unsigned l = 0; l < cfg->nlisteners; l++)
            s.fds[(built)*cfg->nlisteners + l] = -1; /* the worker owns them now */
    }
    /* the table mirrors the sockets the workers own (a reload keeps them) */
    for (unsigned i = 0; i < s.nw; i++)
        for (unsigned l = 0; l < cfg->nlisteners; l++)
            s.fds[i * cfg->nlisteners + l] = s.workers[i].listeners[l].fd;
    if (need_auth(&s, cfg, err, sizeof(err)) == -1)
        goto out;
    log_start();
    describe(cfg, cg->id);
    if (cfg->pid_file && pidfile_write(cfg->pid_file, err, sizeof(err)) == 0)
        snprintf(s.pid_file, sizeof(s.pid_file), "%s", cfg->pid_file);
    else if (cfg->pid_file)
        log_warn("%s; luxy -s will not find this process", err);
    for (; started < s.nw; started++) {
        if (worker_start(&s.workers[started]) == -1) {
            snprintf(err, sizeof(err), "cannot start worker thread %u", started + 1);
            break;
        }
    }
    if (started == s.nw) {
        char state[64];
        snprintf(state, sizeof(state), "MAINPID=%ld\nREADY=1", (long)getpid()); /* after an upgrade: us */
        sdnotify(state);
        if (start->inherited) { /* the process we upgrade may stop accepting now */
            upgrade_ready(start->inherited);
            start->inherited = NULL;
        }
        int sig = 0;
        while (sigwait(&s.sigs, &sig) == 0 && !is_stop_signal(sig)) {
            if (sig == SIGUSR2 && upgrade(&s))
                break; /* a graceful stop: the new process accepts from now on */
            other_signal(&s, sig);
        }
        bool now = sig == SIGINT;
        if (sig == SIGUSR2)
            log_info("upgraded: requests in flight may finish");
        else
            log_info("signal %d (%s): %s", sig, strsignal(sig),
                     now ? "stopping now" : "stopping; requests in flight may finish");
        status = 0;
        err[0] = '\0';
        for (unsigned i = 0; i < started; i++)
            worker_stop(&s.workers[i], now);
    } else {
        for (unsigned i = 0; i < started; i++)
            worker_stop(&s.workers[i], true);
    }
    join_workers(&s, started);
    membership_forget();
out:
    if (status != 0 && err[0])
        fprintf(stderr, "luxy: %s\n", err);
    if (started < s.nw && s.fds) /* a start that failed: the sockets no worker took over */
        for (size_t i = 0; i < (size_t)s.nw * s.cur->cfg.nlisteners; i++)
            if (s.fds[i] != -1 && i / s.cur->cfg.nlisteners >= built)
                close(s.fds[i]);
    for (unsigned i = 0; i < built; i++)
        worker_destroy(&s.workers[i]); /* their generations go, and the sockets they own */
    cache_free(s.cache);
    metrics_free(s.metrics); /* after the workers: nothing counts any more */
    if (s.auth)
        authcheck_free(s.auth); /* after the workers: none of their tickets is left */
    shdict_registry_free();    /* the workers are gone: nothing holds a handle any more */
    if (s.pid_file[0])
        pidfile_remove(s.pid_file);
    free(s.ptrs);
    free(s.fds);
    free(s.workers);
    log_info("stopped");
    log_stop();
    config_gen_release(s.cur);
    return status;
}
