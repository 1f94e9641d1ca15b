/* main.c - the command line, the listening sockets, the workers, signals.
 * The main thread owns no traffic: it loads the configuration, opens one
 * SO_REUSEPORT socket per listener and worker (so a port in use fails here,
 * loudly, before anything starts), then waits for a signal. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../lua/config.h"
#include "cache.h"
#include "cache_serve.h"
#include "config.h"
#include "log.h"
#include "luxy.h"
#include "shdict_registry.h"
#include "authcheck.h"
#include "version.h"
#include "worker.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: luxy [-c FILE] [-t] [-v] [-V] [-h]\n"
            "  -c FILE  configuration (Lua); without it luxy runs its built-in default:\n"
            "           a forward proxy on 127.0.0.1:3128 for local clients\n"
            "  -t       check the configuration and exit (0: fine, 1: error)\n"
            "  -v       print the version\n"
            "  -V       print the versions of luxy and of every library it uses\n"
            "  -h       this help\n"
            "Signals: TERM, INT or QUIT stop gracefully (in-flight requests finish; a\n"
            "second one stops at once); USR1 reopens the log files; HUP and USR2 are\n"
            "logged and ignored (reload and binary upgrade are not supported yet).\n");
}

/* Every signal an operator or a tool like logrotate may send: none may
 * kill luxy with requests in flight. */
static void operator_signals(sigset_t *set)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH };
    sigemptyset(set);
    for (size_t i = 0; i < countof(sigs); i++)
        sigaddset(set, sigs[i]);
}

static bool is_stop_signal(int sig)
{
    return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
}

static void other_signal(int sig)
{
    switch (sig) {
    case SIGUSR1:
        log_info("SIGUSR1: reopening the log files");
        log_reopen();
        break;
    case SIGHUP:
        log_warn("SIGHUP: configuration reload is not supported yet; ignored");
        break;
    case SIGUSR2:
        log_warn("SIGUSR2: binary upgrade is not supported yet; ignored");
        break;
    default:
        log_debug("signal %d (%s) ignored", sig, strsignal(sig));
        break;
    }
}

