"""Access logs (docs/operations.md, Logs): the three formats over real
requests, several logs at once, request ids (made, taken from trusted
peers, replaced from others, sent to the backend and back to the client,
off for forward proxies), on_log, and reopening the files under load
without losing or doubling a line."""

import json
import os
import re
import signal
import subprocess
import threading
import time

from luxyharness import LUXY_BIN, Client, free_port, luxy_command, run_check, scaled, wait_for

ID_RE = re.compile(r"^[0-9a-f]{32}$")

# 2026-12-01T12:00:00.123Z
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# 127.0.0.1 - - [01/Dec/2026:12:00:00 +0000] "GET /x HTTP/1.1" 200 5 "-" "curl/8"
COMBINED_RE = re.compile(r'^(\S+) - (\S+) \[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) \+0000\] '
                         r'"([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$')

# the luxy line (docs/config.md, logs), with the items test_operator.py leaves optional
LUXY_RE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) "([^"]*)" (\d{3}) (\d+) '
                     r'upstream=(\S+) backend=(\S+) (\d+\.\d{3})s( retries=\d+)?( user=\S+)?( error="[^"]*")?'
                     r'( connect_time=(\d+\.\d{3})s)?( ttfb=(\d+\.\d{3})s)?( cache=(\S+))?( request_id=(\S+))?$')

JSON_KEYS = {"time", "client", "user", "method", "target", "version", "status", "bytes_sent",
             "request_bytes", "duration", "connect_time", "ttfb", "upstream", "backend", "retries",
             "cache", "request_id", "error", "listener", "user_agent", "referer"}


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    assert not data or data.endswith(b"\n"), "%s ends in the middle of a line: %r" % (path, data[-200:])
    return data.decode("utf-8").splitlines()


def json_lines(path):
    out = []
    for line in read_lines(path):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            raise AssertionError("not a JSON line in %s: %r (%s)" % (path, line, e))
    return out


def wait_lines(path, n, what=None, parse=read_lines):
    """The parsed lines of path once it has at least n (the writer is a thread)."""
    return wait_for(lambda: (lambda ls: ls if len(ls) >= n else None)(parse(path)),
                    what=what or "%d lines in %s" % (n, path))


def by_target(entries, target):
    found = [e for e in entries if e["target"] == target]
    assert len(found) == 1, "%d lines for %s: %r" % (len(found), target, entries)
    return found[0]


def check_timings(e, slow=0.0):
    """Timings are numbers >= 0, ordered: the connect is part of the time
    to the first byte, which is part of the whole."""
    assert isinstance(e["duration"], float) and e["duration"] >= 0, e
    if e["connect_time"] is None:
        assert e["ttfb"] is None, e
        return
    assert 0 <= e["connect_time"] <= e["ttfb"] <= e["duration"], e
    assert e["ttfb"] >= slow, "the backend waited %.1fs before answering: %r" % (slow, e)


# ---------------------------------------------------------------- formats

REVERSE_LOGS = """
workers(1)
logs { level = "info", access = $access }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app"$listen_extra }
upstream "app" { $servers }
$extra
"""


def reverse(env, tmp_path, access, backend=None, listen_extra="", extra="", servers=None, **kw):
    b = backend or env.backend()
    lx = env.luxy(REVERSE_LOGS, access=access, listen_extra=listen_extra, extra=extra,
                  servers=servers or '"127.0.0.1:%d"' % b.port, **kw)
    return b, lx


