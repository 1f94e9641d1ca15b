/* config.c - configuration defaults and teardown. The values below are
 * what luxy does when the file does not say otherwise; docs/config.md
 * lists them, keep the two in step. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "luxy.h"

const char *config_default_pid_file(void)
{
    return geteuid() == 0 ? "/run/luxy.pid" : "luxy.pid";
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->workers = 0; /* "auto" */
    c->timeouts = (struct timeouts_config){
        .client_header = 10,
        .client_body = 60,
        .client_idle = 60,
        .send = 60,
        .backend_connect = 5,
        .backend_read = 60,
        .backend_idle = 30,
        .tunnel_idle = 300,
        .grace = 10,
    };
    c->limits = (struct limits_config){
        .head_size = 32 * 1024,
        .request_line = 8 * 1024,
        .header_fields = 100,
        .body_size = 100ull * 1024 * 1024,
        .response_head_size = 32 * 1024,
        .interim_responses = 16,
        .interim_bytes = 64 * 1024,
        .max_connections = 10000,
    };
    c->lua = (struct lua_config){ .memory = 64u << 20, .instructions = 1000000, .seconds = 0.25 };
    c->resolver = (struct resolve_config){
        .timeout_ms = 2000, .attempts = 2, .max_ttl = 300, .neg_ttl = 5, .cache_size = 4096,
    };
    c->pid_file = xstrdup(config_default_pid_file());
    c->error_log = xstrdup("stderr");
    config_set_access_log(c, "stdout", ACCESS_LUXY);
    c->log_level = LL_INFO;
}

void config_set_access_log(struct config *c, const char *dest, enum access_format format)
{
    for (unsigned i = 0; i < c->naccess_logs; i++)
        free(c->access_logs[i].dest);
    free(c->access_logs);
    c->access_logs = NULL;
    c->naccess_logs = 0;
    if (dest)
        config_add_access_log(c, dest, format);
}

void config_add_access_log(struct config *c, const char *dest, enum access_format format)
{
    c->access_logs = xrealloc(c->access_logs, (c->naccess_logs + 1) * sizeof(*c->access_logs));
    c->access_logs[c->naccess_logs].dest = xstrdup(dest);
    c->access_logs[c->naccess_logs++].format = format;
}

static void free_listener(struct listener_config *l)
{
    free(l->spec);
    free(l->allow);
    free(l->upstream);
    free(l->connect_ports);
    free(l->via);
    free(l->anon.user_agent);
    free(l->anon.accept_language);
    for (unsigned i = 0; i < l->anon.nsend_only; i++)
        free(l->anon.send_only[i]);
    free(l->anon.send_only);
    destination_free(&l->deny);
    free(l->parent);
    free(l->auth.realm);
    free(l->auth.users_path);
    if (l->auth.users)
        authfile_free(l->auth.users);
    free(l->fwd.trusted);
    free(l->server_header);
    free(l->token);
    free(l->request_id);
}

static void free_upstream(struct upstream_config *u)
{
    free(u->proxy_authorization);
    free(u->health.path);
    free(u->health.host);
    free(u->hash);
    free(u->sticky);
    for (unsigned i = 0; i < u->nservers; i++) {
        free(u->servers[i].spec);
        free(u->servers[i].host);
    }
    free(u->servers);
    free(u->name);
    free(u->balance);
}

void config_free(struct config *c)
{
    for (unsigned i = 0; i < c->nlisteners; i++)
        free_listener(&c->listeners[i]);
    free(c->listeners);
    for (unsigned i = 0; i < c->nupstreams; i++)
        free_upstream(&c->upstreams[i]);
    free(c->upstreams);
    for (unsigned i = 0; i < c->nshared; i++)
        free(c->shared[i].name);
    free(c->shared);
    free(c->path);
    free(c->source);
    free(c->chunkname);
    free(c->resolver_servers);
    free((char *)c->resolver.hosts_path);
    free(c->pid_file);
    free(c->error_log);
    config_set_access_log(c, NULL, ACCESS_LUXY);
    free(c->warnings);
    if (c->cache) {
        free(c->cache->status_header);
        free(c->cache->targeted);
        free(c->cache->tag_header);
        free(c->cache->purge_allow);
        free(c->cache);
    }
    memset(c, 0, sizeof(*c));
}

static const struct upstream_config *group(const struct config *c, const char *name, bool parent)
{
    for (unsigned i = 0; i < c->nupstreams; i++)
        if (c->upstreams[i].parent == parent && strcmp(c->upstreams[i].name, name) == 0)
            return &c->upstreams[i];
    return NULL;
}

const struct upstream_config *config_upstream(const struct config *c, const char *name)
{
    return group(c, name, false);
}

const struct upstream_config *config_parent(const struct config *c, const char *name)
{
    return group(c, name, true);
}

const struct shared_config *config_shared(const struct config *c, const char *name)
{
    for (unsigned i = 0; i < c->nshared; i++)
        if (strcmp(c->shared[i].name, name) == 0)
            return &c->shared[i];
    return NULL;
}
