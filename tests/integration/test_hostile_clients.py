"""Hostile clients: request smuggling vectors, size limits, slowloris,
thousands of idle or churning connections, clients that vanish in the
middle of an exchange.

Every rejection must carry the exact status, close the connection, leave
luxy serving the next client, and never deliver the bad request to the
backend (checked against the backend's recorded requests and the raw bytes
it received). Resource checks compare luxy's fd count (/proc/PID/fd) and
VmRSS with a baseline taken right after start: pooled backend connections
expire after timeouts.backend_idle = 1s, so luxy returns to exactly its
startup fd count when nothing is open."""

import selectors
import socket
import struct
import threading
import time

import pytest

from luxyharness import Client, Closed, Env, HTTPError, get, scaled, wait_for

H = b"Host: hostile.test\r\n"

CONF = """
workers(2)
logs { level = "info" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
timeouts { client_header = "20s", client_body = "5s", backend_idle = "1s" }
"""


# ---------------------------------------------------------------- helpers

def settle_baseline(lx, timeout=15.0):
    """luxy's fd count with nothing open: the count at start (pooled backend
    connections expire after backend_idle = 1s)."""
    return lx.wait_fds_at_most(lx.start_fds, timeout,
                               what="luxy's fds back to its startup count %d" % lx.start_fds)


def start(env, conf=CONF, **kw):
    lx = env.luxy(conf, **kw)
    lx.start_fds = lx.base_fd_count()
    return lx


def assert_serves(lx, b=None, target="/alive"):
    c = Client(lx.port)
    try:
        r = c.roundtrip("GET", target)
    finally:
        c.close()
    assert r.status == 200, "luxy did not serve a normal request afterwards: %r\n%s" % (
        r, lx.describe())
    if b is not None:
        assert b.last().target == target
    return r