def test_json_fields_miss_hit_and_timings(env, tmp_path):
    def handler(req, conn):
        if req.path == "/slow":
            time.sleep(0.3)
        if req.path == "/cached":
            conn.respond(200, b"cached body", [("Cache-Control", "max-age=300")], req=req)
        elif req.method == "POST":
            conn.respond(201, b"got %d" % len(req.body), req=req)
        else:
            conn.respond(200, b"plain " + req.path.encode(), req=req)
    b = env.backend(handler)
    path = os.path.join(str(tmp_path), "access.json")
    _, lx = reverse(env, tmp_path, '{ "%s", format = "json" }' % path, backend=b,
                    extra='cache { size = "4MB" }')
    c = env.client(lx.port)
    r1 = c.roundtrip("GET", "/cached", headers=[("User-Agent", "tester/1.0"), ("Referer", "http://r.example/")])
    r2 = c.roundtrip("GET", "/cached")
    r3 = c.roundtrip("GET", "/slow")
    r4 = c.roundtrip("POST", "/post", body=b"p" * 1000)
    assert [r.status for r in (r1, r2, r3, r4)] == [200, 200, 200, 201]
    assert len([q for q in b.requests if q.path == "/cached"]) == 1, "the second /cached was a hit"
    lines = wait_lines(path, 4, parse=json_lines)
    assert len(lines) == 4, lines
    for e in lines:
        assert set(e) == JSON_KEYS, "the documented keys, no more, no less: %r" % sorted(e)
        assert ISO_RE.match(e["time"]), e
        assert e["client"] == "127.0.0.1" and e["user"] is None and e["error"] is None, e
        assert e["version"] == "1.1" and e["listener"] == "127.0.0.1:%d" % lx.port, e
        assert ID_RE.match(e["request_id"]), e
        assert isinstance(e["retries"], int) and e["retries"] == 0, e
        check_timings(e)

    miss, hit = lines[0], lines[1]
    assert miss["method"] == "GET" and miss["target"] == "/cached" and miss["status"] == 200, miss
    assert miss["bytes_sent"] == len(b"cached body") and miss["request_bytes"] == 0, miss
    assert miss["cache"] == "MISS" and miss["upstream"] == "app", miss
    assert miss["backend"] == "127.0.0.1:%d" % b.port, miss
    assert miss["connect_time"] is not None, "the miss connected to the backend: %r" % miss
    assert miss["user_agent"] == "tester/1.0" and miss["referer"] == "http://r.example/", miss
    assert miss["request_id"] == r1.header("X-Request-Id"), "the logged id is the one the client got"

    assert hit["cache"] == "HIT" and hit["status"] == 200 and hit["bytes_sent"] == len(b"cached body"), hit
    assert hit["upstream"] is None and hit["backend"] is None, "a hit asked no backend: %r" % hit
    assert hit["connect_time"] is None and hit["ttfb"] is None, hit
    assert hit["user_agent"] is None and hit["referer"] is None, "absent fields are null: %r" % hit
    assert hit["request_id"] == r2.header("X-Request-Id") != miss["request_id"], hit

    slow = lines[2]
    assert slow["target"] == "/slow" and slow["cache"] == "MISS", slow
    check_timings(slow, slow=0.3)
    assert slow["connect_time"] == 0, "the second exchange reused the pooled connection: %r" % slow

    post = lines[3]
    assert post["method"] == "POST" and post["status"] == 201 and post["request_bytes"] == 1000, post
    assert post["bytes_sent"] == len(b"got 1000") and post["cache"] == "BYPASS", post


def test_json_retries_errors_and_hostile_bytes(env, tmp_path):
    b = env.backend()
    dead = free_port()
    path = os.path.join(str(tmp_path), "a.json")
    _, lx = reverse(env, tmp_path, '"%s", access_format = "json"' % path, backend=b,
                    servers='"127.0.0.1:%d", "127.0.0.1:%d", balance = "wrr"' % (dead, b.port))
    c = env.client(lx.port)
    for i in range(2):
        assert c.roundtrip("GET", "/r%d" % i).status == 200
    ua = 'q"uo\\te \t caf\xc3\xa9 \xff'
    c.send(b"GET /odd HTTP/1.1\r\nHost: x\r\nUser-Agent: " + ua.encode("latin-1") + b"\r\n\r\n")
    assert c.read_response().status == 200
    bad = env.client(lx.port)
    bad.send(b"GET /bad path HTTP/1.1\r\nHost: x\r\n\r\n")
    assert bad.read_response().status == 400
    lines = wait_lines(path, 4, parse=json_lines)
    retried = [e for e in lines[:2] if e["retries"]]
    assert len(retried) == 1 and retried[0]["retries"] == 1, lines
    assert retried[0]["status"] == 200 and retried[0]["backend"] == "127.0.0.1:%d" % b.port, retried
    assert retried[0]["error"] is None, "a retry that succeeded is no error: %r" % retried
    odd = by_target(lines, "/odd")
    # printable ASCII as it is, a tab escaped, valid UTF-8 kept, a stray byte as U+FFFD
    assert odd["user_agent"] == 'q"uo\\te \t caf\u00e9 \ufffd', odd["user_agent"]
    rejected = [e for e in lines if e["status"] == 400]
    assert len(rejected) == 1 and rejected[0]["error"] and rejected[0]["method"] is None, rejected
    assert rejected[0]["target"] == "GET /bad path HTTP/1.1", "an unread head: its first line: %r" % rejected


