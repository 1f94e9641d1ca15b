/* main.c - the command line: check a configuration (-t), signal a running
 * luxy (-s, through its pid file), or load the configuration and run
 * (server.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../lua/config.h"
#include "../lua/lab_spec.h"
#include "trace_client.h"
#include "config.h"
#include "generation.h"
#include "log.h"
#include "luxy.h"
#include "pidfile.h"
#include "server.h"
#include "sim_main.h"
#include "upgrade.h"
#include "version.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: luxy [-c FILE] [-t] [-s SIGNAL] [-p PIDFILE] [-v] [-V] [-h]\n"
            "  -c FILE    configuration (Lua); without it luxy runs its built-in default:\n"
            "             a forward proxy on 127.0.0.1:3128 for local clients\n"
            "  -t         check the configuration and exit (0: fine, 1: error)\n"
            "  -s SIGNAL  send SIGNAL to the running luxy (found through its pid file):\n"
            "               reload  check the configuration, then switch to it without\n"
            "                       dropping a connection (a broken one is refused)\n"
            "               quit    stop gracefully (requests in flight finish)\n"
            "               stop    stop now (connections are cut)\n"
            "               reopen  reopen the log files (after logrotate)\n"
            "               upgrade start the binary installed at luxy's path again: the new\n"
            "                       process takes the listening sockets over, the old one\n"
            "                       drains and exits (a new one that fails leaves it serving)\n"
            "  -p PIDFILE the pid file -s uses (default: the configuration's `pid`, else\n"
            "             %s)\n"
            "  -v         print the version\n"
            "  -V         print the versions of luxy and of every library it uses\n"
            "  -h         this help\n"
            "Signals: HUP reloads; TERM and QUIT stop gracefully (in-flight requests\n"
            "finish; a second one stops at once); INT stops now; USR1 reopens the log\n"
            "files; USR2 upgrades the binary.\n",
            config_default_pid_file());
}

static void print_warnings(const struct config *c)
{
    for (char *line = c->warnings, *nl; line && (nl = strchr(line, '\n')); line = nl + 1)
        fprintf(stderr, "luxy: warning: %.*s\n", (int)(nl - line), line);
}

static int check_only(const struct config *cfg)
{
    unsigned parents = 0;
    for (unsigned i = 0; i < cfg->nupstreams; i++)
        parents += cfg->upstreams[i].parent;
    unsigned ups = cfg->nupstreams - parents;
    char more[32] = "";
    if (parents)
        snprintf(more, sizeof(more), ", %u parent%s", parents, parents == 1 ? "" : "s");
    printf("luxy: configuration %s is valid (%u listener%s, %u upstream%s%s)\n", cfg->path, cfg->nlisteners,
           cfg->nlisteners == 1 ? "" : "s", ups, ups == 1 ? "" : "s", more);
    return 0;
}

/* -s: reload checks the file first, so a broken one never reaches the
 * running process (which would refuse it too, in its log). */
static int send_signal(const char *what, const char *path, const char *pid_path)
{
    static const struct { const char *name; int sig; } table[] = {
        { "reload", SIGHUP }, { "quit", SIGQUIT }, { "stop", SIGINT }, { "reopen", SIGUSR1 },
        { "upgrade", SIGUSR2 },
    };
    int sig = 0;
    for (size_t i = 0; i < countof(table); i++)
        if (strcmp(what, table[i].name) == 0)
            sig = table[i].sig;
    if (sig == 0) {
        fprintf(stderr, "luxy: -s %s: unknown signal (reload, quit, stop, reopen, upgrade)\n", what);
        return 2;
    }
    char err[1024];
    struct config cfg;
    int loaded = config_load(path, &cfg, err, sizeof(err));
    if (loaded == -1 && (sig == SIGHUP || sig == SIGUSR2)) {
        print_warnings(&cfg);
        fprintf(stderr, "luxy: configuration error: %s\nluxy: not %s: the running process keeps serving\n", err,
                sig == SIGHUP ? "reloaded" : "upgraded");
        config_free(&cfg);
        return 1;
    }
    char file[1024];
    snprintf(file, sizeof(file), "%s",
             pid_path ? pid_path : loaded == 0 && cfg.pid_file ? cfg.pid_file : config_default_pid_file());
    config_free(&cfg);
    pid_t pid = pidfile_read(file, err, sizeof(err));
    if (pid == 0) {
        fprintf(stderr, "luxy: %s\n", err);
        return 1;
    }
    if (kill(pid, sig) == -1) {
        fprintf(stderr, "luxy: cannot signal process %ld: %s\n", (long)pid, strerror(errno));
        return 1;
    }
    return 0;
}

/* This binary's path, read now: once an upgrade installed a new file
 * there, /proc/self/exe names the old one, deleted. */
static void own_path(const char *argv0, char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n > 0) {
        out[n] = '\0';
        return;
    }
    snprintf(out, cap, "%s", argv0);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "test") == 0)
        return lab_test_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "trace") == 0)
        return trace_client_main(argc - 1, argv + 1);
    const char *path = NULL, *signal_name = NULL, *pid_path = NULL;
    bool test_only = false;
    if (argc > 1 && strcmp(argv[1], "simulate") == 0) /* luxy simulate ...: the policy lab */
        return sim_main(argc - 1, argv + 1);
    int opt;
    while ((opt = getopt(argc, argv, "c:ts:p:vVh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 's':
            signal_name = optarg;
            break;
        case 'p':
            pid_path = optarg;
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
    if (signal_name)
        return send_signal(signal_name, path, pid_path);

    char err[1024] = "";
    struct inherited inherited;
    bool upgrading = !test_only && upgrade_inherited(&inherited, err, sizeof(err));
    if (err[0]) {
        fprintf(stderr, "luxy: %s\n", err);
        return 1;
    }
    struct config_gen *cg = config_gen_new(1);
    int loaded = config_load(path, &cg->cfg, err, sizeof(err));
    if (cg->cfg.warnings && (test_only || loaded == -1))
        print_warnings(&cg->cfg);
    if (loaded == -1) {
        fprintf(stderr, "luxy: configuration error: %s\n", err);
        config_gen_release(cg);
        if (upgrading)
            upgrade_free(&inherited);
        return 1;
    }
    if (test_only) {
        int rc = check_only(&cg->cfg);
        config_gen_release(cg);
        return rc;
    }
    if (log_open(cg->cfg.error_log, cg->cfg.access_logs, cg->cfg.naccess_logs, (enum log_level)cg->cfg.log_level, err,
                 sizeof(err)) == -1) {
        fprintf(stderr, "luxy: %s\n", err);
        config_gen_release(cg);
        if (upgrading)
            upgrade_free(&inherited);
        return 1;
    }
    /* every connection is a descriptor: take all the system allows */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    signal(SIGPIPE, SIG_IGN);
    if (upgrading && cg->cfg.workers != inherited.workers) {
        log_warn("upgrade: the running process has %u workers: the new one keeps them (workers %u takes a restart)",
                 inherited.workers, cg->cfg.workers);
        cg->cfg.workers = inherited.workers; /* so that every socket has its worker */
    }
    char exe[4096];
    own_path(argv[0], exe, sizeof(exe));
    struct server_start start = { path, exe, argv, upgrading ? &inherited : NULL };
    int status = server_run(cg, &start);
    if (start.inherited)
        upgrade_free(start.inherited);
    return status;
}
