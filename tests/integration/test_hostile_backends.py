"""Hostile backends: truncated bodies, malformed heads, oversized heads,
bad chunked framing, bodies longer than announced, CL+TE responses, silence.

One luxy (one worker, so that connection reuse is observable) in front of
one backend whose behaviour is chosen by the request path. After each case
luxy must have logged a warning about the backend and must still serve a
normal request; at the end its fd count is back to the startup count
(pooled backend connections expire after timeouts.backend_idle = 2s)."""

import os
import socket
import threading
import time

import pytest

from luxyharness import LUXY_BIN, Client, Closed, Env, scaled, wait_for

CONF = """
workers(1)
logs { level = "info" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
timeouts { backend_read = "1s", backend_connect = "2s", backend_idle = "2s" }
"""

OK_BODY = b"fine\n"


def head(status_line, fields):
    return status_line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


# path -> raw bytes the backend answers with (then it keeps the connection
# open unless the path is in CLOSE_AFTER)
RAW = {
    "/bad-status-digits": head(b"HTTP/1.1 2OO OK", [b"Content-Length: 2"]) + b"ok",
    "/bad-status-proto": head(b"HTTX/1.1 200 OK", [b"Content-Length: 2"]) + b"ok",
    "/bad-status-short": head(b"HTTP/1.1 20 OK", [b"Content-Length: 2"]) + b"ok",
    "/bad-status-nospace": head(b"HTTP/1.1200 OK", [b"Content-Length: 2"]) + b"ok",
    "/no-colon": head(b"HTTP/1.1 200 OK", [b"X-No-Colon-Here", b"Content-Length: 2"]) + b"ok",
    "/bare-cr": head(b"HTTP/1.1 200 OK", [b"X: a\rb", b"Content-Length: 2"]) + b"ok",
    "/bare-lf-header": b"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 2\r\n\r\nok",
    "/bare-lf-status": b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok",
    "/nul-in-value": head(b"HTTP/1.1 200 OK", [b"X: a\x00b", b"Content-Length: 2"]) + b"ok",
    "/big-head": head(b"HTTP/1.1 200 OK", [b"X-Big: " + b"h" * (40 * 1024), b"Content-Length: 2"]) + b"ok",
    "/bad-chunk-first": head(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"]) + b"zz\r\nhello\r\n0\r\n\r\n",
    "/negative-chunk-first": head(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"])
    + b"-5\r\nhello\r\n0\r\n\r\n",
    "/cl-te": head(b"HTTP/1.1 200 OK", [b"Content-Length: 5", b"Transfer-Encoding: chunked"])
    + b"5\r\nhello\r\n0\r\n\r\n",
    "/te-cl": head(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked", b"Content-Length: 5"])
    + b"5\r\nhello\r\n0\r\n\r\n",
    "/cl-dup": head(b"HTTP/1.1 200 OK", [b"Content-Length: 5", b"Content-Length: 6"]) + b"hello!",
    "/cl-junk": head(b"HTTP/1.1 200 OK", [b"Content-Length: 5x"]) + b"hello",
}
BAD_HEADS = sorted(RAW)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.conn_of = {}          # path -> backend connection id that answered it
        self.events = {}

    def event(self, name):
        with self.lock:
            return self.events.setdefault(name, threading.Event())


def make_handler(st):
    def handler(req, conn):
        p = req.path
        with st.lock:
            st.conn_of[p] = conn.conn_id
        if p in RAW:
            conn.send(RAW[p])
            conn.close()
        elif p == "/cut-length":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"p" * 1000)
            conn.close()
        elif p == "/cut-chunked":
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n100\r\nabc")
            conn.close()
        elif p == "/bad-chunk-later":
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            st.event("first-chunk-read").wait(10)   # the client has the head and "hello"
            conn.send(b"zz\r\nmore\r\n0\r\n\r\n")
            st.event("bad-chunk-sent").set()
            # keep the connection open: luxy must close it
            conn.reader.read_until_close(timeout=10)
            conn.close()
        elif p == "/overlong":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA-GARBAGE-HTTP/1.1 200 OK\r\n")
        elif p == "/overlong-split":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
            st.event("overlong-split-read").wait(10)  # the client has the head
            conn.send(b"loEXTRA-GARBAGE")
            conn.reader.read_until_close(timeout=10)  # luxy must close it
            conn.close()
        elif p == "/overlong-late":
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            st.event("overlong-late-read").wait(10)  # the client has its 5 bytes
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nINJECTED!")
            st.event("overlong-late-sent").set()
        elif p == "/never":
            conn.hang(30)
        else:
            conn.respond(200, OK_BODY, [("X-Conn", str(conn.conn_id))], req=req)
    return handler


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    env = Env(tmp_path_factory.mktemp("hostile_backends"))
    st = State()
    b = env.backend(make_handler(st))
    lx = env.luxy(CONF, backend_port=b.port)
    lx.start_fds = lx.base_fd_count()
    yield lx, b, st
    env.teardown()


def warn_lines(lx):
    return [l for l in lx.error_log().splitlines() if "[warn]" in l or "[error]" in l]


def expect_backend_warning(lx, before, what):
    """A new warn/error line mentioning the backend appeared."""
    def new():
        return [l for l in warn_lines(lx)[before:] if "backend" in l.lower()]
    try:
        return wait_for(new, timeout=5, what="a warning about the backend (%s)" % what)
    except AssertionError:
        raise AssertionError("luxy logged no warning about the backend for %s; new error log lines:\n%s"
                             % (what, "\n".join(lx.error_log().splitlines()[-20:])))


def assert_serves(lx, b, target="/ok-after"):
    c = Client(lx.port)
    try:
        r = c.roundtrip("GET", target)
    finally:
        c.close()
    assert r.status == 200 and r.body == OK_BODY, "luxy no longer serves normally: %r\n%s" % (
        r, lx.error_log()[-3000:])
    assert b.last().target == target
    return r


# ---------------------------------------------------------------- truncation

def test_backend_closes_mid_length_body(proxy):
    lx, b, st = proxy
    before = len(warn_lines(lx))
    c = Client(lx.port)
    try:
        c.request("GET", "/cut-length")
        r = c.read_response(strict=False, timeout=15)
        assert r.status == 200, r
        assert r.header("Content-Length") == "100000"
        assert not r.complete and len(r.body) < 100000, "got %d of 100000 bytes" % len(r.body)
        assert r.body == b"p" * len(r.body)
        assert c.reader.eof, "luxy did not close the client connection after the cut"
    finally:
        c.close()
    expect_backend_warning(lx, before, "a body cut short")
    assert_serves(lx, b)


def test_backend_closes_before_last_chunk(proxy):
    lx, b, st = proxy
    before = len(warn_lines(lx))
    c = Client(lx.port)
    c.reader.record = True
    try:
        c.request("GET", "/cut-chunked")
        r = c.read_response(strict=False, timeout=15)
        assert r.status == 200, r
        assert r.header("Transfer-Encoding", "").lower() == "chunked", r.headers
        assert not r.complete, "a truncated chunked body was completed with a last chunk: %r" % r
        assert c.reader.eof, "luxy did not close the client connection after the cut"
        raw = bytes(c.reader.raw)
        body = raw.split(b"\r\n\r\n", 1)[1]
        assert not body.endswith(b"0\r\n\r\n"), "the client got a terminating 0-chunk: %r" % body[-100:]
        assert b"hello" in body
    finally:
        c.close()
    expect_backend_warning(lx, before, "a chunked body cut short")
    assert_serves(lx, b)


# ---------------------------------------------------------------- malformed heads

@pytest.mark.parametrize("path", BAD_HEADS, ids=[p.strip("/") for p in BAD_HEADS])
def test_malformed_response_502(proxy, path):
    lx, b, st = proxy
    before = len(warn_lines(lx))
    c = Client(lx.port)
    c.reader.record = True
    try:
        c.request("GET", path)
        try:
            r = c.read_response(timeout=10)
        except Closed as e:
            pytest.fail("no 502 for %s: the connection closed after %r" % (path, e.partial[:300]))
        assert r.status == 502, "%s: expected 502, got %r\n%s" % (path, r, lx.error_log()[-2000:])
        raw = bytes(c.reader.raw)
        for leak in (b"X-No-Colon", b"X-Big", b"hello", b"HTTX"):
            assert leak not in raw, "%s: bytes of the bad response reached the client: %r" % (path, raw[:300])
    finally:
        c.close()
    expect_backend_warning(lx, before, path)
    assert_serves(lx, b)


def test_bad_chunk_after_first_chunk_cuts(proxy):
    """The head and a good chunk went out; then an invalid chunk size: the
    client's stream must stop unterminated and the connection close."""
    lx, b, st = proxy
    before = len(warn_lines(lx))
    c = Client(lx.port)
    c.reader.record = True
    try:
        c.request("GET", "/bad-chunk-later")
        hd = c.reader.read_until(b"\r\n\r\n", timeout=10)
        assert hd.startswith(b"HTTP/1.1 200 "), hd
        c.reader.read_until(b"hello\r\n", timeout=10)
        st.event("first-chunk-read").set()
        rest = c.reader.read_until_close(timeout=10)
        assert b"more" not in rest and not rest.endswith(b"0\r\n\r\n"), (
            "after an invalid chunk size the client got %r" % rest)
    finally:
        c.close()
    expect_backend_warning(lx, before, "an invalid chunk size mid-body")
    assert_serves(lx, b)


# ---------------------------------------------------------------- too much body

def test_body_longer_than_content_length(proxy):
    """Head, body and surplus bytes in one read: nothing has gone out yet,
    so the client is told the truth: 502, not a response whose framing
    the backend itself contradicts."""
    lx, b, st = proxy
    before = len(warn_lines(lx))
    c = Client(lx.port)
    try:
        r = c.roundtrip("GET", "/overlong")
        assert r.status == 502, r
        assert b"hello" not in r.body and b"EXTRA" not in r.body, r
    finally:
        c.close()
    bad_conn = st.conn_of["/overlong"]
    expect_backend_warning(lx, before, "a body longer than Content-Length")
    r = assert_serves(lx, b, "/after-overlong")
    assert b.last().conn_id != bad_conn, (
        "luxy reused the backend connection that sent bytes past its Content-Length")
    assert r.header("X-Conn") == str(b.last().conn_id)
    b.wait_conn_ended(bad_conn, timeout=10)


def test_body_longer_than_content_length_mid_stream(proxy):
    """The head already went out when the surplus arrives: the client gets
    exactly the announced bytes and nothing after them, and the backend
    connection is closed, never pooled."""
    lx, b, st = proxy
    before = len(warn_lines(lx))
    c = Client(lx.port)
    c.reader.record = True
    try:
        c.request("GET", "/overlong-split")
        head = c.reader.read_until(b"\r\n\r\n", timeout=10)
        assert head.startswith(b"HTTP/1.1 200"), head
        st.event("overlong-split-read").set()
        assert c.reader.read_exact(5, timeout=10) == b"hello"
        try:
            extra = c.reader.read_until_close(timeout=1.0)
        except socket.timeout:
            extra = bytes(c.reader.buf)
        assert extra == b"", "the client got bytes beyond Content-Length: %r" % extra[:200]
    finally:
        c.close()
    bad_conn = st.conn_of["/overlong-split"]
    expect_backend_warning(lx, before, "bytes past Content-Length mid-stream")
    b.wait_conn_ended(bad_conn, timeout=10)
    r = assert_serves(lx, b, "/after-overlong-split")
    assert r.header("X-Conn") != str(bad_conn)


def test_stray_response_on_idle_pooled_connection(proxy):
    """A backend answers, luxy pools the connection, then the backend sends
    an unsolicited response on it. The next request must not get it."""
    lx, b, st = proxy
    c = Client(lx.port)
    try:
        r = c.roundtrip("GET", "/overlong-late")
        assert r.status == 200 and r.body == b"hello", r
    finally:
        c.close()
    st.event("overlong-late-read").set()
    assert st.event("overlong-late-sent").wait(10)
    bad_conn = st.conn_of["/overlong-late"]
    # luxy should notice the bytes on the idle connection and drop it; the
    # next request must be right either way
    closed_early = True
    try:
        b.wait_conn_ended(bad_conn, timeout=3)
    except AssertionError:
        closed_early = False
    c = Client(lx.port)
    try:
        r = c.roundtrip("GET", "/after-stray")
    finally:
        c.close()
    assert r.status == 200 and r.body == OK_BODY, (
        "the request after an unsolicited backend response got %r (pooled connection %s; %s)"
        % (r, bad_conn, "closed by luxy" if closed_early else "not closed by luxy within 3s"))
    assert b.last().target == "/after-stray" and b.last().conn_id != bad_conn
    assert closed_early, ("luxy kept an idle pooled connection that received an unsolicited "
                          "response open for 3s (the next request was still right)")


# ---------------------------------------------------------------- silence

def test_backend_never_answers_504(proxy):
    lx, b, st = proxy
    before = len(warn_lines(lx))
    c = Client(lx.port, timeout=20)
    try:
        t0 = time.monotonic()
        r = c.roundtrip("GET", "/never")
        elapsed = time.monotonic() - t0
    finally:
        c.close()
    assert r.status == 504, r
    assert 0.8 <= elapsed < scaled(4.0), "504 after %.1fs with backend_read = 1s" % elapsed
    expect_backend_warning(lx, before, "a silent backend")
    assert_serves(lx, b)


# ---------------------------------------------------------------- afterwards

def test_fds_back_to_baseline_after_hostile_backends(env):
    """Its own luxy: every hostile answer once, then luxy holds exactly the
    descriptors it started with (no order dependence on the other tests)."""
    st = State()
    b = env.backend(make_handler(st))
    lx = env.luxy(CONF, backend_port=b.port)
    start_fds = lx.base_fd_count()
    for path in BAD_HEADS + ["/cut-length", "/cut-chunked", "/overlong", "/never"]:
        c = Client(lx.port, timeout=10)
        try:
            c.request("GET", path)
            c.read_response(timeout=10, strict=False)
        except (Closed, OSError):
            pass
        finally:
            c.close()
    lx.wait_fds_at_most(start_fds, timeout=20,
                        what="luxy's fds back to its startup count %d after the hostile backends"
                        % start_fds)
    assert_serves(lx, b, "/final")


# ---- endless interim responses (review item 2) ----

ENDLESS_CONF = """
workers(1)
logs { level = "info" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
timeouts { backend_read = "5s" }
limits { $limits }
"""


def endless_interim(head_size, stop):
    hint = b"HTTP/1.1 103 Early Hints\r\nLink: </" + b"x" * head_size + b">; rel=preload\r\n\r\n"

    def handler(req, conn):
        deadline = time.monotonic() + scaled(20)
        for _ in range(200000):         # bounded: luxy stops reading or cuts us off
            if stop.is_set() or time.monotonic() > deadline:
                break
            try:
                conn.send(hint)
            except OSError:
                break
        conn.close()
    return handler


def test_endless_interim_responses_get_502(env):
    stop = threading.Event()
    b = env.backend(endless_interim(32, stop), write_timeout=scaled(5))
    lx = env.luxy(ENDLESS_CONF, backend_port=b.port, limits="")
    base_rss = lx.rss_kb()
    c = env.client(lx.port)
    c.request("GET", "/hints-forever")
    r = c.read_response(timeout=scaled(10))
    stop.set()
    assert r.status == 502, r
    assert len(r.interim) <= 16, "got %d interim responses, the default limit is 16" % len(r.interim)
    assert all(i.status == 103 for i in r.interim)
    lx.wait_error_log("interim responses")
    assert lx.rss_kb() < base_rss + 16 * 1024, "RSS grew from %d to %d KiB" % (base_rss, lx.rss_kb())
    ok = env.backend()
    lx2 = env.luxy(CONF, backend_port=ok.port)
    assert env.client(lx2.port).roundtrip("GET", "/after").status == 200
    assert lx.alive()


def test_interim_byte_limit(env):
    stop = threading.Event()
    b = env.backend(endless_interim(4000, stop), write_timeout=scaled(5))
    lx = env.luxy(ENDLESS_CONF, backend_port=b.port,
                  limits='interim_responses = 1000, interim_bytes = "20KB"')
    c = env.client(lx.port)
    c.request("GET", "/big-hints")
    r = c.read_response(timeout=scaled(10))
    stop.set()
    assert r.status == 502, r
    assert 1 <= len(r.interim) <= 5, "20 KB of ~4 KB heads, got %d" % len(r.interim)


def test_interim_responses_wait_for_a_slow_client(env):
    """A client that does not read: luxy holds at most one interim head and
    stops reading the backend, so its memory stays flat."""
    stop = threading.Event()
    b = env.backend(endless_interim(30000, stop), write_timeout=scaled(3))
    lx = env.luxy(ENDLESS_CONF, backend_port=b.port,
                  limits='interim_responses = 1000, interim_bytes = "16MB"')
    base_rss = lx.rss_kb()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", lx.port))
    s.sendall(b"GET /slow-reader HTTP/1.1\r\nHost: x\r\n\r\n")
    # wait until the backend can no longer send (its send blocked, then timed out)
    wait_for(lambda: b.ended, timeout=15, what="the backend's send to block and time out")
    # had luxy kept reading, it would have hit the 16 MB limit by now
    assert "interim responses or" not in lx.error_log(), lx.error_log()
    if "asan" not in os.path.basename(os.path.dirname(LUXY_BIN)):  # ASan's quarantine inflates RSS
        grown = lx.rss_kb() - base_rss
        assert grown < 8 * 1024, "luxy buffered %d KiB of interim heads for a client that reads nothing" % grown
    s.close()
    stop.set()
