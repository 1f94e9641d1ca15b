"""Process life: graceful stop with a request in flight, the access log,
an IPv6 listener."""

import re
import socket
import threading
import time

import pytest

from luxyharness import Client, port_accepts, wait_for

CONF = """
workers(1)
logs { level = "debug" }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
timeouts { grace = "10s" }
"""


def test_graceful_stop_finishes_in_flight_request(env):
    answered = threading.Event()

    def slow(req, conn):
        if req.path == "/slow":
            time.sleep(4)
            answered.set()
        conn.respond(200, b"slow done\n", req=req)
    b = env.backend(slow)
    lx = env.luxy(CONF, backend_port=b.port)
    idle = env.client(lx.port)
    assert idle.roundtrip("GET", "/warm").status == 200
    c = env.client(lx.port, timeout=20)
    c.request("GET", "/slow")
    b.wait_requests(2)
    lx.signal()
    # new connections are refused while the request is still in flight
    wait_for(lambda: not port_accepts(lx.port), timeout=3,
             what="luxy to stop accepting after SIGTERM")
    assert not answered.is_set(), "could not observe the refusal while the request was in flight"
    r = c.read_response(timeout=15)
    assert r.status == 200, r
    assert r.body == b"slow done\n"
    assert (r.header("Connection") or "").lower() == "close"
    # the idle keep-alive connection was closed
    assert idle.wait_closed(5)
    rc = lx.wait(15)
    lx.checked = True
    assert rc == 0, lx.describe()
    assert lx.sanitizer_report() is None, lx.sanitizer_report()


def test_sigterm_when_idle_exits_zero_quickly(env):
    b = env.backend()
    lx = env.luxy(CONF, backend_port=b.port)
    assert Client(lx.port).roundtrip("GET", "/").status == 200
    t0 = time.monotonic()
    assert lx.stop() == 0
    lx.checked = True
    assert time.monotonic() - t0 < 5
    assert not port_accepts(lx.port)


def test_sigint_also_stops(env):
    import signal
    b = env.backend()
    lx = env.luxy(CONF, backend_port=b.port)
    lx.signal(signal.SIGINT)
    assert lx.wait(15) == 0
    lx.checked = True


ACCESS_RE = re.compile(r'127\.0\.0\.1 .*"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/1\.[01]" (?P<status>\d{3}) (?P<bytes>\d+)')


def test_access_log_one_line_per_request(env):
    def handler(req, conn):
        if req.path == "/missing":
            conn.respond(404, b"not here\n", req=req)
        else:
            conn.respond(200, b"x" * 1234, req=req)
    b = env.backend(handler)
    lx = env.luxy(CONF, backend_port=b.port)
    c = env.client(lx.port)
    assert c.roundtrip("GET", "/a?q=1").status == 200
    assert c.roundtrip("GET", "/missing").status == 404
    assert c.roundtrip("POST", "/p", body=b"data").status == 200
    c.request("HEAD", "/h")
    assert c.read_response(method="HEAD").status == 200
    lx.wait_access(lambda l: '"HEAD /h ' in l, what="the HEAD line")
    assert lx.stop() == 0
    lx.checked = True
    lines = lx.access_lines()
    assert len(lines) == 4, lines
    parsed = []
    for l in lines:
        m = ACCESS_RE.search(l)
        assert m, "access line has no client/method/target/status/bytes: %r" % l
        parsed.append((m.group("method"), m.group("target"), int(m.group("status")), int(m.group("bytes"))))
    assert parsed == [("GET", "/a?q=1", 200, 1234), ("GET", "/missing", 404, 9),
                      ("POST", "/p", 200, 1234), ("HEAD", "/h", 200, 0)], lines


def test_access_log_records_errors_and_local_answers(env):
    lx = env.luxy(CONF, backend_port=1)  # port 1: nothing listens
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/down")
    assert r.status == 502
    line = lx.wait_access(lambda l: "/down" in l)
    m = ACCESS_RE.search(line)
    assert m and m.group("status") == "502", line
    assert int(m.group("bytes")) == len(r.body)
    # a rejected head is logged too
    c2 = env.client(lx.port)
    c2.send(b"GET /bad HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n")
    assert c2.read_response().status == 400
    lx.wait_access(lambda l: " 400 " in l, what="the 400 line")


def test_access_log_off(env):
    b = env.backend()
    lx = env.luxy(CONF + 'logs { access = false }\n', backend_port=b.port)
    c = env.client(lx.port)
    for i in range(3):
        assert c.roundtrip("GET", "/quiet%d" % i).status == 200
    assert lx.stop() == 0
    lx.checked = True
    assert lx.access_log() == "", lx.access_log()


