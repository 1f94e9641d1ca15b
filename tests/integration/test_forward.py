"""Forward proxy: absolute-form requests, name resolution (hosts, fake DNS),
CONNECT tunnels, loop detection, allow lists, the built-in default config."""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from luxyharness import free_port, run_check, wait_for

FORWARD = """
workers(1)
logs { level = "debug" }
listen { "127.0.0.1:$port", mode = "forward", connect_ports = "any" }
"""

FORWARD_DNS = """
workers(1)
logs { level = "debug" }
listen { "127.0.0.1:$port", mode = "forward" }
resolver { servers = { "127.0.0.1:$dns_port" }, hosts = false, timeout = "1s", attempts = 1 }
"""

FORWARD_CONNECT = """
workers(1)
logs { level = "debug" }
listen { "127.0.0.1:$port", mode = "forward", connect_ports = { $echo_port } }
listen { "127.0.0.1:$rev_port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$echo_port" }
"""


def assert_no_leak(r, port):
    text = r.raw_text()
    assert str(port) not in text, "the error response names the backend port: %r" % text


def test_absolute_form_becomes_origin_form(env):
    b = env.backend()
    lx = env.luxy(FORWARD)
    c = env.client(lx.port)
    origin = "127.0.0.1:%d" % b.port
    r = c.roundtrip("GET", "http://%s/x/y?z=1" % origin, host="wrong.example")
    assert r.status == 200, r
    assert r.body == b"GET /x/y?z=1\n"
    req = b.last()
    assert req.target == "/x/y?z=1", "backend saw %r, expected origin-form" % req.target
    assert req.header("Host") == origin
    assert len(req.headers.get_all("Host")) == 1
    assert req.header("Via") == "1.1 luxy"
    assert req.header("X-Forwarded-For") is None, "forward listeners are anonymous by default"


def test_absolute_form_without_path(env):
    b = env.backend()
    lx = env.luxy(FORWARD)
    r = env.client(lx.port).roundtrip("GET", "http://127.0.0.1:%d" % b.port,
                                      host="127.0.0.1:%d" % b.port)
    assert r.status == 200
    assert b.last().target == "/"


def test_forward_keep_alive_pooled_per_origin(env):
    b = env.backend()
    b2 = env.backend()
    lx = env.luxy(FORWARD)
    c = env.client(lx.port)
    for i in range(2):
        r = c.roundtrip("GET", "http://127.0.0.1:%d/ka%d" % (b.port, i), host="127.0.0.1:%d" % b.port)
        assert r.status == 200
    c2 = env.client(lx.port)
    r = c2.roundtrip("GET", "http://127.0.0.1:%d/ka2" % b.port, host="127.0.0.1:%d" % b.port)
    assert r.status == 200
    assert len(b.requests) == 3
    assert b.connections == 1, "%d backend connections for 3 requests to one origin" % b.connections
    # a second origin gets its own connection, and does not steal the first one's
    r = c.roundtrip("GET", "http://127.0.0.1:%d/other" % b2.port, host="127.0.0.1:%d" % b2.port)
    assert r.status == 200 and r.body == b"GET /other\n"
    assert b2.connections == 1 and len(b2.requests) == 1
    r = c.roundtrip("GET", "http://127.0.0.1:%d/ka3" % b.port, host="127.0.0.1:%d" % b.port)
    assert r.status == 200 and b.connections == 1


def test_forward_post_with_body(env):
    def echo(req, conn):
        conn.respond(200, req.body, req=req)
    b = env.backend(echo)
    lx = env.luxy(FORWARD)
    body = os.urandom(50000)
    r = env.client(lx.port).roundtrip("POST", "http://127.0.0.1:%d/post" % b.port,
                                      host="127.0.0.1:%d" % b.port, body=body)
    assert r.status == 200 and r.body == body


def test_forward_by_name_localhost(env):
    b = env.backend()
    lx = env.luxy(FORWARD)
    c = env.client(lx.port)
    # backends listen on 127.0.0.1 only: if ::1 is tried first luxy must fall back
    for i in range(2):
        r = c.roundtrip("GET", "http://localhost:%d/lh%d" % (b.port, i), host="localhost:%d" % b.port,
                        timeout=15)
        assert r.status == 200, r
        assert r.body == b"GET /lh%d\n" % i
    assert b.last().header("Host") == "localhost:%d" % b.port


