/* clock.h - the time the decisions read. In the server it is the worker
 * loop's (ev_now: one clock read per loop iteration). `luxy test` and
 * `luxy simulate` set a virtual clock instead, so that a case or an hour
 * of simulated traffic sees exactly the time they say: server states,
 * retry budgets, luxy.now() and cache ages all read it through here. */
#ifndef LUXY_CLOCK_H
#define LUXY_CLOCK_H

#include <ev.h>

/* Seconds since the epoch; 0: off (the server). Set by the lab only. */
extern double clock_virtual;

static inline double clock_now(struct ev_loop *loop)
{
    return clock_virtual > 0 ? clock_virtual : ev_now(loop);
}

#endif
