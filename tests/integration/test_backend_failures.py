"""Backends that fail: refused, reset, silent, malformed, truncated; retries
across servers; error pages that do not reveal backend addresses."""

import socket
import threading
import time

from luxyharness import Client, Closed, Reader, free_port, scaled

CONF = """
workers(1)
logs { level = "debug" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
timeouts { backend_read = "1s", backend_connect = "2s" }
"""


def assert_no_backend_address(r, port):
    text = r.raw_text()
    assert str(port) not in text, "the error response names the backend port %d:\n%s" % (port, text)
    assert "127.0.0.1" not in text, "the error response names the backend address:\n%s" % text


def test_backend_port_closed_502(env):
    dead = free_port()
    lx = env.luxy(CONF, backend_port=dead)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/refused")
    assert r.status == 502, r
    assert r.body, "a 502 should explain itself"
    assert_no_backend_address(r, dead)
    # the client connection survives a 502 (nothing of the request body is pending)
    r = c.roundtrip("GET", "/refused-again")
    assert r.status == 502


def test_backend_reset_after_request_502(env):
    def reset(req, conn):
        conn.reset()
    b = env.backend(reset)
    lx = env.luxy(CONF, backend_port=b.port)
    r = env.client(lx.port).roundtrip("GET", "/reset")
    assert r.status == 502, r
    assert_no_backend_address(r, b.port)
    # a GET on a fresh connection that was reset must not be retried endlessly
    assert len(b.requests) <= 2, "request sent %d times" % len(b.requests)


def test_backend_closes_without_answer_502(env):
    def close(req, conn):
        conn.close()
    b = env.backend(close)
    lx = env.luxy(CONF, backend_port=b.port)
    r = env.client(lx.port).roundtrip("GET", "/closed")
    assert r.status == 502, r
    assert_no_backend_address(r, b.port)


def test_backend_never_answers_504(env):
    def hang(req, conn):
        conn.hang(30)
    b = env.backend(hang)
    lx = env.luxy(CONF, backend_port=b.port)
    c = env.client(lx.port, timeout=20)
    t0 = time.monotonic()
    r = c.roundtrip("GET", "/silent")
    elapsed = time.monotonic() - t0
    assert r.status == 504, r
    assert 0.8 <= elapsed < 10, "504 after %.1fs with backend_read = 1s" % elapsed
    assert_no_backend_address(r, b.port)
    assert b.last().target == "/silent"


def test_backend_malformed_status_line_502(env):
    def bad(req, conn):
        conn.send(b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()
    b = env.backend(bad)
    lx = env.luxy(CONF, backend_port=b.port)
    r = env.client(lx.port).roundtrip("GET", "/malformed")
    assert r.status == 502, r
    assert_no_backend_address(r, b.port)


def test_backend_not_http_at_all_502(env):
    def junk(req, conn):
        conn.send(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        conn.close()
    b = env.backend(junk)
    lx = env.luxy(CONF, backend_port=b.port)
    r = env.client(lx.port).roundtrip("GET", "/junk")
    assert r.status == 502, r


def test_backend_response_head_too_large_502(env):
    def big(req, conn):
        conn.send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * 40000 + b"\r\nContent-Length: 0\r\n\r\n")
    b = env.backend(big)
    lx = env.luxy(CONF, backend_port=b.port)
    r = env.client(lx.port).roundtrip("GET", "/bighead")
    assert r.status == 502, r


def test_backend_closes_mid_body_client_sees_truncation(env):
    def truncate(req, conn):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"p" * 1000)
        conn.close()
    b = env.backend(truncate)
    lx = env.luxy(CONF, backend_port=b.port)
    c = env.client(lx.port)
    c.request("GET", "/truncated")
    r = c.read_response(strict=False, timeout=15)
    assert r.status == 200
    assert r.header("Content-Length") == "100000"
    assert not r.complete, "the client got a complete response from a truncated backend response"
    assert len(r.body) < 100000
    assert r.body == b"p" * len(r.body)
    # and the connection is closed, not left hanging
    assert c.reader.eof


def test_backend_closes_mid_chunked_body_client_sees_truncation(env):
    def truncate(req, conn):
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n100\r\nabc")
        conn.close()
    b = env.backend(truncate)
    lx = env.luxy(CONF, backend_port=b.port)
    c = env.client(lx.port)
    c.request("GET", "/truncated-chunked")
    r = c.read_response(strict=False, timeout=15)
    assert r.status == 200
    assert not r.complete, "a truncated chunked body was completed with a last chunk: %r" % r


