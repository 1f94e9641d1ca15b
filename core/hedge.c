/* hedge.c - see hedge.h. The second attempt sends the head the first one
 * sent (r->up_head) on a connection of its own; when it answers first,
 * proxy_hedge_won makes it the request's connection and reads on, exactly
 * as if it had been the only attempt. */
#include "hedge.h"

#include <errno.h>

#include "conn.h"
#include "lb.h"
#include "log.h"
#include "proxy.h"
#include "request.h"
#include "upconn.h"
#include "upstream.h"
#include "worker.h"

static void close_second(struct request *r)
{
    struct hedge *h = &r->hedge;
    if (h->uc) {
        upconn_close(h->uc);
        h->uc = NULL;
        backend_end(h->b);
        h->b = NULL;
    }
}

void hedge_drop(struct request *r)
{
    struct hedge *h = &r->hedge;
    if (!h->armed)
        return;
    ev_timer_stop(r->w->loop, &h->timer);
    close_second(r);
    h->armed = false;
}

static void on_second(struct upconn *uc, int revents)
{
    struct request *r = uc->owner;
    struct hedge *h = &r->hedge;
    struct conn *c = r->conn;
    conn_hold(c);
    if (revents & EV_TIMER) {
        backend_result(h->b, h->connected ? AR_TIMEOUT : AR_CONNECT, 0);
        hedge_drop(r);
    } else if (!h->connected) {
        int e = upconn_socket_error(uc);
        if (e) {
            backend_result(h->b, AR_CONNECT, 0);
            hedge_drop(r);
        } else {
            h->connected = uc->connected = true;
            outq_push(&uc->out, r->up_head.ptr, r->up_head.len);
            upconn_want_write(uc, outq_flush(&uc->out, &uc->tr, false) == 0);
            upconn_want_read(uc, true);
            upconn_timeout(uc, r->gen->cfg->timeouts.backend_read);
        }
    } else if (revents & EV_WRITE) {
        int rc = outq_flush(&uc->out, &uc->tr, false);
        if (rc == -1) {
            backend_result(h->b, AR_RESET, 0);
            hedge_drop(r);
        } else {
            upconn_want_write(uc, rc == 0);
        }
    } else if (revents & EV_READ) {
        /* the second server answered first: it serves the client */
        struct upconn *won = h->uc;
        struct backend *b = h->b;
        ev_tstamp t = h->t_connect;
        h->uc = NULL;
        h->b = NULL;
        h->armed = false;
        log_debug("upstream %s: the hedged attempt to %s answered first", r->up->cfg->name, b->cfg->spec);
        proxy_hedge_won(r, won, b, t);
    }
    conn_release(c);
}

static void on_delay(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct request *r = container_of(t, struct request, hedge.timer);
    struct hedge *h = &r->hedge;
    struct upstream *up = r->up;
    struct lb_query q = { .tried = &r->tried, .now_ms = server_now_ms() };
    int i = lb_pick(up->lb, up, &q);
    if (i < 0) { /* nobody else may take it: the first attempt goes on alone */
        h->armed = false;
        return;
    }
    struct backend *b = &up->backends[i];
    struct upconn *uc = upconn_connect(r->w, backend_addr(b), on_second, r);
    if (uc == NULL) {
        backend_connect_failed(b);
        backend_result(b, AR_CONNECT, 0);
        h->armed = false;
        return;
    }
    lb_mark_tried(&r->tried, (unsigned)i);
    backend_begin(b);
    r->attempts++; /* logged and counted as a retry */
    h->uc = uc;
    h->b = b;
    h->connected = false;
    h->t_connect = ev_now(r->w->loop);
    upconn_timeout(uc, r->gen->cfg->timeouts.backend_connect);
    log_debug("upstream %s: no answer from %s after %.0f ms: hedging to %s", up->cfg->name,
              r->backend ? r->backend->cfg->spec : "?", up->cfg->hedge * 1000, b->cfg->spec);
}

void hedge_arm(struct request *r)
{
    struct upstream *up = r->up;
    if (up == NULL || up->cfg->hedge <= 0 || r->hedge.armed || r->attempts != 1 || r->tunnel ||
        r->via_parent || up->n < 2)
        return;
    unsigned m = r->head.method;
    bool idempotent = m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS;
    if (!idempotent || !r->body_done || r->body_bytes != 0)
        return;
    struct hedge *h = &r->hedge;
    ev_timer_init(&h->timer, on_delay, up->cfg->hedge, 0);
    ev_timer_start(r->w->loop, &h->timer);
    h->armed = true;
}

bool hedge_take_over(struct request *r)
{
    struct hedge *h = &r->hedge;
    if (!h->armed || h->uc == NULL) {
        hedge_drop(r);
        return false;
    }
    struct upconn *uc = h->uc;
    struct backend *b = h->b;
    ev_tstamp t = h->t_connect;
    bool connected = h->connected;
    h->uc = NULL;
    h->b = NULL;
    h->armed = false;
    proxy_hedge_adopt(r, uc, b, t, connected);
    return true;
}
