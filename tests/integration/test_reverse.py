"""Reverse proxy basics: forwarding, header hygiene, keep-alive, pipelining,
chunked bodies, bodiless responses, Expect: 100-continue."""

import time

from luxyharness import Client

REVERSE = """
workers(1)
logs { level = "debug" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
"""

HOP_BY_HOP = ("connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
              "proxy-authorization", "proxy-authenticate", "transfer-encoding")


def start(env, handler=None, **kw):
    b = env.backend(handler, **kw)
    lx = env.luxy(REVERSE, backend_port=b.port)
    return b, lx


def test_get_forwarded_with_proxy_headers(env):
    def handler(req, conn):
        conn.respond(200, b"hello from backend\n",
                     [("Content-Type", "text/x-test"), ("X-Test-Backend", "one"),
                      ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Cache-Control", "max-age=7")],
                     req=req)
    b, lx = start(env, handler)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/hello/world?x=1&y=%20z",
                    headers=[("Host", "example.test:8080"), ("X-Custom", "custom value"),
                             ("Accept", "*/*")])
    assert r.status == 200, r
    assert r.reason == "OK"
    assert r.body == b"hello from backend\n"
    assert r.header("Content-Type") == "text/x-test"
    assert r.header("X-Test-Backend") == "one"
    assert r.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert r.header("Cache-Control") == "max-age=7"
    assert r.header("Content-Length") == str(len(r.body))

    req = b.last()
    assert req.method == "GET"
    assert req.target == "/hello/world?x=1&y=%20z"
    assert req.version == "HTTP/1.1"
    assert req.header("Host") == "example.test:8080"
    assert req.header("X-Custom") == "custom value"
    assert req.header("Accept") == "*/*"
    assert req.header("X-Forwarded-For") == "127.0.0.1"
    assert req.header("X-Forwarded-Proto") == "http"
    assert req.header("Via") == "1.1 luxy"
    assert len(req.headers.get_all("Host")) == 1


def test_an_untrusted_clients_x_forwarded_for_is_replaced(env):
    b, lx = start(env)
    r = env.client(lx.port).roundtrip("GET", "/xff", headers=[("X-Forwarded-For", "10.1.2.3")])
    assert r.status == 200
    assert b.last().header("X-Forwarded-For") == "127.0.0.1", "a client outside trusted_proxies cannot claim an address"


def test_post_body_forwarded(env):
    def echo(req, conn):
        conn.respond(201, req.body, [("Content-Type", "application/octet-stream")], req=req)
    b, lx = start(env, echo)
    body = bytes(range(256)) * 40 + b"\r\n\r\n0\r\n\r\nend"
    c = env.client(lx.port)
    r = c.roundtrip("POST", "/upload", headers=[("Content-Type", "application/octet-stream")],
                    body=body)
    assert r.status == 201, r
    assert r.reason == "Created"
    assert r.body == body
    req = b.last()
    assert req.method == "POST"
    assert req.target == "/upload"
    assert req.header("Content-Length") == str(len(body))
    assert req.header("Transfer-Encoding") is None
    assert req.body == body
    assert req.header("Content-Type") == "application/octet-stream"
    # the connection still works afterwards
    r2 = c.roundtrip("GET", "/after")
    assert r2.status == 201 and r2.body == b""


def test_request_hop_by_hop_headers_removed(env):
    b, lx = start(env)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/hop", headers=[
        ("Connection", "close, X-Secret"),
        ("X-Secret", "do not forward"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "X-Trail"),
        ("Upgrade", "foo/2"),
        ("Proxy-Connection", "keep-alive"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
        ("X-Kept", "yes"),
    ])
    assert r.status == 200
    req = b.last()
    names = req.headers.names()
    for h in ("x-secret", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
              "proxy-authorization"):
        assert h not in names, "%s reached the backend: %r" % (h, req.headers)
    for v in req.headers.get_all("Connection"):
        assert "x-secret" not in v.lower() and "close" not in v.lower(), req.headers
    assert req.header("X-Kept") == "yes"
    assert b"dXNlcjpwYXNz" not in req.raw
    # the client asked for close: the connection ends after the response
    assert c.wait_closed(5)