static int open_listener(const struct listener_config *l, char *err, size_t errlen)
{
    int fd = socket(l->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "listen %s: socket: %s", l->spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (l->addr.sa.sa_family == AF_INET6) /* "[::]" means IPv6 only: say 0.0.0.0 too if wanted */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, &l->addr.sa, addr_len(&l->addr)) == -1 || listen(fd, l->backlog) == -1) {
        snprintf(err, errlen, "cannot listen on %s: %s", l->spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A port that is taken by another program must fail: with SO_REUSEPORT a
 * second luxy would silently share it. The first socket probes without it. */
static int probe_port(const struct listener_config *l, char *err, size_t errlen)
{
    int fd = socket(l->addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l->addr.sa.sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(fd, &l->addr.sa, addr_len(&l->addr));
    int e = errno;
    close(fd);
    if (rc == -1) {
        snprintf(err, errlen, "cannot listen on %s: %s", l->spec, strerror(e));
        return -1;
    }
    return 0;
}

static void print_warnings(const struct config *c)
{
    for (char *line = c->warnings, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
        fprintf(stderr, "luxy: warning: %.*s\n", (int)(nl - line), line);
}

static void describe(const struct config *c)
{
    log_info("luxy %s: %u worker%s, configuration %s", LUXY_VERSION, c->workers,
             c->workers == 1 ? "" : "s", c->path);
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
        } else {
            const struct upstream_config *u = l->upstream ? config_upstream(c, l->upstream) : NULL;
            if (u)
                log_info("listening on %s: reverse proxy to upstream %s (%u server%s, %s) for %s", l->spec,
                         u->name, u->nservers, u->nservers == 1 ? "" : "s", u->balance, who);
            else
                log_info("listening on %s: reverse proxy, routed by on_request, for %s", l->spec, who);
        }
    }
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool test_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:tvVh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'v':
            printf("luxy %s (Lua 5.4, libev, http-parser)\n", LUXY_VERSION);
            return 0;
        case 'V':
            luxy_print_versions(stdout);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    struct config cfg;
    char err[1024];
    int loaded = config_load(path, &cfg, err, sizeof(err));
    if (cfg.warnings && (test_only || loaded == -1))
        print_warnings(&cfg);
    if (loaded == -1) {
        fprintf(stderr, "luxy: configuration error: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    if (test_only) {
        unsigned parents = 0;
        for (unsigned i = 0; i < cfg.nupstreams; i++)
            parents += cfg.upstreams[i].parent;
        unsigned ups = cfg.nupstreams - parents;
        char more[32] = "";
        if (parents)
            snprintf(more, sizeof(more), ", %u parent%s", parents, parents == 1 ? "" : "s");
        printf("luxy: configuration %s is valid (%u listener%s, %u upstream%s%s)\n", cfg.path, cfg.nlisteners,
               cfg.nlisteners == 1 ? "" : "s", ups, ups == 1 ? "" : "s", more);
        config_free(&cfg);
        return 0;
    }
    if (log_open(cfg.error_log, cfg.access_log, (enum log_level)cfg.log_level, err, sizeof(err)) == -1) {
        fprintf(stderr, "luxy: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    /* every connection is a descriptor: take all the system allows */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    signal(SIGPIPE, SIG_IGN);
    /* the workers never see these: main waits for them below */
    sigset_t sigs;
    operator_signals(&sigs);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    int status = 1;
    unsigned nw = cfg.workers;
    struct worker *workers = xcalloc(nw, sizeof(*workers));
    int *fds = xcalloc((size_t)nw * cfg.nlisteners, sizeof(int));
    for (size_t i = 0; i < (size_t)nw * cfg.nlisteners; i++)
        fds[i] = -1;
    unsigned started = 0, built = 0;
    struct cache *cache = cfg.cache ? cache_new(cfg.cache) : NULL;
    struct authcheck *auth = NULL; /* password hashing threads, when a listener has a user file */
    shdict_registry_open(&cfg); /* before the workers: their top level may take handles */
    struct worker **worker_ptrs = xcalloc(nw, sizeof(*worker_ptrs));
    for (unsigned i = 0; i < nw; i++)
        worker_ptrs[i] = &workers[i];
    if (cache) {
        cache_set_workers(cache, worker_ptrs, nw);
        cache_set_wake(cache_wake);
    }
    for (unsigned l = 0; l < cfg.nlisteners; l++) {
        if (probe_port(&cfg.listeners[l], err, sizeof(err)) == -1)
            goto out;
        for (unsigned i = 0; i < nw; i++)
            if ((fds[i * cfg.nlisteners + l] = open_listener(&cfg.listeners[l], err, sizeof(err))) == -1)
                goto out;
    }
    for (unsigned l = 0; l < cfg.nlisteners && auth == NULL; l++) {
        if (cfg.listeners[l].auth.users) {
            struct authcheck_config ac = { 0 };
            if ((auth = authcheck_new(&ac, err, sizeof(err))) == NULL)
                goto out;
        }
    }
    for (; built < nw; built++) {
        if (worker_init(&workers[built], built + 1, &cfg, &fds[built * cfg.nlisteners], cache) == -1) {
            snprintf(err, sizeof(err), "worker %u: %s", built + 1, workers[built].err);
            built++;
            goto out;
        }
        workers[built].auth = auth;
        for (unsigned l = 0; l < cfg.nlisteners; l++)
            fds[built * cfg.nlisteners + l] = -1; /* the worker owns them now */
    }
    log_start();
    describe(&cfg);
    for (char *line = cfg.warnings, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
        log_warn("%.*s", (int)(nl - line), line);
    for (; started < nw; started++) {
        if (worker_start(&workers[started]) == -1) {
            snprintf(err, sizeof(err), "cannot start worker thread %u", started + 1);
            break;
        }
    }
    if (started == nw) {
        int sig = 0;
        while (sigwait(&sigs, &sig) == 0 && !is_stop_signal(sig))
            other_signal(sig);
        log_info("signal %d (%s): stopping; requests in flight have %.0fs to finish", sig, strsignal(sig),
                 cfg.timeouts.grace);
        status = 0;
        err[0] = '\0';
    }
    for (unsigned i = 0; i < started; i++)
        worker_stop(&workers[i]);
    /* a second stop signal while waiting: stop at once */
    for (unsigned i = 0; i < started; i++) {
        while (pthread_tryjoin_np(workers[i].thread, NULL) == EBUSY) {
            struct timespec ts = { 0, 100 * 1000 * 1000 };
            int sig = sigtimedwait(&sigs, NULL, &ts);
            if (sig > 0 && is_stop_signal(sig)) {
                log_warn("second stop signal (%s): exiting now", strsignal(sig));
                log_stop();
                _exit(1);
            }
            if (sig > 0)
                other_signal(sig);
        }
    }
out:
    if (status != 0)
        fprintf(stderr, "luxy: %s\n", err);
    for (unsigned i = 0; i < built; i++)
        worker_destroy(&workers[i]);
    cache_free(cache);
    if (auth)
        authcheck_free(auth); /* after the workers: none of their tickets is left */
    shdict_registry_free(); /* the workers are gone: nothing holds a handle any more */
    free(worker_ptrs);
    for (size_t i = 0; i < (size_t)nw * cfg.nlisteners; i++)
        if (fds[i] != -1)
            close(fds[i]);
    free(fds);
    free(workers);
    log_info("stopped");
    log_stop();
    config_free(&cfg);
    return status;
}
