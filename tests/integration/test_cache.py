"""The shared HTTP cache (docs/caching.md): RFC 9111 over real sockets.

A real luxy in front of an origin that counts the requests it gets per
path and answers what the test scripted for that path. Every test checks
what the client received and how often the origin was asked."""

import socket
import threading
import time

import pytest

from luxyharness import LUXY_BIN, Client, Closed, scaled, wait_for

CONF = """
workers($workers)
logs { level = "info" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
cache { size = "$size", max_object = "$max_object"$cache_extra }
timeouts { backend_read = "5s" }
$extra
"""


class Origin:
    """Answers per path: routes[path] = function(req, conn, n) where n is
    the number of the request for that path (1, 2, ...)."""

    def __init__(self, env, **kw):
        self.routes = {}
        self.counts = {}
        self.lock = threading.Lock()
        self.backend = env.backend(self.handle, **kw)
        self.port = self.backend.port

    def handle(self, req, conn):
        with self.lock:
            n = self.counts[req.path] = self.counts.get(req.path, 0) + 1
        fn = self.routes.get(req.path)
        if fn is None:
            conn.respond(404, b"no route\n", req=req)
            return
        fn(req, conn, n)

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)

    def last(self, path):
        reqs = [q for q in self.backend.requests if q.path == path]
        return reqs[-1] if reqs else None


def start(env, workers=1, size="16MB", max_object="4MB", extra="", cache_extra="", **kw):
    o = Origin(env, **kw)
    lx = env.luxy(CONF, backend_port=o.port, workers=workers, size=size, max_object=max_object, extra=extra,
                  cache_extra=cache_extra)
    return o, lx


def fixed(status=200, body=b"x", headers=(), delay=0):
    def fn(req, conn, n):
        if delay:
            time.sleep(delay)
        hs = [(k, v.replace("{n}", str(n)) if isinstance(v, str) else v) for k, v in headers]
        b = body.replace(b"{n}", str(n).encode()) if isinstance(body, bytes) else body
        conn.respond(status, b, hs, req=req)
    return fn


def get(port, path, headers=None, method="GET"):
    c = Client(port)
    try:
        return c.roundtrip(method, path, headers=headers)
    finally:
        c.close()


# ---------------------------------------------------------------- basics

def test_hit_after_miss_with_age(env):
    o, lx = start(env)
    o.routes["/a"] = fixed(body=b"body {n}", headers=[("Cache-Control", "max-age=60"), ("X-Origin", "yes")])
    r = get(lx.port, "/a")
    assert r.status == 200 and r.body == b"body 1" and r.header("X-Cache") == "MISS", r
    r = get(lx.port, "/a")
    assert r.body == b"body 1" and r.header("X-Cache") == "HIT", r
    assert r.header("Age") is not None and int(r.header("Age")) >= 0
    assert r.header("X-Origin") == "yes"
    assert o.count("/a") == 1


def test_age_from_origin_counts_and_expiry_refetches(env):
    o, lx = start(env)
    o.routes["/aged"] = fixed(body=b"v{n}", headers=[("Cache-Control", "max-age=12"), ("Age", "10")])
    assert get(lx.port, "/aged").body == b"v1"
    r = get(lx.port, "/aged")
    assert r.header("X-Cache") == "HIT" and int(r.header("Age")) >= 10, r
    time.sleep(2.2)  # Age 10 + 2 s > max-age 12
    r = get(lx.port, "/aged")
    assert r.body == b"v2" and o.count("/aged") == 2, r


