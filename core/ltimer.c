/* ltimer.c - lazy timeouts (see ltimer.h). */
#include "ltimer.h"

static void start(struct ev_loop *loop, struct ltimer *t, ev_tstamp now, double seconds)
{
    ev_timer_set(&t->w, seconds, 0.);
    ev_timer_start(loop, &t->w);
    t->fires = now + seconds;
}

void ltimer_arm(struct ev_loop *loop, struct ltimer *t, double seconds)
{
    ev_tstamp now = ev_now(loop);
    t->deadline = now + seconds;
    if (ev_is_active(&t->w)) {
        if (t->fires <= t->deadline)
            return; /* it fires first, and then goes again for the rest */
        ev_timer_stop(loop, &t->w);
    }
    start(loop, t, now, seconds);
}

bool ltimer_expired(struct ev_loop *loop, struct ltimer *t)
{
    if (t->deadline == 0)
        return false;
    ev_tstamp now = ev_now(loop);
    /* libev may run a timer a hair before the deadline computed here
     * (its clock is the monotonic one): a millisecond is "now" */
    if (t->deadline - now > 1e-3) {
        start(loop, t, now, t->deadline - now);
        return false;
    }
    t->deadline = 0;
    return true;
}