def test_access_log_to_file(env, tmp_path):
    b = env.backend()
    path = tmp_path / "access-file.log"
    lx = env.luxy(CONF + 'logs { access = "%s" }\n' % path, backend_port=b.port)
    assert env.client(lx.port).roundtrip("GET", "/to-file").status == 200
    wait_for(lambda: path.exists() and "/to-file" in path.read_text(), timeout=10,
             what="the access line in the file")
    assert "/to-file" not in lx.access_log()


def ipv6_loopback_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 cannot be bound")
def test_ipv6_listener(env):
    b = env.backend()
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.bind(("::1", 0))
    port6 = s.getsockname()[1]
    s.close()
    conf = """
workers(1)
listen { "[::1]:$v6_port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
"""
    lx = env.luxy(conf, backend_port=b.port, v6_port=port6, ready=("::1", port6))
    c = env.client(port6, host="::1")
    r = c.roundtrip("GET", "/six", host="[::1]:%d" % port6)
    assert r.status == 200, r
    assert r.body == b"GET /six\n"
    assert b.last().header("X-Forwarded-For") == "::1"
    assert b.last().header("Host") == "[::1]:%d" % port6
    line = lx.wait_access(lambda l: "/six" in l)
    assert line.startswith("::1 ") or " ::1 " in line or "[::1]" in line, line


def test_client_header_timeout_408(env):
    b = env.backend()
    lx = env.luxy(CONF + 'timeouts { client_header = "1s" }\n', backend_port=b.port)
    c = env.client(lx.port)
    c.send(b"GET /never-finished HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    r = c.read_response(timeout=10)
    assert r.status == 408, r
    assert 0.8 <= time.monotonic() - t0 < 8
    assert c.wait_closed(5)
    assert not b.requests
    # an idle connection with no bytes at all is simply closed
    c2 = env.client(lx.port)
    assert c2.wait_closed(8)


def test_two_workers(env):
    b = env.backend()
    conf = CONF.replace("workers(1)", "workers(2)") + """
function on_response(req, res) res:set_header("X-Worker", luxy.worker_id) end
"""
    lx = env.luxy(conf, backend_port=b.port)
    results = []
    workers = set()
    lock = threading.Lock()

    def run(i):
        try:
            c = Client(lx.port)
            for k in range(5):
                r = c.roundtrip("GET", "/w%d-%d" % (i, k))
                with lock:
                    results.append((r.status, r.body == b"GET /w%d-%d\n" % (i, k)))
                    workers.add(r.header("X-Worker"))
            c.close()
        except Exception as e:
            results.append((repr(e), False))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [(200, True)] * 40, results
    # the kernel spreads connections over both workers' sockets; a few more
    # connections (at most 200) until both have been seen serving
    for i in range(200):
        if workers >= {"1", "2"}:
            break
        c = Client(lx.port)
        workers.add(c.roundtrip("GET", "/more%d" % i).header("X-Worker"))
        c.close()
    assert workers == {"1", "2"}, "only workers %s served" % sorted(workers)


def test_max_connections_pauses_and_resumes_accepting(env):
    import socket as _socket
    b = env.backend()
    lx = env.luxy(CONF + "limits { max_connections = 2 }\n", backend_port=b.port)
    c1 = env.client(lx.port)
    c2 = env.client(lx.port)
    assert c1.roundtrip("GET", "/one").status == 200
    assert c2.roundtrip("GET", "/two").status == 200
    c3 = env.client(lx.port)  # the kernel completes the handshake; luxy must not take it yet
    c3.request("GET", "/three")
    try:
        r = c3.read_response(timeout=0.7)
        raise AssertionError("a third connection was served over max_connections = 2: %r" % r)
    except _socket.timeout:
        pass
    c1.close()
    r = c3.read_response(timeout=10)
    assert r.status == 200 and r.body == b"GET /three\n"


def test_second_signal_stops_at_once(env):
    release = threading.Event()

    def stuck(req, conn):
        release.wait(30)
        conn.respond(200, b"late", req=req)
    b = env.backend(stuck)
    lx = env.luxy(CONF.replace('grace = "10s"', 'grace = "30s"'), backend_port=b.port)
    c = env.client(lx.port)
    c.request("GET", "/stuck")
    b.wait_requests(1)
    lx.signal()
    wait_for(lambda: not port_accepts(lx.port), timeout=5, what="the listener to close")
    assert lx.alive(), "luxy exited with a request in flight and 30s of grace"
    t0 = time.monotonic()
    lx.signal()
    rc = lx.wait(10)
    lx.checked = True
    release.set()
    assert time.monotonic() - t0 < 5
    assert rc is not None


def test_refuses_to_start_on_a_taken_port(env):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        lx = env.luxy('listen { "127.0.0.1:$port", mode = "forward" }\n', port=port, ready=False)
        rc = lx.wait(15)
        lx.checked = True
        assert rc != 0
        assert "127.0.0.1:%d" % port in lx.error_log(), lx.error_log()
    finally:
        taken.close()
