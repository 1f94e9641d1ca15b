/* test_upconn.c - the idle backend connection pool over real loopback
 * sockets: the worker-wide cap (evicting across buckets and within the
 * bucket being filled), the per-address cap, most-recent-first reuse, the
 * idle timeout, and connections the peer closes or writes to while idle. */
#include "../../core/luxy.h"
#include "../../core/metrics.h"
#include "../../core/upconn.h"
#include "../../core/worker.h"
#include "tap.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define NLISTEN 6

static struct worker w;
static struct metrics_worker wm; /* the pool's idle gauge */
static int lfd[NLISTEN];
static union sockaddr_u laddr[NLISTEN];

static void on_event(struct upconn *uc, int revents)
{
    (void)uc;
    (void)revents;
}

static void setup_worker(unsigned max_idle)
{
    memset(&w, 0, sizeof(w));
    w.wm = &wm;
    w.loop = ev_loop_new(EVFLAG_AUTO);
    bufpool_init(&w.bufs, 16);
    w.pool = upconn_pool_new(&w, max_idle);
}

static void teardown_worker(void)
{
    upconn_pool_free(w.pool);
    bufpool_free(&w.bufs);
    ev_loop_destroy(w.loop);
}

static void open_listeners(void)
{
    for (int i = 0; i < NLISTEN; i++) {
        lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        addr_from_ip("127.0.0.1", 0, &laddr[i]);
        bind(lfd[i], &laddr[i].sa, addr_len(&laddr[i]));
        listen(lfd[i], 64);
        socklen_t len = sizeof(laddr[i]);
        getsockname(lfd[i], &laddr[i].sa, &len);
    }
}

/* A connected upconn to listener i; *peer gets the accepted end. */
static struct upconn *dial(int i, int *peer)
{
    struct upconn *uc = upconn_connect(&w, &laddr[i], on_event, NULL);
    if (uc == NULL)
        return NULL;
    struct pollfd pfd = { uc->tr.fd, POLLOUT, 0 };
    poll(&pfd, 1, 2000);
    uc->connected = true;
    int a = accept(lfd[i], NULL, NULL);
    if (peer)
        *peer = a;
    else
        close(a);
    return uc;
}

/* Runs the loop until cond() or about two seconds have passed. */
static bool run_until(bool (*cond)(void))
{
    for (int i = 0; i < 400; i++) {
        if (cond())
            return true;
        ev_run(w.loop, EVRUN_NOWAIT);
        usleep(5000);
    }
    return cond();
}

/* Has the peer end seen the pool close its side (EOF, or a reset when
 * the closed side had unread bytes)? */
static bool peer_closed(int fd)
{
    struct pollfd pfd = { fd, POLLIN, 0 };
    if (poll(&pfd, 1, 1000) != 1)
        return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n == -1 && errno == ECONNRESET);
}

static bool pool_empty(void)
{
    return upconn_pool_idle(w.pool) == 0;
}

static void test_evict_within_bucket(void)
{
    /* The review's use-after-free: the pool is full, and the coldest idle
     * connection is the last one of the bucket that the released
     * connection goes into. */
    setup_worker(2);
    int px1, py1, px2;
    struct upconn *x1 = dial(0, &px1), *y1 = dial(1, &py1), *x2 = dial(0, &px2);
    ok(x1 && y1 && x2, "three connections dialled");
    upconn_release(x1, 8, 60);
    upconn_release(y1, 8, 60);
    is_int(upconn_pool_idle(w.pool), 2, "pool full");
    upconn_release(x2, 8, 60); /* evicts x1, the last of bucket X */
    is_int(upconn_pool_idle(w.pool), 2, "still at the cap after evicting");
    ok(peer_closed(px1), "the evicted connection was closed");
    struct upconn *t = upconn_pool_take(&w, &laddr[0], on_event, NULL);
    ok(t == x2, "the released connection is found in its bucket");
    ok(t && t->reused, "marked reused");
    struct upconn *t2 = upconn_pool_take(&w, &laddr[0], on_event, NULL);
    ok(t2 == NULL, "nothing else idle for that address");
    struct upconn *ty = upconn_pool_take(&w, &laddr[1], on_event, NULL);
    ok(ty == y1, "the other bucket kept its connection");
    if (t)
        upconn_close(t);
    if (ty)
        upconn_close(ty);
    ok(pool_empty(), "pool empty");
    close(px1);
    close(py1);
    close(px2);
    teardown_worker();
}

