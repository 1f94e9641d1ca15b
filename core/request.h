/* request.h - one exchange: the client's request, the decisions the hooks
 * make, the backend connection, the response, and its accounting.
 * A request lives from the end of its head to the last byte of its response
 * flushed; everything it allocates is in its arena. */
#ifndef LUXY_REQUEST_H
#define LUXY_REQUEST_H

#include <ev.h>
#include <http_parser.h>
#include <stdbool.h>
#include <stdint.h>

#include "access_log.h"
#include "addr.h"
#include "anonymity.h"
#include "arena.h"
#include "body.h"
#include "cache.h"
#include "cachectl.h"
#include "errors.h"
#include "hedge.h"
#include "http.h"
#include "lb.h"
#include "resolve.h"

struct conn;
struct worker;
struct upconn;
struct upstream;
struct backend;
struct cache_fill;
struct trace;

enum req_state {
    RS_HOOKS,        /* head parsed, policy running */
    RS_AUTH,         /* forward: the proxy password is being checked (off the loop) */
    RS_RESOLVING,    /* forward: waiting for DNS */
    RS_CONNECTING,   /* connect in progress */
    RS_EXCHANGE,     /* head sent; body streaming; waiting for/reading the response */
    RS_LOCAL,        /* answering ourselves (error page, respond()) */
    RS_CACHE,        /* answered from the cache (a stored or filling entry) */
    RS_ADMIN,        /* an admin listener's request, reading its body (admin.c) */
    RS_DONE,         /* response complete, flushing */
};

/* How the response body is framed towards the client. */
enum framing { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE };

struct request {
    struct conn *conn;
    struct worker *w;
    struct generation *gen;     /* its connection's when it began: its configuration, Lua state, upstreams */
    const struct listener_config *lc; /* the listener it came in on (in gen) */
    /* the peer it came from: the connection's (the lab's, for luxy test
     * and simulate, where conn is NULL: decide.c never reads conn) */
    const union sockaddr_u *from;
    const char *from_ip;        /* NUL-terminated */
    size_t from_ip_len;
    bool denied;                /* the peer is not in the listener's allow list */
    struct trace *trace;        /* its decisions, when traced (trace.h); NULL: not traced */
    uint64_t trace_number;      /* its number in the trace ring (trace_ring.h), once it has one */
    struct arena arena;
    enum req_state state;
    ev_tstamp started;

    /* what the client sent */
    http_parser parser;         /* reads the head */
    struct http_head head;
    struct body_reader req_body;
    struct http_target target;
    bool body_done;             /* the request body has been read entirely */
    uint64_t body_bytes;
    size_t body_parsed;         /* bytes of conn->in parsed but still referenced */

    /* what goes to the backend: set by the core, changed by on_request */
    struct slice path, query;   /* query.ptr NULL: none */
    struct slice upstream_name; /* reverse (or chosen by a script) */
    struct slice origin_host;   /* forward: from the target */
    uint16_t origin_port;
    struct slice parent_name;   /* forward: the parent proxy group to go through; empty: direct */
    bool via_parent;            /* r->up is that parent group: requests go in absolute form */
    bool tunnel;                /* CONNECT, or an Upgrade request */

    /* who the client is, and what the next hop learns of it */
    struct slice client_ip;     /* behind trusted proxies: from their fields; else the peer's */
    union sockaddr_u client_addr;
    struct headers client_fields; /* as the client sent them (hop-by-hop removed), when a script may ask */
    enum anonymity_level anon_level; /* forward */
    struct slice user;          /* forward: the proxy user, once authenticated */
    struct slice user_claim;    /* ... the name in the credentials, while they are checked */
    struct authcheck_ticket *auth_ticket; /* a password check in flight */
    bool third_party;           /* forward: another site's page asked for it */
    struct slice request_id;    /* its id (req.id, X-Request-Id); empty: the listener gives none */
    bool id_sent;               /* ... and it goes to the next hop and back (not at anonymity elite) */
    struct slice log_user_agent, log_referer; /* as the client sent them, for the access logs that show them */

    /* the backend */
    struct upstream *up;
    struct backend *backend;
    struct lb_tried tried;
    unsigned attempts;
    const struct proxy_error *attempt_error; /* why the last attempt failed */
    struct attempt_failure {
        uint16_t server;
        uint8_t result;         /* enum attempt_result */
    } failed[8];                /* the first failed attempts: select_backend sees why */
    unsigned nfailed;
    struct backend *sticky_set; /* the response pins the client to it (Set-Cookie) */
    struct hedge hedge;         /* a second attempt after the upstream's hedge delay (hedge.h) */
    struct resolved addrs;      /* forward: the origin's addresses */
    unsigned addr_next;
    union sockaddr_u peer;      /* address of the current attempt */
    struct resolve_wait rwait;
    struct upconn *uc;
    struct slice up_head;       /* serialized request head, kept for a retry */
    bool head_sent_fresh;       /* the attempt is on a new connection */
    bool resp_bytes_seen;       /* the backend has sent anything */
    bool backend_more;          /* the last read filled the buffer: more is likely waiting */

