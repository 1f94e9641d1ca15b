/* config_load.c - loading a configuration: run the file once in a loader
 * state to fill struct config (lua/config.c has the directives), then
 * check everything the real start would trip over, so that `luxy -t` and
 * the start refuse the same files with the same messages: routes, the log
 * files, a worker's Lua state with the configured limits (the file runs
 * again in it, exactly as in a worker), and the upstream host names,
 * resolved with the configured resolver. Mistakes that are not errors
 * (a misspelled hook name) become warnings. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/luxy.h"
#include "../core/resolve.h"
#include "config.h"
#include "embedded.h"
#include "hooks.h"
#include "vm.h"

#define LOADER_MEMORY (256u << 20) /* before lua { memory } is known */

static char *read_config_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 8192, n = 0, got;
    char *data = xmalloc(cap + 1);
    while ((got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            data = xrealloc(data, (cap *= 2) + 1);
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "cannot read %s", path);
        free(data);
        return NULL;
    }
    data[n] = '\0';
    if (strlen(data) != n) {
        snprintf(err, errlen, "%s: contains a NUL byte (not a Lua text file)", path);
        free(data);
        return NULL;
    }
    return data;
}

static void add_warning(struct config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_warning(struct config *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    size_t old = c->warnings ? strlen(c->warnings) : 0;
    c->warnings = xrealloc(c->warnings, old + strlen(line) + 2);
    memcpy(c->warnings + old, line, strlen(line));
    c->warnings[old + strlen(line)] = '\n';
    c->warnings[old + strlen(line) + 1] = '\0';
}

/* ---- words that are nearly right ---- */

/* Levenshtein distance, small strings only (names). */
static unsigned distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    unsigned row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = min(min(row[j] + 1, row[j - 1] + 1), diag + cost);
            diag = up;
        }
    }
    return row[lb];
}

static const char *const directive_names[] = { "listen", "upstream", "workers", "timeouts", "limits",
                                               "lua", "logs", "resolver", "fail_open", "cache", "parent",
                                               "shared", "pid", NULL };

/* The known name closest to name (distance 1 or 2), or NULL. */
static const char *nearest(const char *name, const char *const *known)
{
    const char *best = NULL;
    unsigned best_d = 3;
    for (const char *const *k = known; *k; k++) {
        unsigned d = distance(name, *k);
        if (d < best_d) {
            best_d = d;
            best = *k;
        }
    }
    return best;
}

const char *config_nearest_directive(const char *name)
{
    return nearest(name, directive_names);
}

/* Global functions that look like hooks but are not: on_reqeust, or any
 * on_* name that is not a hook. */
