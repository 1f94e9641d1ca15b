/* conn.h - one client connection: its socket, buffers and timer, reading
 * request heads (pipelined ones wait in the buffer) and writing responses.
 * Invariant: at most one request is in progress per connection; the next
 * head is not looked at until the current exchange has finished. */
#ifndef LUXY_CONN_H
#define LUXY_CONN_H

#include <ev.h>
#include <stdbool.h>

#include "addr.h"
#include "buf.h"
#include "http.h"
#include "list.h"
#include "ltimer.h"

struct worker;
struct generation;
struct request;
struct listener_config;

enum conn_timer { CT_NONE, CT_IDLE, CT_HEADER, CT_BODY, CT_SEND };

struct conn {
    struct worker *w;
    struct generation *gen;     /* the configuration it runs under (held) */
    const struct listener_config *lc; /* its listener in gen */
    struct transport tr;        /* the client socket */
    ev_io rio, wio;
    struct ltimer timer;        /* lazy: re-arming it rarely touches libev */
    enum conn_timer timer_kind;
    union sockaddr_u peer;
    char peer_ip[ADDR_STRLEN];
    size_t peer_ip_len;
    struct buf in;
    struct outq out;
    struct http_scan scan;      /* progress on the next head */
    struct request *req;        /* the exchange in progress, or NULL */
    struct list link;           /* worker->conns */
    unsigned refs;              /* > 0 while a callback runs: free is deferred */
    unsigned exchanges;
    bool closing;               /* closed; freed when refs drops to 0 */
    bool denied;                /* client not in the listener's allow list */
    bool processing;            /* inside conn_process: no re-entry */
    bool read_blocked;          /* reading stopped (backpressure or full buffer) */
    bool corked;                /* the last write used MSG_MORE */
    bool orphan;                /* a reload removed its listener: it closes after this request */
};

/* Takes a freshly accepted socket. */
void conn_accept(struct worker *w, const struct listener_config *lc, int fd,
                 const union sockaddr_u *peer);

/* Before a request: a connection left on an older generation by a reload
 * moves to the current one (its listener's new settings, the new script),
 * or, if its listener is gone, stays and is marked orphan. */
void conn_adopt_current(struct conn *c);

/* Closes the connection now (idempotent); why is logged at debug level. */
void conn_close(struct conn *c, const char *why);

/* Reference counting around code that may close c. */
static inline void conn_hold(struct conn *c) { c->refs++; }
void conn_release(struct conn *c);

/* Writes what c->out holds; more: more bytes follow at once (MSG_MORE,
 * see conn_uncork). 1: drained; 0: the rest goes when the socket is
 * writable (request_client_drained is called then); -1: write error (the
 * caller closes the connection). */
int conn_flush(struct conn *c, bool more);
/* Calls request_client_drained in the next loop round (a writer that
 * stopped on purpose to let other connections run). */
void conn_want_write(struct conn *c);
/* Sends whatever an earlier MSG_MORE held back in the kernel. */
void conn_uncork(struct conn *c);

/* Start/stop reading the socket (backpressure from the backend side). */
void conn_read_pause(struct conn *c);
void conn_read_resume(struct conn *c);

/* Arms c's single timer for what it waits on now. */
void conn_timer(struct conn *c, enum conn_timer kind);

/* The exchange is over and its bytes are flushed. keep_alive: serve the next
 * request on c (pipelined bytes may already wait); else close. */
void conn_exchange_done(struct conn *c, bool keep_alive);

/* Hands the socket over (CONNECT, Upgrade): returns its transport, which
 * c no longer closes. c->in keeps its bytes until c is freed. */
struct transport conn_detach(struct conn *c);

/* Parses whatever the buffer holds: a new head, or body bytes for the
 * current request. */
void conn_process(struct conn *c);

#endif
