"""An operator's first day: the log lines say what happened, `luxy -t`
catches what the start would refuse, signals do not surprise, a failing
hook cannot flood the log, and hooks see what they need (proxy
credentials, luxy's own error pages)."""

import os
import re
import signal
import socket
import threading
import time

import pytest

from luxyharness import Client, free_port, run_check, scaled, wait_for

REVERSE = """
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
"""

# 2026-12-01T23:00:00.000Z 127.0.0.1 "GET /x HTTP/1.1" 200 5 upstream=app backend=127.0.0.1:9 0.001s
#   connect_time=0.000s ttfb=0.001s request_id=...   (the items added at the end: test_logs.py)
ACCESS_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) "([^"]*)" (\d{3}) (\d+) '
                       r'upstream=(\S+) backend=(\S+) (\d+\.\d{3})s( retries=\d+)?( error="[^"]*")?'
                       r'( connect_time=\d+\.\d{3}s)?( ttfb=\d+\.\d{3}s)?( cache=\S+)?( request_id=\S+)?$')


def parse_access(line):
    m = ACCESS_RE.match(line)
    assert m, "access line does not have the documented form: %r" % line
    return {"client": m.group(1), "request": m.group(2), "status": int(m.group(3)),
            "bytes": int(m.group(4)), "upstream": m.group(5), "backend": m.group(6),
            "retries": int(m.group(8)[9:]) if m.group(8) else 0,
            "error": m.group(9)[8:-1] if m.group(9) else None}


def access_for(lx, needle):
    return parse_access(lx.wait_access(lambda l: needle in l, what="the access line of %s" % needle))


def check(tmp_path, text, name="check.lua"):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    return run_check(["-c", path])


# ---------------------------------------------------------------- the log lines

def test_print_and_log_have_no_stray_values(env):
    b = env.backend()
    lx = env.luxy(REVERSE + """
function on_request(req)
  print("p", 1, nil, true)
  luxy.log("warn", "w", 2)
  print(string.rep("z", 10000))
end
""", backend_port=b.port)
    assert env.client(lx.port).roundtrip("GET", "/x").status == 200
    lx.wait_error_log("lua: p\t1\tnil\ttrue".replace("\t", " "))
    log = lx.error_log()
    line = [l for l in log.splitlines() if "lua: p 1 nil true" in l][0]
    assert line.endswith("lua: p 1 nil true"), "stray value after print's arguments: %r" % line
    n = lx.conf_text.splitlines().index('  luxy.log("warn", "w", 2)') + 1
    assert re.search(r"\[warn\] worker 1: lua: \S*conf\.lua:%d: w 2$" % n, log, re.M), log[-2000:]
    long = [l for l in log.splitlines() if "zzzz" in l][0]
    assert len(long) <= 4096 and re.search(r"\.\.\. \[\d+ more bytes cut\]$", long), long[-80:]


def test_access_line_success_and_retry(env):
    b = env.backend()
    dead = free_port()
    lx = env.luxy("""
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$dead_port", "127.0.0.1:$backend_port", balance = "wrr" }
""", backend_port=b.port, dead_port=dead)
    c = env.client(lx.port)
    for i in range(2):
        assert c.roundtrip("GET", "/r%d" % i).status == 200
    lines = [parse_access(lx.wait_access(lambda l, i=i: "/r%d" % i in l)) for i in range(2)]
    retried = [l for l in lines if l["retries"]]
    assert len(retried) == 1, lines
    r = retried[0]
    assert r["status"] == 200 and r["error"] is None, "a request that succeeded after a retry: %r" % r
    assert r["backend"] == "127.0.0.1:%d" % b.port and r["upstream"] == "app"
    assert r["request"].endswith(" HTTP/1.1") and r["bytes"] > 0