def test_forward_by_name_through_dns(env):
    dns = env.dns({"backend.test": "127.0.0.1"}, ttl=60)
    b = env.backend()
    lx = env.luxy(FORWARD_DNS, dns_port=dns.port)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "http://backend.test:%d/dns1" % b.port, host="backend.test:%d" % b.port,
                    timeout=15)
    assert r.status == 200, r
    assert r.body == b"GET /dns1\n"
    assert b.last().header("Host") == "backend.test:%d" % b.port
    n = dns.count("backend.test")
    assert n >= 1
    # within the TTL: answered from the cache, on a new client connection too
    r = env.client(lx.port).roundtrip("GET", "http://backend.test:%d/dns2" % b.port,
                                      host="backend.test:%d" % b.port)
    assert r.status == 200 and r.body == b"GET /dns2\n"
    r = env.client(lx.port).roundtrip("GET", "http://BACKEND.test:%d/dns3" % b.port,
                                      host="BACKEND.test:%d" % b.port)
    assert r.status == 200
    assert dns.count("backend.test") == n, "DNS queried again within the TTL: %r" % dns.queries


def test_unresolvable_invalid_name_502(env):
    lx = env.luxy(FORWARD)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "http://nonexistent.invalid/", host="nonexistent.invalid")
    assert r.status == 502, r
    assert b"resolve" in r.body.lower() or b"not found" in r.body.lower(), r.body
    assert b"nonexistent.invalid" in r.body, "502 body should say which name failed: %r" % r.body
    # the client connection is still usable
    r = c.roundtrip("GET", "http://nonexistent.invalid/again", host="nonexistent.invalid")
    assert r.status == 502


def test_nxdomain_502(env):
    dns = env.dns({"backend.test": "127.0.0.1"})
    lx = env.luxy(FORWARD_DNS, dns_port=dns.port)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "http://missing.test:8080/", host="missing.test:8080", timeout=15)
    assert r.status == 502, r
    assert b"resolve" in r.body.lower() or b"not found" in r.body.lower(), r.body
    assert b"missing.test" in r.body
    assert dns.count("missing.test") >= 1


def connect_tunnel(c, port):
    c.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, port))
    return c.read_response(method="CONNECT")


def test_connect_tunnel_binary_and_half_close(env):
    echo = env.echo()
    lx = env.luxy(FORWARD_CONNECT, echo_port=echo.port)
    c = env.client(lx.port, timeout=20)
    r = connect_tunnel(c, echo.port)
    assert r.status == 200, r
    assert r.header("Content-Length") is None and r.header("Transfer-Encoding") is None
    payload = (bytes(range(256)) + b"\x00" * 100 + b"\xff" * 100) * 700  # ~315 KB
    errors = []

    def sender():
        try:
            for i in range(0, len(payload), 8192):
                c.sock.sendall(payload[i:i + 8192])
        except OSError as e:
            errors.append(e)
    t = threading.Thread(target=sender, daemon=True)
    t.start()
    echoed = c.reader.read_exact(len(payload), timeout=30)
    t.join(30)
    assert not errors, errors
    assert echoed == payload
    # half-close: our EOF reaches the echo server, its reply still comes back
    c.shutdown_write()
    rest = c.reader.read_until_close(timeout=15)
    assert rest == b"<EOF-SEEN>", rest[:100]
    assert echo.saw_eof.is_set()
    assert not c.reader.reset
    # the tunnel is logged when it closes
    lx.wait_access(lambda l: "CONNECT" in l and ("127.0.0.1:%d" % echo.port) in l,
                   what="the tunnel's access log line")


def test_connect_with_data_sent_right_after_the_head(env):
    echo = env.echo()
    lx = env.luxy(FORWARD_CONNECT, echo_port=echo.port)
    c = env.client(lx.port)
    c.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\nearly bytes\x00\xff"
           % (echo.port, echo.port))
    r = c.read_response(method="CONNECT")
    assert r.status == 200
    assert c.reader.read_exact(len(b"early bytes\x00\xff")) == b"early bytes\x00\xff"


