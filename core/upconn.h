/* upconn.h - connections to backends and origins, and the per-worker pool
 * of idle keep-alive ones keyed by address.
 * An upconn is either owned (an exchange or a tunnel drives it through
 * on_event) or idle in the pool (the pool watches it and closes it on any
 * readable event or after the idle timeout). Never both. */
#ifndef LUXY_UPCONN_H
#define LUXY_UPCONN_H

#include <ev.h>
#include <stdbool.h>

#include "ltimer.h"
#include "addr.h"
#include "buf.h"
#include "transport.h"
#include "list.h"

struct worker;
struct upconn;
struct pool_bucket;

/* revents: EV_READ, EV_WRITE or EV_TIMER. */
typedef void (*upconn_cb)(struct upconn *uc, int revents);

struct upconn {
    struct worker *w;
    struct transport tr;
    ev_io rio, wio;
    struct ltimer timer;  /* lazy: the pool's idle timeout and the owner's */
    union sockaddr_u addr;
    struct buf in;
    struct outq out;
    bool connected;      /* the TCP handshake finished */
    bool reused;         /* came from the pool for this exchange */
    unsigned exchanges;  /* requests sent on it */
    upconn_cb on_event;  /* owned: who gets the events */
    void *owner;
    /* idle in the pool */
    struct pool_bucket *bucket;
    struct list bucket_link, lru_link;
};

struct upconn_pool;

struct upconn_pool *upconn_pool_new(struct worker *w, unsigned max_idle);
/* Closes every idle connection. */
void upconn_pool_free(struct upconn_pool *p);
unsigned upconn_pool_idle(const struct upconn_pool *p);
/* Closes w's idle connections to addr (a drained server). Returns how many. */
unsigned upconn_pool_drop(struct worker *w, const union sockaddr_u *addr);

/* Starts a non-blocking connect to addr. Returns the connection (owned by
 * the caller; EV_WRITE arrives when connected or failed), or NULL with errno
 * set when the connect failed at once. */
struct upconn *upconn_connect(struct worker *w, const union sockaddr_u *addr, upconn_cb cb,
                              void *owner);
/* An idle connection to addr taken out of the pool, or NULL. */
struct upconn *upconn_pool_take(struct worker *w, const union sockaddr_u *addr, upconn_cb cb,
                                void *owner);
/* Gives a connection whose exchange finished cleanly back to the pool (or
 * closes it when the pool for that address holds max_per_addr already). */
void upconn_release(struct upconn *uc, unsigned max_per_addr, double idle_timeout);
void upconn_close(struct upconn *uc);
/* Frees uc but leaves its socket open and returns its transport (tunnels). */
struct transport upconn_detach(struct upconn *uc);

/* Watch for readability / writability (owned connections). */
void upconn_want_read(struct upconn *uc, bool on);
void upconn_want_write(struct upconn *uc, bool on);
/* Arms the owner's timer: EV_TIMER after seconds of no re-arm; 0 stops it. */
void upconn_timeout(struct upconn *uc, double seconds);
/* The pending socket error after a connect (0 when connected). */
int upconn_socket_error(struct upconn *uc);

#endif
