/* membership.c - see membership.h. */
#include "membership.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "lb.h"
#include "log.h"
#include "luxy.h"

struct change {
    char *upstream, *spec;
    unsigned weight;
    bool add;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct change *changes;
static unsigned nchanges;

#define MAX_CHANGES 4096 /* past this, reload from a file that says what you want */

int membership_signal(void)
{
    return SIGRTMIN;
}

static struct upstream_config *find(const struct config *c, const char *name)
{
    for (unsigned i = 0; i < c->nupstreams; i++)
        if (!c->upstreams[i].parent && strcmp(c->upstreams[i].name, name) == 0)
            return &c->upstreams[i];
    return NULL;
}

static int find_server(const struct upstream_config *u, const char *spec)
{
    for (unsigned i = 0; i < u->nservers; i++)
        if (strcmp(u->servers[i].spec, spec) == 0)
            return (int)i;
    return -1;
}

/* spec as a server: an address literal and a port. */
static int parse(const char *spec, struct server_config *s, char *err, size_t errlen)
{
    char host[ADDR_HOSTLEN];
    const char *why;
    memset(s, 0, sizeof(*s));
    if (strlen(spec) > 256 || addr_split(spec, strlen(spec), host, &s->port, 0, &why) == -1 || s->port == 0) {
        snprintf(err, errlen, "server '%.64s': not host:port", spec);
        return -1;
    }
    if (addr_from_ip(host, s->port, &s->addrs.addr[0]) == -1) {
        snprintf(err, errlen, "server '%.64s': give an IP address (a name is resolved only at a reload)", spec);
        return -1;
    }
    s->addrs.n = 1;
    s->spec = xstrdup(spec);
    s->host = xstrdup(host);
    return 0;
}

int membership_change(const struct config *cur, const char *upstream, const char *spec, unsigned weight, bool add,
                      char *err, size_t errlen)
{
    const struct upstream_config *u = find(cur, upstream);
    if (u == NULL) {
        snprintf(err, errlen, "no upstream named '%.64s'", upstream);
        return -1;
    }
    struct server_config s;
    if (add && parse(spec, &s, err, errlen) == -1)
        return -1;
    if (add) {
        free(s.spec);
        free(s.host);
    }
    int at = find_server(u, spec);
    if (add && at >= 0) {
        snprintf(err, errlen, "upstream %s has server %s already", upstream, spec);
        return -1;
    }
    if (add && u->nservers >= LB_MAX_SERVERS) {
        snprintf(err, errlen, "upstream %s has %d servers: the most a group takes", upstream, LB_MAX_SERVERS);
        return -1;
    }
    if (!add && at < 0) {
        snprintf(err, errlen, "upstream %s has no server %.64s", upstream, spec);
        return -1;
    }
    if (!add && u->nservers == 1) {
        snprintf(err, errlen, "%s is the last server of upstream %s: add another first", spec, upstream);
        return -1;
    }
    pthread_mutex_lock(&lock);
    if (nchanges >= MAX_CHANGES) {
        pthread_mutex_unlock(&lock);
        snprintf(err, errlen, "too many changes since the last reload: write them into the file and reload");
        return -1;
    }
    changes = xrealloc(changes, (nchanges + 1) * sizeof(*changes));
    changes[nchanges++] = (struct change){ xstrdup(upstream), xstrdup(spec), weight ? weight : 1, add };
    pthread_mutex_unlock(&lock);
    kill(getpid(), membership_signal());
    return 0;
}

static void apply_one(struct config *cfg, const struct change *c)
{
    struct upstream_config *u = find(cfg, c->upstream);
    char err[256];
    if (u == NULL) {
        log_warn("admin: upstream %s is gone: server %s not %s", c->upstream, c->spec, c->add ? "added" : "removed");
        return;
    }
    int at = find_server(u, c->spec);
    if (c->add) {
        struct server_config s;
        if (at >= 0 || u->nservers >= LB_MAX_SERVERS || parse(c->spec, &s, err, sizeof(err)) == -1)
            return; /* checked when queued; a repeat is a no-op */
        s.weight = c->weight;
        u->servers = xrealloc(u->servers, (u->nservers + 1) * sizeof(*u->servers));
        u->servers[u->nservers++] = s;
    } else if (at >= 0 && u->nservers > 1) {
        free(u->servers[at].spec);
        free(u->servers[at].host);
        memmove(&u->servers[at], &u->servers[at + 1], (u->nservers - (unsigned)at - 1) * sizeof(*u->servers));
        u->nservers--;
    }
}

void membership_apply(struct config *cfg)
{
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < nchanges; i++)
        apply_one(cfg, &changes[i]);
    pthread_mutex_unlock(&lock);
}

void membership_forget(void)
{
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < nchanges; i++) {
        free(changes[i].upstream);
        free(changes[i].spec);
    }
    free(changes);
    changes = NULL;
    nchanges = 0;
    pthread_mutex_unlock(&lock);
}