def test_combined_format(env, tmp_path):
    path = os.path.join(str(tmp_path), "access.clf")
    b, lx = reverse(env, tmp_path, '{ "%s", format = "combined" }' % path)
    c = env.client(lx.port)
    t0 = time.gmtime()
    r = c.roundtrip("GET", "/c?x=1", headers=[("User-Agent", 'Mozilla/5.0 "quoted"'),
                                              ("Referer", "http://ref.example/p")])
    assert r.status == 200
    assert c.roundtrip("HEAD", "/h").status == 200
    lines = wait_lines(path, 2)
    m = COMBINED_RE.match(lines[0])
    assert m, "not the combined format: %r" % lines[0]
    client, user, day, mon, year, hh, mm, ss, request, status, size, referer, agent = m.groups()
    assert client == "127.0.0.1" and user == "-"
    logged = time.strptime("%s/%s/%s:%s:%s:%s" % (day, mon, year, hh, mm, ss), "%d/%b/%Y:%H:%M:%S")
    assert abs(time.mktime(logged) - time.mktime(t0)) < 60, "the time is UTC, now: %r" % lines[0]
    assert request == "GET /c?x=1 HTTP/1.1" and status == "200" and int(size) == len(r.body) > 0
    assert referer == "http://ref.example/p"
    assert agent == r"Mozilla/5.0 \x22quoted\x22", "quotes escaped as nginx escapes them: %r" % agent
    m = COMBINED_RE.match(lines[1])
    assert m, lines[1]
    assert m.group(9) == "HEAD /h HTTP/1.1" and m.group(11) == "0", "a HEAD sends no body bytes"
    assert m.group(12) == "-" and m.group(13) == "-", "absent Referer and User-Agent are \"-\""


def test_luxy_format_has_the_new_items(env, tmp_path):
    path = os.path.join(str(tmp_path), "access.log")

    def handler(req, conn):
        conn.respond(200, b"x" * 10, [("Cache-Control", "max-age=60")], req=req)
    b = env.backend(handler)
    _, lx = reverse(env, tmp_path, '"%s"' % path, backend=b, extra='cache { size = "4MB" }')
    c = env.client(lx.port)
    r1 = c.roundtrip("GET", "/l")
    r2 = c.roundtrip("GET", "/l")
    lines = wait_lines(path, 2)
    got = []
    for line in lines:
        m = LUXY_RE.match(line)
        assert m, "not the luxy line: %r" % line
        got.append(m)
    assert got[0].group(17) == "MISS" and got[1].group(17) == "HIT", lines
    assert got[0].group(13) is not None and got[0].group(15) is not None, "a miss has connect_time and ttfb"
    assert float(got[0].group(13)) <= float(got[0].group(15)) <= float(got[0].group(8)), lines[0]
    assert got[1].group(12) is None and got[1].group(6) == "-" and got[1].group(7) == "-", \
        "a hit: no upstream, no backend, no timings: %r" % lines[1]
    assert got[0].group(19) == r1.header("X-Request-Id") and got[1].group(19) == r2.header("X-Request-Id")


def test_several_logs_at_once(env, tmp_path):
    d = str(tmp_path)
    access = '{ "%s/a.log", { "%s/a.clf", format = "combined" }, { "%s/a.json", format = "json" }, "stdout" }' \
        % (d, d, d)
    b, lx = reverse(env, tmp_path, access)
    c = env.client(lx.port)
    ids = []
    for i in range(5):
        r = c.roundtrip("GET", "/m%d" % i, headers=[("User-Agent", "ua-%d" % i)])
        assert r.status == 200
        ids.append(r.header("X-Request-Id"))
    luxy_lines = wait_lines(d + "/a.log", 5)
    clf = wait_lines(d + "/a.clf", 5)
    js = wait_lines(d + "/a.json", 5, parse=json_lines)
    out = wait_for(lambda: (lambda ls: ls if len(ls) >= 5 else None)(lx.access_lines()), what="stdout lines")
    assert len(luxy_lines) == len(clf) == len(js) == len(out) == 5
    assert out == luxy_lines, "stdout and a.log share their format"
    for i in range(5):
        m = LUXY_RE.match(luxy_lines[i])
        assert m and m.group(3) == "GET /m%d HTTP/1.1" % i and m.group(19) == ids[i], luxy_lines[i]
        m = COMBINED_RE.match(clf[i])
        assert m and m.group(9) == "GET /m%d HTTP/1.1" % i and m.group(13) == "ua-%d" % i, clf[i]
        assert js[i]["target"] == "/m%d" % i and js[i]["request_id"] == ids[i], js[i]
    assert len(set(ids)) == 5


