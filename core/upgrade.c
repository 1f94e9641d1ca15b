/* upgrade.c - see upgrade.h.
 *
 *   LUXY_INHERIT="2;127.0.0.1:8080=5,7;[::1]:8443=6,8"   workers; address=fd per worker
 *   LUXY_READY_FD=9                                       the pipe to write "ready" to */
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define ENV_FDS "LUXY_INHERIT"
#define ENV_READY "LUXY_READY_FD"

/* ---- the new process ---- */

static bool parse_fd(const char *p, const char *end, int *out)
{
    long v = 0;
    if (p == end)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) > 1 << 20)
            return false;
    }
    *out = (int)v;
    return fcntl(*out, F_GETFD) != -1; /* really inherited */
}

static bool parse_listener(struct inherited_listener *l, const char *p, const char *end, unsigned workers)
{
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (eq == NULL)
        return false;
    char host[ADDR_HOSTLEN];
    uint16_t port;
    const char *why;
    if (addr_split(p, (size_t)(eq - p), host, &port, 0, &why) == -1 || addr_from_ip(host, port, &l->addr) == -1)
        return false;
    l->fds = xcalloc(workers, sizeof(int));
    for (const char *q = eq + 1; q < end && l->nfds < workers;) {
        const char *comma = memchr(q, ',', (size_t)(end - q));
        const char *stop = comma ? comma : end;
        if (!parse_fd(q, stop, &l->fds[l->nfds]))
            return false;
        fcntl(l->fds[l->nfds], F_SETFD, FD_CLOEXEC); /* ours now: not for our own children */
        l->nfds++;
        q = stop + 1;
    }
    return l->nfds == workers;
}

bool upgrade_inherited(struct inherited *in, char *err, size_t errlen)
{
    memset(in, 0, sizeof(*in));
    in->ready_fd = -1;
    const char *text = getenv(ENV_FDS), *ready = getenv(ENV_READY);
    if (text == NULL)
        return false;
    char *copy = xstrdup(text);
    unsetenv(ENV_FDS); /* a later upgrade of this process says its own */
    if (ready) {
        in->ready_fd = atoi(ready);
        fcntl(in->ready_fd, F_SETFD, FD_CLOEXEC);
        unsetenv(ENV_READY);
    }
    const char *p = copy, *end = copy + strlen(copy);
    const char *semi = memchr(p, ';', (size_t)(end - p));
    in->workers = (unsigned)atoi(p);
    bool ok = in->workers > 0 && in->workers <= 256;
    p = semi ? semi + 1 : end;
    while (ok && p < end) {
        semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        in->l = xrealloc(in->l, (in->n + 1) * sizeof(*in->l));
        memset(&in->l[in->n], 0, sizeof(in->l[in->n]));
        ok = parse_listener(&in->l[in->n++], p, stop, in->workers);
        p = stop + 1;
    }
    if (!ok)
        snprintf(err, errlen, "%s is not what an upgrading luxy writes: \"%.200s\"", ENV_FDS, copy);
    free(copy);
    return ok;
}

bool upgrade_take(struct inherited *in, const union sockaddr_u *addr, unsigned nw, int *fds)
{
    for (unsigned i = 0; i < in->n; i++) {
        struct inherited_listener *l = &in->l[i];
        if (!l->taken && l->nfds == nw && addr_equal(&l->addr, addr)) {
            memcpy(fds, l->fds, nw * sizeof(int));
            l->taken = true;
            return true;
        }
    }
    return false;
}

void upgrade_close_unused(struct inherited *in)
{
    for (unsigned i = 0; i < in->n; i++) {
        if (in->l[i].taken)
            continue;
        char text[ADDR_STRLEN];
        addr_format(&in->l[i].addr, text, sizeof(text), true);
        log_info("upgrade: %s is not in the new configuration: its sockets are closed", text);
        for (unsigned k = 0; k < in->l[i].nfds; k++)
            close(in->l[i].fds[k]);
        in->l[i].taken = true;
    }
}

