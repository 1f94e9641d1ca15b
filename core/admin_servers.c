/* admin_servers.c - POST /api/server: a server drained, undrained or
 * given a weight (in its shared state: every worker sees it at its next
 * pick, no reload), added or removed (membership.h: a new generation from
 * the running source, as hitless as a reload). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "conn.h"
#include "generation.h"
#include "jsonw.h"
#include "log.h"
#include "membership.h"
#include "request.h"
#include "server_state.h"
#include "worker.h"

static const struct upstream_config *find_upstream(const struct config *c, const char *name)
{
    for (unsigned i = 0; i < c->nupstreams; i++)
        if (strcmp(c->upstreams[i].name, name) == 0)
            return &c->upstreams[i];
    return NULL;
}

static void answer(struct request *r, unsigned status, const char *up, const char *srv, const char *action,
                   const struct upstream_config *u, const struct server_config *sc)
{
    struct sbuf b;
    struct jw w;
    sbuf_init(&b);
    jw_init(&w, &b);
    jw_object(&w);
    jw_key(&w, "upstream");
    jw_cstr(&w, up);
    jw_key(&w, "server");
    jw_cstr(&w, srv);
    jw_key(&w, "action");
    jw_cstr(&w, action);
    if (sc) {
        uint64_t now = server_now_ms();
        jw_key(&w, "state");
        jw_cstr(&w, server_state_name(sc->state, u->slow_start, now));
        jw_key(&w, "weight");
        jw_uint(&w, atomic_load_explicit(&sc->state->weight, memory_order_relaxed));
    } else {
        jw_key(&w, "generation");
        jw_uint(&w, r->gen->cg->id);
        jw_key(&w, "message");
        jw_cstr(&w, "the main thread builds a new generation with the change; /api/upstreams lists the servers "
                    "once it serves");
    }
    jw_end_object(&w);
    admin_respond_json(r, status, &b);
}

void admin_server(struct request *r)
{
    char up[128], srv[300], act[16], wt[16];
    const char *upstream = admin_query_decoded(r, "upstream", up, sizeof(up));
    const char *server = admin_query_decoded(r, "server", srv, sizeof(srv));
    const char *action = admin_query_decoded(r, "action", act, sizeof(act));
    const char *weight = admin_query_decoded(r, "weight", wt, sizeof(wt));
    if (!upstream || !server || !action) {
        admin_fail(r, 400, "give ?upstream=NAME&server=HOST:PORT&action=drain|undrain|weight|add|remove");
        return;
    }
    unsigned long wv = 0;
    if (weight) {
        char *end;
        wv = strtoul(weight, &end, 10);
        if (*end || wv < 1 || wv > 1000) {
            admin_fail(r, 400, "weight must be a whole number from 1 to 1000");
            return;
        }
    }
    const struct config *cfg = r->gen->cfg;
    bool add = strcmp(action, "add") == 0;
    if (add || strcmp(action, "remove") == 0) {
        char err[256];
        if (r->w->stopping) {
            admin_fail(r, 503, "luxy is stopping");
            return;
        }
        if (membership_change(cfg, upstream, server, (unsigned)wv, add, err, sizeof(err)) == -1) {
            admin_fail(r, strncmp(err, "no upstream", 11) == 0 ? 404 : 409, err);
            return;
        }
        log_info("admin: client %s: %s server %s %s upstream %s", r->from_ip, add ? "add" : "remove", server,
                 add ? "to" : "from", upstream);
        answer(r, 202, upstream, server, action, NULL, NULL);
        return;
    }
    const struct upstream_config *u = find_upstream(cfg, upstream);
    if (u == NULL) {
        admin_fail(r, 404, "no such upstream");
        return;
    }
    const struct server_config *sc = NULL;
    for (unsigned i = 0; i < u->nservers && sc == NULL; i++)
        if (strcmp(u->servers[i].spec, server) == 0)
            sc = &u->servers[i];
    if (sc == NULL) {
        admin_fail(r, 404, "the upstream has no such server (as written in the configuration)");
        return;
    }
    if (strcmp(action, "drain") == 0 || strcmp(action, "undrain") == 0) {
        bool drain = action[0] == 'd';
        server_drain(sc->state, drain);
        log_warn("upstream %s: server %s %s (admin, client %s)", upstream, server,
                 drain ? "drained: no new requests; those in flight finish" : "undrained: back in service",
                 r->from_ip);
    } else if (strcmp(action, "weight") == 0) {
        if (!weight) {
            admin_fail(r, 400, "action=weight needs &weight=N");
            return;
        }
        server_set_weight(sc->state, (unsigned)wv);
        log_warn("upstream %s: server %s weight %lu (admin, client %s)", upstream, server, wv, r->from_ip);
    } else {
        admin_fail(r, 400, "action must be drain, undrain, weight, add or remove");
        return;
    }
    answer(r, 200, upstream, server, action, u, sc);
}