def test_access_format_alone_is_json_on_stdout(env, tmp_path):
    b, lx = reverse(env, tmp_path, 'nil, access_format = "json"')
    r = env.client(lx.port).roundtrip("GET", "/std")
    line = wait_for(lambda: (lambda ls: ls[0] if ls else None)(lx.access_lines()), what="a line on stdout")
    e = json.loads(line)
    assert e["target"] == "/std" and e["status"] == 200 and e["request_id"] == r.header("X-Request-Id"), e


def test_log_configuration_errors(env, tmp_path):
    port = free_port()

    def check(logs, listen=""):
        path = os.path.join(str(tmp_path), "check.lua")
        with open(path, "w") as f:
            f.write('logs { %s }\nlisten { "127.0.0.1:%d", mode = "reverse", upstream = "app"%s }\n'
                    'upstream "app" { "127.0.0.1:9" }\n' % (logs, port, listen))
        return run_check(["-c", path])
    d = str(tmp_path)
    rc, out = check('access = { "%s/x.log", format = "xml" }' % d)
    assert rc == 1 and 'access.format must be "luxy", "combined" or "json"' in out, out
    rc, out = check('access = { "%s/x.log", { "%s/x.log", format = "json" } }' % (d, d))
    assert rc == 1 and "listed twice" in out, out
    rc, out = check('access = false, access_format = "json"')
    assert rc == 1 and "there is no access log" in out, out
    rc, out = check('access = {}')
    assert rc == 1 and "empty list" in out, out
    rc, out = check('access = "%s/ok.log"' % d, ', request_id = "Host"')
    assert rc == 1 and "request_id cannot be Host" in out, out
    rc, out = check('access = { "%s/ok.log", { "%s/ok.json", format = "json" } }' % (d, d),
                    ', request_id = "X-Trace-Id"')
    assert rc == 0, out


# ---------------------------------------------------------------- request ids

def test_request_id_made_sent_upstream_and_returned(env, tmp_path):
    path = os.path.join(str(tmp_path), "a.json")
    b, lx = reverse(env, tmp_path, '"%s", access_format = "json"' % path, extra="""
function on_request(req)
  if req.path == "/local" then return req:respond(200, "id " .. req.id) end
end
""")
    c = env.client(lx.port)
    seen = []
    for i in range(3):
        r = c.roundtrip("GET", "/g%d" % i, headers=[("X-Request-Id", "client-chosen-%d" % i)])
        assert r.status == 200
        rid = r.header("X-Request-Id")
        assert ID_RE.match(rid or ""), "an untrusted client's id is replaced by a new one: %r" % rid
        up = b.requests[-1].headers.get_all("X-Request-Id")
        assert up == [rid], "the backend gets exactly the id the client gets back: %r vs %r" % (up, rid)
        assert len(r.headers.get_all("X-Request-Id")) == 1
        seen.append(rid)
    assert len(set(seen)) == 3, "a new id per request"
    r = c.roundtrip("GET", "/local")
    local_id = r.header("X-Request-Id")
    assert r.body == ("id " + local_id).encode(), "req.id is the id the client gets"
    lx_dead = env.luxy(REVERSE_LOGS, access="false", listen_extra="", extra="",
                       servers='"127.0.0.1:%d"' % free_port())
    r = env.client(lx_dead.port).roundtrip("GET", "/down")
    assert r.status == 502 and ID_RE.match(r.header("X-Request-Id") or ""), "luxy's own error pages carry it"
    lines = wait_lines(path, 4, parse=json_lines)
    assert [e["request_id"] for e in lines] == seen + [local_id], "the log has the ids the clients got"
    assert lines[3]["target"] == "/local" and lines[3]["status"] == 200


