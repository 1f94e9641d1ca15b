/* sim_main.c - the `luxy simulate` command line: read the traffic and the
 * model once, run each configuration (and each --balance strategy) in a
 * child process of its own on the same traffic and seed (a lab is one per
 * process), and report them side by side. Everything on stdout and in the
 * files depends only on the inputs and the seed; the wall-clock timing
 * goes to stderr. */
#include "sim_main.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim_engine.h"
#include "sim_report.h"

#define MAX_RUNS 32

static const char usage[] =
    "usage: luxy simulate -c CONF [--upstream NAME] (--trace LOG [--host NAME] | --workload FILE.lua)\n"
    "                     --model FILE.lua [--seed N] [--duration SECONDS] [--balance S1,S2,...]\n"
    "                     [--compare CONF...] [--html OUT.html] [--json OUT.json] [-q]\n"
    "  -c CONF            the configuration whose strategy runs (luxy's Lua file)\n"
    "  --upstream NAME    the group simulated (default: the first reverse listener's, or the only one)\n"
    "  --trace LOG        replay an access log: luxy's json, luxy or combined format\n"
    "  --host NAME        the Host of replayed requests (logs do not record it; default localhost)\n"
    "  --workload FILE    synthetic traffic instead (a Lua table: rate/phases or clients, keys, sizes)\n"
    "  --model FILE       the backends: capacity, latency, failures, events (a Lua table)\n"
    "  --seed N           the random numbers of the workload, the model and the strategies (default 1)\n"
    "  --duration S       simulate at most S seconds of the input\n"
    "  --balance LIST     run the group with each of these built-in strategies instead of its own\n"
    "  --compare CONF...  more configurations, side by side on the same traffic and seed\n"
    "  --html OUT         write the report as a self-contained HTML page\n"
    "  --json OUT         write the results as JSON (- for stdout, instead of the table)\n"
    "  -q                 no table on stdout\n";

struct run {
    const char *config;
    const char *balance;
};

