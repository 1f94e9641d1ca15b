"""The admin listener (listen { ..., mode = "admin" }): GET /metrics in the
Prometheus text format, read by a strict parser written here, with
counters that match the traffic sent exactly; the JSON API (every
endpoint, POST reload and purge, the token, method and path errors, the
Host and Origin checks, body limits); the configuration rules; and the
status page in real headless Chromium (test_status_page_in_chromium),
driven over the DevTools protocol with a websocket client made of the
standard library."""

import base64
import json
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

from luxyharness import REPO, Client, run_check, scaled, wait_for

TOKEN = "s3cret-token-for-tests_0123456789"


# ---------------------------------------------------------------- a strict Prometheus text parser

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(AssertionError):
    pass


def _parse_value(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.match(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\Z", text):
        raise PromError("%s: %r is not a number" % (where, text))
    return float(text)


def _parse_labels(s, i, where):
    """s[i] is '{'; returns ({name: value}, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i >= len(s):
            raise PromError("%s: labels not closed" % where)
        if s[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
        if not m:
            raise PromError("%s: bad label name at %r" % (where, s[i:i + 20]))
        name = m.group(0)
        if name.startswith("__"):
            raise PromError("%s: label %s is reserved" % (where, name))
        i = m.end()
        if s[i:i + 2] != '="':
            raise PromError("%s: label %s without =\"" % (where, name))
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise PromError("%s: label value not closed" % where)
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ('\\', '"', 'n'):
                    raise PromError("%s: bad escape \\%s" % (where, nxt))
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise PromError("%s: raw newline in a label value" % where)
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise PromError("%s: label %s twice" % (where, name))
        labels[name] = "".join(val)
        if i < len(s) and s[i] == ",":
            i += 1
        elif i < len(s) and s[i] != "}":
            raise PromError("%s: expected , or } after a label" % where)


def parse_prometheus(text):
    """Parses the text exposition format 0.0.4 strictly. Returns
    (samples {(name, frozenset(labels)): value}, types {family: type}).
    Raises PromError on anything the format does not allow, and on what a
    well-formed exposition must not do: a sample before its family's TYPE,
    a family's samples not contiguous, a series twice, a histogram whose
    buckets are not cumulative or whose +Inf bucket differs from _count,
    a counter below zero."""
    if not text.endswith("\n"):
        raise PromError("the text must end with a newline")
    types, helps, samples, order = {}, {}, {}, []
    done = set()               # families whose samples ended
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d (%r)" % (n, line[:80])
        if line == "":
            raise PromError("%s: empty line" % where)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[0] != "#" or parts[1] not in ("HELP", "TYPE"):
                raise PromError("%s: a comment that is neither HELP nor TYPE" % where)
            name = parts[2]
            if not NAME_RE.match(name):
                raise PromError("%s: bad metric name" % where)
            if parts[1] == "TYPE":
                if len(parts) != 4 or parts[3] not in TYPES:
                    raise PromError("%s: bad type" % where)
                if name in types:
                    raise PromError("%s: TYPE twice for %s" % (where, name))
                if name in done or name == current:
                    raise PromError("%s: TYPE after samples of %s" % (where, name))
                types[name] = parts[3]
            else:
                if name in helps:
                    raise PromError("%s: HELP twice for %s" % (where, name))
                doc = parts[3] if len(parts) == 4 else ""
                if re.search(r"\\[^\\n]", doc):
                    raise PromError("%s: bad escape in HELP" % where)
                helps[name] = doc
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            raise PromError("%s: no metric name" % where)
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, where)
        if line[i:i + 1] != " ":
            raise PromError("%s: expected one space before the value" % where)
        rest = line[i + 1:].split(" ")
        if len(rest) not in (1, 2) or rest[0] == "":
            raise PromError("%s: expected a value (and an optional timestamp)" % where)
        value = _parse_value(rest[0], where)
        if len(rest) == 2 and not re.match(r"-?\d+\Z", rest[1]):
            raise PromError("%s: bad timestamp" % where)
        fam = name
        if name not in types:
            for suf, kinds in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                               ("_count", ("histogram", "summary"))):
                base = name[:-len(suf)]
                if name.endswith(suf) and types.get(base) in kinds:
                    fam = base
                    break
            else:
                raise PromError("%s: sample of %s before (or without) its TYPE" % (where, name))
        if fam != current:
            if fam in done:
                raise PromError("%s: the samples of %s are not together" % (where, fam))
            if current is not None:
                done.add(current)
            current = fam
        t = types[fam]
        if t == "histogram" and name.endswith("_bucket") and "le" not in labels:
            raise PromError("%s: a bucket without le" % where)
        if t == "counter" and not (value >= 0):
            raise PromError("%s: a counter below zero" % where)
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise PromError("%s: the series appears twice" % where)
        samples[key] = value
        order.append((name, labels, value))
    # histograms: cumulative buckets, +Inf == _count, _sum there
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for name, labels, value in order:
            if name == fam + "_bucket":
                rest = frozenset((k, v) for k, v in labels.items() if k != "le")
                groups.setdefault(rest, []).append((_parse_value(labels["le"], fam), value))
        for rest, buckets in groups.items():
            les = [le for le, _ in buckets]
            if les != sorted(les) or len(set(les)) != len(les):
                raise PromError("%s%s: buckets not in increasing le" % (fam, dict(rest)))
            counts = [v for _, v in buckets]
            if counts != sorted(counts):
                raise PromError("%s%s: buckets not cumulative: %s" % (fam, dict(rest), counts))
            if les[-1] != math.inf:
                raise PromError("%s%s: no +Inf bucket" % (fam, dict(rest)))
            cnt = samples.get((fam + "_count", rest))
            if cnt is None or (fam + "_sum", rest) not in samples:
                raise PromError("%s%s: no _count or _sum" % (fam, dict(rest)))
            if cnt != counts[-1]:
                raise PromError("%s%s: +Inf bucket %s != _count %s" % (fam, dict(rest), counts[-1], cnt))
    return samples, types


def test_the_parser_is_strict():
    """The parser must be able to fail, or the tests built on it prove nothing."""
    good = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n'
    assert parse_prometheus(good)[0][("a_total", frozenset({("x", "1")}))] == 3
    bad = [
        good[:-1],                                                  # no final newline
        '# TYPE a_total counter\na_total{x="1"} 3\na_total{x="1"} 4\n',   # a series twice
        'a_total 3\n',                                              # no TYPE
        '# TYPE a_total counter\na_total -1\n',                     # counter < 0
        '# TYPE a counter\na{x="1} 3\n',                            # label value not closed
        '# TYPE a gauge\na{x="\\t"} 3\n',                           # bad escape
        '# TYPE a gauge\na  3\n',                                   # two spaces
        '# TYPE a gauge\na 3x\n',                                   # not a number
        '# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{y="2"} 1\n',   # not contiguous
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',  # no +Inf
        '# WHAT a gauge\n',
        '\n',
    ]
    for text in bad:
        with pytest.raises(PromError):
            parse_prometheus(text)


# ---------------------------------------------------------------- helpers

def admin(port, method, target, headers=None, body=None, host=None, client=None):
    """One request to an admin listener, with a Host it accepts."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    c = client or Client(port)
    try:
        return c.roundtrip(method, target, hs, body, host=host or "127.0.0.1:%d" % port)
    finally:
        if client is None:
            c.close()


def get_json(port, path, headers=None):
    r = admin(port, "GET", path, headers)
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    return json.loads(r.body)


def metrics(port, headers=None):
    r = admin(port, "GET", "/metrics", headers)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    return parse_prometheus(r.body.decode("utf-8"))


def val(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    assert key in samples, "no series %s%s; have: %s" % (
        name, labels, sorted(str(dict(k[1])) for k in samples if k[0] == name))
    return samples[key]


def total(samples, name, **labels):
    """The sum of every series of name whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def app_handler(req, conn):
    if req.path.startswith("/missing"):
        conn.respond(404, b"not here", req=req)
    elif req.path.startswith("/c/"):
        conn.respond(200, b"cacheable " + req.path.encode(), [("Cache-Control", "max-age=300")], req=req)
    elif req.path.startswith("/tagged/"):
        conn.respond(200, b"tagged", [("Cache-Control", "max-age=300"), ("Surrogate-Key", "red")], req=req)
    else:
        conn.respond(200, b"hello " + req.path.encode(), req=req)


CONF = '''workers(2)
logs { access = false }
listen { "127.0.0.1:$port", upstream = "app" }
listen { "127.0.0.1:$fport", upstream = "flaky" }
listen { "127.0.0.1:$gport", upstream = "gone" }
listen { "127.0.0.1:$aport", mode = "admin" }
upstream "app" { "127.0.0.1:$b1port", "127.0.0.1:$b2port" }
upstream "flaky" { "127.0.0.1:$deadport", "127.0.0.1:$b1port", balance = "first" }
upstream "gone" { "127.0.0.1:$deadport" }
cache { size = "4MB" }
function on_request(req) end
'''


def start(env, conf=CONF, **subs):
    b1 = env.backend(app_handler)
    b2 = env.backend(app_handler)
    lx = env.luxy(conf, b1port=b1.port, b2port=b2.port, **subs)
    wait_for(lambda: _accepts(lx.subs["aport"]), what="the admin listener")
    return b1, b2, lx


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- /metrics

def test_metrics_parse_and_match_the_traffic_exactly(env):
    b1, b2, lx = start(env)
    ap = lx.subs["aport"]
    l_app, l_flaky, l_gone = ("127.0.0.1:%d" % lx.subs[k] for k in ("port", "fport", "gport"))
    dead = "127.0.0.1:%d" % lx.subs["deadport"]
    s0, types = metrics(ap)
    assert val(s0, "luxy_requests_total", listener=l_app, status="2xx") == 0
    assert types["luxy_request_duration_seconds"] == "histogram"

    # the traffic: 2xx, 4xx, cached, a failover, a failure
    by_status = {"2xx": 0, "4xx": 0, "5xx": 0}
    body_bytes = 0
    xcache = {}
    held = Client(lx.port)              # a connection kept open
    for i in range(7):
        r = held.roundtrip("GET", "/p%d" % i)
        assert r.status == 200
        by_status["2xx"] += 1
        body_bytes += len(r.body)
        xcache[r.header("X-Cache")] = xcache.get(r.header("X-Cache"), 0) + 1
    for i in range(3):
        r = held.roundtrip("GET", "/missing%d" % i)
        assert r.status == 404
        by_status["4xx"] += 1
        body_bytes += len(r.body)
        xcache[r.header("X-Cache")] = xcache.get(r.header("X-Cache"), 0) + 1
    for i in range(2):                  # MISS, then HIT
        r = held.roundtrip("GET", "/c/one")
        assert r.status == 200
        by_status["2xx"] += 1
        body_bytes += len(r.body)
        xcache[r.header("X-Cache")] = xcache.get(r.header("X-Cache"), 0) + 1
    assert xcache.get("HIT") == 1 and xcache.get("MISS", 0) >= 1, xcache
    c = Client(lx.subs["fport"])
    for i in range(4):                  # the first server refuses: each goes on to b1
        r = c.roundtrip("GET", "/f%d" % i)
        assert r.status == 200
        xcache[r.header("X-Cache")] = xcache.get(r.header("X-Cache"), 0) + 1
    c.close()
    r = Client(lx.subs["gport"]).roundtrip("GET", "/g")
    assert r.status == 502
    xcache[r.header("X-Cache")] = xcache.get(r.header("X-Cache"), 0) + 1

    sent_app = len(b1.requests) + len(b2.requests) - 4   # the flaky ones went to b1
    assert sent_app == 11, "12 requests, one answered from the cache"

    def settled():   # a request is counted once its response is out: the client may be faster
        s, _ = metrics(ap)
        return sum(total(s, "luxy_requests_total", listener=l) for l in (l_app, l_flaky, l_gone)) == 12 + 4 + 1
    wait_for(settled, what="every request counted")
    s, _ = metrics(ap)  # again: one scrape reads the error counters before the listeners'

    for cls in ("1xx", "2xx", "3xx", "4xx", "5xx"):
        assert val(s, "luxy_requests_total", listener=l_app, status=cls) == by_status.get(cls, 0), cls
    assert val(s, "luxy_requests_total", listener=l_flaky, status="2xx") == 4
    assert val(s, "luxy_requests_total", listener=l_gone, status="5xx") == 1
    assert val(s, "luxy_request_duration_seconds_count", listener=l_app) == 12
    assert val(s, "luxy_request_duration_seconds_bucket", listener=l_app, le="+Inf") == 12
    assert val(s, "luxy_response_bytes_total", listener=l_app) == body_bytes

    # per server: exactly what each backend saw, and the refused attempts
    assert val(s, "luxy_upstream_server_requests_total", upstream="app", server=b1.addr) == len(b1.requests) - 4
    assert val(s, "luxy_upstream_server_requests_total", upstream="app", server=b2.addr) == len(b2.requests)
    assert val(s, "luxy_upstream_server_requests_total", upstream="flaky", server=b1.addr) == 4
    assert val(s, "luxy_upstream_server_requests_total", upstream="flaky", server=dead) == 4
    assert val(s, "luxy_upstream_server_failures_total", upstream="flaky", server=dead) == 4
    assert val(s, "luxy_upstream_server_failures_total", upstream="flaky", server=b1.addr) == 0
    assert val(s, "luxy_upstream_server_requests_total", upstream="gone", server=dead) == 1
    assert val(s, "luxy_upstream_server_failures_total", upstream="gone", server=dead) == 1
    assert total(s, "luxy_upstream_server_failures_total", upstream="app") == 0
    assert total(s, "luxy_upstream_server_in_flight") == 0
    assert val(s, "luxy_upstream_server_response_seconds_count", upstream="app", server=b2.addr) == len(b2.requests)
    assert val(s, "luxy_upstream_response_seconds_count", upstream="app") == 11
    assert val(s, "luxy_upstream_response_seconds_count", upstream="flaky") == 4
    assert val(s, "luxy_upstream_response_seconds_count", upstream="gone") == 0
    assert val(s, "luxy_retries_total") == 4
    errors = {dict(ls)["kind"]: v for (n, ls), v in s.items() if n == "luxy_errors_total" and v}
    assert errors == {"connect_refused": 1}, errors

    # cache: what X-Cache said, response by response
    for word, result in (("HIT", "hit"), ("MISS", "miss"), ("BYPASS", "bypass")):
        assert val(s, "luxy_cache_requests_total", result=result) == xcache.get(word, 0), (word, xcache)
    assert val(s, "luxy_cache_stores_total") == 1
    assert val(s, "luxy_cache_entries") >= 1
    assert val(s, "luxy_cache_evictions_total") == 0

    # Lua: on_request ran once per proxied request, select_backend never
    assert val(s, "luxy_hook_calls_total", hook="on_request") == 12 + 4 + 1
    assert val(s, "luxy_hook_calls_total", hook="select_backend") == 0
    assert val(s, "luxy_hook_errors_total", hook="on_request") == 0

    # connections: this /metrics one and the held one
    def two_open():
        s2, _ = metrics(ap)
        return val(s2, "luxy_connections_open") == 2
    wait_for(two_open, what="2 client connections open")
    held.close()
    wait_for(lambda: val(metrics(ap)[0], "luxy_connections_open") == 1, what="1 client connection open")
    s3, _ = metrics(ap)
    assert val(s3, "luxy_workers") == 2
    assert val(s3, "luxy_config_generation") == 1
    assert val(s3, "luxy_backend_connections_open") >= val(s3, "luxy_backend_idle_connections") >= 1
    assert val(s3, "luxy_connections_accepted_total") >= 6


def test_counters_carry_over_a_reload_and_hooks_count_errors(env):
    conf = CONF.replace("function on_request(req) end",
                        'function on_request(req) if req.path == "/boom" then error("boom") end end')
    b1, b2, lx = start(env, conf)
    ap = lx.subs["aport"]
    c = Client(lx.port)
    for i in range(5):
        assert c.roundtrip("GET", "/r%d" % i).status == 200
    assert c.roundtrip("GET", "/boom").status == 500
    lx.rewrite(conf + "\n-- reloaded\n")
    lx.reload(2)
    wait_for(lambda: val(metrics(ap)[0], "luxy_config_generation") == 2, what="generation 2 in /metrics")
    c2 = Client(lx.port)
    for i in range(3):
        assert c2.roundtrip("GET", "/s%d" % i).status == 200
    s = wait_for(lambda: (lambda s: s if val(s, "luxy_requests_total", listener="127.0.0.1:%d" % lx.port,
                                             status="2xx") == 8 else None)(metrics(ap)[0]),
                 what="8 2xx after the reload")
    assert val(s, "luxy_requests_total", listener="127.0.0.1:%d" % lx.port, status="5xx") == 1
    assert total(s, "luxy_upstream_server_requests_total", upstream="app") == 8
    assert val(s, "luxy_reloads_total", result="ok") == 1
    assert val(s, "luxy_hook_calls_total", hook="on_request") == 9
    assert val(s, "luxy_hook_errors_total", hook="on_request") == 1
    assert val(s, "luxy_errors_total", kind="hook") == 1


# ---------------------------------------------------------------- the JSON API

def test_every_api_endpoint_answers(env, tmp_path):
    b1, b2, lx = start(env)
    ap = lx.subs["aport"]
    c = Client(lx.port)
    for i in range(4):
        assert c.roundtrip("GET", "/x%d" % i).status == 200

    st = get_json(ap, "/api/status")
    for k in ("version", "pid", "uptime_seconds", "workers", "generation", "connections", "requests",
              "listeners", "hooks", "reloads"):
        assert k in st, k
    assert st["pid"] == lx.pid and st["workers"] == 2 and st["generation"]["id"] == 1
    assert st["uptime_seconds"] >= 0 and st["connections"]["open"] >= 2
    assert {l["address"]: l["mode"] for l in st["listeners"]}["127.0.0.1:%d" % ap] == "admin"
    assert st["hooks"]["on_request"]["defined"] is True
    assert st["hooks"]["select_backend"]["defined"] is False

    ups = {u["name"]: u for u in get_json(ap, "/api/upstreams")["upstreams"]}
    assert set(ups) == {"app", "flaky", "gone"}
    servers = {s["address"]: s for s in ups["app"]["servers"]}
    assert set(servers) == {b1.addr, b2.addr}
    assert servers[b1.addr]["requests"] == len(b1.requests)
    assert servers[b2.addr]["requests"] == len(b2.requests)
    assert sum(s["requests"] for s in servers.values()) == 4
    assert all(s["healthy"] and s["failures"] == 0 and s["in_flight"] == 0 for s in servers.values())
    assert ups["flaky"]["balance"] == "first"

    cache = get_json(ap, "/api/cache")
    assert cache["enabled"] is True and cache["size"] == 4 * 1024 * 1024
    assert cache["bypass"] + cache["misses"] + cache["hits"] == 4

    # HEAD: the GET's head
    r = admin(ap, "HEAD", "/api/status")
    assert r.status == 200 and r.body == b"" and int(r.header("Content-Length")) > 0

    # the page
    r = admin(ap, "GET", "/")
    assert r.status == 200 and r.header("Content-Type").startswith("text/html")
    assert b"<html" in r.body and b"api/upstreams" in r.body
    assert "default-src 'none'" in r.header("Content-Security-Policy")
    assert not re.search(rb'(src|href)="(https?:)?//', r.body), "no external assets"

    # errors: unknown paths, methods
    r = admin(ap, "GET", "/api/nothing")
    assert r.status == 404 and "error" in json.loads(r.body)
    for method, path, allow in (("POST", "/metrics", "GET, HEAD"), ("DELETE", "/api/status", "GET, HEAD"),
                                ("PUT", "/", "GET, HEAD"), ("GET", "/api/reload", "POST"),
                                ("GET", "/api/purge", "POST"), ("DELETE", "/api/purge", "POST")):
        r = admin(ap, method, path, body=b"" if method in ("POST", "PUT") else None)
        assert r.status == 405, (method, path, r)
        assert r.header("Allow") == allow
        assert "error" in json.loads(r.body)

    # a Host that does not name this machine (DNS rebinding), a cross-origin POST
    r = admin(ap, "GET", "/api/status", host="evil.example")
    assert r.status == 403
    assert admin(ap, "GET", "/api/status", host="localhost:%d" % ap).status == 200
    r = admin(ap, "POST", "/api/purge", {"Origin": "http://evil.example", "Content-Type": "application/json"},
              b'{"tag": "red"}')
    assert r.status == 403
    r = admin(ap, "POST", "/api/purge", {"Origin": "http://127.0.0.1:%d" % ap, "Content-Type": "application/json"},
              b'{"tag": "red"}')
    assert r.status == 200

    # admin requests are not proxied: the backends saw only the 4
    assert len(b1.requests) + len(b2.requests) == 4


def test_post_reload(env):
    b1, b2, lx = start(env)
    ap = lx.subs["aport"]
    lx.rewrite(CONF.replace("function on_request(req) end",
                            'function on_request(req) req:set_header("X-Reloaded", "yes") end'))
    r = admin(ap, "POST", "/api/reload", body=b"")
    assert r.status == 202, r
    assert json.loads(r.body)["reload"] == "requested"
    lx.wait_error_log("reload: generation 2 is serving")
    assert "admin: client 127.0.0.1 asked for a reload" in lx.error_log()
    st = wait_for(lambda: (lambda s: s if s["generation"]["id"] == 2 else None)(get_json(ap, "/api/status")),
                  what="generation 2 in /api/status")
    assert st["reloads"]["ok"] == 1 and st["reloads"]["last"]["ok"] is True
    assert Client(lx.port).roundtrip("GET", "/after").status == 200
    assert b1.last().header("X-Reloaded") == "yes" or b2.last().header("X-Reloaded") == "yes"

    # a broken file: refused, and the status says why
    lx.rewrite(CONF + "\nfunction oops(\n")
    assert admin(ap, "POST", "/api/reload", body=b"").status == 202
    st = wait_for(lambda: (lambda s: s if s["reloads"]["refused"] == 1 else None)(get_json(ap, "/api/status")),
                  what="the refusal in /api/status")
    assert st["generation"]["id"] == 2
    assert st["reloads"]["last"]["ok"] is False and "conf.lua" in st["reloads"]["last"]["error"]
    assert val(metrics(ap)[0], "luxy_reloads_total", result="refused") == 1


def test_post_purge_by_url_prefix_and_tag(env):
    b1, b2, lx = start(env)
    ap = lx.subs["aport"]
    host = "site.example"
    c = Client(lx.port)

    def fetch(path):
        r = c.roundtrip("GET", path, host=host)
        assert r.status == 200
        return r.header("X-Cache")

    for p in ("/c/a", "/c/b", "/c/news/1", "/c/news/2", "/tagged/1", "/tagged/2"):
        assert fetch(p) == "MISS"
        assert fetch(p) == "HIT"

    def purge(body, ctype="application/json"):
        r = admin(ap, "POST", "/api/purge", {"Content-Type": ctype} if ctype else None, body)
        return r.status, json.loads(r.body)

    st, j = purge(b'{"url": "http://SITE.example/c/a"}')
    assert st == 200 and j["removed"] == 1 and j["key"] == "http://site.example:80/c/a", j
    assert fetch("/c/a") == "MISS" and fetch("/c/b") == "HIT"
    st, j = purge(b"prefix=http%3A%2F%2Fsite.example%2Fc%2Fnews%2F", "application/x-www-form-urlencoded")
    assert st == 200 and j["removed"] == 2, j
    assert fetch("/c/news/1") == "MISS" and fetch("/c/news/2") == "MISS" and fetch("/c/b") == "HIT"
    st, j = purge(b'{"tag": "red"}', None)    # no Content-Type: a '{' says JSON
    assert st == 200 and j["removed"] == 2, j
    assert fetch("/tagged/1") == "MISS" and fetch("/c/b") == "HIT"
    st, j = purge(b'{"url": "http://site.example/never-cached"}')
    assert st == 200 and j["removed"] == 0
    cache = get_json(ap, "/api/cache")
    assert cache["purged"] == 5

    # bad bodies: 400 with a reason; another media type: 415; too large: 413
    for body in (b"", b"{", b'{"url": 1}', b'{"url": "ftp://x/"}', b'{"url": "http://a/", "tag": "b"}',
                 b'{"colour": "red"}', b'{"tag": "a,b"}', b'{"url": "http://a/"} x'):
        st, j = purge(body)
        assert st == 400 and j["error"], body
    st, j = purge(b"tag=red", "text/plain")
    assert st == 415
    r = admin(ap, "POST", "/api/purge", {"Content-Type": "application/json"}, b"{" + b" " * (17 * 1024) + b"}")
    assert r.status == 413
    # a chunked body over the limit is cut off as it arrives
    cl = Client(ap)
    cl.send("POST /api/purge HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/json\r\n\r\n")
    for _ in range(20):
        try:
            cl.send("400\r\n" + " " * 1024 + "\r\n")
        except OSError:
            break
    assert cl.read_response().status == 413
    cl.close()
    # a chunked body within it is read
    cl = Client(ap)
    cl.send("POST /api/purge HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "6\r\n{\"tag\"\r\n9\r\n: \"blue\"}\r\n0\r\n\r\n")
    r = cl.read_response()
    assert r.status == 200 and json.loads(r.body)["removed"] == 0
    cl.close()


def test_purge_without_a_cache_is_a_conflict(env):
    conf = CONF.replace('cache { size = "4MB" }\n', "")
    b1, b2, lx = start(env, conf)
    ap = lx.subs["aport"]
    assert get_json(ap, "/api/cache") == {"enabled": False}
    r = admin(ap, "POST", "/api/purge", {"Content-Type": "application/json"}, b'{"tag": "x"}')
    assert r.status == 409
    s, _ = metrics(ap)
    assert not any(n.startswith("luxy_cache_") for n, _ in s)


TOKEN_CONF = '''workers(1)
logs { access = false }
listen { "127.0.0.1:$port", upstream = "app" }
listen { "127.0.0.1:$aport", mode = "admin", token = "%s" }
upstream "app" { "127.0.0.1:$b1port" }
''' % TOKEN


def test_the_token(env):
    b1 = env.backend(app_handler)
    lx = env.luxy(TOKEN_CONF, b1port=b1.port)
    ap = lx.subs["aport"]
    wait_for(lambda: _accepts(ap), what="the admin listener")
    for path in ("/", "/metrics", "/api/status", "/api/upstreams", "/api/cache", "/api/nothing"):
        r = admin(ap, "GET", path)
        assert r.status == 401, (path, r)
        assert r.header("WWW-Authenticate").startswith("Bearer")
        r = admin(ap, "GET", path, {"Authorization": "Bearer " + TOKEN[:-1] + "x"})
        assert r.status == 401 and "invalid_token" in r.header("WWW-Authenticate")
    for method, path in (("POST", "/api/reload"), ("POST", "/api/purge")):
        assert admin(ap, method, path, body=b"").status == 401
    assert admin(ap, "GET", "/api/status", {"Authorization": "Basic " + TOKEN}).status == 401
    assert admin(ap, "GET", "/api/status", {"Authorization": "Bearer"}).status == 401
    ok = {"Authorization": "Bearer " + TOKEN}
    assert admin(ap, "GET", "/api/status", ok).status == 200
    assert admin(ap, "GET", "/api/status", {"Authorization": "bearer  " + TOKEN}).status == 200
    assert admin(ap, "GET", "/metrics", ok).status == 200
    assert admin(ap, "GET", "/?token=" + TOKEN).status == 200     # the status page's way
    assert admin(ap, "GET", "/api/status?token=" + TOKEN).status == 200
    assert admin(ap, "GET", "/api/status?token=" + TOKEN + "x").status == 401
    # with a token, any Host will do (the token is the check)
    assert admin(ap, "GET", "/api/status", ok, host="luxy.example").status == 200
    assert admin(ap, "GET", "/api/nothing", ok).status == 404
    assert admin(ap, "GET", "/api/reload", ok).status == 405
    assert admin(ap, "POST", "/api/purge", dict(ok, **{"Content-Type": "application/json"}),
                 b'{"tag": "x"}').status == 409
    # the error log is written by its own thread: wait for the lines
    log = wait_for(lambda: (lambda t: t if "no token" in t and "a wrong token" in t else None)(lx.error_log()),
                   what="the refusals in the error log")
    assert TOKEN not in log, "the token is never logged"


def test_admin_configuration_rules(tmp_path):
    def check(listen):
        p = tmp_path / "c.lua"
        p.write_text('listen { "127.0.0.1:18999", upstream = "app" }\n%s\nupstream "app" { "127.0.0.1:1" }\n'
                     % listen)
        return run_check(["-c", str(p)])
    rc, out = check('listen { "127.0.0.1:19999", mode = "admin" }')
    assert rc == 0, out
    rc, out = check('listen { "0.0.0.0:19999", mode = "admin" }')
    assert rc != 0 and "needs a token" in out, out
    rc, out = check('listen { "[::]:19999", mode = "admin" }')
    assert rc != 0 and "needs a token" in out, out
    rc, out = check('listen { "0.0.0.0:19999", mode = "admin", token = "%s", allow = { "10.0.0.0/8" } }' % TOKEN)
    assert rc == 0, out
    rc, out = check('listen { "127.0.0.1:19999", mode = "admin", token = "short" }')
    assert rc != 0 and "16 to 256" in out, out
    rc, out = check('listen { "127.0.0.1:19999", mode = "admin", token = "has space in it 0123456789" }')
    assert rc != 0 and "token may only hold" in out, out
    rc, out = check('listen { "127.0.0.1:19999", mode = "admin", upstream = "app" }')
    assert rc != 0 and "means nothing for an admin listener" in out, out
    rc, out = check('listen { "127.0.0.1:19999", mode = "reverse", upstream = "app", token = "%s" }' % TOKEN)
    assert rc != 0 and "token" in out, out
    rc, out = check('listen { "127.0.0.1:19999", mode = "nonsense" }')
    assert rc != 0 and '"admin"' in out, out


def test_an_allow_list_keeps_others_out(env):
    conf = TOKEN_CONF.replace('mode = "admin",', 'mode = "admin", allow = { "10.0.0.0/8" },')
    b1 = env.backend(app_handler)
    lx = env.luxy(conf, b1port=b1.port)
    ap = lx.subs["aport"]
    wait_for(lambda: _accepts(ap), what="the admin listener")
    r = admin(ap, "GET", "/api/status", {"Authorization": "Bearer " + TOKEN})
    assert r.status == 403


def test_admin_answers_on_ipv6_loopback(env):
    conf = TOKEN_CONF.replace('"127.0.0.1:$aport", mode = "admin", token = "%s"' % TOKEN, '"[::1]:$aport", mode = "admin"')
    b1 = env.backend(app_handler)
    lx = env.luxy(conf, b1port=b1.port)
    ap = lx.subs["aport"]
    c = wait_for(lambda: _v6client(ap), what="the ::1 admin listener")
    r = c.roundtrip("GET", "/api/status", host="[::1]:%d" % ap)
    c.close()
    assert r.status == 200 and json.loads(r.body)["workers"] == 1


def _v6client(port):
    try:
        return Client(port, host="::1")
    except OSError:
        return None


# ---------------------------------------------------------------- the status page in Chromium

class DevTools:
    """A Chrome DevTools Protocol session over a websocket (RFC 6455),
    standard library only: text frames out (masked), frames in."""

    def __init__(self, ws_url, timeout=30.0):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", ws_url)
        assert m, ws_url
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout)
        self.sock.settimeout(timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (m.group(3), m.group(1), m.group(2), key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            assert d, "the DevTools websocket closed during the handshake"
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id = 0
        self.events = []

    def _recv_exact(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(1 << 16)
            assert d, "the DevTools websocket closed"
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _recv_message(self):
        parts = []
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            data = self._recv_exact(n)
            if mask:
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
            op = b0 & 0x0F
            if op == 8:
                raise AssertionError("the DevTools websocket closed")
            if op in (9, 10):          # ping, pong: not expected from Chromium; skip
                continue
            parts.append(data)
            if b0 & 0x80:
                return b"".join(parts)

    def _send(self, text):
        data = text.encode()
        n = len(data)
        head = bytes([0x81])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(data)))

    def call(self, method, **params):
        self.next_id += 1
        me = self.next_id
        self._send(json.dumps({"id": me, "method": method, "params": params}))
        while True:
            msg = json.loads(self._recv_message())
            if msg.get("id") == me:
                if "error" in msg:
                    raise AssertionError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self.events.append(msg)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    pytest.fail("the status page test needs headless Chromium: install Debian's chromium package "
                "(make deps-test does: it is in PKGS_TEST)")


def start_chromium(tmp_path):
    """Headless Chromium with the DevTools protocol on a port it picks;
    returns (process, websocket URL of its blank page)."""
    profile = tmp_path / "chromium-profile"
    log = open(tmp_path / "chromium.log", "wb+")
    p = subprocess.Popen([chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                          "--disable-background-networking", "--remote-debugging-address=127.0.0.1",
                          "--remote-debugging-port=0", "--user-data-dir=%s" % profile,
                          "--window-size=1280,1000", "about:blank"],
                         stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)

    def listening():
        log.seek(0)
        m = re.search(rb"DevTools listening on (ws://\S+)", log.read())
        if p.poll() is not None:
            log.seek(0)
            raise AssertionError("chromium exited with %s:\n%s" % (p.returncode, log.read()[-3000:].decode("utf-8", "replace")))
        return m and m.group(1).decode()
    browser_ws = wait_for(listening, timeout=30, what="chromium's DevTools port")
    port = int(re.match(r"ws://[^:]+:(\d+)/", browser_ws).group(1))

    def page_target():
        c = Client(port, timeout=5)
        try:
            r = c.roundtrip("GET", "/json/list", host="127.0.0.1:%d" % port)
        finally:
            c.close()
        pages = [t for t in json.loads(r.body) if t.get("type") == "page"]
        return pages and pages[0]["webSocketDebuggerUrl"]
    return p, wait_for(page_target, timeout=15, what="chromium's page target")


def page_servers(dt):
    """{(upstream, server): (requests, failures, failing shown)} as the page shows them."""
    rows = dt.eval("""Array.from(document.querySelectorAll('section.upstream tr.server')).map(function (tr) {
        return [tr.closest('section').dataset.upstream, tr.dataset.server,
                tr.querySelector('td.requests').textContent, tr.querySelector('td.failures').textContent,
                !!tr.querySelector('td.failures.failing')]; })""") or []
    return {(u, s): (int(r.replace(",", "")), int(f.replace(",", "")), bad) for u, s, r, f, bad in rows}


def test_status_page_in_chromium(env, tmp_path):
    conf = '''workers(2)
logs { access = false }
listen { "127.0.0.1:$port", upstream = "app" }
listen { "127.0.0.1:$aport", mode = "admin" }
upstream "app" { "127.0.0.1:$b1port", "127.0.0.1:$b2port", "127.0.0.1:$deadport", balance = "first" }
cache { size = "4MB" }
'''
    b1 = env.backend(app_handler)
    b2 = env.backend(app_handler)
    lx = env.luxy(conf, b1port=b1.port, b2port=b2.port)
    ap = lx.subs["aport"]
    dead = "127.0.0.1:%d" % lx.subs["deadport"]
    wait_for(lambda: _accepts(ap), what="the admin listener")
    proc, ws = start_chromium(tmp_path)
    dt = None
    try:
        dt = DevTools(ws)
        dt.call("Page.enable")
        dt.call("Page.navigate", url="http://127.0.0.1:%d/" % ap)
        # it loads, and shows the configured servers
        wait_for(lambda: dt.eval("document.body && document.body.dataset.state") == "ok"
                 and len(page_servers(dt)) == 3, timeout=15, what="the page's first update")
        shown = page_servers(dt)
        assert set(shown) == {("app", b1.addr), ("app", b2.addr), ("app", dead)}, shown
        assert all(v[:2] == (0, 0) for v in shown.values()), shown
        title = dt.eval("document.title")
        assert title == "luxy status"

        # traffic: b1 (first) takes it all; the page shows the new count within seconds
        c = Client(lx.port)
        for i in range(25):
            assert c.roundtrip("GET", "/load%d" % i).status == 200
        t0 = time.monotonic()
        wait_for(lambda: page_servers(dt).get(("app", b1.addr), (0,))[0] == 25, timeout=5,
                 what="the page showing b1's 25 requests")
        rising = time.monotonic() - t0
        assert page_servers(dt)[("app", b2.addr)][0] == 0

        # b1 goes away: b2 takes over, b1's failures rise and are marked
        b1.close()
        c.close()
        n = 0
        deadline = time.monotonic() + scaled(10)
        while n < 30 and time.monotonic() < deadline:
            r = Client(lx.port).roundtrip("GET", "/after%d" % n)
            assert r.status == 200
            n += 1
            time.sleep(0.05)
        def b1_state():
            return dt.eval("(document.querySelector('tr.server[data-server=\"%s\"]') || {dataset: {}})"
                           ".dataset.serverState" % b1.addr)
        # b1 fails, then outlier detection ejects it (5 in a row): the page
        # shows the failures rising or the server ejected
        wait_for(lambda: (lambda s: s[("app", b1.addr)][1] >= 1
                          and (s[("app", b1.addr)][2] or b1_state() in ("ejected", "probation"))
                          and s[("app", b2.addr)][0] == len(b2.requests))(page_servers(dt)),
                 timeout=5, what="the page showing b1 failing and b2 serving")
        wait_for(lambda: dt.eval("document.querySelectorAll('svg.spark polyline').length") >= 1, timeout=5,
                 what="a latency sparkline")
        assert dt.eval("document.getElementById('t-conns').textContent") not in ("", "–")
        errors = [e for e in dt.events if e.get("method") == "Runtime.exceptionThrown"]
        assert not errors, errors

        shot = dt.call("Page.captureScreenshot", format="png")
        out_dir = os.path.join(REPO, "build", "test-artifacts")
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "admin-status-page.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        assert os.path.getsize(path) > 10000, "a screenshot with something on it"
        assert rising < 5
    finally:
        if dt:
            dt.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_status_page_dump_dom(env, tmp_path):
    """The simplest way a browser sees it: chromium --dump-dom, with the
    page's own timers run by --virtual-time-budget, and a screenshot."""
    b1 = env.backend(app_handler)
    lx = env.luxy(TOKEN_CONF, b1port=b1.port)
    ap = lx.subs["aport"]
    wait_for(lambda: _accepts(ap), what="the admin listener")
    for i in range(3):
        assert Client(lx.port).roundtrip("GET", "/d%d" % i).status == 200
    url = "http://127.0.0.1:%d/?token=%s" % (ap, TOKEN)
    base = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--user-data-dir=%s" % (tmp_path / "profile"), "--virtual-time-budget=3000"]
    p = subprocess.run(base + ["--dump-dom", url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       timeout=scaled(90))
    dom = p.stdout.decode("utf-8", "replace")
    assert 'data-state="ok"' in dom, dom[-2000:]
    assert 'data-server="%s"' % b1.addr in dom and 'data-requests="3"' in dom, dom[-3000:]
    # without the token the page loads but cannot read the API, and says so
    p = subprocess.run(base + ["--dump-dom", "http://127.0.0.1:%d/" % ap], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=scaled(90))
    assert "401" in p.stdout.decode("utf-8", "replace") or b"data-state" not in p.stdout


def test_every_series_and_endpoint_is_documented(env):
    """docs/operations.md's Metrics tables name every family /metrics
    writes and no other; its endpoint table names every path."""
    b1, b2, lx = start(env)
    ap = lx.subs["aport"]
    _, types = metrics(ap)
    text = open(os.path.join(REPO, "docs", "operations.md")).read()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for m in re.finditer(r"^\| `(luxy_[a-z_]+)` \| (\w+)", section, re.M):
        documented[m.group(1)] = m.group(2)
    assert set(types) == set(documented), (sorted(set(types) - set(documented)),
                                            sorted(set(documented) - set(types)))
    for name, t in types.items():
        assert documented[name] == t, (name, t, documented[name])
    api = text.split("\n## Admin listener\n", 1)[1].split("\n## ", 1)[0]
    r = admin(ap, "GET", "/nothing")
    paths = re.findall(r"/[a-z/]*", json.loads(r.body)["error"])
    assert len(paths) >= 7
    for p in paths:
        assert "| `%s` |" % p in api, p