def test_connect_port_not_allowed_403(env):
    echo = env.echo()
    lx = env.luxy(FORWARD + 'listen { "127.0.0.1:$p443_port", mode = "forward", connect_ports = { 443 } }\n')
    c = env.client(lx.subs["p443_port"])
    r = connect_tunnel(c, echo.port)
    assert r.status == 403, r
    assert echo.connections == 0


def test_connect_on_reverse_listener_405(env):
    echo = env.echo()
    lx = env.luxy(FORWARD_CONNECT, echo_port=echo.port)
    c = env.client(lx.subs["rev_port"])
    r = connect_tunnel(c, echo.port)
    assert r.status == 405, r
    assert echo.connections == 0


def test_request_to_own_address_is_a_loop_508(env):
    lx = env.luxy(FORWARD)
    c = env.client(lx.port)
    t0 = time.monotonic()
    r = c.roundtrip("GET", "http://127.0.0.1:%d/" % lx.port, host="127.0.0.1:%d" % lx.port)
    assert r.status == 508, r
    assert time.monotonic() - t0 < 5
    r = c.roundtrip("GET", "http://localhost:%d/by-name" % lx.port, host="localhost:%d" % lx.port)
    assert r.status == 508, r
    # exactly the two requests we sent were handled: nothing looped back in
    lines = lx.wait_access(lambda l: "/by-name" in l, what="the second loop request")
    assert lines
    rc = lx.stop()
    lx.checked = True
    assert rc == 0
    assert len(lx.access_lines()) == 2, lx.access_log()


def test_client_not_in_allow_list_403(env):
    b = env.backend()
    lx = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", mode = "forward", allow = { "10.0.0.0/8" } }\n')
    c = env.client(lx.port)
    r = c.roundtrip("GET", "http://127.0.0.1:%d/denied" % b.port, host="127.0.0.1:%d" % b.port)
    assert r.status == 403, r
    assert b.connections == 0 and not b.requests
    # a reverse listener with an allow list too
    lx2 = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", upstream = "app", allow = { "10.0.0.0/8", "::1" } }\n'
                   'upstream "app" { "127.0.0.1:$backend_port" }\n', backend_port=b.port)
    r = env.client(lx2.port).roundtrip("GET", "/denied")
    assert r.status == 403, r
    assert b.connections == 0 and not b.requests


def test_origin_form_to_forward_listener_without_hook_400(env):
    lx = env.luxy(FORWARD)
    r = env.client(lx.port).roundtrip("GET", "/not-absolute")
    assert r.status == 400, r
    assert b"absolute" in r.body.lower()