def test_request_id_from_trusted_peers_only(env, tmp_path):
    b = env.backend()
    trusted = env.luxy(REVERSE_LOGS, access="false", listen_extra=', trusted_proxies = { "127.0.0.1" }',
                       extra="", servers='"127.0.0.1:%d"' % b.port)
    untrusted = env.luxy(REVERSE_LOGS, access="false", listen_extra=', trusted_proxies = { "10.0.0.0/8" }',
                         extra="", servers='"127.0.0.1:%d"' % b.port)
    c = env.client(trusted.port)
    r = c.roundtrip("GET", "/t", headers=[("X-Request-Id", "  Root=1-abc-def_01.2:3  ")])
    assert r.header("X-Request-Id") == "Root=1-abc-def_01.2:3", "a trusted peer's id is kept (trimmed)"
    assert b.last().headers.get_all("X-Request-Id") == ["Root=1-abc-def_01.2:3"]
    for bad in ('has space', 'quo"te', 'a,b', "x" * 129):
        r = c.roundtrip("GET", "/t-bad", headers=[("X-Request-Id", bad)])
        rid = r.header("X-Request-Id")
        assert ID_RE.match(rid), "a trusted peer's malformed id %r is replaced: %r" % (bad, rid)
        assert b.last().headers.get_all("X-Request-Id") == [rid]
    r = c.roundtrip("GET", "/t-two", headers=[("X-Request-Id", "first-1"), ("X-Request-Id", "second-2")])
    assert r.header("X-Request-Id") == "first-1" and b.last().headers.get_all("X-Request-Id") == ["first-1"]
    c2 = env.client(untrusted.port)
    r = c2.roundtrip("GET", "/u", headers=[("X-Request-Id", "Root=1-abc-def")])
    rid = r.header("X-Request-Id")
    assert ID_RE.match(rid), "an untrusted peer's id is replaced: %r" % rid
    assert b.last().headers.get_all("X-Request-Id") == [rid], "and never reaches the backend"


def test_request_id_field_name_and_off(env, tmp_path):
    def handler(req, conn):  # a backend that sends an id of its own
        conn.respond(200, b"ok", [("X-Trace-Id", "from-backend"), ("X-Request-Id", "backend-rid")], req=req)
    b = env.backend(handler)
    named = env.luxy(REVERSE_LOGS, access="false", listen_extra=', request_id = "X-Trace-Id"', extra="",
                     servers='"127.0.0.1:%d"' % b.port)
    r = env.client(named.port).roundtrip("GET", "/n", headers=[("X-Trace-Id", "client")])
    rid = r.header("X-Trace-Id")
    assert ID_RE.match(rid), "the client gets the request's id, not the backend's: %r" % rid
    assert r.headers.get_all("X-Trace-Id") == [rid]
    assert b.last().headers.get_all("X-Trace-Id") == [rid]
    assert r.header("X-Request-Id") == "backend-rid", "X-Request-Id is an ordinary field here"
    off = env.luxy(REVERSE_LOGS, access='{ "%s/off.json", format = "json" }' % tmp_path,
                   listen_extra=", request_id = false", extra="", servers='"127.0.0.1:%d"' % b.port)
    r = env.client(off.port).roundtrip("GET", "/off", headers=[("X-Request-Id", "mine")])
    assert b.last().headers.get_all("X-Request-Id") == ["mine"], "request_id = false: luxy does not touch it"
    assert r.header("X-Request-Id") == "backend-rid"
    e = wait_lines(os.path.join(str(tmp_path), "off.json"), 1, parse=json_lines)[0]
    assert e["request_id"] is None, e


FORWARD_LOGS = """
workers(1)
logs { access = { "$dir/f.json", format = "json" } }
listen { "127.0.0.1:$port", mode = "forward"$listen_extra }
$extra
"""


def test_forward_proxies_add_no_id_unless_told(env, tmp_path):
    b = env.backend()
    lx = env.luxy(FORWARD_LOGS, dir=str(tmp_path), listen_extra="", extra="")
    c = env.client(lx.port)
    url = "http://127.0.0.1:%d/f" % b.port
    r = c.roundtrip("GET", url)
    assert r.status == 200 and r.header("X-Request-Id") is None, "no id to the client"
    assert b.last().header("X-Request-Id") is None, "a forward proxy adds no identifying field toward origins"
    r = c.roundtrip("GET", url, headers=[("X-Request-Id", "the-clients-own")])
    assert b.last().headers.get_all("X-Request-Id") == ["the-clients-own"], "a client's own field is its business"
    lines = wait_lines(os.path.join(str(tmp_path), "f.json"), 2, parse=json_lines)
    assert all(e["request_id"] is None and e["upstream"] is None for e in lines), lines
    assert lines[0]["backend"] == "127.0.0.1:%d" % b.port and lines[0]["target"] == url, lines[0]

    on = env.luxy(FORWARD_LOGS.replace("f.json", "f2.json"), dir=str(tmp_path), listen_extra=", request_id = true",
                  extra="")
    r = env.client(on.port).roundtrip("GET", url, headers=[("X-Request-Id", "spoofed")])
    rid = r.header("X-Request-Id")
    assert ID_RE.match(rid or "") and b.last().headers.get_all("X-Request-Id") == [rid], \
        "request_id = true: the forward listener gives ids like a reverse one"
    port = free_port()
    path = os.path.join(str(tmp_path), "elite.lua")
    with open(path, "w") as f:
        f.write('listen { "127.0.0.1:%d", mode = "forward", anonymity = "elite", request_id = true }\n' % port)
    rc, out = run_check(["-c", path])
    assert rc == 1 and 'request_id means nothing with anonymity = "elite"' in out, out


