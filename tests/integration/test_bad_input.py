"""Bad requests: exact statuses, the connection closed after the error, luxy
still serving the next connection, and the backend never seeing the bad
request. One luxy and one backend serve the whole module."""

import pytest

from luxyharness import Client, Closed, Env

CONF = """
workers(1)
logs { level = "debug" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
limits { request_line = 1024, head_size = "8KB", header_fields = 20, body_size = 1024 }
timeouts { client_header = "5s", client_body = "5s" }
"""


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    env = Env(tmp_path_factory.mktemp("bad_input"))

    def echo(req, conn):
        conn.respond(200, b"%s %s %d\n" % (req.method.encode(), req.target.encode(), len(req.body)),
                     req=req)
    b = env.backend(echo)
    lx = env.luxy(CONF, backend_port=b.port)
    yield lx, b
    env.teardown()


def check_alive(lx, b):
    r = Client(lx.port).roundtrip("GET", "/ok")
    assert r.status == 200, r
    assert b.last().target == "/ok"


def send_bad(lx, b, data, status, marker, head_level=True, read_all=True):
    """Sends data on a new connection, expects status and a close, then
    checks luxy still serves and the backend never saw marker."""
    assert marker.encode() in data
    c = Client(lx.port)
    try:
        c.send(data)
        try:
            r = c.read_response()
        except Closed as e:
            pytest.fail("connection closed without a %d response (got %r)" % (status, e.partial[:300]))
        assert r.status == status, "expected %d, got %r\nerror log tail:\n%s" % (
            status, r, lx.error_log()[-2000:])
        assert r.header("Connection", "").lower() == "close", r.headers
        assert c.wait_closed(5), "connection not closed after %d" % status
    finally:
        c.close()
    check_alive(lx, b)
    seen = [q for q in b.requests if marker in q.target]
    assert not seen, "the backend received the bad request: %r" % seen
    if head_level:
        assert not b.saw(marker), "bytes of the bad request reached the backend"
    return r


H = b"Host: bad.test\r\n"

