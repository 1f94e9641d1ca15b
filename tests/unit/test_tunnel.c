/* test_tunnel.c - the byte tunnel between two socket pairs: bytes already
 * read go first, data flows both ways, a half-close is passed on and the
 * tunnel ends when both sides are shut, an idle tunnel times out, and a
 * slow side stops the fast one (one buffer per direction). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../core/access_log.h"
#include "../../core/config.h"
#include "../../core/generation.h"
#include "../../core/luxy.h"
#include "../../core/metrics.h"
#include "../../core/tunnel.h"
#include "../../core/worker.h"
#include "tap.h"

static struct worker w;
static struct config cfg;
static struct config_gen cg;
static struct generation gen;
static struct metrics_worker wm;  /* the gauges tunnels count in */

static void setup(double idle)
{
    memset(&w, 0, sizeof(w));
    config_defaults(&cfg);
    cfg.timeouts.tunnel_idle = idle;
    cg.cfg = cfg; /* a hand-made current generation: the tunnel reads its timeouts */
    gen.cfg = &cg.cfg;
    gen.w = &w;
    w.gen = &gen;
    w.wm = &wm;
    w.loop = ev_loop_new(EVFLAG_AUTO);
    bufpool_init(&w.bufs, 16);
    list_init(&w.tunnels);
    list_init(&w.conns);
    ev_init(&w.accept_retry, NULL);
}

static void teardown(void)
{
    tunnel_close_all(&w);
    bufpool_free(&w.bufs);
    ev_loop_destroy(w.loop);
    config_free(&cg.cfg);
}

/* client end, backend end: the tunnel gets the other ends */
static void start(int *client, int *backend, const char *to_backend, const char *to_client)
{
    int c[2], b[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c);
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b);
    struct transport tc, tb;
    transport_tcp(&tc, c[1]);
    transport_tcp(&tb, b[1]);
    struct access_entry e = { .method = SLICE_LIT("CONNECT"), .target = SLICE_LIT("x:1"), .status = 200,
                              .tunnel = true };
    tunnel_start(&w, tc, tb, to_backend, strlen(to_backend), to_client, strlen(to_client), &e, ev_now(w.loop));
    *client = c[0];
    *backend = b[0];
}

static void spin(int rounds)
{
    for (int i = 0; i < rounds; i++)
        ev_run(w.loop, EVRUN_NOWAIT);
}

/* Reads exactly n bytes from fd while running the loop (2 s at most). */
static bool read_n(int fd, char *out, size_t n)
{
    size_t got = 0;
    for (int i = 0; i < 400 && got < n; i++) {
        ev_run(w.loop, EVRUN_NOWAIT);
        ssize_t k = recv(fd, out + got, n - got, MSG_DONTWAIT);
        if (k > 0)
            got += (size_t)k;
        else if (k == 0)
            break;
        else
            usleep(5000);
    }
    return got == n;
}

static bool eof_on(int fd)
{
    for (int i = 0; i < 400; i++) {
        ev_run(w.loop, EVRUN_NOWAIT);
        char c;
        ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
        if (k == 0)
            return true;
        if (k > 0)
            return false;
        usleep(5000);
    }
    return false;
}

static void test_both_ways_and_half_close(void)
{
    setup(60);
    int cl, be;
    start(&cl, &be, "early", "HTTP/1.1 101\r\n\r\n");
    is_int(w.ntunnels, 1, "counted");
    char buf[64];
    ok(read_n(be, buf, 5) && memcmp(buf, "early", 5) == 0, "bytes read before the tunnel go first");
    ok(read_n(cl, buf, 16) && memcmp(buf, "HTTP/1.1 101\r\n\r\n", 16) == 0, "both ways");
    send(cl, "ping", 4, 0);
    ok(read_n(be, buf, 4) && memcmp(buf, "ping", 4) == 0, "client to backend");
    send(be, "pong", 4, 0);
    ok(read_n(cl, buf, 4) && memcmp(buf, "pong", 4) == 0, "backend to client");
    shutdown(cl, SHUT_WR);
    ok(eof_on(be), "the client's EOF reaches the backend");
    send(be, "late", 4, 0);
    ok(read_n(cl, buf, 4) && memcmp(buf, "late", 4) == 0, "the other direction still flows");
    is_int(w.ntunnels, 1, "half-closed: still open");
    shutdown(be, SHUT_WR);
    ok(eof_on(cl), "the backend's EOF reaches the client");
    spin(10);
    is_int(w.ntunnels, 0, "both shut: the tunnel ended");
    close(cl);
    close(be);
    teardown();
}

static void test_idle_timeout(void)
{
    setup(0.05);
    int cl, be;
    start(&cl, &be, "", "");
    ok(eof_on(cl) || w.ntunnels == 0, "an idle tunnel is closed");
    spin(5);
    is_int(w.ntunnels, 0, "and gone");
    close(cl);
    close(be);
    teardown();
}

static void test_backpressure(void)
{
    setup(60);
    int cl, be;
    start(&cl, &be, "", "");
    int small = 4096;
    setsockopt(cl, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    /* the backend floods; the client reads nothing: the tunnel stops reading */
    static char chunk[65536];
    size_t sent = 0;
    for (int i = 0; i < 200; i++) {
        ssize_t k = send(be, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (k > 0)
            sent += (size_t)k;
        spin(2);
    }
    ok(sent < 16u << 20, "the backend could only send %zu bytes to a client that reads nothing", sent);
    /* now read it all: everything that was sent arrives */
    size_t got = 0;
    char *in = malloc(sent + 1);
    for (int i = 0; i < 2000 && got < sent; i++) {
        spin(1);
        ssize_t k = recv(cl, in + got, sent - got, MSG_DONTWAIT);
        if (k > 0)
            got += (size_t)k;
        else
            usleep(1000);
    }
    is_int(got, sent, "every byte sent arrived");
    free(in);
    close(cl);
    close(be);
    teardown();
}

static void test_close_all(void)
{
    setup(60);
    int cl[3], be[3];
    for (int i = 0; i < 3; i++)
        start(&cl[i], &be[i], "", "");
    is_int(w.ntunnels, 3, "three tunnels");
    tunnel_close_all(&w);
    is_int(w.ntunnels, 0, "closed");
    for (int i = 0; i < 3; i++) {
        ok(eof_on(cl[i]) && eof_on(be[i]), "both sides of tunnel %d see the close", i);
        close(cl[i]);
        close(be[i]);
    }
    teardown();
}

int main(void)
{
    test_both_ways_and_half_close();
    test_idle_timeout();
    test_backpressure();
    test_close_all();
    return tap_done("tunnel");
}