def test_response_hop_by_hop_headers_removed(env):
    def handler(req, conn):
        conn.respond(200, b"ok", [("Connection", "X-Hop"), ("X-Hop", "1"),
                                  ("Keep-Alive", "timeout=5, max=100"),
                                  ("Proxy-Authenticate", "Basic"), ("Upgrade", "h2c"),
                                  ("Trailer", "X-T"), ("Proxy-Connection", "keep-alive"),
                                  ("X-Kept", "yes")], req=req)
    b, lx = start(env, handler)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/")
    assert r.status == 200 and r.body == b"ok"
    names = r.headers.names()
    for h in ("x-hop", "keep-alive", "proxy-authenticate", "upgrade", "trailer",
              "proxy-connection"):
        assert h not in names, "%s reached the client: %r" % (h, r.headers)
    for v in r.headers.get_all("Connection"):
        assert "x-hop" not in v.lower(), r.headers
    assert r.header("X-Kept") == "yes"
    assert r.header("Via") == "1.1 luxy"
    # still keep-alive
    assert c.roundtrip("GET", "/again").status == 200


def test_keep_alive_one_client_connection(env):
    b, lx = start(env)
    c = env.client(lx.port)
    for i in range(20):
        r = c.roundtrip("GET", "/k%d" % i)
        assert r.status == 200
        assert r.body == b"GET /k%d\n" % i
        assert (r.header("Connection") or "").lower() != "close"
    assert len(b.requests) == 20
    assert b.connections == 1, "backend accepted %d connections for 20 keep-alive requests" % b.connections


def test_keep_alive_pooled_across_client_connections(env):
    b, lx = start(env)
    for i in range(20):
        c = Client(lx.port)
        try:
            r = c.roundtrip("GET", "/s%d" % i)
        finally:
            c.close()
        assert r.status == 200
        assert r.body == b"GET /s%d\n" % i
    assert len(b.requests) == 20
    assert b.connections == 1, "backend accepted %d connections: not pooled" % b.connections


def test_pipelined_requests(env):
    b, lx = start(env)
    c = env.client(lx.port)
    c.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: pipe.test\r\n\r\n" % i for i in range(5)))
    for i in range(5):
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"GET /p%d\n" % i
    assert [q.target for q in b.requests] == ["/p%d" % i for i in range(5)]
    # and the connection is still in step
    assert c.roundtrip("GET", "/after").body == b"GET /after\n"


def test_pipelined_posts_with_bodies(env):
    def echo(req, conn):
        conn.respond(200, req.body, req=req)
    b, lx = start(env, echo)
    c = env.client(lx.port)
    data = b""
    for i in range(3):
        body = b"body-%d-" % i * (i + 1)
        data += b"POST /pp%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (i, len(body)) + body
    c.send(data)
    for i in range(3):
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"body-%d-" % i * (i + 1)