def raw_connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rst_close(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def send_ignoring_reset(c, data):
    """Sends data; luxy may answer and close before it has read all of it
    (a reset on our side is then expected, the response is what counts)."""
    try:
        c.send(data)
        return None
    except (BrokenPipeError, ConnectionResetError) as e:
        return e


# ---------------------------------------------------------------- one luxy for the rejections

@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    env = Env(tmp_path_factory.mktemp("hostile_clients"))

    def echo(req, conn):
        conn.respond(200, b"%s %s %d\n" % (req.method.encode(), req.target.encode(), len(req.body)),
                     req=req)
    b = env.backend(echo)
    lx = start(env, backend_port=b.port)
    yield lx, b
    env.teardown()


def reject(lx, b, data, status, marker, forbidden=None, body_level=False, pipeline=None):
    """Sends data on a fresh connection and expects exactly `status`, then a
    close; luxy must still serve, and the backend must never have received
    a complete request carrying marker (the path) nor the bytes `forbidden`
    (for a bad head: the marker itself, i.e. nothing of the head at all).
    pipeline: a path; a valid GET for it follows data in the same write (what
    a smuggler hides behind an ambiguous request); the backend must never
    see it."""
    if isinstance(marker, str):
        marker = marker.encode()
    assert marker in data
    if pipeline:
        data += b"GET " + pipeline + b" HTTP/1.1\r\n" + H + b"\r\n"
    c = Client(lx.port, timeout=scaled(8))
    try:
        send_err = send_ignoring_reset(c, data)
        try:
            r = c.read_response()
        except Closed as e:
            pytest.fail("connection closed without a %d response (got %r; send error %r)\n%s"
                        % (status, e.partial[:300], send_err, lx.error_log()[-3000:]))
        except socket.timeout:
            pytest.fail("no response within 8s: luxy waits for more instead of answering %d\n%s"
                        % (status, lx.error_log()[-3000:]))
        assert r.status == status, "expected %d, got %r\nerror log tail:\n%s" % (
            status, r, lx.error_log()[-3000:])
        assert (r.header("Connection") or "").lower() == "close", (
            "a %d must close the connection: %r" % (status, r.headers))
        assert c.wait_closed(scaled(5)), "connection not closed after %d" % status
    finally:
        c.close()
    assert_serves(lx, b)
    got = [q for q in b.requests if marker.decode("latin-1") in q.target]
    assert not got, "the backend received the bad request: %r" % got
    if not body_level:
        assert not b.saw(marker), "bytes of the bad request head reached the backend"
    if forbidden is not None:
        assert not b.saw(forbidden), "the bad bytes %r reached the backend" % forbidden
    if pipeline:
        assert not b.saw(pipeline), ("the request pipelined behind the rejected one reached the "
                                     "backend (smuggled): %r" % [q for q in b.requests if q.target == pipeline.decode()])
    return r


# (id, request bytes, marker path, bytes the backend must never see or None, body level)
def post(path, fields, body=b"", version=b"HTTP/1.1"):
    return b"POST " + path + b" " + version + b"\r\n" + H + fields + b"\r\n" + body


TE = b"Transfer-Encoding"
SMUGGLING = [
    ("cl_and_te", post(b"/sm-cl-te", b"Content-Length: 5\r\n" + TE + b": chunked\r\n", b"0\r\n\r\n"),
     b"/sm-cl-te", None, False),
    ("te_and_cl", post(b"/sm-te-cl", TE + b": chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"),
     b"/sm-te-cl", None, False),
    ("duplicate_differing_cl", post(b"/sm-dup-cl", b"Content-Length: 5\r\nContent-Length: 7\r\n",
                                    b"1234567"), b"/sm-dup-cl", None, False),
    ("te_two_spaces", post(b"/sm-te-2sp", TE + b":  chunked\r\n", b"0\r\n\r\n"),
     b"/sm-te-2sp", None, False),
    ("te_tab", post(b"/sm-te-tab", TE + b":\tchunked\r\n", b"0\r\n\r\n"), b"/sm-te-tab", None, False),
    ("te_trailing_space", post(b"/sm-te-trail", TE + b": chunked \r\n", b"0\r\n\r\n"),
     b"/sm-te-trail", None, False),
    ("te_chunked_identity", post(b"/sm-te-ci", TE + b": chunked, identity\r\n", b"0\r\n\r\n"),
     b"/sm-te-ci", None, False),
    ("te_identity_chunked", post(b"/sm-te-ic", TE + b": identity, chunked\r\n", b"0\r\n\r\n"),
     b"/sm-te-ic", None, False),
    ("te_obs_fold", post(b"/sm-te-fold", TE + b":\r\n chunked\r\n", b"0\r\n\r\n"),
     b"/sm-te-fold", None, False),
    ("te_as_continuation_line", post(b"/sm-te-cont", b"X-A: b\r\n " + TE + b": chunked\r\n",
                                     b"0\r\n\r\n"), b"/sm-te-cont", None, False),
    ("te_xchunked", post(b"/sm-te-x", TE + b": xchunked\r\n", b"0\r\n\r\n"), b"/sm-te-x", None, False),
    ("te_space_before_colon", post(b"/sm-te-sp", TE + b" : chunked\r\n", b"0\r\n\r\n"),
     b"/sm-te-sp", None, False),
    ("cl_plus", post(b"/sm-cl-plus", b"Content-Length: +5\r\n", b"12345"), b"/sm-cl-plus", None, False),
    ("cl_hex", post(b"/sm-cl-hex", b"Content-Length: 0x5\r\n", b"12345"), b"/sm-cl-hex", None, False),
    ("cl_two_spaces", post(b"/sm-cl-2sp", b"Content-Length:  5\r\n", b"12345"),
     b"/sm-cl-2sp", None, False),
    ("chunk_size_overflow", post(b"/sm-ch-ovf", TE + b": chunked\r\n",
                                 b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
     b"/sm-ch-ovf", b"hello", True),
    ("chunk_size_negative", post(b"/sm-ch-neg", TE + b": chunked\r\n", b"-5\r\nhello\r\n0\r\n\r\n"),
     b"/sm-ch-neg", b"hello", True),
    ("chunk_ext_control_char", post(b"/sm-ch-ctl", TE + b": chunked\r\n",
                                    b"5;\x01\r\nhello\r\n0\r\n\r\n"), b"/sm-ch-ctl", b"hello", True),
    ("chunk_size_junk_after_space", post(b"/sm-ch-junk", TE + b": chunked\r\n",
                                         b"5 x\r\nhello\r\n0\r\n\r\n"), b"/sm-ch-junk", b"hello", True),
    ("chunk_data_without_crlf", post(b"/sm-ch-nocrlf", TE + b": chunked\r\n",
                                     b"5\r\nhelloXX0\r\n\r\n"), b"/sm-ch-nocrlf", b"XX0", True),
    ("nul_in_header_value", b"GET /sm-nul HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", b"/sm-nul",
     None, False),
    ("cr_alone_in_header_value", b"GET /sm-cr HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", b"/sm-cr",
     None, False),
    ("whitespace_before_colon", b"GET /sm-wsc HTTP/1.1\r\n" + H + b"X-A\t: b\r\n\r\n", b"/sm-wsc",
     None, False),
    ("absolute_uri_with_space", b"GET http://hostile.test/sm-abs x HTTP/1.1\r\n" + H + b"\r\n",
     b"/sm-abs", None, False),
    ("http09_request_line", b"GET /sm-h09\r\n", b"/sm-h09", None, False),
    ("bare_lf_line_endings", b"GET /sm-lf HTTP/1.1\nHost: hostile.test\nX-A: b\n\n", b"/sm-lf",
     None, False),
]


@pytest.mark.parametrize("name,data,marker,forbidden,body_level", SMUGGLING,
                         ids=[s[0] for s in SMUGGLING])
def test_smuggling_vector_400(proxy, name, data, marker, forbidden, body_level):
    lx, b = proxy
    reject(lx, b, data, 400, marker, forbidden, body_level, pipeline=b"/smuggled-" + name.encode())


def test_valid_chunked_and_length_still_pass(proxy):
    """The control: the same shapes, well formed, go through."""
    lx, b = proxy
    c = Client(lx.port)
    try:
        c.send(post(b"/ok-chunked", TE + b": chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"POST /ok-chunked 5\n", r
        c.send(post(b"/ok-length", b"Content-Length: 5\r\n", b"hello"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"POST /ok-length 5\n", r
        # pipelined behind a valid chunked body: both answered, in order
        c.send(post(b"/ok-pipe1", TE + b": chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n")
               + b"GET /ok-pipe2 HTTP/1.1\r\n" + H + b"\r\n")
        r1 = c.read_response()
        r2 = c.read_response()
        assert (r1.status, r1.body, r2.status, r2.body) == (
            200, b"POST /ok-pipe1 5\n", 200, b"GET /ok-pipe2 0\n"), (r1, r2)
        assert b.saw(b"/ok-pipe2")
    finally:
        c.close()


# ---------------------------------------------------------------- limits (defaults)

def test_request_line_64k_414(proxy):
    lx, b = proxy
    data = b"GET /lim-414" + b"a" * 65536 + b" HTTP/1.1\r\n" + H + b"\r\n"
    reject(lx, b, data, 414, b"/lim-414")


def test_one_40k_header_431(proxy):
    lx, b = proxy
    data = b"GET /lim-431-big HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 40960 + b"\r\n\r\n"
    reject(lx, b, data, 431, b"/lim-431-big")


def test_1000_small_headers_431(proxy):
    lx, b = proxy
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(1000))
    data = b"GET /lim-431-many HTTP/1.1\r\n" + H + fields + b"\r\n"
    assert len(data) < 32 * 1024  # the field count, not the head size, is what trips
    reject(lx, b, data, 431, b"/lim-431-many")


def test_rejections_leave_no_fds(env):
    """Its own luxy: a run of rejected heads, then the descriptors are back
    to the startup count."""
    def echo(req, conn):
        conn.respond(200, b"ok\n", req=req)
    b = env.backend(echo)
    lx = start(env, backend_port=b.port)
    cases = [
        (b"GET /z-414" + b"a" * 65536 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, b"/z-414"),
        (b"GET /z-431 HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 40960 + b"\r\n\r\n", 431, b"/z-431"),
        (b"GET /z-400 HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         400, b"/z-400"),
        (b"GET /z-lf HTTP/1.1\n" + H + b"\r\n", 400, b"/z-lf"),
    ]
    for data, status, marker in cases:
        reject(lx, b, data, status, marker)
    settle_baseline(lx)


# ---------------------------------------------------------------- slowloris

SLOW_HEAD = b"GET /slowloris HTTP/1.1\r\nHost: slow.test\r\nX-Pad: " + b"p" * 64


class Trickler:
    """n connections, each sent one more byte of SLOW_HEAD every second."""

    def __init__(self, port, n):
        self.socks = []
        for _ in range(n):
            s = raw_connect(port)
            s.setblocking(False)
            self.socks.append(s)
        self.sent = 0
        self.send_errors = 0
        self.open = set(range(n))

    def tick(self):
        byte = SLOW_HEAD[self.sent:self.sent + 1]
        for i in list(self.open):
            try:
                self.socks[i].send(byte)
            except BlockingIOError:
                pass
            except OSError:
                self.send_errors += 1
                self.open.discard(i)
        self.sent += 1

    def still_open(self):
        """Indices whose connection luxy has not closed (no EOF, no reset)."""
        alive = []
        for i, s in enumerate(self.socks):
            try:
                data = s.recv(4096)
            except BlockingIOError:
                alive.append(i)
                continue
            except OSError:
                continue
            if data:
                continue  # an answer: not a patiently waiting connection
        return alive

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


SLOW_CONF = """
workers(2)
logs { level = "info" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
timeouts { client_header = "$header_timeout", backend_idle = "1s" }
"""


@pytest.mark.heavy
def test_slowloris_does_not_starve_normal_clients(env):
    b = env.backend()
    lx = start(env, SLOW_CONF, backend_port=b.port, header_timeout="30s")
    tr = Trickler(lx.port, 500)
    stop = threading.Event()
    ticks = []

    def trickle():
        t0 = time.monotonic()
        for k in range(10):
            if stop.is_set():
                return
            tr.tick()
            ticks.append(time.monotonic())
            # pace: one byte per connection per second
            stop.wait(max(0.0, t0 + k + 1 - time.monotonic()))
    th = threading.Thread(target=trickle, daemon=True)
    try:
        th.start()
        latencies = []
        failures = []
        t_end = time.monotonic() + 10
        n = 0
        while time.monotonic() < t_end and n < 5000:
            n += 1
            t = time.monotonic()
            try:
                r = get(lx.port, "/normal%d" % n, timeout=10)
                if r.status != 200:
                    failures.append((n, r.status))
            except (OSError, HTTPError) as e:
                failures.append((n, repr(e)))
            latencies.append(time.monotonic() - t)
        th.join(15)
        assert not failures, "normal requests failed under slowloris: %r" % failures[:10]
        assert len(latencies) >= 20, "only %d normal requests in 10s" % len(latencies)
        worst = max(latencies)
        assert worst < 1.0, ("a normal request took %.2fs while 500 slow clients trickled "
                             "(median %.3fs, %d requests)"
                             % (worst, sorted(latencies)[len(latencies) // 2], len(latencies)))
        # the slow connections were patient, not dropped (client_header = 30s)
        assert len(ticks) == 10
        alive = tr.still_open()
        assert len(alive) == 500, "%d of 500 slow connections were closed before the 30s deadline" % (
            500 - len(alive))
        assert not b.saw(b"/slowloris"), "an incomplete head reached the backend"
    finally:
        stop.set()
        tr.close()
    settle_baseline(lx)
    assert_serves(lx, b)


@pytest.mark.heavy
def test_slowloris_closed_by_header_timeout(env):
    b = env.backend()
    lx = start(env, SLOW_CONF, backend_port=b.port, header_timeout="2s")
    tr = Trickler(lx.port, 500)
    t_first = time.monotonic()
    tr.tick()
    sel = selectors.DefaultSelector()
    for i, s in enumerate(tr.socks):
        sel.register(s, selectors.EVENT_READ, i)
    closed_at = {}
    answers = {}
    next_tick = t_first + 1
    deadline = t_first + scaled(10)
    try:
        while len(closed_at) < 500 and time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_tick:
                tr.open -= set(closed_at)
                tr.tick()
                next_tick += 1
            for key, _ in sel.select(timeout=max(0.01, min(0.2, next_tick - time.monotonic()))):
                i = key.data
                try:
                    data = key.fileobj.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    answers[i] = answers.get(i, b"") + data
                    continue
                closed_at[i] = time.monotonic() - t_first
                sel.unregister(key.fileobj)
        sel.close()
        missing = 500 - len(closed_at)
        assert missing == 0, "%d of 500 slow connections still open %.0fs after their first byte " \
            "with client_header = 2s" % (missing, deadline - t_first)
        latest = max(closed_at.values())
        earliest = min(closed_at.values())
        assert latest < scaled(6.0), (
            "the last slow connection closed %.1fs after its first byte (client_header = 2s)" % latest)
        assert earliest > 1.5, "a slow connection was closed %.2fs after its first byte, " \
            "before the 2s header deadline" % earliest
        for i, data in answers.items():
            assert data.startswith(b"HTTP/1.1 408 "), "slow connection %d got %r" % (i, data[:200])
        assert not b.saw(b"/slowloris")
    finally:
        tr.close()
    settle_baseline(lx)
    assert_serves(lx, b)


# ---------------------------------------------------------------- many connections

MANY_CONF = """
workers(2)
logs { level = "info" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
timeouts { client_idle = "300s", backend_idle = "1s" }
"""


def open_idle_keepalive(port, n, threads=4):
    """n connections, each after one complete keep-alive request."""
    conns = [None] * n
    errors = []

    def run(lo, hi):
        for i in range(lo, hi):
            try:
                c = Client(port, timeout=30)
                r = c.roundtrip("GET", "/idle%d" % i)
                if r.status != 200 or (r.header("Connection") or "").lower() == "close":
                    errors.append((i, r.status, r.header("Connection")))
                conns[i] = c
            except Exception as e:
                errors.append((i, repr(e)))
                if len(errors) > 20:
                    return
    step = (n + threads - 1) // threads
    ths = [threading.Thread(target=run, args=(k * step, min(n, (k + 1) * step)), daemon=True)
           for k in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(300)
    return [c for c in conns if c is not None], errors


@pytest.mark.heavy
def test_2000_idle_keepalive_connections(env):
    b = env.backend()
    lx = start(env, MANY_CONF, backend_port=b.port)
    assert_serves(lx, b, "/warm")
    base_fds = settle_baseline(lx)
    base_rss = lx.rss_kb()
    conns, errors = open_idle_keepalive(lx.port, 2000)
    try:
        assert not errors, "opening 2000 keep-alive connections: %r" % errors[:10]
        assert len(conns) == 2000
        assert_serves(lx, b, "/with-2000-idle")
        # pooled backend connections expire (backend_idle = 1s): the count
        # settles at one fd per idle client connection
        fds = lx.wait_fds(lambda n: base_fds + 2000 <= n <= base_fds + 2002, timeout=15,
                          what="luxy's fds to be baseline %d + 2000 (+ a few)" % base_fds)
        rss = lx.rss_kb()
        grown = (rss - base_rss) / 1024.0
        assert grown < 32, "RSS grew by %.1f MiB for 2000 idle connections (%d -> %d KiB, %.1f KiB " \
            "per connection)" % (grown, base_rss, rss, (rss - base_rss) / 2000.0)
        # every connection is still usable
        for i in (0, 999, 1999):
            r = conns[i].roundtrip("GET", "/again%d" % i)
            assert r.status == 200, r
    finally:
        for c in conns:
            c.close()
    lx.wait_fds_at_most(base_fds, timeout=20,
                        what="luxy's fds back to baseline %d after closing 2000 connections" % base_fds)
    assert_serves(lx, b, "/after-2000")
    print("2000 idle: baseline fds %d, with 2000 idle %d; RSS %d KiB -> %d KiB" % (
        base_fds, fds, base_rss, rss))


@pytest.mark.heavy
def test_20000_connections_churn(env):
    b = env.backend()
    lx = start(env, MANY_CONF, backend_port=b.port)
    base_fds = lx.start_fds
    total, batch = 20000, 200
    request = b"GET /churn HTTP/1.1\r\nHost: churn.test\r\n\r\n"
    request_close = b"GET /churn HTTP/1.1\r\nHost: churn.test\r\nConnection: close\r\n\r\n"
    problems = []
    served = 0
    t0 = time.monotonic()
    for start_i in range(0, total, batch):
        if time.monotonic() - t0 > scaled(240):
            problems.append("gave up after %d connections (240s)" % start_i)
            break
        socks = []
        try:
            for k in range(batch):
                try:
                    socks.append(raw_connect(lx.port, timeout=10))
                except OSError as e:
                    problems.append("connect %d: %r" % (start_i + k, e))
                    socks.append(None)
            pending = []
            for k, s in enumerate(socks):
                if s is None:
                    continue
                kind = (start_i + k) % 4
                if kind == 0:
                    s.close()                       # close at once, FIN
                elif kind == 1:
                    rst_close(s)                    # close at once, RST
                else:
                    s.sendall(request if kind == 2 else request_close)
                    pending.append((k, s, kind))
            for k, s, kind in pending:
                s.settimeout(10)
                buf = b""
                try:
                    while b"\r\n\r\n" not in buf or not buf.endswith(b"GET /churn\n"):
                        d = s.recv(65536)
                        if not d:
                            break
                        buf += d
                except OSError as e:
                    problems.append("connection %d: %r after %r" % (start_i + k, e, buf[:100]))
                    continue
                if not buf.startswith(b"HTTP/1.1 200 "):
                    problems.append("connection %d: got %r" % (start_i + k, buf[:200]))
                else:
                    served += 1
                if len(problems) > 20:
                    break
        finally:
            for s in socks:
                if s is not None:
                    s.close()
        if len(problems) > 20 or not lx.alive():
            break
    assert lx.alive(), "luxy died during the churn:\n%s" % lx.describe()
    assert not problems, "%d problems, first: %r" % (len(problems), problems[:10])
    assert served == total // 2
    assert len([q for q in b.requests if q.path == "/churn"]) == total // 2
    lx.wait_fds_at_most(base_fds, timeout=30,
                        what="luxy's fds back to baseline %d after 20000 connections" % base_fds)
    assert_serves(lx, b, "/after-churn")


# ---------------------------------------------------------------- clients that vanish

def test_client_gone_mid_request_body(env):
    heads = {}
    got_head = threading.Event()

    def on_head(req, conn):
        heads[req.path] = conn.conn_id
        if req.path == "/upload-abort":
            got_head.set()
    b = env.backend(on_head=on_head, store_body=False)
    lx = start(env, MANY_CONF, backend_port=b.port)
    base_fds = lx.start_fds
    c = env.client(lx.port)
    c.send(b"POST /upload-abort HTTP/1.1\r\nHost: up.test\r\nContent-Length: %d\r\n\r\n" % (10 << 20))
    assert got_head.wait(scaled(10)), "the backend never got the request head"
    sent = 0
    chunk = b"u" * 65536
    while sent < (1 << 20):
        c.send(chunk)
        sent += len(chunk)
    # let the first megabyte flow to the backend before vanishing
    wait_for(lambda: b.raw_total >= (1 << 20), timeout=10,
             what="1 MiB of the body at the backend (have %d)" % b.raw_total)
    c.close()
    cid = heads["/upload-abort"]
    why = b.wait_conn_ended(cid, timeout=10)
    assert why == "eof", "backend connection %d ended with %s" % (cid, why)
    assert not [q for q in b.requests if q.path == "/upload-abort"], "a truncated body was completed"
    lx.wait_fds_at_most(base_fds, timeout=15,
                        what="luxy's fds back to baseline %d after a client left mid-body" % base_fds)
    assert_serves(lx, b, "/after-upload-abort")


def test_client_gone_mid_response(env):
    result = {}

    def big(req, conn):
        if req.path != "/huge":
            conn.respond(200, b"small\n", req=req)
            return
        result["cid"] = conn.conn_id
        total = 50 << 20
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        block = b"d" * 65536
        sent = 0
        try:
            while sent < total:
                conn.send(block)
                sent += len(block)
            result["outcome"] = "sent all"
        except OSError as e:
            result["outcome"] = "send failed after %d bytes: %r" % (sent, e)
            conn.close()
    b = env.backend(big, write_timeout=60)
    lx = start(env, MANY_CONF, backend_port=b.port)
    base_fds = lx.start_fds
    c = env.client(lx.port)
    c.request("GET", "/huge")
    head = c.reader.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    got = len(c.reader.buf)
    while got < 100 * 1024:
        got += len(c.reader.read_exact(min(65536, 100 * 1024 - got)))
    c.close()   # unread data pending: an RST
    wait_for(lambda: "outcome" in result, timeout=15,
             what="the backend to notice luxy dropped the connection (backend: %r)" % result)
    assert result["outcome"].startswith("send failed"), (
        "the backend sent all 50 MB to a client that left after 100 KB: %s" % result["outcome"])
    b.wait_conn_ended(result["cid"], timeout=10)
    lx.wait_fds_at_most(base_fds, timeout=15,
                        what="luxy's fds back to baseline %d after a client left mid-response" % base_fds)
    assert_serves(lx, b, "/after-huge")


TUNNEL_CONF = """
workers(2)
logs { level = "info" }
listen { "127.0.0.1:$port", mode = "forward", connect_ports = { $echo_port } }
timeouts { backend_idle = "1s" }
"""


def test_client_gone_mid_tunnel(env):
    echo = env.echo()
    lx = start(env, TUNNEL_CONF, echo_port=echo.port)
    base_fds = lx.start_fds
    c = Client(lx.port)
    try:
        c.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (echo.port, echo.port))
        r = c.read_response(method="CONNECT")
        assert r.status == 200, r
        for k in range(3):
            payload = bytes((k * 7 + i) % 256 for i in range(20000))
            c.send(payload)
            assert c.reader.read_exact(len(payload), timeout=10) == payload
        assert lx.fd_count() >= base_fds + 2
    finally:
        rst_close(c.sock)
    wait_for(lambda: echo.closed >= 1, timeout=10,
             what="luxy to close the origin side of a tunnel whose client reset")
    lx.wait_fds_at_most(base_fds, timeout=15,
                        what="luxy's fds back to baseline %d after a tunnel client reset" % base_fds)
    # and it tunnels again
    c = env.client(lx.port)
    c.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (echo.port, echo.port))
    assert c.read_response(method="CONNECT").status == 200
    c.send(b"ping")
    assert c.reader.read_exact(4, timeout=10) == b"ping"


@pytest.mark.parametrize("delay", [0.0, 0.5], ids=["fast_backend", "slow_backend"])
def test_half_close_after_complete_request(env, delay):
    """shutdown(SHUT_WR) right after a GET: the response still arrives (a
    half-closed client is not a gone client), then luxy closes."""
    def handler(req, conn):
        if delay:
            time.sleep(delay)  # the client's FIN reaches luxy before the answer
        conn.respond(200, b"answer to %s\n" % req.target.encode(), req=req)
    b = env.backend(handler)
    lx = start(env, MANY_CONF, backend_port=b.port)
    base_fds = lx.start_fds
    c = env.client(lx.port)
    c.request("GET", "/half-close")
    c.shutdown_write()
    try:
        r = c.read_response(timeout=10)
    except Closed as e:
        pytest.fail("luxy dropped a half-closed client before answering (got %r)\n%s"
                    % (e.partial[:200], lx.error_log()[-2000:]))
    assert r.status == 200, r
    assert r.body == b"answer to /half-close\n"
    assert c.wait_closed(10), "luxy kept a half-closed connection open after the response"
    lx.wait_fds_at_most(base_fds, timeout=15,
                        what="luxy's fds back to baseline %d after a half-closed client" % base_fds)