def port_is_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_default_config_without_c(env):
    rc, out = run_check([])
    assert rc == 0, out
    assert "valid" in out
    if not port_is_free(3128):
        pytest.skip("127.0.0.1:3128 is in use")
    b = env.backend()
    lx = env.luxy(None, ready=("127.0.0.1", 3128))
    lx.port = 3128
    # the proxy itself answers with a help page
    r = env.client(3128).roundtrip("GET", "/", host="127.0.0.1:3128")
    assert r.status == 200, r
    assert b"forward proxy" in r.body and b"curl -x" in r.body, r.body
    # it proxies absolute-form requests
    r = env.client(3128).roundtrip("GET", "http://127.0.0.1:%d/via-default" % b.port,
                                   host="127.0.0.1:%d" % b.port)
    assert r.status == 200 and r.body == b"GET /via-default\n"
    # as curl -x does it
    curl = shutil.which("curl")
    if curl:
        p = subprocess.run([curl, "-sS", "--max-time", "20", "-x", "http://127.0.0.1:3128",
                            "http://127.0.0.1:%d/curl" % b.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        assert p.returncode == 0, p.stderr
        assert p.stdout == b"GET /curl\n"
        assert b.last().target == "/curl"


def test_connect_by_name_and_to_closed_port(env):
    echo = env.echo()
    dead = free_port()
    conf = """
workers(1)
listen { "127.0.0.1:$port", mode = "forward", connect_ports = "any" }
timeouts { backend_connect = "2s" }
"""
    lx = env.luxy(conf)
    c = env.client(lx.port)
    c.send(b"CONNECT localhost:%d HTTP/1.1\r\nHost: localhost:%d\r\n\r\n" % (echo.port, echo.port))
    r = c.read_response(method="CONNECT")
    assert r.status == 200, r
    c.send(b"ping\x00")
    assert c.reader.read_exact(5) == b"ping\x00"
    c2 = env.client(lx.port)
    r = connect_tunnel(c2, dead)
    assert r.status == 502, r
    assert str(dead) not in r.raw_text()


def test_dns_answer_expires_after_ttl(env):
    dns = env.dns({"short.test": "127.0.0.1"}, ttl=1)
    b = env.backend()
    lx = env.luxy(FORWARD_DNS, dns_port=dns.port)
    c = env.client(lx.port)
    url = "http://short.test:%d/ttl" % b.port
    assert c.roundtrip("GET", url, host="short.test:%d" % b.port).status == 200
    n = dns.count("short.test")
    assert n >= 1

    def requeried():
        assert c.roundtrip("GET", url, host="short.test:%d" % b.port).status == 200
        return dns.count("short.test") > n
    wait_for(requeried, timeout=15, interval=0.3, what="a new DNS query after the 1s TTL")


def test_dns_failure_is_cached_briefly(env):
    dns = env.dns({})
    lx = env.luxy(FORWARD_DNS, dns_port=dns.port)
    c = env.client(lx.port)
    assert c.roundtrip("GET", "http://gone.test/", host="gone.test").status == 502
    n = dns.count("gone.test")
    assert n >= 1
    assert c.roundtrip("GET", "http://gone.test/again", host="gone.test").status == 502
    assert dns.count("gone.test") == n, "NXDOMAIN not remembered for neg_ttl: %r" % dns.queries


def test_dns_timeout_502(env):
    dns = env.dns({"silent.test": None})
    lx = env.luxy(FORWARD_DNS, dns_port=dns.port)
    c = env.client(lx.port, timeout=20)
    t0 = time.monotonic()
    r = c.roundtrip("GET", "http://silent.test/", host="silent.test")
    assert r.status == 502, r
    assert time.monotonic() - t0 < 12
    assert b"silent.test" in r.body


def test_tunnel_idle_timeout_closes_tunnel(env):
    echo = env.echo()
    conf = FORWARD + 'timeouts { tunnel_idle = "1s" }\n'
    lx = env.luxy(conf)
    c = env.client(lx.port)
    r = connect_tunnel(c, echo.port)
    assert r.status == 200
    c.send(b"x")
    assert c.reader.read_exact(1) == b"x"
    t0 = time.monotonic()
    assert c.wait_closed(10), "idle tunnel not closed"
    assert 0.8 <= time.monotonic() - t0 < 8
    lx.wait_access(lambda l: "CONNECT" in l and "idle" in l, what="the tunnel line (idle timeout)")


def test_tunnels_count_against_max_connections(env):
    echo = env.echo()
    lx = env.luxy(FORWARD_CONNECT + 'limits { max_connections = 2 }\n', echo_port=echo.port)
    tunnels = [env.client(lx.port) for _ in range(2)]
    for c in tunnels:
        assert connect_tunnel(c, echo.port).status == 200
    # both connections became tunnels: luxy is at its limit and accepts no
    # third client (the kernel completes the handshake; luxy reads nothing)
    third = env.client(lx.port, timeout=1.5)
    third.send(b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\n\r\n" % echo.port)
    with pytest.raises(socket.timeout):
        third.read_response(timeout=1.5)
    lx.wait_error_log("connection limit (2) reached")
    # one tunnel ends: the waiting client is served
    tunnels[0].close()
    third.timeout = 10
    r = third.read_response(timeout=10, strict=False)
    assert r.status in (200, 502), r   # the echo server is not HTTP; luxy answered