def test_the_key_has_the_host(env):
    o, lx = start(env)
    o.routes["/h"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    assert get(lx.port, "/h", headers=[("Host", "one.test")]).body == b"1"
    assert get(lx.port, "/h", headers=[("Host", "two.test")]).body == b"2"
    assert get(lx.port, "/h", headers=[("Host", "ONE.test")]).body == b"1"
    assert get(lx.port, "/h", headers=[("Host", "one.test:8080")]).body == b"3"


def test_expires_and_date(env):
    o, lx = start(env)
    now = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    o.routes["/exp"] = fixed(body=b"{n}", headers=[("Date", now), ("Expires", later)])
    o.routes["/exp0"] = fixed(body=b"{n}", headers=[("Expires", "0")])
    o.routes["/expbad"] = fixed(body=b"{n}", headers=[("Expires", "next tuesday"), ("ETag", '"e"')])
    get(lx.port, "/exp")
    assert get(lx.port, "/exp").header("X-Cache") == "HIT"
    get(lx.port, "/exp0")
    get(lx.port, "/exp0")
    assert o.count("/exp0") == 2, "Expires: 0 is already expired"
    get(lx.port, "/expbad")
    get(lx.port, "/expbad")
    assert o.count("/expbad") == 2, "an invalid Expires means expired"


# ---------------------------------------------------------------- not stored

@pytest.mark.parametrize("path,headers,req_headers", [
    ("/nostore", [("Cache-Control", "max-age=60, no-store")], []),
    ("/private", [("Cache-Control", "max-age=60, PRIVATE")], []),
    ("/auth", [("Cache-Control", "max-age=60")], [("Authorization", "Basic dTpw")]),
    ("/cookie", [("Cache-Control", "max-age=60"), ("Set-Cookie", "sid=1")], []),
    ("/nofresh", [("Content-Type", "text/plain")], []),
    ("/varystar", [("Cache-Control", "max-age=60"), ("Vary", "*")], []),
    ("/reqnostore", [("Cache-Control", "max-age=60")], [("Cache-Control", "no-store")]),
    ("/err500", [], []),
])
def test_not_stored(env, path, headers, req_headers):
    o, lx = start(env)
    status = 500 if path == "/err500" else 200
    o.routes[path] = fixed(status=status, body=b"{n}", headers=headers)
    r1 = get(lx.port, path, headers=req_headers)
    r2 = get(lx.port, path, headers=req_headers)
    assert r1.body == b"1" and r2.body == b"2", (r1, r2)
    assert o.count(path) == 2
    if path == "/cookie":
        assert r1.header("Set-Cookie") == "sid=1" and r2.header("Set-Cookie") == "sid=1"


def test_authorization_with_public_is_stored(env):
    o, lx = start(env)
    o.routes["/pub"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60, public")])
    get(lx.port, "/pub", headers=[("Authorization", "Basic dTpw")])
    r = get(lx.port, "/pub", headers=[("Authorization", "Basic other")])
    assert r.header("X-Cache") == "HIT" and o.count("/pub") == 1


def test_post_bypasses_and_invalidates(env):
    o, lx = start(env)

    def doc(req, conn, n):
        hs = [("Cache-Control", "max-age=60")]
        if req.method == "POST":
            hs += [("Content-Location", "/other"), ("Location", "http://TEST.local:80/third"),
                   ("X-Ignored", "x")]
        conn.respond(200, b"v%d" % n, hs, req=req)
    o.routes["/doc"] = doc
    for p in ("/other", "/third", "/fourth"):
        o.routes[p] = fixed(body=b"o{n}", headers=[("Cache-Control", "max-age=60")])
    assert get(lx.port, "/doc").body == b"v1"
    for p in ("/other", "/third", "/fourth"):
        get(lx.port, p)
    assert get(lx.port, "/doc").header("X-Cache") == "HIT"
    c = Client(lx.port)
    r = c.roundtrip("POST", "/doc", body=b"change")
    assert r.status == 200 and r.body == b"v2" and r.header("X-Cache") == "BYPASS"
    assert get(lx.port, "/doc").body == b"v3", "a successful POST invalidates its target"
    assert get(lx.port, "/other").body == b"o2", "and its Content-Location"
    assert get(lx.port, "/third").body == b"o2", "and its Location on the same origin"
    assert get(lx.port, "/fourth").header("X-Cache") == "HIT", "but nothing else"


def test_invalidation_never_crosses_origins(env):
    o, lx = start(env)
    o.routes["/x"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])

    def poster(req, conn, n):
        conn.respond(201, b"made", [("Location", "http://elsewhere.test/x")], req=req)
    o.routes["/make"] = poster
    get(lx.port, "/x", headers=[("Host", "elsewhere.test")])
    Client(lx.port).roundtrip("POST", "/make", body=b"a")
    assert get(lx.port, "/x", headers=[("Host", "elsewhere.test")]).header("X-Cache") == "HIT"


def test_get_with_a_body_bypasses(env):
    o, lx = start(env)
    o.routes["/gb"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    c = Client(lx.port)
    c.roundtrip("GET", "/gb", body=b"payload")
    r = c.roundtrip("GET", "/gb", body=b"other")
    assert r.body == b"2" and r.header("X-Cache") == "BYPASS"


def test_interim_responses_are_never_stored(env):
    o, lx = start(env)

    def hinted(req, conn, n):
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
        conn.respond(200, b"final %d" % n, [("Cache-Control", "max-age=60")], req=req)
    o.routes["/hints"] = hinted
    assert get(lx.port, "/hints").body == b"final 1"
    r = get(lx.port, "/hints")
    assert r.status == 200 and r.body == b"final 1" and r.header("X-Cache") == "HIT"


# ---------------------------------------------------------------- Vary

def test_vary_keeps_one_variant_per_value(env):
    o, lx = start(env)

    def by_encoding(req, conn, n):
        enc = req.header("Accept-Encoding") or "none"
        conn.respond(200, ("%s %d" % (enc, n)).encode(), [("Cache-Control", "max-age=60"),
                                                           ("Vary", "accept-encoding,  X-Other")], req=req)
    o.routes["/v"] = by_encoding
    assert get(lx.port, "/v", headers=[("Accept-Encoding", "gzip")]).body == b"gzip 1"
    assert get(lx.port, "/v", headers=[("Accept-Encoding", "br")]).body == b"br 2"
    r = get(lx.port, "/v", headers=[("Accept-Encoding", "gzip")])
    assert r.body == b"gzip 1" and r.header("X-Cache") == "HIT"
    # the same value in two field lines, or with other spacing, is the same variant
    c = Client(lx.port)
    c.send(b"GET /v HTTP/1.1\r\nHost: test.local\r\nAccept-Encoding: gzip, deflate\r\n\r\n")
    assert c.read_response().body == b"gzip, deflate 3"
    c.send(b"GET /v HTTP/1.1\r\nHost: test.local\r\nAccept-Encoding: gzip\r\nAccept-Encoding: deflate\r\n\r\n")
    r = c.read_response()
    assert r.header("X-Cache") == "HIT", "two field lines are one list (varnish compares only the first)"
    # a header absent is its own variant
    assert get(lx.port, "/v").body == b"none 4"
    assert o.count("/v") == 4


# ---------------------------------------------------------------- revalidation

def test_revalidation_by_etag_updates_headers(env):
    o, lx = start(env)

    def tagged(req, conn, n):
        if req.header("If-None-Match") == '"v1"':
            conn.send(b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=1\r\n"
                      b"X-Revision: %d\r\n\r\n" % n)
            return
        conn.respond(200, b"the body", [("Cache-Control", "max-age=1"), ("ETag", '"v1"'), ("X-Revision", "1")],
                     req=req)
    o.routes["/etag"] = tagged
    assert get(lx.port, "/etag").body == b"the body"
    time.sleep(1.2)
    r = get(lx.port, "/etag")
    assert r.status == 200 and r.body == b"the body" and r.header("X-Cache") == "REVALIDATED", r
    assert r.header("X-Revision") == "2", "the 304's fields replace the stored ones"
    assert o.last("/etag").header("If-None-Match") == '"v1"'
    r = get(lx.port, "/etag")
    assert r.header("X-Cache") == "HIT" and r.header("X-Revision") == "2"
    assert o.count("/etag") == 2


def test_revalidation_by_last_modified(env):
    o, lx = start(env)
    lm = "Wed, 01 Jan 2025 00:00:00 GMT"

    def dated(req, conn, n):
        if req.header("If-Modified-Since") == lm:
            conn.send(b"HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=60\r\n\r\n")
            return
        conn.respond(200, b"dated", [("Cache-Control", "max-age=0"), ("Last-Modified", lm)], req=req)
    o.routes["/lm"] = dated
    get(lx.port, "/lm")
    r = get(lx.port, "/lm")
    assert r.header("X-Cache") == "REVALIDATED" and r.body == b"dated", r
    assert get(lx.port, "/lm").header("X-Cache") == "HIT"
    assert o.count("/lm") == 2


def test_no_cache_is_stored_and_revalidated_every_time(env):
    o, lx = start(env)

    def nc(req, conn, n):
        if req.header("If-None-Match"):
            conn.send(b"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n")
            return
        conn.respond(200, b"nc", [("Cache-Control", "no-cache"), ("ETag", '"a"')], req=req)
    o.routes["/nc"] = nc
    for _ in range(3):
        assert get(lx.port, "/nc").body == b"nc"
    assert o.count("/nc") == 3
    assert all(q.header("If-None-Match") == '"a"' for q in o.backend.requests[1:])


def test_client_conditional_gets_304_from_a_fresh_entry(env):
    o, lx = start(env)
    o.routes["/c"] = fixed(body=b"content", headers=[("Cache-Control", "max-age=60"), ("ETag", 'W/"c1"')])
    get(lx.port, "/c")
    r = get(lx.port, "/c", headers=[("If-None-Match", '"c1"')])
    assert r.status == 304 and r.body == b"" and r.header("ETag") == 'W/"c1"', r
    assert get(lx.port, "/c", headers=[("If-None-Match", '"other"')]).status == 200
    assert o.count("/c") == 1


# ---------------------------------------------------------------- stale

def test_stale_while_revalidate_one_background_fetch(env):
    o, lx = start(env)
    o.routes["/swr"] = fixed(body=b"v{n}", headers=[("Cache-Control", "max-age=1, stale-while-revalidate=30")],
                             delay=0.3)
    assert get(lx.port, "/swr").body == b"v1"
    time.sleep(1.2)
    bodies = []
    for _ in range(5):
        r = get(lx.port, "/swr")
        bodies.append((r.body, r.header("X-Cache")))
    assert all(b == (b"v1", "STALE") for b in bodies), bodies
    wait_for(lambda: get(lx.port, "/swr").body == b"v2", timeout=5, what="the refreshed entry")
    assert o.count("/swr") == 2, "exactly one background refresh"


def test_stale_if_error_with_the_origin_stopped(env):
    o, lx = start(env)
    o.routes["/sie"] = fixed(body=b"old", headers=[("Cache-Control", "max-age=1, stale-if-error=60")])
    o.routes["/must"] = fixed(body=b"strict", headers=[("Cache-Control", "max-age=1, must-revalidate, stale-if-error=60")])
    get(lx.port, "/sie")
    get(lx.port, "/must")
    o.backend.close()
    time.sleep(1.2)
    r = get(lx.port, "/sie")
    assert r.status == 200 and r.body == b"old" and r.header("X-Cache") == "STALE", r
    r = get(lx.port, "/must")
    assert r.status == 502, "must-revalidate forbids serving it stale: %r" % r


def test_stale_if_error_on_a_5xx(env):
    o, lx = start(env)

    def flaky(req, conn, n):
        if n == 1:
            conn.respond(200, b"good", [("Cache-Control", "max-age=1, stale-if-error=60")], req=req)
        else:
            conn.respond(503, b"down", req=req)
    o.routes["/flaky"] = flaky
    get(lx.port, "/flaky")
    time.sleep(1.2)
    r = get(lx.port, "/flaky")
    assert r.status == 200 and r.body == b"good" and r.header("X-Cache") == "STALE", r


# ---------------------------------------------------------------- HEAD, ranges

def test_head_from_a_cached_get(env):
    o, lx = start(env)
    o.routes["/hd"] = fixed(body=b"0123456789", headers=[("Cache-Control", "max-age=60")])
    get(lx.port, "/hd")
    c = Client(lx.port)
    c.request("HEAD", "/hd")
    r = c.read_response(method="HEAD")
    assert r.status == 200 and r.body == b"" and r.header("Content-Length") == "10" and r.header("X-Cache") == "HIT"
    assert o.count("/hd") == 1
    # a HEAD miss fills the cache with a GET
    o.routes["/hd2"] = fixed(body=b"abc", headers=[("Cache-Control", "max-age=60")])
    c.request("HEAD", "/hd2")
    r = c.read_response(method="HEAD")
    assert r.status == 200 and r.body == b""
    assert o.last("/hd2").method == "GET"
    assert get(lx.port, "/hd2").body == b"abc" and o.count("/hd2") == 1


def test_ranges_from_a_complete_entry(env):
    o, lx = start(env)
    o.routes["/r"] = fixed(body=b"0123456789", headers=[("Cache-Control", "max-age=60"), ("ETag", '"r1"')])
    get(lx.port, "/r")
    r = get(lx.port, "/r", headers=[("Range", "bytes=2-5")])
    assert r.status == 206 and r.body == b"2345" and r.header("Content-Range") == "bytes 2-5/10", r
    r = get(lx.port, "/r", headers=[("Range", "bytes=-3")])
    assert r.status == 206 and r.body == b"789"
    r = get(lx.port, "/r", headers=[("Range", "bytes=7-")])
    assert r.status == 206 and r.body == b"789"
    r = get(lx.port, "/r", headers=[("Range", "bytes=20-30")])
    assert r.status == 416 and r.header("Content-Range") == "bytes */10", r
    r = get(lx.port, "/r", headers=[("Range", "bytes=0-1,4-5")])
    assert r.status == 200 and r.body == b"0123456789", "several ranges: the whole response"
    r = get(lx.port, "/r", headers=[("Range", "bytes=2-5"), ("If-Range", '"old"')])
    assert r.status == 200, "If-Range that does not match: the whole response"
    assert o.count("/r") == 1
    assert o.last("/r").header("Range") is None


# ---------------------------------------------------------------- targeted fields

def test_cdn_cache_control_wins_and_is_removed(env):
    o, lx = start(env)
    o.routes["/cdn"] = fixed(body=b"{n}", headers=[("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=60")])
    o.routes["/own"] = fixed(body=b"{n}", headers=[("CDN-Cache-Control", "no-store"),
                                                    ("Luxy-Cache-Control", "max-age=60")])
    r = get(lx.port, "/cdn")
    assert r.header("CDN-Cache-Control") is None and r.header("Cache-Control") == "no-store"
    r = get(lx.port, "/cdn")
    assert r.header("X-Cache") == "HIT" and r.header("CDN-Cache-Control") is None
    get(lx.port, "/own")
    r = get(lx.port, "/own")
    assert r.header("X-Cache") == "HIT" and r.header("Luxy-Cache-Control") is None


# ---------------------------------------------------------------- purge

def test_purge_by_url_and_by_tag(env):
    o, lx = start(env)
    o.routes["/p1"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60"), ("Surrogate-Key", "news top")])
    o.routes["/p2"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60"), ("Surrogate-Key", "news")])
    o.routes["/p3"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60"), ("Surrogate-Key", "sport")])
    for p in ("/p1", "/p2", "/p3"):
        get(lx.port, p)
    c = Client(lx.port)
    r = c.roundtrip("PURGE", "/p1")
    assert r.status == 200 and b"purged 1" in r.body, r
    assert get(lx.port, "/p1").body == b"2"
    r = c.roundtrip("PURGE", "/anything", headers=[("Surrogate-Key", "news")])
    assert r.status == 200 and b"purged 2" in r.body, r
    assert get(lx.port, "/p2").body == b"2" and get(lx.port, "/p1").body == b"3"
    assert get(lx.port, "/p3").header("X-Cache") == "HIT"
    r = c.roundtrip("PURGE", "/never-stored")
    assert r.status == 404


def test_purge_from_elsewhere_is_refused(env):
    o, lx = start(env, cache_extra=', purge = { "10.9.9.9" }')
    o.routes["/keep"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    get(lx.port, "/keep")
    r = Client(lx.port).roundtrip("PURGE", "/keep")
    assert r.status == 403
    assert get(lx.port, "/keep").header("X-Cache") == "HIT"


# ---------------------------------------------------------------- coalescing

def concurrent_gets(port, path, n, first_hangs_up=False):
    results = [None] * n
    start_gate = threading.Event()

    def one(i):
        start_gate.wait(10)
        try:
            c = Client(port, timeout=scaled(20))
            c.request("GET", path)
            results[i] = c.read_response()
            c.close()
        except Exception as e:  # reported by the assertions
            results[i] = e
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    if first_hangs_up:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET %s HTTP/1.1\r\nHost: test.local\r\n\r\n" % path.encode())
        time.sleep(0.1)
        s.close()  # the trigger leaves at once
    for t in threads:
        t.start()
    start_gate.set()
    for t in threads:
        t.join(scaled(30))
    return results


@pytest.mark.parametrize("hang_up", [False, True], ids=["all-stay", "trigger-leaves"])
def test_100_concurrent_misses_reach_the_origin_once(env, hang_up):
    o, lx = start(env, workers=2)
    body = bytes(range(256)) * 200  # 51 KB
    o.routes["/chart"] = fixed(body=body, headers=[("Cache-Control", "max-age=60")], delay=0.5)
    results = concurrent_gets(lx.port, "/chart", 100, first_hangs_up=hang_up)
    bad = [r for r in results if not (getattr(r, "status", None) == 200 and r.body == body)]
    assert not bad, bad[:3]
    assert o.count("/chart") == 1, "the origin was asked %d times" % o.count("/chart")


def test_uncacheable_response_sends_the_waiters_to_the_origin(env):
    o, lx = start(env)
    o.routes["/dyn"] = fixed(body=b"private {n}", headers=[("Cache-Control", "private")], delay=0.5)
    results = concurrent_gets(lx.port, "/dyn", 10)
    assert all(getattr(r, "status", None) == 200 for r in results), results
    assert o.count("/dyn") == 10, "each waiter asked the origin itself"
    bodies = sorted(r.body for r in results)
    assert len(set(bodies)) == 10, "nobody got another client's private response: %r" % bodies
    # the key is now known as uncacheable: straight to the origin
    assert get(lx.port, "/dyn").header("X-Cache") == "BYPASS"


def test_a_slow_reader_does_not_slow_the_fill_or_others(env):
    o, lx = start(env, max_object="8MB")
    body = b"s" * (4 << 20)
    o.routes["/big"] = fixed(body=body, headers=[("Cache-Control", "max-age=60")])
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    slow.connect(("127.0.0.1", lx.port))
    slow.sendall(b"GET /big HTTP/1.1\r\nHost: test.local\r\n\r\n")
    time.sleep(0.3)
    t0 = time.monotonic()
    r = get(lx.port, "/big")
    assert r.body == body and time.monotonic() - t0 < scaled(5), "a fast reader waited on the slow one"
    assert o.count("/big") == 1
    slow.close()


# ---------------------------------------------------------------- limits

def test_max_object_passes_through_unstored(env):
    o, lx = start(env, max_object="64KB")
    big = b"B" * (200 * 1024)
    o.routes["/known"] = fixed(body=big, headers=[("Cache-Control", "max-age=60")])

    def chunked(req, conn, n):
        conn.respond_chunked(200, [b"C" * 50000] * 4, [("Cache-Control", "max-age=60")])
    o.routes["/chunked"] = chunked
    for p, want in (("/known", big), ("/chunked", b"C" * 200000)):
        assert get(lx.port, p).body == want
        assert get(lx.port, p).body == want
        assert o.count(p) == 2, "%s (bigger than max_object) was stored" % p


def test_a_response_cut_off_is_not_stored(env):
    o, lx = start(env)

    def cut(req, conn, n):
        conn.send(b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 1000\r\n\r\n" + b"p" * 100)
        conn.close()
    o.routes["/cut"] = cut
    r = Client(lx.port).read_response if False else None
    c = Client(lx.port)
    c.request("GET", "/cut")
    r = c.read_response(strict=False)
    assert r.status == 200 and not r.complete, r
    c2 = Client(lx.port)
    c2.request("GET", "/cut")
    r2 = c2.read_response(strict=False)
    assert not r2.complete
    assert o.count("/cut") == 2


@pytest.mark.heavy
def test_filling_four_times_the_store_keeps_memory_bounded(env):
    o, lx = start(env, size="8MB", max_object="1MB")
    body = b"m" * (256 * 1024)
    for i in range(128):  # 32 MB through an 8 MB store
        o.routes["/m%d" % i] = fixed(body=body, headers=[("Cache-Control", "max-age=600")])
    base = lx.rss_kb()
    c = Client(lx.port)
    for i in range(128):
        r = c.roundtrip("GET", "/m%d" % i)
        assert r.body == body
    grown = lx.rss_kb() - base
    if "asan" not in LUXY_BIN:  # ASan's quarantine keeps freed memory: RSS says nothing there
        assert grown < 8 * 1024 + 6 * 1024, "RSS grew %d KiB for an 8 MB store" % grown
    # the newest are hits, the oldest were evicted
    assert c.roundtrip("GET", "/m127").header("X-Cache") == "HIT"
    assert c.roundtrip("GET", "/m0").header("X-Cache") == "MISS"


# ---------------------------------------------------------------- two workers

def test_two_workers_share_the_store(env):
    o, lx = start(env, workers=2, extra="function on_response(req, res) res:set_header('X-Worker', luxy.worker_id) end")
    o.routes["/shared"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    seen = {}
    for i in range(200):
        r = get(lx.port, "/shared")
        seen.setdefault(r.header("X-Worker"), set()).add((r.header("X-Cache"), r.body))
        if len(seen) == 2:
            break
    assert len(seen) == 2, "only one worker served: %r" % seen
    assert o.count("/shared") == 1, "each worker fetched its own copy"


def test_a_fill_in_one_worker_feeds_a_waiter_in_the_other(env):
    o, lx = start(env, workers=2, extra="function on_response(req, res) res:set_header('X-Worker', luxy.worker_id) end")
    o.routes["/slowfill"] = fixed(body=b"filled {n}", headers=[("Cache-Control", "max-age=60")], delay=1.0)
    results = concurrent_gets(lx.port, "/slowfill", 16)
    assert all(getattr(r, "body", None) == b"filled 1" for r in results), results
    workers = {r.header("X-Worker") for r in results}
    assert workers == {"1", "2"}, "the waiters were all in one worker: %r" % workers
    assert o.count("/slowfill") == 1


def test_a_body_too_big_for_the_store_streams_to_every_waiter(env):
    o, lx = start(env, max_object="128KB")
    chunks = [bytes([65 + i % 26]) * 32768 for i in range(32)]  # 1 MB, chunked: the size shows late

    def chunked(req, conn, n):
        time.sleep(0.3)
        conn.respond_chunked(200, chunks, [("Cache-Control", "max-age=60")])
    o.routes["/stream"] = chunked
    results = concurrent_gets(lx.port, "/stream", 4)
    want = b"".join(chunks)
    assert all(getattr(r, "body", None) == want for r in results), [getattr(r, "status", r) for r in results]
    assert o.count("/stream") == 1
    assert get(lx.port, "/stream").header("X-Cache") != "HIT"


# ---------------------------------------------------------------- scripts

def test_cache_key_and_cache_store_hooks(env):
    o, lx = start(env, extra="""
function cache_key(req)
  if req:header("Cookie") then return false end            -- logged in: never from the cache
  local kept = {}
  for pair in (req.query or ""):gmatch("[^&]+") do
    if not pair:find("^utm_") then kept[#kept + 1] = pair end
  end
  table.sort(kept)
  return req.host .. req.path .. "?" .. table.concat(kept, "&")
end
function cache_store(req, res)
  if req.path:find("^/static/") then return { ttl = 86400, strip = { "X-Debug" } } end
  if req.path == "/never" then return false end
end
function on_response(req, res) res:set_header("X-Seen", res.cache or "none") end
""")
    o.routes["/page"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    o.routes["/static/app.js"] = fixed(body=b"js{n}", headers=[("X-Debug", "internal"), ("Set-Cookie", "t=1")])
    o.routes["/never"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    assert get(lx.port, "/page?utm_source=x&id=1").body == b"1"
    r = get(lx.port, "/page?id=1&utm_medium=y")
    assert r.body == b"1" and r.header("X-Seen") == "HIT", "tracking parameters are not in the key: %r" % r
    assert get(lx.port, "/page?id=1", headers=[("Cookie", "sid=1")]).body == b"2"
    r = get(lx.port, "/static/app.js")
    assert r.header("Set-Cookie") == "t=1", "the client that caused the fill gets its cookie"
    r = get(lx.port, "/static/app.js")
    assert r.body == b"js1" and r.header("X-Seen") == "HIT", r
    assert r.header("X-Debug") is None and r.header("Set-Cookie") is None, "stripped from the stored copy"
    get(lx.port, "/never")
    get(lx.port, "/never")
    assert o.count("/never") == 2


def test_status_header_can_be_switched_off(env):
    o, lx = start(env, cache_extra=", status_header = false")
    o.routes["/quiet"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    get(lx.port, "/quiet")
    r = get(lx.port, "/quiet")
    assert r.header("X-Cache") is None and r.body == b"1"


def test_listener_can_opt_out(env):
    o = Origin(env)
    o.routes["/o"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    lx = env.luxy("""
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app", cache = false }
upstream "app" { "127.0.0.1:$backend_port" }
cache { size = "8MB" }
""", backend_port=o.port)
    get(lx.port, "/o")
    r = get(lx.port, "/o")
    assert r.body == b"2" and r.header("X-Cache") is None


def test_forward_proxy_caches(env):
    o = Origin(env)
    o.routes["/f"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    lx = env.luxy("""
workers(1)
listen { "127.0.0.1:$port", mode = "forward" }
cache { size = "8MB" }
""")
    url = "http://127.0.0.1:%d/f" % o.port
    c = Client(lx.port)
    assert c.roundtrip("GET", url).body == b"1"
    r = c.roundtrip("GET", url)
    assert r.body == b"1" and r.header("X-Cache") == "HIT"
    assert o.count("/f") == 1
    r = c.roundtrip("PURGE", url)
    assert r.status == 200, "a forward listener purges absolute URLs"
    assert c.roundtrip("GET", url).body == b"2"


# ---------------------------------------------------------------- the examples in scripts/cache

def example(env, name, origin):
    import os
    from luxyharness import REPO
    text = open(os.path.join(REPO, "scripts", "cache", name)).read().replace("$", "$$")
    text = text.replace('"127.0.0.1:8080"', '"127.0.0.1:$port"').replace('"127.0.0.1:9001"', '"127.0.0.1:$backend_port"')
    return env.luxy("workers(1)\n" + text, backend_port=origin.port)


def test_example_static_assets(env):
    o = Origin(env)
    o.routes["/app.css"] = fixed(body=b"css{n}", headers=[("Cache-Control", "no-cache"), ("Set-Cookie", "a=1")])
    o.routes["/page"] = fixed(body=b"p{n}")
    lx = example(env, "static_assets.lua", o)
    get(lx.port, "/app.css")
    r = get(lx.port, "/app.css")
    assert r.body == b"css1" and r.header("X-Cache") == "HIT" and r.header("Set-Cookie") is None
    get(lx.port, "/page")
    assert get(lx.port, "/page").body == b"p2", "the rest follows the RFC: no freshness, not stored"


def test_example_tracking_params(env):
    o = Origin(env)
    o.routes["/p"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    lx = example(env, "tracking_params.lua", o)
    assert get(lx.port, "/p?b=2&a=1&utm_source=news").body == b"1"
    assert get(lx.port, "/p?a=1&b=2&fbclid=xyz").body == b"1"
    assert get(lx.port, "/p?a=1&b=3").body == b"2"
    assert o.last("/p").target == "/p?a=1&b=3"


def test_example_logged_in(env):
    o = Origin(env)
    o.routes["/home"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60")])
    o.routes["/login"] = fixed(body=b"{n}", headers=[("Cache-Control", "max-age=60"), ("Set-Cookie", "session=abc")])
    lx = example(env, "logged_in.lua", o)
    get(lx.port, "/home")
    assert get(lx.port, "/home").header("X-Cache") == "HIT"
    r = get(lx.port, "/home", headers=[("Cookie", "session=abc")])
    assert r.body == b"2" and r.header("X-Cache") == "BYPASS"
    get(lx.port, "/login")
    assert get(lx.port, "/login").body == b"2", "a response that logs in is never stored"
