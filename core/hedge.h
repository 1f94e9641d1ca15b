/* hedge.h - hedged requests: when the first attempt of an idempotent,
 * bodiless request has had no answer after its upstream's `hedge` delay,
 * a second attempt goes to another server; whichever server sends a first
 * byte first serves the client, and the other connection is closed. The
 * second attempt is never a failure of the first: the slow server keeps
 * its state, only latency tells (as Google's "The Tail at Scale"). */
#ifndef LUXY_HEDGE_H
#define LUXY_HEDGE_H

#include <ev.h>
#include <stdbool.h>

struct request;
struct upconn;
struct backend;

struct hedge {
    ev_timer timer;          /* the delay */
    struct upconn *uc;       /* the second attempt's connection, or NULL */
    struct backend *b;       /* ... and its server (counted in flight) */
    ev_tstamp t_connect;
    bool armed, connected;
};

/* r's first attempt has sent its head: wait for the delay (when r and its
 * upstream allow hedging). */
void hedge_arm(struct request *r);
/* The first attempt's first byte came: the second is not needed. */
void hedge_drop(struct request *r);
/* The first attempt failed: if a second one is out, it becomes r's attempt
 * (r->uc, r->backend) and true is returned; else false. */
bool hedge_take_over(struct request *r);

#endif