def test_access_line_for_a_rejected_head(env):
    b = env.backend()
    lx = env.luxy(REVERSE, backend_port=b.port)
    c = env.client(lx.port)
    c.send(b"GET /bad path HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.read_response().status == 400
    line = access_for(lx, "/bad path")
    assert line["request"] == "GET /bad path HTTP/1.1", line
    assert line["status"] == 400 and line["error"], line
    c2 = env.client(lx.port)
    c2.send(b"GET /nul\x00 HTTP/1.1\r\n\r\n")
    assert c2.read_response().status == 400
    assert access_for(lx, "/nul?")["request"] == "GET /nul? HTTP/1.1"


def test_access_line_for_a_send_timeout(env):
    big = b"s" * (8 << 20)

    def handler(req, conn):
        conn.respond(200, big, req=req)
    b = env.backend(handler, write_timeout=scaled(20))
    lx = env.luxy(REVERSE + 'timeouts { send = "1s" }\n', backend_port=b.port)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", lx.port))
    s.sendall(b"GET /never-read HTTP/1.1\r\nHost: x\r\n\r\n")
    line = access_for(lx, "/never-read")   # the client reads nothing
    assert line["status"] == 200, line     # the head went out: status as sent
    assert line["error"] == "the client stopped reading (send timeout)", line
    assert line["bytes"] < len(big), "bytes never sent were counted: %r" % line
    s.close()


def test_least_conn_weights_split_sequential_traffic(env):
    bs = [env.backend(name="w%d" % i) for i in (1, 2, 3)]
    lx = env.luxy("""
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { { "127.0.0.1:$p1_port", weight = 1 }, { "127.0.0.1:$p2_port", weight = 2 },
                 { "127.0.0.1:$p3_port", weight = 3 }, balance = "least_conn" }
""", p1_port=bs[0].port, p2_port=bs[1].port, p3_port=bs[2].port)
    c = env.client(lx.port)
    for i in range(60):
        assert c.roundtrip("GET", "/lc%d" % i).status == 200
    assert [len(b.requests) for b in bs] == [10, 20, 30]


def test_upstream_names_use_the_configured_resolver(env, tmp_path):
    b = env.backend()
    dns = env.dns({"app.internal.test": "127.0.0.1"})
    conf = """
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "app.internal.test:$backend_port" }
resolver { servers = { "$dns_addr" }, hosts = false, timeout = "1s", attempts = 1 }
"""
    lx = env.luxy(conf, backend_port=b.port, dns_addr=dns.addr)
    assert env.client(lx.port).roundtrip("GET", "/named").status == 200
    assert dns.count("app.internal.test", 1) >= 1, "the system resolver was asked, not the configured one"
    rc, out = check(tmp_path, conf.replace("$port", str(free_port())).replace("$backend_port", str(b.port))
                    .replace("$dns_addr", dns.addr).replace("app.internal.test", "nowhere.test"))
    assert rc == 1 and "cannot resolve 'nowhere.test'" in out and dns.addr in out, out


# ---------------------------------------------------------------- luxy -t

def test_check_rejects_what_the_start_would(env, tmp_path):
    big = """
lua { memory = "2MB" }
local big = string.rep("x", 4 * 1024 * 1024)
listen { "127.0.0.1:%d", mode = "forward" }
""" % free_port()
    rc, out = check(tmp_path, big)
    assert rc == 1 and "not enough memory" in out and "check.lua" in out, out
    rc, out = check(tmp_path, 'logs { access = "%s/no/such/dir/a.log" }\nlisten { "127.0.0.1:%d", mode = "forward" }\n'
                    % (tmp_path, free_port()))
    assert rc == 1 and "check.lua:1: logs: cannot open the access log" in out, out
    rc, out = check(tmp_path, '\ntimeout { grace = 1 }\n')
    assert rc == 1 and "check.lua:2: unknown directive 'timeout' (did you mean 'timeouts'?)" in out, out
    rc, out = check(tmp_path, 'while true do end\n')
    assert rc == 1 and "100000000 instructions" in out, out


def test_check_warns_about_misspelled_hooks(env, tmp_path):
    rc, out = check(tmp_path, 'listen { "127.0.0.1:%d", mode = "forward" }\n\nfunction on_reqeust(req) end\n'
                    % free_port())
    assert rc == 0, out
    assert "warning: " in out and "check.lua:3: function 'on_reqeust' is not a hook" in out and \
        "did you mean 'on_request'?" in out, out


def test_start_logs_the_hook_warning(env):
    lx = env.luxy('workers(1)\nlisten { "127.0.0.1:$port", mode = "forward" }\nfunction on_respnose(req, res) end\n')
    lx.wait_error_log("function 'on_respnose' is not a hook")


def test_unrouted_listener_names_itself(env, tmp_path):
    a, b2 = env.backend(), env.backend()
    conf = """
workers(1)
listen { "127.0.0.1:$port", mode = "reverse" }
upstream "a" { "127.0.0.1:$a_port" }
upstream "b" { "127.0.0.1:$b_port" }
function on_request(req)
  if req.path == "/b" then req.upstream = "b" end
end
"""
    lx = env.luxy(conf, a_port=a.port, b_port=b2.port)
    assert env.client(lx.port).roundtrip("GET", "/b").status == 200
    r = env.client(lx.port).roundtrip("GET", "/other")
    assert r.status == 500
    lx.wait_error_log("listen 127.0.0.1:%d has no upstream of its own and on_request chose none" % lx.port)
    rc, out = check(tmp_path, conf.replace("$port", str(free_port())).replace("$a_port", str(a.port))
                    .replace("$b_port", str(b2.port)).replace('req.upstream = "b"', 'req:set_header("X", "b")'))
    assert rc == 1 and "never assigns req.upstream" in out, out


# ---------------------------------------------------------------- signals

SLOW = """
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
logs { error = "$dir/error.log", access = "$dir/access.log" }
timeouts { grace = "10s" }
"""


def slow_backend(env, delay=1.5):
    def handler(req, conn):
        time.sleep(delay if req.path.startswith("/slow") else 0)
        conn.respond(200, b"done", req=req)
    return env.backend(handler)


def test_usr1_and_winch_do_not_kill_and_usr1_reopens_logs(env, tmp_path):
    b = slow_backend(env)
    lx = env.luxy(SLOW, backend_port=b.port, dir=str(tmp_path))
    c = env.client(lx.port)
    c.request("GET", "/slow-usr")
    time.sleep(0.2)
    lx.signal(signal.SIGWINCH)
    os.rename(os.path.join(str(tmp_path), "access.log"), os.path.join(str(tmp_path), "access.log.1"))
    lx.signal(signal.SIGUSR1)
    r = c.read_response()
    assert r.status == 200 and r.body == b"done"
    assert lx.alive()
    wait_for(lambda: os.path.exists(os.path.join(str(tmp_path), "access.log")), what="the reopened access log")
    assert c.roundtrip("GET", "/after-rotate").status == 200
    wait_for(lambda: "/after-rotate" in open(os.path.join(str(tmp_path), "access.log")).read(),
             what="a line in the new access log")
    err = open(os.path.join(str(tmp_path), "error.log")).read()
    assert "reopened" in err, err


def test_hup_during_graceful_stop_does_not_cut_it(env, tmp_path):
    b = slow_backend(env, 2.0)
    lx = env.luxy(SLOW, backend_port=b.port, dir=str(tmp_path))
    c = env.client(lx.port)
    c.request("GET", "/slow-hup")
    time.sleep(0.3)
    lx.signal(signal.SIGTERM)
    time.sleep(0.3)
    lx.signal(signal.SIGHUP)
    r = c.read_response()
    assert r.status == 200 and r.body == b"done", "SIGHUP cut the graceful stop short"
    assert lx.wait(10) == 0
    lx.checked = True


def test_quit_stops_gracefully(env, tmp_path):
    b = slow_backend(env, 1.0)
    lx = env.luxy(SLOW, backend_port=b.port, dir=str(tmp_path))
    c = env.client(lx.port)
    c.request("GET", "/slow-quit")
    time.sleep(0.3)
    lx.signal(signal.SIGQUIT)
    r = c.read_response()
    assert r.status == 200
    assert lx.wait(10) == 0
    lx.checked = True


# ---------------------------------------------------------------- log floods

def test_failing_hook_cannot_flood_the_log(env):
    b = env.backend()
    lx = env.luxy(REVERSE + 'function on_request(req) error("always broken") end\n', backend_port=b.port)
    c = env.client(lx.port)
    for i in range(300):
        assert c.roundtrip("GET", "/f%d" % i).status == 500
    assert lx.stop() == 0
    lx.checked = True
    lines = [l for l in lx.error_log().splitlines() if "always broken" in l]
    full = [l for l in lines if "repeated" not in l]
    assert len(full) <= 10, "%d full lines for one repeated error" % len(full)
    summary = [l for l in lines if "repeated" in l]
    assert summary and re.search(r"repeated \d+ more times in the last \d+ s", summary[0]), lines[-3:]
    total = len(full) + sum(int(re.search(r"repeated ([\d,]+)", l).group(1).replace(",", "")) for l in summary)
    assert total >= 300, "some errors were neither written nor counted: %d" % total


def test_dead_backend_cannot_flood_the_log(env):
    lx = env.luxy(REVERSE, backend_port=free_port())
    c = env.client(lx.port)
    for i in range(200):
        assert c.roundtrip("GET", "/d%d" % i).status == 502
    assert lx.stop() == 0
    lx.checked = True
    refused = [l for l in lx.error_log().splitlines() if "refused" in l and "repeated" not in l]
    assert len(refused) <= 12, "%d lines for one dead backend" % len(refused)
    assert "repeated" in lx.error_log()


# ---------------------------------------------------------------- what hooks see

def test_proxy_authorization_is_seen_by_on_request_and_never_forwarded(env):
    b = env.backend()
    lx = env.luxy(REVERSE + """
function on_request(req)
  local auth = req:header("Proxy-Authorization")
  if auth ~= "Basic dXNlcjpwdw==" then
    return req:respond(407, "who are you?\\n", { ["Proxy-Authenticate"] = 'Basic realm="luxy"' })
  end
end
""", backend_port=b.port)
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/no-creds")
    assert r.status == 407 and "Basic" in r.header("Proxy-Authenticate", "")
    r = c.roundtrip("GET", "/creds", headers=[("Proxy-Authorization", "Basic dXNlcjpwdw==")])
    assert r.status == 200, r
    assert b.last().header("Proxy-Authorization") is None, "proxy credentials reached the backend"


def test_on_response_runs_on_luxys_own_errors(env):
    lx = env.luxy("""
workers(1)
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$dead_port" }
function on_request(req)
  if req.path == "/local" then return req:respond(200, "made here\\n") end
end
function on_response(req, res)
  res:set_header("X-Generated", tostring(res.generated))
  if res.status == 502 then
    res.status = 503
    res:set_header("Retry-After", "5")
  end
  if req.path == "/fail" then error("on_response broke") end
end
""", dead_port=free_port())
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/down")
    assert r.status == 503 and r.header("Retry-After") == "5", r
    assert r.header("X-Generated") == "true"
    r = c.roundtrip("GET", "/local")
    assert r.status == 200 and r.header("X-Generated") == "true" and r.body == b"made here\n"
    r = c.roundtrip("GET", "/fail")
    assert r.status == 502, "a failing on_response on luxy's own 502 sends it unchanged: %r" % r
    assert r.header("X-Generated") is None
    lx.wait_error_log("on_response failed on a 502 made by luxy")


def test_builtin_module_luxy_util(env):
    b = env.backend()
    lx = env.luxy(REVERSE + """
local util = require "luxy.util"
function on_request(req)
  local q = util.query(req.query)
  return req:respond(200, table.concat({
    util.trim("  a b  "), #util.split("a,,b", ","), q.x, tostring(util.cookie(req, "sid")),
    tostring(util.starts_with(req.path, "/u")), util.fnv1a("luxy") }, "|"))
end
""", backend_port=b.port)
    r = env.client(lx.port).roundtrip("GET", "/util?x=a%20b+c&x=2", headers=[("Cookie", "a=1; sid=\"s9\"")])
    assert r.body == b"a b|3|a b c|s9|true|%d" % fnv1a(b"luxy"), r.body


def fnv1a(data):
    h = 2166136261
    for c in data:
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h


def test_hook_errors_name_the_hook_and_its_line(env):
    b = env.backend()
    lx = env.luxy(REVERSE + """
lua { memory = "8MB" }
function on_request(req)
  local t = {}
  while true do t[#t + 1] = string.rep("m", 1000) .. #t end
end
""", backend_port=b.port)
    assert env.client(lx.port).roundtrip("GET", "/oom").status == 500
    line = lx.conf_text.splitlines().index("function on_request(req)") + 1
    lx.wait_error_log("on_request (")
    log = lx.error_log()
    assert re.search(r"on_request \(\S*conf\.lua:%d\) failed: not enough memory" % line, log), log[-1500:]
    assert "[C]: in ?" not in log, "the C entry frame is noise in the log"
