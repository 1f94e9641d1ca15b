/* config.h - the configuration as plain C structs. lua/config.c fills them
 * from the user's Lua file; the core only ever reads them. One struct config
 * is built in the main thread and shared read-only by every worker. */
#ifndef LUXY_CONFIG_H
#define LUXY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access_log.h"
#include "addr.h"
#include "anonymity.h"
#include "authfile.h"
#include "destination.h"
#include "forwarding.h"
#include "resolve.h"

enum listen_mode { MODE_REVERSE, MODE_FORWARD, MODE_ADMIN };

struct metrics_block;
struct server_state;

/* forward: Proxy-Authorization: Basic required (auth = { users =, realm = }) */
struct proxy_auth_config {
    bool on;
    char *realm;                /* shown by the client when it asks for a password */
    char *users_path;           /* as resolved (relative to the file's directory) */
    struct authfile *users;     /* loaded at configuration time; NULL: proxy_auth decides */
};

struct listener_config {
    char *spec;                 /* as written: "127.0.0.1:3128" */
    union sockaddr_u addr;
    enum listen_mode mode;
    struct cidr *allow;         /* clients allowed; none: everyone */
    unsigned nallow;
    char *upstream;             /* reverse: the default upstream (NULL: a script routes) */
    uint16_t *connect_ports;    /* forward: CONNECT allowed to these (default 443) */
    unsigned nconnect_ports;
    bool connect_any;           /* forward: connect_ports = "any" */
    char *via;                  /* Via pseudonym ("luxy"); NULL: no Via */
    struct anonymity_config anon;     /* forward: what origins learn about clients */
    struct destination_rules deny;    /* forward: deny_destinations */
    char *parent;               /* forward: the parent proxy group requests go through, or NULL */
    struct proxy_auth_config auth;    /* forward */
    struct forwarding_config fwd;     /* trusted_proxies; reverse: the forwarding fields */
    bool hide_backend;          /* reverse: backend software and addresses stay hidden */
    char *server_header;        /* reverse, hide_backend: the Server clients see, or NULL: none */
    char *request_id;           /* the field carrying request ids ("X-Request-Id"), or NULL: no ids */
    size_t request_id_len;      /* its length */
    bool cache;                 /* use the store, when there is one */
    int backlog;
    unsigned keepalive;         /* forward: idle connections kept per origin and worker */
    char *token;                /* admin: the bearer token every request must carry, or NULL */
    struct metrics_block *stats; /* its counters (metrics.h), bound by the running server */
    int line;                   /* where it is declared, for messages */
};

struct server_config {
    char *spec;                 /* "app1.internal:8080" as written */
    char *host;                 /* host part, no brackets */
    uint16_t port;
    unsigned weight;
    struct resolved addrs;      /* resolved at load, port set */
    struct metrics_block *stats; /* its counters (metrics.h), bound by the running server */
    struct server_state *state;  /* its live state (server_state.h), bound with stats */
};

/* Active health checks (health.c): path NULL means none. */
struct health_config {
    char *path;                 /* "/healthz" */
    char *host;                 /* Host sent, NULL: the server's spec */
    double interval, timeout;   /* seconds */
    unsigned rise, fall;        /* passes to come up, failures to go down */
    unsigned expect_lo, expect_hi; /* statuses that pass: "2xx" is 200..299 */
};

/* Passive outlier detection (server_state.c). */
struct outlier_config {
    unsigned consecutive;       /* failures in a row that eject; 0: off */
    double error_rate;          /* share of failures over the window that ejects; 0: off */
    unsigned min_requests;      /* in the window before error_rate counts */
    double eject, max_eject;    /* seconds: the first ejection, the longest */
    double max_share;           /* of a group's servers ejected at once */
};

/* Retries after the first attempt (proxy.c, retry_budget.c). */
struct retry_config {
    double budget;              /* retries at most this share of requests... */
    unsigned min_per_second;    /* ...plus this many per second */
    double timeout;             /* no new attempt this long after the request began; 0: none */
};

struct upstream_config {
    char *name;
    struct server_config *servers;
    unsigned nservers;
    char *balance;              /* "wrr" (default), "random", "least_conn" */
    unsigned tries;             /* connection attempts per request, across servers */
    double resolve_every;       /* seconds between re-resolutions of host names */
    unsigned keepalive;         /* idle connections kept per server and worker */
    bool parent;                /* a parent proxy group (parent "name" { }), not an upstream */
    char *proxy_authorization;  /* parent: "Basic ..." sent to it, or NULL */
    struct health_config health;
    struct outlier_config outlier;
    struct retry_config retry;
    double slow_start;          /* seconds a returning server ramps its weight over; 0: none */
    double hedge;               /* seconds before an idempotent request tries a second server too; 0: never */
    char *hash;                 /* chash key: "uri", "ip", "header:X", "cookie:X", or NULL */
    double hash_balance;        /* chash_bounded: a server takes at most this times the average */
    char *sticky;               /* the cookie that pins a client to a server, or NULL */
    struct metrics_block *stats; /* its counters (metrics.h), bound by the running server */
    int line;                   /* where it is declared, for messages */
};