def test_request_id_stays_inside_for_a_request_switched_to_elite(env, tmp_path):
    b = env.backend()
    lx = env.luxy(FORWARD_LOGS, dir=str(tmp_path), listen_extra=", request_id = true", extra="""
function on_request(req)
  if req.path == "/elite" then req.anonymity = "elite" end
end
function on_log(req, res, info)
  luxy.log("info", "ONLOG " .. req.path .. " " .. tostring(req.id) .. " " .. tostring(info.request_id))
end
""")
    c = env.client(lx.port)
    r = c.roundtrip("GET", "http://127.0.0.1:%d/elite" % b.port, headers=[("X-Request-Id", "x-1")])
    assert r.status == 200 and r.header("X-Request-Id") is None
    assert b.last().header("X-Request-Id") is None, "elite hides that a proxy is involved"
    line = lx.wait_error_log("ONLOG /elite ")
    m = re.search(r"ONLOG /elite (\S+) (\S+)", lx.error_log())
    assert ID_RE.match(m.group(1)) and m.group(1) == m.group(2), "the id still exists inside luxy: %r" % line


def test_request_id_on_a_tunnel_and_its_json_line(env, tmp_path):
    echo = env.echo()
    lx = env.luxy(FORWARD_LOGS, dir=str(tmp_path), listen_extra=", connect_ports = { %d }" % echo.port,
                  extra="")
    c = env.client(lx.port)
    c.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (echo.port, echo.port))
    r = c.read_response(method="CONNECT")
    assert r.status == 200 and r.header("X-Request-Id") is None
    c.send(b"hello")
    assert c.reader.read_exact(5) == b"hello"
    c.shutdown_write()
    assert c.reader.read_until_close() == b"<EOF-SEEN>"  # the echo server's goodbye
    c.close()
    e = wait_lines(os.path.join(str(tmp_path), "f.json"), 1, parse=json_lines)[0]
    assert e["method"] == "CONNECT" and e["status"] == 200, e
    # down: what reached the client, luxy's 200 head included (as the luxy line counts it)
    assert e["tunnel"]["bytes_up"] == 5 and e["tunnel"]["bytes_down"] == len(r.head + b"hello<EOF-SEEN>"), e
    assert e["bytes_sent"] == e["tunnel"]["bytes_down"] and e["tunnel"]["end"], e
    assert set(e) == JSON_KEYS | {"tunnel"}, sorted(e)


# ---------------------------------------------------------------- on_log

ONLOG = REVERSE_LOGS


def onlog_lines(lx, n):
    pat = re.compile(r"ONLOG (.*)$", re.M)
    try:
        found = wait_for(lambda: (lambda m: m if len(m) >= n else None)(pat.findall(lx.error_log())),
                         what="%d ONLOG lines" % n)
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, lx.describe()))
    return [dict(kv.split("=", 1) for kv in line.split("|")) for line in found]