def test_chunked_request_body_reframed(env):
    def echo(req, conn):
        conn.respond(200, req.body, req=req)
    b, lx = start(env, echo)
    c = env.client(lx.port)
    parts = [b"first-", bytes(range(256)) * 20, b"\r\n0\r\n\r\n", b"x" * 70000, b"last"]
    body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in parts)
    body = body.replace(b"%x\r\n" % len(parts[0]), b"%x;ext=1\r\n" % len(parts[0]), 1)
    body += b"0\r\n\r\n"
    c.send(b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    r = c.read_response()
    expected = b"".join(parts)
    assert r.status == 200, r
    assert r.body == expected
    req = b.last()
    assert req.body == expected
    if not req.chunked:  # re-framing with a length would be fine too
        assert int(req.header("Content-Length")) == len(expected), req.headers
    assert c.roundtrip("GET", "/after").status == 200


def test_chunked_response_intact(env):
    chunks = [b"alpha-", b"", b"b" * 5000, bytes(range(256)), b"omega"]
    chunks = [x for x in chunks if x]

    def handler(req, conn):
        conn.respond_chunked(200, chunks, [("Content-Type", "text/plain")])
    b, lx = start(env, handler)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/chunks")
    assert r.status == 200
    assert r.body == b"".join(chunks)
    assert r.framing in ("chunked", "length")
    r2 = c.roundtrip("GET", "/chunks2")
    assert r2.body == b"".join(chunks)
    assert b.connections == 1


def close_delimited(req, conn):
    conn.respond(200, b"until-close body " * 100, [("Content-Type", "text/plain")], length=False)


def test_close_delimited_to_http11_client_becomes_chunked(env):
    b, lx = start(env, close_delimited)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/cd")
    assert r.status == 200
    assert r.framing == "chunked", "expected chunked framing, got %s: %r" % (r.framing, r.headers)
    assert r.body == b"until-close body " * 100
    assert (r.header("Connection") or "").lower() != "close"
    # the client connection stays usable
    r2 = c.roundtrip("GET", "/cd2")
    assert r2.status == 200 and r2.body == b"until-close body " * 100
    assert b.connections == 2


def test_close_delimited_to_http10_client(env):
    b, lx = start(env, close_delimited)
    c = env.client(lx.port)
    c.send(b"GET /cd10 HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    assert r.framing == "close", r.headers
    assert r.header("Transfer-Encoding") is None
    assert r.body == b"until-close body " * 100
    assert b.last().target == "/cd10"


def test_http10_client_gets_length_and_close(env):
    b, lx = start(env)
    c = env.client(lx.port)
    c.send(b"GET /ten HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    assert r.body == b"GET /ten\n"
    assert r.header("Transfer-Encoding") is None
    assert c.wait_closed(5)
    assert b.last().header("Host") is not None


def bodiless(req, conn):
    if req.path == "/204":
        conn.respond(204, headers=[("X-Status", "204")], req=req)
    elif req.path == "/304":
        conn.respond(304, headers=[("ETag", '"v1"'), ("X-Status", "304")], req=req)
    else:
        conn.respond(200, b"x" * 1234, [("X-Status", "200")], req=req)


def test_head_response_has_no_body(env):
    b, lx = start(env, bodiless)
    c = env.client(lx.port)
    c.request("HEAD", "/thing")
    r = c.read_response(method="HEAD")
    assert r.status == 200
    assert r.header("Content-Length") == "1234"
    assert r.body == b""
    assert b.last().method == "HEAD"
    # no stray body bytes: the next response on the connection parses cleanly
    r2 = c.roundtrip("GET", "/thing")
    assert r2.status == 200 and r2.body == b"x" * 1234
    c.request("HEAD", "/thing")
    assert c.read_response(method="HEAD").body == b""
    assert c.roundtrip("GET", "/last").header("X-Status") == "200"


def test_204_and_304_have_no_body(env):
    b, lx = start(env, bodiless)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/204")
    assert r.status == 204 and r.body == b""
    assert r.header("X-Status") == "204"
    assert r.header("Transfer-Encoding") is None
    assert r.header("Content-Length") in (None, "0")
    r = c.roundtrip("GET", "/304", headers=[("If-None-Match", '"v1"')])
    assert r.status == 304 and r.body == b""
    assert r.header("ETag") == '"v1"'
    assert r.header("Transfer-Encoding") is None
    r = c.roundtrip("GET", "/200")
    assert r.status == 200 and r.body == b"x" * 1234
    assert b.connections == 1


def test_expect_100_continue(env):
    def echo(req, conn):
        conn.respond(200, b"got " + req.body, req=req)
    b, lx = start(env, echo, continue_on_expect=True)
    c = env.client(lx.port)
    body = b"the body after continue"
    c.send(b"PUT /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
           % len(body))
    interim = c.read_response(skip_interim=False, timeout=10)
    assert interim.status == 100, "expected 100 Continue before sending the body, got %r" % interim
    c.send(body)
    r = c.read_response()
    assert r.status == 200
    assert r.body == b"got " + body
    assert b.last().body == body
    assert (b.last().header("Expect") or "").lower() == "100-continue"
    assert c.roundtrip("GET", "/after").status == 200


def test_query_and_encoded_path_preserved(env):
    b, lx = start(env)
    r = env.client(lx.port).roundtrip("GET", "/a%2Fb/c;p=1?q=%41&r=&s")
    assert r.status == 200
    assert b.last().target == "/a%2Fb/c;p=1?q=%41&r=&s"


def test_head_split_into_tiny_writes(env):
    """The head (and a chunked body) arriving a few bytes at a time."""
    def echo(req, conn):
        conn.respond(200, req.body, req=req)
    b, lx = start(env, echo)
    c = env.client(lx.port)
    data = (b"POST /tiny HTTP/1.1\r\nHost: tiny.test\r\nX-Split: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n")
    for i in range(0, len(data), 3):
        c.send(data[i:i + 3])
        time.sleep(0.002)  # pacing, so the pieces arrive separately
    r = c.read_response()
    assert r.status == 200, r
    assert r.body == b"hello world"
    assert b.last().header("X-Split") == "a"
    # a CR and its LF in different writes
    c.send(b"GET /crlf HTTP/1.1\r")
    time.sleep(0.01)
    c.send(b"\nHost: x\r")
    time.sleep(0.01)
    c.send(b"\n\r")
    time.sleep(0.01)
    c.send(b"\n")
    r = c.read_response()
    assert r.status == 200
    assert b.last().target == "/crlf"


def test_http10_keep_alive(env):
    b, lx = start(env)
    c = env.client(lx.port)
    for i in range(3):
        c.send(b"GET /ka10-%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % i)
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"GET /ka10-%d\n" % i
        assert (r.header("Connection") or "").lower() == "keep-alive", r.headers
        assert r.header("Transfer-Encoding") is None
    assert b.connections == 1


def test_head_with_backend_wrongly_sending_a_body(env):
    """A backend that sends a body with its HEAD response must not poison
    the pooled connection for the next request."""
    def handler(req, conn):
        body = b"body-of-%s" % req.path.encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        conn.send(head + body)  # a body even for HEAD
    b, lx = start(env, handler)
    c = env.client(lx.port)
    c.request("HEAD", "/h1")
    r = c.read_response(method="HEAD")
    assert r.status == 200 and r.body == b""
    for i in range(3):
        r = c.roundtrip("GET", "/g%d" % i)
        assert r.status == 200, r
        assert r.body == b"body-of-/g%d" % i


def test_pipelined_after_slow_response_keeps_order(env):
    def handler(req, conn):
        if req.path == "/p0":
            time.sleep(0.3)
            conn.respond_chunked(200, [b"slow-", b"first"])
        else:
            conn.respond(200, req.path.encode(), req=req)
    b, lx = start(env, handler)
    c = env.client(lx.port)
    c.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(4)))
    assert c.read_response().body == b"slow-first"
    for i in range(1, 4):
        assert c.read_response().body == b"/p%d" % i


def test_chunked_upload_of_a_few_megabytes(env):
    def count(req, conn):
        conn.respond(200, b"%d" % req.body_len, req=req)
    b, lx = start(env, count, store_body=False)
    c = env.client(lx.port, timeout=30)
    c.send(b"POST /many-chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"q" * 1000
    total = 0
    buf = b""
    for i in range(3000):
        buf += b"%x\r\n" % len(piece) + piece + b"\r\n"
        total += len(piece)
        if len(buf) > 60000:
            c.send(buf)
            buf = b""
    c.send(buf + b"0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    assert r.body == b"%d" % total


def test_interim_103_forwarded_before_final(env):
    def handler(req, conn):
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        conn.respond(200, b"final", req=req)
    b, lx = start(env, handler)
    c = env.client(lx.port)
    c.request("GET", "/hints")
    first = c.read_response(skip_interim=False)
    assert first.status == 103, first
    assert first.header("Link") == "</style.css>; rel=preload"
    r = c.read_response()
    assert r.status == 200 and r.body == b"final"
    # an HTTP/1.0 client never gets a 1xx
    c10 = env.client(lx.port)
    c10.send(b"GET /hints10 HTTP/1.0\r\n\r\n")
    r = c10.read_response(skip_interim=False)
    assert r.status == 200 and r.body == b"final"


def test_connection_close_request_ends_pipeline(env):
    b, lx = start(env)
    c = env.client(lx.port)
    c.send(b"GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
           b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == b"GET /first\n"
    assert (r.header("Connection") or "").lower() == "close"
    assert c.wait_closed(5)
    assert [q.target for q in b.requests] == ["/first"]


def test_websocket_upgrade_tunnel(env):
    def handler(req, conn):
        assert req.header("Upgrade") == "websocket"
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        conn.sock.settimeout(20)
        while True:
            data = conn.sock.recv(65536)
            if not data:
                break
            conn.sock.sendall(data.upper())
        conn.close()
    b, lx = start(env, handler)
    c = env.client(lx.port)
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    r = c.read_response(skip_interim=False, method="CONNECT")
    assert r.status == 101, r
    assert (r.header("Upgrade") or "").lower() == "websocket"
    assert "upgrade" in (r.header("Connection") or "").lower()
    req = b.last()
    assert req.header("Sec-WebSocket-Key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert "upgrade" in (req.header("Connection") or "").lower()
    c.send(b"hello tunnel")
    assert c.reader.read_exact(12) == b"HELLO TUNNEL"


def test_chunked_backend_response_to_http10_client(env):
    def handler(req, conn):
        conn.respond_chunked(200, [b"one-", b"two-", b"three"])
    b, lx = start(env, handler)
    c = env.client(lx.port)
    c.send(b"GET /c10 HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    assert r.header("Transfer-Encoding") is None, "chunked sent to an HTTP/1.0 client"
    assert r.body == b"one-two-three"


def test_options_asterisk(env):
    b, lx = start(env)
    r = env.client(lx.port).roundtrip("OPTIONS", "*")
    assert r.status == 200
    assert b.last().method == "OPTIONS" and b.last().target == "*"


def test_client_gone_mid_exchange(env):
    import threading
    release = threading.Event()

    def handler(req, conn):
        if req.path == "/slow":
            release.wait(10)
        conn.respond(200, b"late", req=req)
    b, lx = start(env, handler)
    c = Client(lx.port)
    c.request("GET", "/slow")
    b.wait_requests(1)
    c.close()
    for i in range(3):
        assert Client(lx.port).roundtrip("GET", "/next%d" % i).status == 200
    release.set()
    line = lx.wait_access(lambda l: "/slow" in l, what="the abandoned request's line")
    assert " 499 " in line or " 200 " in line, line


def test_client_half_close_after_request_still_answered(env):
    b, lx = start(env)
    c = env.client(lx.port)
    c.request("GET", "/half")
    c.shutdown_write()
    r = c.read_response()
    assert r.status == 200 and r.body == b"GET /half\n"
    assert c.wait_closed(5)


def test_many_concurrent_clients(env):
    import threading
    b = env.backend()
    lx = env.luxy(REVERSE.replace("workers(1)", "workers(2)"), backend_port=b.port)
    results = []
    lock = threading.Lock()

    def run(i):
        out = []
        try:
            c = Client(lx.port, timeout=30)
            for k in range(10):
                r = c.roundtrip("GET", "/c%d-%d" % (i, k))
                out.append(r.status == 200 and r.body == b"GET /c%d-%d\n" % (i, k))
            c.close()
        except Exception as e:
            out.append(repr(e))
        with lock:
            results.extend(out)
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [True] * 320, [x for x in results if x is not True][:5]
    assert len(b.requests) == 320


def test_expect_100_continue_answered_with_final_status(env):
    """The backend refuses the upload without a 100: the client gets the
    final response and never has to send the body."""
    def refuse(req, conn):
        conn.respond(401, b"no upload\n", [("WWW-Authenticate", "Basic")], close=True)
    b, lx = start(env, on_head=refuse)
    c = env.client(lx.port)
    c.send(b"PUT /refused HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
    r = c.read_response(skip_interim=False, timeout=10)
    assert r.status == 401, r
    assert r.body == b"no upload\n"
    assert r.header("WWW-Authenticate") == "Basic"
    # the body was never sent: luxy cannot reuse this connection
    assert (r.header("Connection") or "").lower() == "close"
    assert c.wait_closed(5)