    /* the response */
    http_parser rparser;
    struct http_head resp;
    struct body_reader resp_body;
    struct http_scan rscan;
    bool resp_head_done;        /* final (non-1xx) head parsed */
    bool response_hooked;       /* on_response ran (it runs once per request) */
    bool resp_generated;        /* the response is luxy's own (error page, respond) */
    unsigned interim_count;     /* 1xx heads received so far */
    size_t interim_bytes;       /* and their bytes */
    bool resp_started;          /* head queued to the client */
    bool resp_done;             /* last byte parsed/queued */
    size_t resp_parsed;         /* bytes of uc->in parsed but still referenced */
    enum framing framing;
    bool keep_alive;            /* the client connection may serve another request */

    /* a response made here: error page or req:respond() */
    unsigned local_status;
    struct headers local_headers;
    struct slice local_body;

    /* Lua */
    unsigned lua_slot;          /* its handles' slot + 1, 0 until a hook needs one (lua/api_handle.c) */
    int lua_ctx_ref;
    size_t lua_held;            /* arena bytes scripts made us keep: counted in lua.memory */

    /* timings (the worker loop's clock; 0: did not happen) */
    ev_tstamp t_connect;        /* the last attempt began connecting (or took a pooled connection) */
    ev_tstamp t_connected;      /* ... and was connected */
    ev_tstamp t_first_byte;     /* the backend's first response byte */
    bool timed_by_fetch;        /* those are a cache fill's (counted by the fetch) */

    /* accounting */
    unsigned status;            /* sent to the client */
    uint64_t bytes_out;         /* response body bytes sent */
    const struct proxy_error *error;       /* the failure that decided the response */
    const char *error_text;     /* what went wrong, for the log (static), or NULL */
    const char *error_detail;
    struct slice raw_line;      /* an unparsable head's first line, for the log */
    bool counted_inflight;      /* backend->inflight includes this request */
    bool upload_stopped;        /* the backend answered before taking the whole body */
    bool uc_dirty;              /* the backend connection cannot be reused */
    bool body_too_large;        /* the body passed limits.body_size */
    bool retried_fresh;         /* a stale pooled connection was replaced once */

    /* the cache (cache_serve.c) */
    const char *cache_status;   /* X-Cache: "HIT", "MISS", ...; NULL: not through the cache */
    struct slice cache_key;
    struct cache_request creq;  /* its Cache-Control */
    struct cache_entry *centry; /* the entry served, or waited on */
    enum cache_wait_for cwait;
    bool cwaiting;              /* in w->cache_waiters */
    struct list cwait_link;
    struct cache_fill *cfill;   /* the fetch this request started, until its head */
    bool cache_fill_pending;    /* routing for a fetch: cache_routed, not a connect */
    struct cache_entry *crefresh; /* ... a refresh of this stale entry */
    struct cache_entry *cnext;  /* set by the fill: what to serve */
    const char *cnext_status;
    const struct proxy_error *cfail; /* set by the fill: it failed */
    bool cache_own_head;        /* r->resp is the whole head of the response it triggered */
    bool cursor_open;
    struct cache_cursor ccur;
    uint64_t cache_left;        /* body bytes still to send (a range); UINT64_MAX: to the end */

    /* an admin listener's (admin.c) */
    unsigned admin_route;       /* the endpoint whose body is being read */
    char *admin_body;           /* that body so far, in the arena */
    size_t admin_body_len;

    struct request *next_free;
};

/* Starts an exchange from the complete head c->in[0..head_len). */
void request_begin(struct conn *c, size_t head_len);
/* Answers a head that could not be read (status 400, 408, 414, 431) and
 * closes the connection. */
void request_reject(struct conn *c, unsigned status, const char *why);

/* The client sent more bytes while this request is in progress. */
void request_client_data(struct request *r);
/* The client's socket accepted everything queued. */
void request_client_drained(struct request *r);
/* The client closed or failed: abandon the exchange. */
void request_client_gone(struct request *r, const char *why);

/* Answers the request with a small error page (or, when the response has
 * started already, cuts the client connection). detail (may be NULL) is
 * added to the page: it must not name a backend. */
void request_fail(struct request *r, const struct proxy_error *err);
void request_fail_detail(struct request *r, const struct proxy_error *err, const char *detail);

/* Queues a complete local response: status, the fields in
 * r->local_headers, body. Used by error pages and req:respond(). */
void request_respond(struct request *r, unsigned status, struct slice body);

/* The Connection field of the response to r: "close", "keep-alive" (an
 * HTTP/1.0 client that asked for it) or NULL (HTTP/1.1 default). */
const char *request_connection_header(const struct request *r);

/* The response is entirely queued: finish once it is flushed. */
void request_response_complete(struct request *r);

/* After the listener's checks (and proxy authentication): on_request,
 * then the cache or the proxy. */
void request_policy(struct request *r);

/* The access log's entry for r as it stands now; its slices point into r
 * and into peer (the backend's address is formatted there). */
void request_log_entry(const struct request *r, struct access_entry *e, char peer[ADDR_STRLEN]);
/* r is over (its response finished, or the client left): on_log, when the
 * script has one and r's head was read. Nothing it does changes r. */
void request_log_hook(struct request *r, const struct access_entry *e);

/* Frees a request (its conn must not point at it any more). */
void request_free(struct request *r);

/* The client: behind trusted proxies the address their fields name, else
 * the peer's; as text (X-Forwarded-For, logs, Lua) and as an address. */
struct slice request_client_ip(const struct request *r);
const union sockaddr_u *request_client_addr(const struct request *r);

#include "decide.h" /* request_anonymity_subject, request_set_anonymity, request_id_field */

#endif