def test_on_log_sees_req_res_and_info(env, tmp_path):
    def handler(req, conn):
        conn.respond(200, b"hello", [("X-From", "backend"), ("Cache-Control", "max-age=60")], req=req)
    b = env.backend(handler)
    _, lx = reverse(env, tmp_path, "false", backend=b, extra="""
cache { size = "4MB" }
function on_request(req)
  req.ctx.mark = "set-in-on_request"
  if req.path == "/local" then return req:respond(404, "nothing here") end
end
local function s(v) return v == nil and "nil" or tostring(v) end
function on_log(req, res, info)
  luxy.log("info", "ONLOG " .. table.concat({
    "path=" .. req.path, "method=" .. req.method, "id=" .. s(req.id), "ua=" .. s(req:header("User-Agent")),
    "ctx=" .. s(req.ctx.mark), "res=" .. (res and res.status or "nil"),
    "res_from=" .. (res and s(res:header("X-From")) or "nil"), "generated=" .. (res and s(res.generated) or "nil"),
    "status=" .. info.status, "bytes=" .. info.bytes_sent, "up=" .. s(info.upstream), "be=" .. s(info.backend),
    "retries=" .. info.retries, "cache=" .. s(info.cache), "rid=" .. s(info.request_id),
    "dur=" .. info.duration, "ct=" .. s(info.connect_time), "ttfb=" .. s(info.ttfb), "err=" .. s(info.error),
    "mtype=" .. math.type(info.status) }, "|"))
end
""")
    c = env.client(lx.port)
    r1 = c.roundtrip("GET", "/a", headers=[("User-Agent", "ua-1")])
    r2 = c.roundtrip("GET", "/a")
    r3 = c.roundtrip("GET", "/local")
    assert (r1.status, r2.status, r3.status) == (200, 200, 404)
    gone = env.client(lx.port)  # leaves in the middle of its body
    gone.send(b"POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    gone.close()
    miss, hit, local, left = onlog_lines(lx, 4)
    assert miss["path"] == "/a" and miss["method"] == "GET" and miss["ua"] == "ua-1", miss
    assert miss["ctx"] == "set-in-on_request", "req.ctx carries over to on_log"
    assert miss["id"] == miss["rid"] == r1.header("X-Request-Id"), miss
    assert miss["res"] == "200" and miss["res_from"] == "backend" and miss["generated"] == "false", miss
    assert miss["status"] == "200" and miss["bytes"] == "5" and miss["mtype"] == "integer", miss
    assert miss["up"] == "app" and miss["be"] == "127.0.0.1:%d" % b.port and miss["retries"] == "0", miss
    assert miss["cache"] == "MISS" and miss["err"] == "nil", miss
    assert 0 <= float(miss["ct"]) <= float(miss["ttfb"]) <= float(miss["dur"]), miss
    assert hit["cache"] == "HIT" and hit["res"] == "200" and hit["be"] == "nil" and hit["ct"] == "nil", hit
    assert hit["id"] == r2.header("X-Request-Id") != miss["id"]
    assert local["res"] == "404" and local["generated"] == "true" and local["status"] == "404", local
    assert local["bytes"] == str(len(b"nothing here")) and local["id"] == r3.header("X-Request-Id"), local
    assert left["path"] == "/gone" and left["res"] == "nil" and left["status"] == "499", \
        "a client that left before any response: res is nil, status 499: %r" % left
    assert left["err"] != "nil", left


def test_on_log_cannot_change_anything_and_fails_open(env, tmp_path):
    path = os.path.join(str(tmp_path), "a.log")
    b, lx = reverse(env, tmp_path, '"%s"' % path, extra="""
local attempts = {
  function(req, res) req:set_header("X-A", "1") end,
  function(req, res) req:del_header("Host") end,
  function(req, res) req.path = "/elsewhere" end,
  function(req, res) req.upstream = "app" end,
  function(req, res) req:respond(500, "no") end,
  function(req, res) res:set_header("X-A", "1") end,
  function(req, res) res.status = 503 end,
}
function on_log(req, res, info)
  if req.path == "/try" then
    for i, f in ipairs(attempts) do
      local ok, err = pcall(f, req, res)
      luxy.log("info", "ATTEMPT " .. i .. " " .. tostring(ok) .. " " .. tostring(err))
    end
  elseif req.path == "/error" then
    error("on_log broke on purpose")
  elseif req.path == "/spin" then
    while true do end
  end
end
""")
    c = env.client(lx.port)
    r = c.roundtrip("GET", "/try")
    assert r.status == 200 and r.body == b"GET /try\n" and r.header("X-A") is None
    log = wait_for(lambda: (lambda t: t if t.count("ATTEMPT ") >= 7 else None)(lx.error_log()),
                   what="7 ATTEMPT lines")
    attempts = re.findall(r"ATTEMPT (\d) (\w+) (.*)$", log, re.M)
    assert len(attempts) == 7, attempts
    for i, ok, err in attempts:
        assert ok == "false" and "not allowed in on_log" in err, "attempt %s: %s %s" % (i, ok, err)
    for target in ("/error", "/spin", "/error"):
        r = c.roundtrip("GET", target)  # the same keep-alive connection each time
        assert r.status == 200 and r.body == ("GET %s\n" % target).encode(), \
            "a failing on_log leaves the request alone: %r" % r
    lx.wait_error_log("on_log broke on purpose")
    wait_for(lambda: re.search(r"on_log \(\S*conf\.lua:\d+\) failed: .*(instructions|time)", lx.error_log()),
             what="the budget overrun in the error log")
    assert c.roundtrip("GET", "/after").status == 200
    lines = wait_lines(path, 5)
    assert [LUXY_RE.match(l).group(4) for l in lines] == ["200"] * 5, "the access log says 200 each time"
    assert all(b.requests[i].header("X-A") is None for i in range(len(b.requests)))


# ---------------------------------------------------------------- reopen

ROTATE = """
workers(2)
pid "$dir/luxy.pid"
logs { error = "$dir/error.log", access = { "$dir/access.log", { "$dir/access.json", format = "json" } } }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
"""


def test_reopen_under_load_loses_no_line(env, tmp_path):
    d = str(tmp_path)
    b = env.backend(lambda req, conn: conn.respond(200, b"ok", req=req), store_body=False)
    lx = env.luxy(ROTATE, backend_port=b.port, dir=d)
    stop = threading.Event()
    sent = []
    failures = []
    lock = threading.Lock()

    def load(k):
        c = Client(lx.port, timeout=scaled(10))
        deadline = time.monotonic() + scaled(40)  # bounded in time and in count
        n = 0
        while not stop.is_set() and n < 3000 and time.monotonic() < deadline:
            target = "/k%d-%d" % (k, n)
            try:
                r = c.roundtrip("GET", target)
            except Exception as e:
                failures.append("%s: %r" % (target, e))
                return
            if r.status != 200:
                failures.append("%s: %d" % (target, r.status))
            with lock:
                sent.append(target)
            n += 1
        c.close()
    threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    rotations = 6
    for i in range(1, rotations + 1):
        before = len(sent)
        wait_for(lambda: len(sent) >= before + 50, what="load between two rotations")
        for name in ("access.log", "access.json", "error.log"):
            os.rename(os.path.join(d, name), os.path.join(d, "%s.%d" % (name, i)))
        if i % 2:
            lx.signal(signal.SIGUSR1)
        else:
            p = subprocess.run(luxy_command(["-s", "reopen", "-c", lx.conf_path]), capture_output=True,
                               text=True, timeout=scaled(30))
            assert p.returncode == 0, p.stderr
        for name in ("access.log", "access.json", "error.log"):
            wait_for(lambda name=name: os.path.exists(os.path.join(d, name)), what="%s reopened" % name)
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(scaled(30))
    assert not failures, failures[:5]
    total = len(sent)
    assert total >= 6 * 50, "the load ran: %d requests" % total

    def files(stem):
        return [os.path.join(d, "%s.%d" % (stem, i)) for i in range(1, rotations + 1)] + [os.path.join(d, stem)]

    def count(stem, parse):
        return sum(len(parse(p)) for p in files(stem))
    wait_for(lambda: count("access.log", read_lines) >= total and count("access.json", json_lines) >= total,
             what="%d lines in each format" % total)
    assert lx.stop() == 0
    lx.checked = True
    luxy_targets, json_targets, per_file = [], [], []
    for p in files("access.log"):
        lines = read_lines(p)
        per_file.append(len(lines))
        for line in lines:
            m = LUXY_RE.match(line)
            assert m, "a torn or foreign line in %s: %r" % (p, line)
            luxy_targets.append(m.group(3).split(" ")[1])
    for p in files("access.json"):
        json_targets += [e["target"] for e in json_lines(p)]
    for name, got in (("access.log", luxy_targets), ("access.json", json_targets)):
        assert len(got) == total, "%s: %d lines for %d requests" % (name, len(got), total)
        assert sorted(got) == sorted(sent), "%s: every request exactly once across the files" % name
    assert sum(1 for n in per_file[:-1] if n > 0) >= rotations - 1, \
        "lines went to the rotated files while the load ran: %r" % per_file
    assert per_file[-1] > 0, "the last file got lines after the last reopen: %r" % per_file
    for i in range(1, rotations + 1):
        err = read_lines(os.path.join(d, "error.log.%d" % i)) if i > 1 else []
        assert i == 1 or any("reopened %s/access.json" % d in l for l in err), \
            "error.log.%d says the logs were reopened: %r" % (i, err[-5:])
    new_err = read_lines(os.path.join(d, "error.log"))
    assert any("reopened %s/error.log" % d in l for l in new_err), new_err[-5:]