struct timeouts_config {
    double client_header;       /* a request head must arrive within this */
    double client_body;         /* max silence while reading a request body */
    double client_idle;         /* keep-alive wait for the next request */
    double send;                /* max stall writing to a client */
    double backend_connect;
    double backend_read;        /* max silence from a backend mid-exchange */
    double backend_idle;        /* pooled backend connections are closed after */
    double tunnel_idle;
    double grace;               /* in-flight work allowed to finish on stop */
};

struct limits_config {
    size_t head_size;           /* request head, bytes (431) */
    size_t request_line;        /* bytes (414) */
    unsigned header_fields;     /* count (431) */
    uint64_t body_size;         /* request body, bytes (413); 0: unlimited */
    size_t response_head_size;  /* backend response head, bytes (502) */
    unsigned interim_responses; /* 1xx responses per exchange (502 beyond) */
    size_t interim_bytes;       /* their heads together, bytes (502 beyond) */
    unsigned max_connections;   /* client connections per worker */
};

/* cache { ... }: the shared store (lua/config.c; docs/caching.md). */
struct cache_config {
    uint64_t size;             /* bytes: entries, heads, bodies, keys, index */
    uint64_t max_object;       /* bytes of body */
    double heuristic_fraction;
    int64_t heuristic_max;     /* seconds */
    int64_t grace;             /* seconds a stale entry may be served when the origin fails */
    int64_t pass_ttl;          /* seconds an uncacheable key goes straight to the origin */
    char *status_header;       /* "X-Cache", or NULL: none */
    char *targeted;            /* "Luxy-Cache-Control", or NULL */
    char *tag_header;          /* "Surrogate-Key", or NULL */
    struct cidr *purge_allow;  /* who may send PURGE (none: nobody) */
    unsigned npurge_allow;
    int line;
};

/* shared "name" { size = ... }: a dictionary every worker sees
 * (core/shdict.c, lua/api_shared.c; docs/shared.md). */
struct shared_config {
    char *name;                 /* [A-Za-z0-9_.-], 1-64 bytes */
    uint64_t size;              /* bytes: entries and their index */
    int line;
};

struct lua_config {
    size_t memory;              /* bytes per worker lua_State */
    unsigned long instructions; /* budget units per hook call */
    double seconds;             /* wall-clock limit per hook call; 0: none */
};

/* Hooks that may fail open: on error the request goes on as if the hook had
 * not run. Bit per hook, see lua/hooks.h. */
struct config {
    char *path;                 /* config file, or "(embedded default)" */
    char *source;               /* the Lua text the workers load again */
    char *chunkname;            /* "@path" for error messages */
    unsigned workers;
    struct listener_config *listeners;
    unsigned nlisteners;
    unsigned nadmin;            /* admin listeners among them */
    struct upstream_config *upstreams;
    unsigned nupstreams;
    struct timeouts_config timeouts;
    struct limits_config limits;
    struct lua_config lua;
    struct resolve_config resolver;
    struct cache_config *cache; /* NULL: no cache */
    struct shared_config *shared; /* the shared dictionaries declared */
    unsigned nshared;
    char *resolver_servers;     /* owned storage behind resolver.servers */
    char *pid_file;             /* where luxy -s finds the process, or NULL: none */
    char *error_log;            /* path, "stderr", "stdout" */
    struct access_log_config *access_logs; /* none: no access log */
    unsigned naccess_logs;
    int log_level;              /* enum log_level */
    int logs_line;              /* where logs { } is, for messages (0: none) */
    char *warnings;             /* "file:line: ..." lines found at load, or NULL */
    unsigned fail_open;         /* bit set of hooks that fail open */
};

/* /run/luxy.pid as root, else luxy.pid in the working directory. */
const char *config_default_pid_file(void);
/* Defaults before the file is read. */
void config_defaults(struct config *c);
void config_free(struct config *c);
/* Replaces the access logs with one (dest NULL: none) / adds one. */
void config_set_access_log(struct config *c, const char *dest, enum access_format format);
void config_add_access_log(struct config *c, const char *dest, enum access_format format);
/* The upstream (not parent) group named name, or NULL. */
const struct upstream_config *config_upstream(const struct config *c, const char *name);
/* The parent proxy group named name, or NULL. */
const struct upstream_config *config_parent(const struct config *c, const char *name);
/* The shared dictionary named name, or NULL. */
const struct shared_config *config_shared(const struct config *c, const char *name);

#endif