void upgrade_free(struct inherited *in)
{
    for (unsigned i = 0; i < in->n; i++)
        free(in->l[i].fds);
    free(in->l);
    if (in->ready_fd != -1)
        close(in->ready_fd);
    memset(in, 0, sizeof(*in));
    in->ready_fd = -1;
}

void upgrade_ready(struct inherited *in)
{
    if (in->ready_fd != -1) {
        static const char ok[] = "ready\n";
        ssize_t n = write(in->ready_fd, ok, sizeof(ok) - 1);
        (void)n; /* the old process may be gone: nothing to do about it */
    }
    upgrade_free(in);
}

/* ---- the old process ---- */

static char *inherit_text(const struct config *cfg, const int *fds, unsigned nw)
{
    size_t cap = 32 + (size_t)cfg->nlisteners * (ADDR_STRLEN + 2 + (size_t)nw * 12);
    char *t = xmalloc(cap);
    size_t n = (size_t)snprintf(t, cap, "%u", nw);
    for (unsigned l = 0; l < cfg->nlisteners; l++) {
        char a[ADDR_STRLEN];
        addr_format(&cfg->listeners[l].addr, a, sizeof(a), true);
        n += (size_t)snprintf(t + n, cap - n, ";%s=", a);
        for (unsigned w = 0; w < nw; w++)
            n += (size_t)snprintf(t + n, cap - n, "%s%d", w ? "," : "", fds[w * cfg->nlisteners + l]);
    }
    return t;
}

int upgrade_start(const char *exe, char *const argv[], const struct config *cfg, const int *fds, unsigned nw,
                  double timeout, char *err, size_t errlen)
{
    if (access(exe, X_OK) == -1) {
        snprintf(err, errlen, "cannot run %s: %s", exe, strerror(errno));
        return -1;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) == -1) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    /* everything the child needs is built here: after fork, in a threaded
     * process, it may only make async-signal-safe calls */
    char *text = inherit_text(cfg, fds, nw);
    size_t tl = strlen(text) + sizeof(ENV_FDS) + 2;
    char *env_fds = xmalloc(tl), env_ready[64];
    snprintf(env_fds, tl, "%s=%s", ENV_FDS, text);
    snprintf(env_ready, sizeof(env_ready), "%s=%d", ENV_READY, pipefd[1]);
    extern char **environ;
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = xcalloc(ne + 3, sizeof(*envp));
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], ENV_FDS "=", sizeof(ENV_FDS)) != 0 && strncmp(environ[i], ENV_READY "=", sizeof(ENV_READY)) != 0)
            envp[k++] = environ[i];
    envp[k++] = env_fds;
    envp[k++] = env_ready;
    sigset_t none;
    sigemptyset(&none);
    pid_t child = fork();
    if (child == -1) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        free(text);
        free(env_fds);
        free(envp);
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (child == 0) {
        for (size_t i = 0; i < (size_t)nw * cfg->nlisteners; i++)
            fcntl(fds[i], F_SETFD, 0); /* these cross exec */
        fcntl(pipefd[1], F_SETFD, 0);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the main thread blocked them for sigwait */
        execve(exe, argv, envp);
        _exit(127);
    }
    free(env_fds);
    free(envp);
    free(text);
    close(pipefd[1]);
    char buf[16];
    ssize_t got = 0;
    struct pollfd p = { pipefd[0], POLLIN, 0 };
    int rc = poll(&p, 1, (int)(timeout * 1000));
    if (rc > 0)
        got = read(pipefd[0], buf, sizeof(buf));
    close(pipefd[0]);
    if (got >= 5 && memcmp(buf, "ready", 5) == 0) {
        log_info("upgrade: process %ld (%s) serves now", (long)child, exe);
        return 0;
    }
    int status = 0;
    if (rc == 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        snprintf(err, errlen, "the new process (%ld) was not ready within %.0f s: killed", (long)child, timeout);
        return -1;
    }
    waitpid(child, &status, 0);
    if (WIFEXITED(status))
        snprintf(err, errlen, "the new process (%ld) exited with %d before it was ready (its errors are in the error log)",
                 (long)child, WEXITSTATUS(status));
    else
        snprintf(err, errlen, "the new process (%ld) died before it was ready", (long)child);
    return -1;
}
