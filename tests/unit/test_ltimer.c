/* test_ltimer.c - lazy timeouts on a real libev loop: a deadline moved
 * later fires at the new time, not the old one; one moved earlier fires
 * early; a stopped one never reaches its callback's work; re-arming while
 * active touches libev only when the deadline moves earlier. */
#include "../../core/ltimer.h"
#include "tap.h"

static struct ltimer t;
static int expired;
static ev_tstamp expired_at;

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    if (!ltimer_expired(loop, &t))
        return;
    expired++;
    expired_at = ev_now(loop);
}

static void run_for(struct ev_loop *loop, double seconds)
{
    ev_tstamp until = ev_now(loop) + seconds;
    while (ev_now(loop) < until) {
        ev_run(loop, EVRUN_ONCE);
        ev_now_update(loop);
    }
}

int main(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    ltimer_init(&t, on_timer);

    /* moved later: fires once, at the later deadline */
    ev_now_update(loop);
    ev_tstamp t0 = ev_now(loop);
    ltimer_arm(loop, &t, 0.05);
    ev_tstamp fires = t.fires;
    ltimer_arm(loop, &t, 0.2);
    ok(t.fires == fires, "moving the deadline later leaves libev's timer alone");
    run_for(loop, 0.35);
    is_int(expired, 1, "expired once");
    ok(expired_at - t0 >= 0.199 && expired_at - t0 < 0.3, "at the later deadline (%.3f s)", expired_at - t0);
    ok(!ev_is_active(&t.w), "then off");

    /* moved earlier: libev's timer moves too */
    expired = 0;
    ev_now_update(loop);
    t0 = ev_now(loop);
    ltimer_arm(loop, &t, 5);
    ltimer_arm(loop, &t, 0.05);
    ok(t.fires < t0 + 1, "moving the deadline earlier restarts libev's timer");
    run_for(loop, 0.15);
    is_int(expired, 1, "expired at the earlier deadline");

    /* stopped: the timer may still run, the work does not */
    expired = 0;
    ltimer_arm(loop, &t, 0.05);
    ltimer_stop(&t);
    ok(ev_is_active(&t.w), "a lazy stop leaves libev's timer running");
    run_for(loop, 0.15);
    is_int(expired, 0, "a stopped timeout never expires");
    ok(!ev_is_active(&t.w), "and libev's timer is not restarted");

    /* cancel: really stopped */
    ltimer_arm(loop, &t, 0.05);
    ltimer_cancel(loop, &t);
    ok(!ev_is_active(&t.w), "cancel stops libev's timer");

    ev_loop_destroy(loop);
    return tap_done("ltimer");
}