def test_one_server_down_tries_two_all_succeed(env):
    b = env.backend()
    dead = free_port()
    conf = """
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$dead_port", "127.0.0.1:$backend_port", tries = 2 }
timeouts { backend_connect = "2s" }
"""
    lx = env.luxy(conf, backend_port=b.port, dead_port=dead)
    for i in range(10):
        c = Client(lx.port)
        try:
            r = c.roundtrip("GET", "/try%d" % i)
        finally:
            c.close()
        assert r.status == 200, "request %d: %r" % (i, r)
        assert r.body == b"GET /try%d\n" % i
    assert len(b.requests) == 10


def test_one_server_down_same_client_connection(env):
    b = env.backend()
    dead = free_port()
    conf = """
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port", "127.0.0.1:$dead_port", tries = 2 }
"""
    lx = env.luxy(conf, backend_port=b.port, dead_port=dead)
    c = env.client(lx.port)
    for i in range(10):
        r = c.roundtrip("GET", "/k%d" % i)
        assert r.status == 200, "request %d: %r" % (i, r)


def test_pooled_connection_closed_by_backend_is_retried(env):
    """The backend closes an idle keep-alive connection; the next GET must
    not fail (one retry on a fresh connection)."""
    state = {"n": 0}

    def handler(req, conn):
        state["n"] += 1
        conn.respond(200, b"n%d" % state["n"], req=req)
        if req.path == "/then-close":
            conn.close()  # after a keep-alive response: luxy pooled it
    b = env.backend(handler)
    lx = env.luxy(CONF, backend_port=b.port)
    c = env.client(lx.port)
    assert c.roundtrip("GET", "/then-close").status == 200
    # whether luxy noticed the close while the connection sat in the pool or
    # only when it reused it, the request must succeed
    r = c.roundtrip("GET", "/next")
    assert r.status == 200, r
    assert r.body == b"n2"


def test_backend_conflicting_content_lengths_502(env):
    def bad(req, conn):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc")
        conn.close()
    b = env.backend(bad)
    lx = env.luxy(CONF, backend_port=b.port)
    r = env.client(lx.port).roundtrip("GET", "/dup-cl")
    assert r.status == 502, r


def test_backend_bad_chunked_framing_before_the_head_went_out_is_502(env):
    """Head, a good chunk and a bad chunk size in one write: luxy reads them
    together, nothing has reached the client, so the client gets a clean
    502 (never a truncated 200)."""
    def bad(req, conn):
        conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nmore\r\n0\r\n\r\n")
    b = env.backend(bad)
    lx = env.luxy(CONF, backend_port=b.port)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/bad-chunks")
    assert r.status == 502, r
    assert b"abc" not in r.body
    lx.wait_error_log("invalid response body")
    assert env.client(lx.port).roundtrip("GET", "/after").status in (200, 502)


# ---- the backend's timer while the client uploads (review item 3) ----

UPLOAD_CONF = """
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
timeouts { client_body = "$client_body", backend_read = "$backend_read" }
"""


def echo_length(req, conn):
    conn.respond(200, b"%d" % len(req.body), req=req)


def test_slow_upload_within_client_body_is_not_504(env):
    b = env.backend(echo_length)
    lx = env.luxy(UPLOAD_CONF, backend_port=b.port, client_body="5s", backend_read="1s")
    c = env.client(lx.port)
    c.send(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n")
    for _ in range(8):                  # 8 bytes over ~3 s: slower than backend_read
        time.sleep(0.4)
        c.send(b"u")
    r = c.read_response()
    assert r.status == 200, r
    assert r.body == b"8"


def test_client_stalling_mid_body_gets_408(env):
    b = env.backend(echo_length)
    lx = env.luxy(UPLOAD_CONF, backend_port=b.port, client_body="1s", backend_read="1s")
    c = env.client(lx.port)
    c.send(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
    time.sleep(0.5)
    c.send(b"c")                        # the client timer now runs 0.5 s behind the head
    r = c.read_response(timeout=scaled(10), strict=False)
    assert r.status == 408, r


def test_backend_not_reading_the_body_gets_504(env):
    hung = threading.Event()

    def on_head(req, conn):
        hung.wait(scaled(20))           # never read the body
    b = env.backend(echo_length, on_head=on_head, store_body=False)
    lx = env.luxy(UPLOAD_CONF, backend_port=b.port, client_body="30s", backend_read="1s")
    s = socket.create_connection(("127.0.0.1", lx.port))
    s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n")
    sender = threading.Thread(target=lambda: _send_quietly(s, b"z" * (64 << 20)), daemon=True)
    sender.start()
    started = time.monotonic()
    r = Client.__new__(Client)          # reuse the parser on this socket
    r.sock, r.timeout = s, scaled(15)
    r.reader = Reader(s, scaled(15))
    resp = r.read_response(timeout=scaled(15), strict=False)
    hung.set()
    assert resp.status == 504, resp
    assert time.monotonic() - started < scaled(10)
    s.close()


def _send_quietly(s, data):
    try:
        s.sendall(data)
    except OSError:
        pass