static void warn_about_hook_names(struct vm *vm, struct config *c)
{
    static const char *hooks[HOOK_COUNT + 1];
    for (int i = 0; i < HOOK_COUNT; i++)
        hooks[i] = hook_names[i];
    lua_State *L = vm->L;
    lua_pushglobaltable(L); /* stack: [G] */
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* [G, k, v] */
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION && !lua_iscfunction(L, -1)) {
            const char *k = lua_tostring(L, -2);
            const char *near = hooks_parse_name(k) < 0 ? nearest(k, hooks) : NULL;
            if (near || (hooks_parse_name(k) < 0 && strncmp(k, "on_", 3) == 0)) {
                lua_Debug ar;
                lua_pushvalue(L, -1);
                lua_getinfo(L, ">S", &ar);
                char did_you[96] = "";
                if (near)
                    snprintf(did_you, sizeof(did_you), " (did you mean '%s'?)", near);
                add_warning(c, "%s:%d: function '%s' is not a hook and will never be called%s", c->path,
                            ar.linedefined, k, did_you);
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* ---- routes ---- */

/* Does the file ever assign a field called upstream (req.upstream = ...,
 * r["upstream"] = ...)? Without that, on_request cannot route. */
static bool source_sets_upstream(const char *src)
{
    for (const char *p = src; (p = strstr(p, "upstream")) != NULL; p += 8) {
        const char *before = p, *after = p + 8;
        bool field = p > src && before[-1] == '.';
        if (p > src + 1 && (before[-1] == '"' || before[-1] == '\'') && before[-2] == '[') {
            if (*after != before[-1] || after[1] != ']')
                continue;
            after += 2;
            field = true;
        }
        if (!field)
            continue;
        while (*after == ' ' || *after == '\t')
            after++;
        if (after[0] == '=' && after[1] != '=')
            return true;
    }
    return false;
}

/* The one upstream group (parents aside), or NULL when there are more or none. */
static const struct upstream_config *only_upstream(const struct config *c)
{
    const struct upstream_config *only = NULL;
    for (unsigned i = 0; i < c->nupstreams; i++) {
        if (c->upstreams[i].parent)
            continue;
        if (only)
            return NULL;
        only = &c->upstreams[i];
    }
    return only;
}

/* Every allowed network is inside 127.0.0.0/8 or ::1. */
static bool allows_only_loopback(const struct listener_config *l)
{
    for (unsigned i = 0; i < l->nallow; i++) {
        const struct cidr *a = &l->allow[i];
        bool v4 = a->family == AF_INET && a->bits >= 8 && a->net[0] == 127;
        bool v6 = a->family == AF_INET6 && a->bits == 128 && a->net[15] == 1 &&
                  memcmp(a->net, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15) == 0;
        if (!v4 && !v6)
            return false;
    }
    return l->nallow > 0;
}

static int check_listeners(struct config *c, bool on_request, bool proxy_auth, char *err, size_t errlen)
{
    if (c->nlisteners == 0) {
        snprintf(err, errlen, "%s: no listen { ... } directive", c->path);
        return -1;
    }
    bool routes = on_request && source_sets_upstream(c->source);
    for (unsigned i = 0; i < c->nlisteners; i++) {
        struct listener_config *l = &c->listeners[i];
        for (unsigned k = 0; k < i; k++) {
            if (addr_equal(&c->listeners[k].addr, &l->addr)) {
                snprintf(err, errlen, "%s:%d: %s is listened on twice", c->path, l->line, l->spec);
                return -1;
            }
        }
        if (l->upstream && config_upstream(c, l->upstream) == NULL) {
            snprintf(err, errlen, "%s:%d: listen %s: upstream '%s' is not defined", c->path, l->line,
                     l->spec, l->upstream);
            return -1;
        }
        if (l->parent && config_parent(c, l->parent) == NULL) {
            snprintf(err, errlen, "%s:%d: listen %s: parent '%s' is not defined (parent \"%s\" { \"host:port\" })",
                     c->path, l->line, l->spec, l->parent, l->parent);
            return -1;
        }
        if (l->auth.on && l->auth.users == NULL && !proxy_auth) {
            snprintf(err, errlen, "%s:%d: listen %s: auth needs users = \"FILE\" (htpasswd -B) or a "
                     "proxy_auth(req, user, password) function", c->path, l->line, l->spec);
            return -1;
        }
        if (l->mode == MODE_FORWARD && l->deny.nnets == 0 && !allows_only_loopback(l))
            add_warning(c, "%s:%d: listen %s is open beyond this host and has no deny_destinations: its clients "
                        "can reach this machine's and its network's private services through it "
                        "(deny_destinations = { \"internal\" })", c->path, l->line, l->spec);
        c->nadmin += l->mode == MODE_ADMIN;
        if (l->mode == MODE_ADMIN && !addr_is_loopback(&l->addr) && allows_only_loopback(l))
            add_warning(c, "%s:%d: listen %s: this admin listener listens beyond this host, but its allow list "
                        "lets only this host in (allow = { ... } names who may use it)", c->path, l->line, l->spec);
        if (l->mode == MODE_REVERSE && l->upstream == NULL) {
            const struct upstream_config *only = only_upstream(c);
            if (only) {
                l->upstream = xstrdup(only->name);
            } else if (!routes) {
                snprintf(err, errlen,
                         "%s:%d: listen %s: a reverse listener needs an upstream: name one (upstream = \"name\"; on_request may still change it), or set req.upstream in on_request%s",
                         c->path, l->line, l->spec,
                         on_request ? " (this file never assigns req.upstream)" : "");
                return -1;
            }
        }
    }
    return 0;
}

/* ---- log files ---- */

static int check_log_file(const struct config *c, const char *what, const char *dest, char *err,
                          size_t errlen)
{
    if (dest == NULL || strcmp(dest, "stderr") == 0 || strcmp(dest, "stdout") == 0)
        return 0;
    /* the start opens it the same way (nginx -t creates log files too) */
    int fd = open(dest, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd == -1) {
        if (c->logs_line)
            snprintf(err, errlen, "%s:%d: logs: cannot open the %s log %s: %s", c->path, c->logs_line,
                     what, dest, strerror(errno));
        else
            snprintf(err, errlen, "%s: cannot open the %s log %s: %s", c->path, what, dest, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* ---- upstream host names ---- */

struct pending_name {
    struct server_config *s;
    struct resolve_wait w;
    const char *err;
    bool done;
    unsigned *left;
};

static void set_addrs(struct server_config *s, const struct resolved *res)
{
    s->addrs = *res;
    for (unsigned i = 0; i < s->addrs.n; i++)
        addr_set_port(&s->addrs.addr[i], s->port);
}

static void on_answer(void *arg, const struct resolved *res, const char *err)
{
    struct pending_name *p = arg;
    p->done = true;
    (*p->left)--;
    if (res)
        set_addrs(p->s, res);
    else
        p->err = err;
}

static void on_give_up(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Resolves every server name with the configured resolver (c-ares on a
 * loop of its own: this is the main thread at load, before any worker). */
static int resolve_upstreams(struct config *c, char *err, size_t errlen)
{
    unsigned total = 0;
    for (unsigned u = 0; u < c->nupstreams; u++)
        total += c->upstreams[u].nservers;
    if (total == 0)
        return 0;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
    struct resolver *r = loop ? resolve_new(loop, &c->resolver, err, errlen) : NULL;
    if (r == NULL) {
        if (loop)
            ev_loop_destroy(loop);
        else
            snprintf(err, errlen, "cannot create an event loop");
        return -1;
    }
    struct pending_name *pend = xcalloc(total, sizeof(*pend));
    unsigned n = 0, left = 0;
    int rc = 0;
    for (unsigned u = 0; u < c->nupstreams && rc == 0; u++) {
        struct upstream_config *up = &c->upstreams[u];
        for (unsigned i = 0; i < up->nservers && rc == 0; i++) {
            struct pending_name *p = &pend[n++];
            p->s = &up->servers[i];
            p->left = &left;
            const struct resolved *res = NULL;
            const char *why = NULL;
            switch (resolve_lookup(r, p->s->host, strlen(p->s->host), &p->w, on_answer, p, &res, &why)) {
            case RESOLVE_DONE:
                set_addrs(p->s, res);
                p->done = true;
                break;
            case RESOLVE_PENDING:
                left++;
                break;
            case RESOLVE_FAILED:
                p->done = true;
                p->err = why;
                break;
            }
        }
    }
    ev_timer give_up;
    ev_timer_init(&give_up, on_give_up, 60., 0.); /* c-ares times out long before */
    ev_timer_start(loop, &give_up);
    while (left > 0 && ev_run(loop, EVRUN_ONCE))
        ;
    ev_timer_stop(loop, &give_up);
    for (unsigned i = 0; i < n && rc == 0; i++) {
        struct pending_name *p = &pend[i];
        if (p->done && p->err == NULL && p->s->addrs.n > 0)
            continue;
        const struct upstream_config *up = NULL;
        for (unsigned u = 0; u < c->nupstreams; u++)
            if (p->s >= c->upstreams[u].servers && p->s < c->upstreams[u].servers + c->upstreams[u].nservers)
                up = &c->upstreams[u];
        snprintf(err, errlen, "%s:%d: upstream %s: cannot resolve '%s': %s (resolver: %s)", c->path,
                 up ? up->line : 0, up ? up->name : "?", p->s->host,
                 p->err ? p->err : p->done ? "no address" : "no answer in time",
                 c->resolver.servers ? c->resolver.servers : "/etc/resolv.conf");
        rc = -1;
    }
    for (unsigned i = 0; i < n; i++)
        resolve_cancel(&pend[i].w);
    free(pend);
    resolve_free(r);
    ev_loop_destroy(loop);
    return rc;
}

/* ---- loading ---- */

/* Runs the file in a state with the worker's limits, as each worker will:
 * a top level that needs more memory or budget than a worker allows must
 * fail here, not at the start. */
static int dry_run_worker_state(struct config *c, char *err, size_t errlen)
{
    char why[1024];
    struct vm *vm = vm_new(c, NULL, why, sizeof(why));
    if (vm == NULL) {
        snprintf(err, errlen, "%s (in a worker's Lua state: lua.memory %zu bytes, %lu instructions at load)",
                 why, c->lua.memory, vm_load_instructions(c->lua.instructions));
        return -1;
    }
    vm_free(vm);
    return 0;
}

static int load_into(struct config *cfg, const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name) + 2;
    cfg->chunkname = xmalloc(n);
    snprintf(cfg->chunkname, n, "@%s", name);
    struct vm *vm = vm_new_loader(cfg, LOADER_MEMORY, cfg->lua.instructions, cfg->lua.seconds, err, errlen);
    if (vm == NULL)
        return -1;
    int rc = vm_run_file(vm, cfg->source, strlen(cfg->source), cfg->chunkname, err, errlen);
    if (rc == 0 && vm->directive_running) {
        snprintf(err, errlen, "%s: a configuration directive failed (configuration errors cannot be caught with pcall)",
                 cfg->path);
        rc = -1;
    }
    if (rc == 0) {
        char why[256];
        rc = hooks_find(vm, why, sizeof(why));
        if (rc)
            snprintf(err, errlen, "%s: %s", cfg->path, why);
    }
    bool on_request = vm->hook_refs[HOOK_ON_REQUEST] != LUA_NOREF;
    bool proxy_auth = vm->hook_refs[HOOK_PROXY_AUTH] != LUA_NOREF;
    if (rc == 0)
        warn_about_hook_names(vm, cfg);
    vm_free(vm);
    if (rc == 0)
        rc = check_listeners(cfg, on_request, proxy_auth, err, errlen);
    if (rc == 0)
        rc = check_log_file(cfg, "error", cfg->error_log, err, errlen);
    for (unsigned i = 0; i < cfg->naccess_logs && rc == 0; i++)
        rc = check_log_file(cfg, "access", cfg->access_logs[i].dest, err, errlen);
    if (rc == 0)
        rc = dry_run_worker_state(cfg, err, errlen);
    if (rc == 0)
        rc = resolve_upstreams(cfg, err, errlen);
    if (rc == 0 && cfg->workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = cores > 0 ? (unsigned)min(cores, 256L) : 1;
    }
    return rc;
}

int config_load_source(const char *name, const char *source, size_t len, struct config *cfg,
                       char *err, size_t errlen)
{
    config_defaults(cfg);
    cfg->path = xstrdup(name);
    cfg->source = xstrndup(source, len);
    if (strlen(cfg->source) != len) {
        snprintf(err, errlen, "%s: contains a NUL byte (not a Lua text file)", name);
        return -1;
    }
    return load_into(cfg, name, err, errlen);
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
    if (path == NULL) {
        const struct embedded_file *f = embedded_find(CONFIG_EMBEDDED_DEFAULT);
        int rc = config_load_source(CONFIG_EMBEDDED_DEFAULT, f->data, f->len, cfg, err, errlen);
        free(cfg->path);
        cfg->path = xstrdup("(embedded) " CONFIG_EMBEDDED_DEFAULT);
        return rc;
    }
    config_defaults(cfg);
    cfg->source = read_config_file(path, err, errlen);
    if (cfg->source == NULL)
        return -1;
    cfg->path = xstrdup(path);
    return load_into(cfg, path, err, errlen);
}
