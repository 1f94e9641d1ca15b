/* test_resolve.c - resolve.c against an in-process fake DNS server on the same
 * ev_loop: immediate answers, queries, sharing, caching, expiry, eviction,
 * timeouts, cancelling and freeing with lookups in flight. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../../core/luxy.h"
#include "../../core/resolve.h"
#include "tap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- The fake DNS server ---- */

struct fake_name {
    const char *name;
    const char *a, *aaaa; /* NULL: no record of that type (NOERROR, empty) */
    unsigned ttl;
    int rcode;   /* 3: NXDOMAIN */
    bool silent; /* never answer */
};

static const struct fake_name fake_names[] = {
    { "a.test", "127.0.0.1", NULL, 1, 0, false },
    { "both.test", "127.0.0.2", "::1", 60, 0, false },
    { "nx.test", NULL, NULL, 0, 3, false },
    { "slow.test", NULL, NULL, 0, 0, true },
    { "slow2.test", NULL, NULL, 0, 0, true },
};

struct fake_dns {
    int fd;
    uint16_t port;
    unsigned queries;
    ev_io io;
};

static const struct fake_name *fake_find(const char *name)
{
    static const struct fake_name other = { "", "127.0.0.3", NULL, 60, 0, false };
    for (size_t i = 0; i < countof(fake_names); i++)
        if (strcmp(fake_names[i].name, name) == 0)
            return &fake_names[i];
    return &other; /* any other name: A 127.0.0.3 */
}

static size_t put_rr(uint8_t *p, int type, unsigned ttl, const char *ip)
{
    int len = type == 1 ? 4 : 16;
    p[0] = 0xc0; /* name: pointer to the question's */
    p[1] = 12;
    p[2] = 0;
    p[3] = (uint8_t)type;
    p[4] = 0;
    p[5] = 1;
    p[6] = (uint8_t)(ttl >> 24);
    p[7] = (uint8_t)(ttl >> 16);
    p[8] = (uint8_t)(ttl >> 8);
    p[9] = (uint8_t)ttl;
    p[10] = 0;
    p[11] = (uint8_t)len;
    inet_pton(type == 1 ? AF_INET : AF_INET6, ip, p + 12);
    return 12 + (size_t)len;
}

/* Builds the answer to query q into out; 0: stay silent. */
static size_t fake_answer(const uint8_t *q, size_t n, uint8_t *out)
{
    char name[256];
    size_t pos = 12, nlen = 0;
    if (n < 12)
        return 0;
    while (pos < n && q[pos] != 0) {
        size_t l = q[pos++];
        if (pos + l > n || nlen + l + 1 >= sizeof(name))
            return 0;
        if (nlen)
            name[nlen++] = '.';
        memcpy(name + nlen, q + pos, l);
        nlen += l;
        pos += l;
    }
    name[nlen] = '\0';
    if (pos + 5 > n)
        return 0;
    int type = q[pos + 1] << 8 | q[pos + 2]; /* 1: A, 28: AAAA */
    size_t qend = pos + 5;
    const struct fake_name *f = fake_find(name);
    if (f->silent)
        return 0;
    memcpy(out, q, qend);
    out[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, RD copied */
    out[3] = (uint8_t)(0x80 | f->rcode);      /* RA */
    memset(out + 6, 0, 6);                    /* no answers, authority, additional yet */
    size_t len = qend;
    const char *ip = type == 1 ? f->a : type == 28 ? f->aaaa : NULL;
    if (f->rcode == 0 && ip) {
        len += put_rr(out + len, type, f->ttl, ip);
        out[7] = 1;
    }
    return len;
}

static void fake_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct fake_dns *d = container_of(w, struct fake_dns, io);
    uint8_t q[512], a[600];
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof(from);
    ssize_t n;
    (void)loop;
    (void)revents;
    while ((n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen)) > 0) {
        d->queries++;
        size_t len = fake_answer(q, (size_t)n, a);
        if (len)
            sendto(d->fd, a, len, 0, (struct sockaddr *)&from, fromlen);
        fromlen = sizeof(from);
    }
}