CASES = [
    # name, bytes, status
    ("malformed_request_line_version", b"GET /bad1 HTTP/1.1 trailing\r\n" + H + b"\r\n", 400),
    ("malformed_request_line_spaces", b"GET  /bad2 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("malformed_request_line_junk", b"\x01GET /bad3 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("malformed_version_spelling", b"GET /bad4 HTTP/1.x\r\n" + H + b"\r\n", 400),
    ("nul_in_header", b"GET /bad5 HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("control_char_in_header", b"GET /bad6 HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    ("space_before_colon", b"GET /bad7 HTTP/1.1\r\n" + H + b"X-A : b\r\n\r\n", 400),
    ("obs_fold", b"GET /bad8 HTTP/1.1\r\n" + H + b"X-A: a\r\n  folded\r\n\r\n", 400),
    ("bare_lf", b"GET /bad9 HTTP/1.1\n" + H.replace(b"\r\n", b"\n") + b"\n", 400),
    ("bare_lf_in_header", b"GET /bad10 HTTP/1.1\r\n" + H + b"X-A: b\n\r\n", 400),
    ("bare_cr", b"GET /bad11 HTTP/1.1\r\n" + H + b"X-A: b\rX-B: c\r\n\r\n", 400),
    ("http09", b"GET /bad12\r\n\r\n", 400),
    ("http2_version", b"GET /bad13 HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("unknown_method", b"FOO /bad14 HTTP/1.1\r\n" + H + b"\r\n", 501),
    ("missing_host_http11", b"GET /bad15 HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two_hosts", b"GET /bad16 HTTP/1.1\r\n" + H + b"Host: other.test\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,data,status", CASES, ids=[c[0] for c in CASES])
def test_bad_head(proxy, name, data, status):
    lx, b = proxy
    marker = "/bad%s" % data.split(b"/bad", 1)[1].split(b" ")[0].split(b"\r")[0].split(b"\n")[0].decode()
    send_bad(lx, b, data, status, marker)


def test_request_line_too_long_414(proxy):
    lx, b = proxy
    target = "/long414" + "a" * 1100
    data = ("GET %s HTTP/1.1\r\n" % target).encode() + H + b"\r\n"
    send_bad(lx, b, data, 414, "/long414")


def test_request_line_below_limit_passes(proxy):
    lx, b = proxy
    target = "/fits" + "a" * 900
    r = Client(lx.port).roundtrip("GET", target)
    assert r.status == 200
    assert b.last().target == target


def test_head_too_large_431(proxy):
    lx, b = proxy
    data = b"GET /big431 HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 10000 + b"\r\n\r\n"
    send_bad(lx, b, data, 431, "/big431")


def test_too_many_header_fields_431(proxy):
    lx, b = proxy
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(20))  # + Host = 21 fields
    data = b"GET /many431 HTTP/1.1\r\n" + H + fields + b"\r\n"
    send_bad(lx, b, data, 431, "/many431")


def test_header_fields_at_limit_pass(proxy):
    lx, b = proxy
    fields = [("X-F%d" % i, "v") for i in range(19)]  # + Host = 20 fields
    r = Client(lx.port).roundtrip("GET", "/many-ok", headers=fields)
    assert r.status == 200
    assert b.last().header("X-F18") == "v"


def test_content_length_above_limit_413(proxy):
    lx, b = proxy
    # only the head: a client waiting for the verdict before sending 2000 bytes
    data = b"POST /cl413 HTTP/1.1\r\n" + H + b"Content-Length: 2000\r\n\r\n"
    send_bad(lx, b, data, 413, "/cl413")


def test_content_length_at_limit_passes(proxy):
    lx, b = proxy
    r = Client(lx.port).roundtrip("POST", "/cl-ok", body=b"z" * 1024)
    assert r.status == 200
    assert b.last().body == b"z" * 1024


@pytest.mark.parametrize("chunks", [[b"y" * 3000], [b"y" * 400] * 8],
                         ids=["one_big_chunk", "many_small_chunks"])
def test_chunked_body_past_limit_413(proxy, chunks):
    lx, b = proxy
    body = b"".join(b"%x\r\n" % len(x) + x + b"\r\n" for x in chunks) + b"0\r\n\r\n"
    marker = "/chunk413-%d" % len(chunks)
    data = ("POST %s HTTP/1.1\r\n" % marker).encode() + H + b"Transfer-Encoding: chunked\r\n\r\n" + body
    c = Client(lx.port)
    try:
        c.send(data)
        try:
            r = c.read_response(strict=False)
            status = r.status
        except Closed:
            status = None  # cut: acceptable only if the backend had answered
        assert status == 413, "expected 413 for a %d-byte chunked body over a 1024-byte limit, got %r" % (
            sum(map(len, chunks)), r if status else "a closed connection")
        assert c.wait_closed(5)
    finally:
        c.close()
    check_alive(lx, b)
    seen = [q for q in b.requests if q.target == marker]
    assert not seen, "the backend received the whole over-limit body: %r" % [(q.target, q.body_len) for q in seen]


FRAMING = [
    ("cl_and_te", b"POST /amb1 HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", True),
    ("te_and_cl", b"POST /amb2 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
     b"0\r\n\r\n", True),
    ("two_different_cl", b"POST /amb3 HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
     b"123456", True),
    ("cl_list", b"POST /amb4 HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\n123456", True),
    ("te_chunked_identity", b"POST /amb5 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, identity\r\n\r\n"
     b"0\r\n\r\n", True),
    ("te_xchunked", b"POST /amb6 HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", True),
    ("te_twice", b"POST /amb7 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", True),
    ("te_in_http10", b"POST /amb8 HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", True),
    ("cl_negative", b"POST /amb9 HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", True),
    ("cl_plus", b"POST /amb10 HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\n12345", True),
    ("invalid_chunk_size", b"POST /amb11 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nhello\r\n0\r\n\r\n", False),
    ("chunk_size_overflow", b"POST /amb12 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n", False),
    ("chunk_size_lf_only", b"POST /amb13 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"5\nhello\r\n0\r\n\r\n", False),
    ("chunk_data_too_long", b"POST /amb14 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"3\r\nhello\r\n0\r\n\r\n", False),
]


@pytest.mark.parametrize("name,data,head_level", FRAMING, ids=[f[0] for f in FRAMING])
def test_ambiguous_framing_400(proxy, name, data, head_level):
    lx, b = proxy
    marker = "/amb%s" % data.split(b"/amb", 1)[1].split(b" ")[0].decode()
    send_bad(lx, b, data, 400, marker, head_level=head_level)