static void test_evict_across_buckets(void)
{
    setup_worker(4);
    int peers[5];
    struct upconn *c[5];
    for (int i = 0; i < 5; i++)
        c[i] = dial(i, &peers[i]);
    for (int i = 0; i < 4; i++)
        upconn_release(c[i], 8, 60);
    is_int(upconn_pool_idle(w.pool), 4, "filled to the cap");
    upconn_release(c[4], 8, 60); /* the coldest (listener 0's) goes */
    is_int(upconn_pool_idle(w.pool), 4, "cap held");
    ok(peer_closed(peers[0]), "the coldest connection was closed");
    ok(upconn_pool_take(&w, &laddr[0], on_event, NULL) == NULL, "its bucket is gone");
    for (int i = 1; i < 5; i++) {
        struct upconn *t = upconn_pool_take(&w, &laddr[i], on_event, NULL);
        ok(t == c[i], "connection %d still pooled", i);
        if (t)
            upconn_close(t);
    }
    ok(pool_empty(), "pool empty");
    for (int i = 0; i < 5; i++)
        close(peers[i]);
    teardown_worker();
}

static void test_fill_one_address_to_cap(void)
{
    /* every idle connection in one bucket, then more: eviction keeps taking
     * the oldest of that bucket and the bucket survives */
    setup_worker(3);
    int peers[6];
    struct upconn *c[6];
    for (int i = 0; i < 6; i++)
        c[i] = dial(0, &peers[i]);
    for (int i = 0; i < 6; i++)
        upconn_release(c[i], 100, 60);
    is_int(upconn_pool_idle(w.pool), 3, "capped at 3");
    for (int i = 0; i < 3; i++)
        ok(peer_closed(peers[i]), "old connection %d evicted", i);
    for (int i = 5; i >= 3; i--) {
        struct upconn *t = upconn_pool_take(&w, &laddr[0], on_event, NULL);
        ok(t == c[i], "most recent first: got connection %d", i);
        if (t)
            upconn_close(t);
    }
    ok(pool_empty(), "pool empty");
    for (int i = 0; i < 6; i++)
        close(peers[i]);
    teardown_worker();
}

static void test_per_address_cap(void)
{
    setup_worker(100);
    int peers[3];
    struct upconn *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = dial(2, &peers[i]);
    for (int i = 0; i < 3; i++)
        upconn_release(c[i], 2, 60);
    is_int(upconn_pool_idle(w.pool), 2, "two kept for the address");
    ok(peer_closed(peers[2]), "the third was closed, not pooled");
    upconn_pool_free(w.pool); /* closes the idle ones */
    w.pool = upconn_pool_new(&w, 100);
    ok(peer_closed(peers[0]) && peer_closed(peers[1]), "freeing the pool closes them");
    for (int i = 0; i < 3; i++)
        close(peers[i]);
    teardown_worker();
}

static void test_zero_keepalive_and_leftovers(void)
{
    setup_worker(100);
    int p1, p2;
    struct upconn *a = dial(3, &p1), *b = dial(3, &p2);
    upconn_release(a, 0, 60);
    ok(pool_empty(), "keepalive 0: not pooled");
    ok(peer_closed(p1), "and closed");
    buf_prepare(&b->in, &w.bufs);
    memcpy(b->in.data, "xy", 2);
    b->in.end = 2;
    upconn_release(b, 8, 60);
    ok(pool_empty(), "unread bytes: not pooled");
    ok(peer_closed(p2), "and closed");
    close(p1);
    close(p2);
    teardown_worker();
}

static void test_idle_timeout(void)
{
    setup_worker(100);
    int p;
    struct upconn *a = dial(4, &p);
    upconn_release(a, 8, 0.05);
    is_int(upconn_pool_idle(w.pool), 1, "pooled");
    ok(run_until(pool_empty), "closed by its idle timer");
    ok(peer_closed(p), "the peer sees the close");
    close(p);
    teardown_worker();
}

static void test_peer_closes_idle(void)
{
    setup_worker(100);
    int p;
    struct upconn *a = dial(5, &p);
    upconn_release(a, 8, 60);
    close(p);
    ok(run_until(pool_empty), "a connection the backend closed leaves the pool");
    teardown_worker();
}

static void test_stray_bytes(void)
{
    setup_worker(100);
    int p;
    struct upconn *a = dial(5, &p);
    upconn_release(a, 8, 60);
    ok(send(p, "HTTP/1.1 200 OK\r\n", 17, 0) == 17, "backend writes on an idle connection");
    ok(run_until(pool_empty), "the pool drops it");
    ok(peer_closed(p), "and closes it");
    close(p);
    teardown_worker();
}

int main(void)
{
    open_listeners();
    test_evict_within_bucket();
    test_evict_across_buckets();
    test_fill_one_address_to_cap();
    test_per_address_cap();
    test_zero_keepalive_and_leftovers();
    test_idle_timeout();
    test_peer_closes_idle();
    test_stray_bytes();
    for (int i = 0; i < NLISTEN; i++)
        close(lfd[i]);
    return tap_done("upconn");
}