static void fake_start(struct ev_loop *loop, struct fake_dns *d)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd == -1 || bind(d->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
        getsockname(d->fd, (struct sockaddr *)&sin, &len) == -1) {
        perror("fake dns");
        exit(1);
    }
    d->port = ntohs(sin.sin_port);
    d->queries = 0;
    ev_io_init(&d->io, fake_on_read, d->fd, EV_READ);
    ev_io_start(loop, &d->io);
}

/* ---- Driving the loop, always with a deadline ---- */

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    *(bool *)w->data = true;
}

/* Runs the loop until *counter >= want or secs passed; true if reached. */
static bool run_until(struct ev_loop *loop, const unsigned *counter, unsigned want, double secs)
{
    bool expired = false;
    ev_timer t;
    ev_now_update(loop);
    ev_timer_init(&t, on_deadline, secs, 0.);
    t.data = &expired;
    ev_timer_start(loop, &t);
    while (*counter < want && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    return *counter >= want;
}

static void run_for(struct ev_loop *loop, double secs)
{
    static const unsigned never = 0;
    run_until(loop, &never, 1, secs);
}

/* ---- Recording callbacks ---- */

struct probe {
    struct resolve_wait w;
    unsigned calls;
    struct resolved res;
    const char *err;
    struct probe *other;     /* on_cancel_other: cancel this one */
    struct resolver *r;      /* on_lookup_more: look "more.test" up with */
    struct probe *more;
};

static unsigned total_calls;

static void on_result(void *arg, const struct resolved *res, const char *err)
{
    struct probe *p = arg;
    p->calls++;
    total_calls++;
    p->err = err;
    p->res.n = 0;
    if (res)
        p->res = *res;
}

static void on_cancel_other(void *arg, const struct resolved *res, const char *err)
{
    struct probe *p = arg;
    on_result(arg, res, err);
    resolve_cancel(&p->other->w);
    resolve_cancel(&p->w); /* already unlinked: harmless */
}

static void on_lookup_more(void *arg, const struct resolved *res, const char *err)
{
    struct probe *p = arg;
    const struct resolved *out;
    const char *e;
    on_result(arg, res, err);
    is_int(resolve_lookup(p->r, "more.test", 9, &p->more->w, on_result, p->more, &out, &e),
           RESOLVE_PENDING, "lookup from inside a callback");
}

static const char *ip_str(const union sockaddr_u *a)
{
    static char buf[ADDR_STRLEN];
    addr_format(a, buf, sizeof(buf), false);
    return buf;
}

static enum resolve_status lookup(struct resolver *r, const char *name, struct probe *p,
                                  const struct resolved **out, const char **err)
{
    *out = NULL;
    *err = NULL;
    return resolve_lookup(r, name, strlen(name), &p->w, on_result, p, out, err);
}

/* ---- Tests ---- */

static const char hosts_text[] =
    "# a comment line\n"
    "127.0.0.9 fromhosts.test alias.test # trailing comment\n"
    "::9\tFROMHOSTS.test\n"
    "10.0.0.1 multi.test\n"
    "10.0.0.2 multi.test\n"
    "10.0.0.1 multi.test\n"
    "notanip broken.test\n"
    "127.0.0.10 # commented.test\n"
    "::a1 cap.test\n::a2 cap.test\n::a3 cap.test\n::a4 cap.test\n::a5 cap.test\n"
    "::a6 cap.test\n::a7 cap.test\n::a8 cap.test\n::a9 cap.test\n10.9.9.9 cap.test\n";

static void test_new(struct ev_loop *loop)
{
    char err[256] = "";
    struct resolve_config cfg = { .hosts_path = "/nonexistent/hosts" };
    struct resolver *r = resolve_new(loop, NULL, err, sizeof(err));
    const struct resolved *out;
    const char *e;
    struct probe p = { 0 };
    ok(r != NULL, "resolve_new with defaults: %s", err);
    if (r)
        is_int(lookup(r, "localhost", &p, &out, &e), RESOLVE_DONE, "defaults: localhost");
    resolve_free(r);
    resolve_free(NULL);

    ok(resolve_new(loop, &cfg, err, sizeof(err)) == NULL, "missing explicit hosts file");
    ok(strstr(err, "/nonexistent/hosts") != NULL, "message names the file: %s", err);
    cfg = (struct resolve_config){ .hosts_path = "", .servers = "not a server list" };
    err[0] = '\0';
    ok(resolve_new(loop, &cfg, err, sizeof(err)) == NULL, "bad servers");
    ok(err[0] != '\0', "message for bad servers: %s", err);
}

static void test_immediate(struct ev_loop *loop, struct resolver *r, struct fake_dns *d)
{
    struct probe p = { 0 };
    const struct resolved *out, *out2;
    const char *err;
    struct resolve_stats st0, st;
    unsigned q0 = d->queries;
    char long_name[300];
    static const char *bad[] = { "", ".", "a b", "a..b", ".a", "a/b", "ex@mple.com", "a:80" };
    resolve_get_stats(r, &st0);

    is_int(lookup(r, "192.0.2.7", &p, &out, &err), RESOLVE_DONE, "v4 literal");
    ok(out && out->n == 1 && addr_port(&out->addr[0]) == 0, "one address, port 0");
    is_str(ip_str(&out->addr[0]), "192.0.2.7", "v4 literal address");
    is_int(lookup(r, "2001:db8::1", &p, &out2, &err), RESOLVE_DONE, "v6 literal");
    is_str(ip_str(&out2->addr[0]), "2001:db8::1", "v6 literal address");
    is_str(ip_str(&out->addr[0]), "192.0.2.7", "first answer still valid after a second lookup");
    is_int(lookup(r, "[::1]", &p, &out, &err), RESOLVE_DONE, "bracketed v6 literal");
    is_str(ip_str(&out->addr[0]), "::1", "bracketed v6 address");
    is_int(lookup(r, "[192.0.2.7]", &p, &out, &err), RESOLVE_FAILED, "brackets around v4");

    is_int(lookup(r, "localhost", &p, &out, &err), RESOLVE_DONE, "localhost");
    ok(out && out->n == 2, "localhost: two addresses");
    is_str(ip_str(&out->addr[0]), "127.0.0.1", "localhost: v4 first");
    is_str(ip_str(&out->addr[1]), "::1", "localhost: then v6");
    is_int(lookup(r, "Api.LocalHost.", &p, &out, &err), RESOLVE_DONE, "*.localhost");
    is_str(ip_str(&out->addr[0]), "127.0.0.1", "*.localhost address");
    is_int(lookup(r, "notlocalhost", &p, &out, &err), RESOLVE_PENDING, "notlocalhost is a name");
    resolve_cancel(&p.w);

    is_int(lookup(r, "FromHosts.Test", &p, &out, &err), RESOLVE_DONE, "hosts file name");
    ok(out && out->n == 2, "hosts: both lines of the name");
    is_str(ip_str(&out->addr[0]), "127.0.0.9", "hosts: v4 first");
    is_str(ip_str(&out->addr[1]), "::9", "hosts: then v6");
    is_int(lookup(r, "alias.test", &p, &out, &err), RESOLVE_DONE, "hosts alias");
    is_str(ip_str(&out->addr[0]), "127.0.0.9", "hosts alias address");
    is_int(lookup(r, "multi.test", &p, &out, &err), RESOLVE_DONE, "hosts name on three lines");
    ok(out && out->n == 2, "multi.test: two addresses, the duplicate dropped");
    is_int(lookup(r, "cap.test", &p, &out, &err), RESOLVE_DONE, "hosts name on ten lines");
    ok(out && out->n == RESOLVE_MAX_ADDRS, "capped at RESOLVE_MAX_ADDRS");
    is_str(ip_str(&out->addr[0]), "10.9.9.9", "a late IPv4 address still comes first");
    is_str(ip_str(&out->addr[RESOLVE_MAX_ADDRS - 1]), "::a7", "the last IPv6 one made room");
    is_int(lookup(r, "commented.test", &p, &out, &err), RESOLVE_PENDING, "comments are ignored");
    resolve_cancel(&p.w);

    is_int(lookup(r, "foo.invalid", &p, &out, &err), RESOLVE_FAILED, ".invalid");
    is_str(err, "names under .invalid never resolve", ".invalid message");
    is_int(lookup(r, "INVALID", &p, &out, &err), RESOLVE_FAILED, "invalid");
    for (size_t i = 0; i < countof(bad); i++) {
        is_int(lookup(r, bad[i], &p, &out, &err), RESOLVE_FAILED, bad[i]);
        is_str(err, "invalid host name", bad[i]);
    }
    memset(long_name, 'a', sizeof(long_name));
    for (size_t i = 60; i < 254; i += 61)
        long_name[i] = '.';
    is_int(resolve_lookup(r, long_name, 254, &p.w, on_result, &p, &out, &err), RESOLVE_FAILED,
           "254 bytes");
    is_int(resolve_lookup(r, long_name, 253, &p.w, on_result, &p, &out, &err), RESOLVE_PENDING,
           "253 bytes");
    resolve_cancel(&p.w);
    is_int(resolve_lookup(r, "a.test\0x", 8, &p.w, on_result, &p, &out, &err), RESOLVE_FAILED,
           "NUL in name");

    /* c-ares fails ".onion" from inside ares_getaddrinfo: still no callback */
    is_int(lookup(r, "hidden.onion", &p, &out, &err), RESOLVE_FAILED, ".onion: sync failure");
    is_str(err, "name not found", ".onion message");
    ok(p.w.pprev == NULL, ".onion: waiter not linked");

    resolve_get_stats(r, &st);
    is_int(st.queries - st0.queries, 4, "queries: 3 cancelled names + .onion");
    is_int(st.cache_hits - st0.cache_hits, 0, "no cache hits");
    /* let the cancelled lookups finish, so later tests count their own traffic */
    ok(run_until(loop, &d->queries, q0 + 6, 2.0), "cancelled names reached the server");
    run_for(loop, 0.05);
    is_int(total_calls, 0, "nothing called back");
}

static void test_query_and_cache(struct ev_loop *loop, struct resolver *r, struct fake_dns *d)
{
    struct probe p = { 0 };
    const struct resolved *out;
    const char *err;
    struct resolve_stats st0, st;
    unsigned q0 = d->queries;
    resolve_get_stats(r, &st0);

    is_int(lookup(r, "a.test", &p, &out, &err), RESOLVE_PENDING, "a.test pending");
    is_int(p.calls, 0, "not called before returning");
    ok(run_until(loop, &p.calls, 1, 2.0), "a.test answered");
    ok(p.err == NULL && p.res.n == 1, "a.test: one address (empty AAAA)");
    is_str(ip_str(&p.res.addr[0]), "127.0.0.1", "a.test address");
    is_int(d->queries - q0, 2, "A and AAAA sent");
    ok(p.w.pprev == NULL, "waiter unlinked after the call");

    is_int(lookup(r, "A.Test.", &p, &out, &err), RESOLVE_DONE, "a.test again: cached");
    is_str(ip_str(&out->addr[0]), "127.0.0.1", "cached address");
    resolve_get_stats(r, &st);
    is_int(st.cache_hits - st0.cache_hits, 1, "one cache hit");
    is_int(st.queries - st0.queries, 1, "one query");
    is_int(d->queries - q0, 2, "no new DNS traffic");
}

static void test_shared(struct ev_loop *loop, struct resolver *r, struct fake_dns *d)
{
    struct probe p1 = { 0 }, p2 = { 0 };
    const struct resolved *out;
    const char *err;
    struct resolve_stats st0, st;
    unsigned q0 = d->queries, calls0 = total_calls;
    resolve_get_stats(r, &st0);

    is_int(lookup(r, "both.test", &p1, &out, &err), RESOLVE_PENDING, "both.test #1");
    is_int(lookup(r, "BOTH.test", &p2, &out, &err), RESOLVE_PENDING, "both.test #2");
    resolve_get_stats(r, &st);
    is_int(st.queries - st0.queries, 1, "one query for two lookups");
    ok(run_until(loop, &total_calls, calls0 + 2, 2.0), "both waiters called");
    is_int(p1.calls, 1, "first called once");
    is_int(p2.calls, 1, "second called once");
    ok(p1.res.n == 2 && p2.res.n == 2, "two addresses each");
    is_str(ip_str(&p1.res.addr[0]), "127.0.0.2", "v4 first");
    is_str(ip_str(&p1.res.addr[1]), "::1", "then v6");
    is_str(ip_str(&p2.res.addr[0]), "127.0.0.2", "second waiter: v4 first");
    is_int(d->queries - q0, 2, "A and AAAA, once");
}

static void test_negative(struct ev_loop *loop, struct resolver *r, struct fake_dns *d)
{
    struct probe p = { 0 };
    const struct resolved *out;
    const char *err;
    struct resolve_stats st0, st;
    unsigned q0 = d->queries;
    resolve_get_stats(r, &st0);

    is_int(lookup(r, "nx.test", &p, &out, &err), RESOLVE_PENDING, "nx.test pending");
    ok(run_until(loop, &p.calls, 1, 2.0), "nx.test answered");
    is_str(p.err, "name not found", "NXDOMAIN message");
    run_for(loop, 0.05);
    is_int(d->queries - q0, 2, "no search list: A and AAAA for the name as given, nothing more");
    q0 = d->queries;
    is_int(lookup(r, "nx.test", &p, &out, &err), RESOLVE_FAILED, "nx.test again: cached failure");
    is_str(err, "name not found", "cached failure message");
    is_int(d->queries, q0, "no new DNS traffic");
    resolve_get_stats(r, &st);
    is_int(st.failures - st0.failures, 1, "one failure");
    is_int(st.cache_hits - st0.cache_hits, 1, "negative answers are cache hits");
}

static void test_timeout(struct ev_loop *loop, struct resolver *r)
{
    struct probe p = { 0 };
    const struct resolved *out;
    const char *err;
    double t0 = ev_time();
    is_int(lookup(r, "slow.test", &p, &out, &err), RESOLVE_PENDING, "slow.test pending");
    ok(run_until(loop, &p.calls, 1, 2.0), "slow.test called back");
    is_str(p.err, "DNS timeout", "timeout message");
    double took = ev_time() - t0;
    ok(took >= 0.15 && took < 1.0, "timed out after 200 ms (took %.3f s)", took);
}

static void test_cancel(struct ev_loop *loop, struct resolver *r, struct fake_dns *d)
{
    struct probe p = { 0 };
    const struct resolved *out;
    const char *err;
    unsigned q0 = d->queries;
    is_int(lookup(r, "c.test", &p, &out, &err), RESOLVE_PENDING, "c.test pending");
    resolve_cancel(&p.w);
    resolve_cancel(&p.w); /* twice: harmless */
    ok(run_until(loop, &d->queries, q0 + 2, 2.0), "c.test reached the server");
    run_for(loop, 0.1); /* time for the answers to come back */
    is_int(p.calls, 0, "cancelled waiter not called");
    is_int(lookup(r, "c.test", &p, &out, &err), RESOLVE_DONE, "answer cached anyway");
    is_str(ip_str(&out->addr[0]), "127.0.0.3", "c.test address");
}

/* Waiters that cancel each other, cancel themselves and look more names up. */
static void test_callback_reentry(struct ev_loop *loop, struct resolver *r)
{
    struct probe p1 = { 0 }, p2 = { 0 }, p3 = { 0 }, more = { 0 };
    const struct resolved *out;
    const char *err;
    p1.other = &p2;
    p2.other = &p1;
    p3.r = r;
    p3.more = &more;
    is_int(resolve_lookup(r, "d.test", 6, &p1.w, on_cancel_other, &p1, &out, &err),
           RESOLVE_PENDING, "d.test #1");
    is_int(resolve_lookup(r, "d.test", 6, &p2.w, on_cancel_other, &p2, &out, &err),
           RESOLVE_PENDING, "d.test #2");
    is_int(resolve_lookup(r, "d.test", 6, &p3.w, on_lookup_more, &p3, &out, &err),
           RESOLVE_PENDING, "d.test #3");
    ok(run_until(loop, &p3.calls, 1, 2.0), "d.test answered");
    is_int(p1.calls + p2.calls, 1, "of two waiters cancelling each other, one is called");
    ok(run_until(loop, &more.calls, 1, 2.0), "lookup started in a callback completes");
    is_str(ip_str(&more.res.addr[0]), "127.0.0.3", "more.test address");
    run_for(loop, 0.02);
    is_int(p1.calls + p2.calls + p3.calls + more.calls, 3, "nobody called twice");
}

/* r2 holds 2 names: both.test (TTL 60) and a.test (TTL 1, used last). */
static void fill_small_cache(struct ev_loop *loop, struct resolver *r2)
{
    struct probe p = { 0 };
    const struct resolved *out;
    const char *err;
    is_int(lookup(r2, "both.test", &p, &out, &err), RESOLVE_PENDING, "r2: both.test");
    ok(run_until(loop, &p.calls, 1, 2.0), "r2: both.test answered");
    is_int(lookup(r2, "a.test", &p, &out, &err), RESOLVE_PENDING, "r2: a.test");
    ok(run_until(loop, &p.calls, 2, 2.0), "r2: a.test answered");
    is_int(lookup(r2, "a.test", &p, &out, &err), RESOLVE_DONE, "r2: a.test cached");
}

static void test_expiry(struct ev_loop *loop, struct resolver *r, struct fake_dns *d)
{
    struct probe p = { 0 };
    const struct resolved *out;
    const char *err;
    unsigned q0 = d->queries;
    is_int(lookup(r, "a.test", &p, &out, &err), RESOLVE_PENDING, "a.test expired: asked again");
    ok(run_until(loop, &p.calls, 1, 2.0), "a.test answered again");
    is_str(ip_str(&p.res.addr[0]), "127.0.0.1", "a.test address");
    is_int(d->queries - q0, 2, "a.test re-queried");
}

static void test_eviction(struct ev_loop *loop, struct resolver *r2, struct fake_dns *d)
{
    struct probe p = { 0 }, g = { 0 }, h = { 0 };
    const struct resolved *out, *kept;
    const char *err;
    unsigned q0 = d->queries;

    /* full, and a.test expired: it goes, not the least recently used */
    is_int(lookup(r2, "c.test", &p, &out, &err), RESOLVE_PENDING, "r2: c.test");
    ok(run_until(loop, &p.calls, 1, 2.0), "r2: c.test answered");
    is_int(lookup(r2, "both.test", &p, &out, &err), RESOLVE_DONE, "expired entry evicted first");
    is_int(d->queries - q0, 2, "only c.test queried");

    /* full, nothing expired: the least recently used (c.test) goes */
    is_int(lookup(r2, "f.test", &p, &out, &err), RESOLVE_PENDING, "r2: f.test");
    ok(run_until(loop, &p.calls, 2, 2.0), "r2: f.test answered");
    is_int(lookup(r2, "c.test", &p, &out, &err), RESOLVE_PENDING, "LRU entry was evicted");
    ok(run_until(loop, &p.calls, 3, 2.0), "r2: c.test answered again");

    /* an answer handed out survives eviction until the loop runs again */
    is_int(lookup(r2, "f.test", &p, &kept, &err), RESOLVE_DONE, "r2: f.test cached");
    is_int(lookup(r2, "g.test", &g, &out, &err), RESOLVE_PENDING, "r2: g.test");
    is_int(lookup(r2, "h.test", &h, &out, &err), RESOLVE_PENDING, "r2: h.test evicts f.test");
    is_str(ip_str(&kept->addr[0]), "127.0.0.3", "evicted answer still readable");
    ok(run_until(loop, &h.calls, 1, 2.0) && run_until(loop, &g.calls, 1, 2.0), "g, h answered");
    is_int(lookup(r2, "f.test", &p, &out, &err), RESOLVE_PENDING, "f.test was evicted");
    resolve_cancel(&p.w);
}

/* More names in flight than the cache holds: pending entries are never
 * evicted, every waiter is answered, and the next new name trims the cache
 * back to size. */
static void test_burst(struct ev_loop *loop, struct resolver *r2)
{
    struct probe p[20];
    const struct resolved *out;
    const char *err;
    char name[32];
    unsigned calls0 = total_calls, pending = 0;
    memset(p, 0, sizeof(p));
    for (unsigned i = 0; i < countof(p); i++) {
        snprintf(name, sizeof(name), "burst%u.test", i);
        pending += lookup(r2, name, &p[i], &out, &err) == RESOLVE_PENDING;
    }
    is_int(pending, countof(p), "burst: all pending");
    ok(run_until(loop, &total_calls, calls0 + pending, 2.0), "burst: all answered");
    for (unsigned i = 0; i < countof(p); i++)
        if (p[i].calls != 1 || p[i].res.n != 1)
            ok(0, "burst%u: calls %u, addresses %u", i, p[i].calls, p[i].res.n);
    is_int(lookup(r2, "burst0.test", &p[0], &out, &err), RESOLVE_DONE, "burst: overfilled for now");
    is_int(lookup(r2, "after.test", &p[0], &out, &err), RESOLVE_PENDING, "burst: a new name");
    resolve_cancel(&p[0].w);
    unsigned cached = 0;
    for (unsigned i = 0; i < countof(p); i++) {
        snprintf(name, sizeof(name), "burst%u.test", i);
        cached += lookup(r2, name, &p[i], &out, &err) == RESOLVE_DONE;
        resolve_cancel(&p[i].w);
    }
    ok(cached <= 1, "burst: trimmed back to size (%u of 20 still cached)", cached);
    run_for(loop, 0.05); /* let the re-queries finish */
}

static void test_free_pending(struct ev_loop *loop, struct resolver *r)
{
    struct probe p = { 0 };
    const struct resolved *out;
    const char *err;
    is_int(lookup(r, "slow2.test", &p, &out, &err), RESOLVE_PENDING, "slow2.test pending");
    run_for(loop, 0.02);
    resolve_free(r);
    ok(p.w.pprev == NULL, "waiter unlinked by resolve_free");
    resolve_cancel(&p.w); /* harmless */
    run_for(loop, 0.05);
    is_int(p.calls, 0, "no callback from resolve_free");
}

int main(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct fake_dns d;
    char hosts_path[] = "/tmp/test_resolve_hostsXXXXXX", servers[64], err[256] = "";
    int fd = mkstemp(hosts_path);
    if (fd == -1 || write(fd, hosts_text, sizeof(hosts_text) - 1) != (ssize_t)sizeof(hosts_text) - 1) {
        perror("hosts file");
        return 1;
    }
    close(fd);
    fake_start(loop, &d);
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", d.port);
    struct resolve_config cfg = {
        .servers = servers, .hosts_path = hosts_path, .timeout_ms = 200, .attempts = 1,
    };
    struct resolver *r = resolve_new(loop, &cfg, err, sizeof(err));
    ok(r != NULL, "resolve_new: %s", err);
    cfg.cache_size = 2;
    cfg.hosts_path = "";
    struct resolver *r2 = resolve_new(loop, &cfg, err, sizeof(err));
    ok(r2 != NULL, "resolve_new with cache_size 2: %s", err);
    if (r == NULL || r2 == NULL)
        return tap_done("resolve");

    test_new(loop);
    test_immediate(loop, r, &d);
    test_query_and_cache(loop, r, &d);
    test_shared(loop, r, &d);
    test_negative(loop, r, &d);
    test_timeout(loop, r);
    test_cancel(loop, r, &d);
    test_callback_reentry(loop, r);
    fill_small_cache(loop, r2);
    ev_sleep(1.1); /* a.test's TTL of 1 s runs out */
    ev_now_update(loop);
    test_expiry(loop, r, &d);
    test_eviction(loop, r2, &d);
    test_burst(loop, r2);
    test_free_pending(loop, r);
    resolve_free(r2);

    ev_io_stop(loop, &d.io);
    close(d.fd);
    unlink(hosts_path);
    ev_loop_destroy(loop);
    return tap_done("resolve");
}
