/* ltimer.h - a lazy timeout: re-arming it records a deadline and touches
 * libev's timer heap only when the deadline moves earlier than the libev
 * timer's expiry; stopping it only forgets the deadline. When the libev
 * timer fires, ltimer_expired checks the deadline: not reached yet, the
 * timer goes again for what is left; none, nothing happens.
 *
 * A connection re-arms and stops its timeout several times per request
 * (header, body, send, idle, backend read); done eagerly that is a heap
 * operation each time, ten per request. Lazily it is about one per
 * timeout period. */
#ifndef LUXY_LTIMER_H
#define LUXY_LTIMER_H

#include <ev.h>
#include <stdbool.h>

struct ltimer {
    ev_timer w;
    ev_tstamp deadline;   /* ev_now() terms; 0: off */
    ev_tstamp fires;      /* when w fires, while it is active */
};

static inline void ltimer_init(struct ltimer *t, void (*cb)(struct ev_loop *, ev_timer *, int))
{
    ev_init(&t->w, cb);
    t->deadline = t->fires = 0;
}

/* The timeout ends seconds from now (0: at the next loop iteration). */
void ltimer_arm(struct ev_loop *loop, struct ltimer *t, double seconds);

/* No timeout (libev's timer may still fire once, and does nothing). */
static inline void ltimer_stop(struct ltimer *t)
{
    t->deadline = 0;
}

/* Really stops it: before the owner is freed. */
static inline void ltimer_cancel(struct ev_loop *loop, struct ltimer *t)
{
    t->deadline = 0;
    ev_timer_stop(loop, &t->w);
}

/* First thing in the callback: true when the timeout is really over (it is
 * then off); false when it was stopped or moved later (then it is armed
 * again for the rest). */
bool ltimer_expired(struct ev_loop *loop, struct ltimer *t);

#endif