/* Runs one simulation in a child; *res filled. 0, or -1 and err. */
static int run_child(const struct sim_run_options *o, struct sim_result *res, char *err, size_t errlen)
{
    int fds[2];
    if (pipe(fds) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]), close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        char why[512] = "";
        int rc = sim_run(o, res, why, sizeof(why));
        char status = rc == 0 ? 0 : 1;
        const char *p = rc == 0 ? (const char *)res : why;
        size_t n = rc == 0 ? sizeof(*res) : strlen(why) + 1;
        ssize_t w = write(fds[1], &status, 1);
        while (w > 0 && n > 0) {
            w = write(fds[1], p, n);
            if (w > 0)
                p += w, n -= (size_t)w;
        }
        /* exit, not _exit: stdio was flushed before the fork, and under
         * ASan the leak check runs on the child too */
        exit(w > 0 || n == 0 ? 0 : 1);
    }
    close(fds[1]);
    char status = 2;
    char *p = (char *)res;
    size_t got = 0, want = sizeof(*res);
    ssize_t r = read(fds[0], &status, 1);
    char why[512] = "";
    if (r == 1 && status == 1) {
        p = why, want = sizeof(why) - 1;
    }
    while (r > 0 && got < want) {
        r = read(fds[0], p + got, want - got);
        if (r > 0)
            got += (size_t)r;
        else if (r < 0 && errno == EINTR)
            r = 1;
    }
    close(fds[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    if (status == 0 && got == sizeof(*res) && WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
        return 0;
    if (status == 1)
        snprintf(err, errlen, "%s", why);
    else if (WIFSIGNALED(ws))
        snprintf(err, errlen, "the simulation of %s died (signal %d)", o->config_path, WTERMSIG(ws));
    else
        snprintf(err, errlen, "the simulation of %s failed", o->config_path);
    return -1;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "luxy simulate: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

int sim_main(int argc, char **argv)
{
    const char *conf = NULL, *upstream = NULL, *trace_path = NULL, *workload = NULL, *model_path = NULL;
    const char *host = NULL, *html = NULL, *json = NULL, *balance = NULL;
    const char *compare[MAX_RUNS];
    unsigned ncompare = 0;
    uint64_t seed = 1;
    double duration = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "-c") == 0              ? &conf
                            : strcmp(a, "--upstream") == 0   ? &upstream
                            : strcmp(a, "--trace") == 0      ? &trace_path
                            : strcmp(a, "--workload") == 0   ? &workload
                            : strcmp(a, "--model") == 0      ? &model_path
                            : strcmp(a, "--host") == 0       ? &host
                            : strcmp(a, "--html") == 0       ? &html
                            : strcmp(a, "--json") == 0       ? &json
                            : strcmp(a, "--balance") == 0    ? &balance
                                                             : NULL;
        if (slot) {
            if (i + 1 >= argc)
                return fail("%s needs a value", a);
            *slot = argv[++i];
        } else if (strcmp(a, "--seed") == 0 || strcmp(a, "--duration") == 0) {
            if (i + 1 >= argc)
                return fail("%s needs a value", a);
            const char *v = argv[++i];
            char *end;
            errno = 0;
            if (a[2] == 's')
                seed = strtoull(v, &end, 10);
            else
                duration = strtod(v, &end);
            if (*end || end == v || errno || *v == '-' || !(duration >= 0 && duration <= 1e9))
                return fail("%s: not a number (0 or more)", v);
        } else if (strcmp(a, "--compare") == 0) {
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                if (ncompare == MAX_RUNS)
                    return fail("at most %s configurations", "32");
                compare[ncompare++] = argv[++i];
            }
        } else if (strcmp(a, "-q") == 0)
            quiet = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return fail("unknown argument %s", a);
        }
    }
    if (!conf && !ncompare) {
        fputs(usage, stderr);
        return fail("%s", "-c CONF (or --compare CONF...) is required");
    }
    if (!model_path || (!trace_path == !workload)) {
        fputs(usage, stderr);
        return fail("%s", "--model and one of --trace or --workload are required");
    }
    /* the runs: each configuration, times each --balance strategy */
    struct run runs[MAX_RUNS];
    unsigned nruns = 0;
    const char *confs[MAX_RUNS + 1];
    unsigned nconfs = 0;
    if (conf)
        confs[nconfs++] = conf;
    for (unsigned i = 0; i < ncompare; i++)
        confs[nconfs++] = compare[i];
    char *balances = balance ? strdup(balance) : NULL;
    char *names[MAX_RUNS];
    unsigned nnames = 0;
    for (char *save = NULL, *t = balances ? strtok_r(balances, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
        if (nnames < MAX_RUNS)
            names[nnames++] = t;
    for (unsigned c = 0; c < nconfs; c++)
        for (unsigned b = 0; b < (nnames ? nnames : 1); b++) {
            if (nruns == MAX_RUNS) {
                free(balances);
                return fail("at most %s runs", "32");
            }
            runs[nruns++] = (struct run){ confs[c], nnames ? names[b] : NULL };
        }
    char err[1024];
    static struct sim_model model;
    if (!sim_model_load(&model, model_path, err, sizeof(err))) {
        free(balances);
        return fail("%s", err);
    }
    struct sim_trace trace = { 0 };
    double t0 = wall();
    if (trace_path && sim_trace_load(&trace, trace_path, err, sizeof(err)) < 0) {
        free(balances);
        return fail("%s", err);
    }
    if (trace_path && trace.n == 0) {
        free(balances);
        sim_trace_free(&trace);
        return fail("%s: no request lines in it", trace_path);
    }
    struct sim_result *res[MAX_RUNS];
    int status = 0;
    unsigned done = 0;
    for (unsigned i = 0; i < nruns; i++) {
        res[i] = malloc(sizeof(*res[i]));
        if (!res[i]) {
            status = fail("%s", "out of memory");
            break;
        }
        struct sim_run_options o = { .config_path = runs[i].config, .upstream = upstream, .balance = runs[i].balance,
                                     .model = &model, .trace = trace_path ? &trace : NULL, .workload_path = workload,
                                     .host = host, .seed = seed, .duration = duration };
        if (run_child(&o, res[i], err, sizeof(err)) < 0) {
            free(res[i]);
            status = fail("%s", err);
            break;
        }
        done++;
    }
    double took = wall() - t0;
    if (status == 0) {
        char source[600];
        snprintf(source, sizeof(source), "%s %s", trace_path ? "trace" : "workload", trace_path ? trace_path : workload);
        struct sim_report_info info = { source, model_path, seed };
        const struct sim_result *const *rr = (const struct sim_result *const *)res;
        if (json && strcmp(json, "-") == 0)
            sim_report_json(stdout, &info, rr, nruns);
        else if (!quiet)
            sim_report_text(stdout, &info, rr, nruns);
        const char *outs[2] = { html, json && strcmp(json, "-") != 0 ? json : NULL };
        for (int k = 0; k < 2 && status == 0; k++) {
            if (!outs[k])
                continue;
            FILE *f = fopen(outs[k], "w");
            if (!f) {
                status = fail("%s: cannot write it", outs[k]);
                break;
            }
            if (k == 0)
                sim_report_html(f, &info, rr, nruns);
            else
                sim_report_json(f, &info, rr, nruns);
            if (fclose(f) != 0)
                status = fail("%s: write failed", outs[k]);
        }
        uint64_t requests = 0;
        for (unsigned i = 0; i < nruns; i++)
            requests += res[i]->requests;
        fprintf(stderr, "luxy simulate: %u run%s, %llu requests, %.1f s simulated each, in %.2f s\n", nruns,
                nruns == 1 ? "" : "s", (unsigned long long)requests, nruns ? res[0]->seconds : 0.0, took);
    }
    for (unsigned i = 0; i < done; i++)
        free(res[i]);
    free(balances);
    sim_trace_free(&trace);
    return status;
}
