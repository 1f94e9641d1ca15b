"""Decision traces on the live server: a request carrying the trace field
(Luxy-Trace) from a network the admin listener allows gets its trace,
numbered in the response, fetched from GET /api/traces?id=N; the same
field from elsewhere is ignored; `luxy trace --filter` follows the live
stream and prints only what matches; filters that cannot be read are a
400."""

import json
import os
import subprocess
import time

from luxyharness import Client, luxy_command, wait_for

CONF = '''workers(2)
logs { access = false }
listen { "127.0.0.1:$port", upstream = "app" }
listen { "127.0.0.1:$aport", mode = "admin" }
listen { "127.0.0.1:$oport", upstream = "app" }
upstream "app" { "127.0.0.1:$b1port", "127.0.0.1:$b2port", balance = "rr" }
function on_request(req)
  if req.path == "/tag" then req:set_header("X-Tagged", "yes") end
end
'''

CONF_CLOSED = '''logs { access = false }
listen { "127.0.0.1:$port", upstream = "app" }
listen { "127.0.0.1:$aport", mode = "admin", allow = { "10.9.9.9" } }
upstream "app" { "127.0.0.1:$b1port" }
'''


def admin_get(port, target):
    c = Client(port)
    try:
        return c.roundtrip("GET", target, headers=[("Host", "127.0.0.1")])
    finally:
        c.close()


def start(env, conf=CONF):
    b1, b2 = env.backend(), env.backend()
    lx = env.luxy(conf, b1port=b1.port, b2port=b2.port)
    wait_for(lambda: admin_get(lx.subs["aport"], "/api/status").status in (200, 403), what="the admin listener")
    return lx


def test_a_request_asking_for_its_trace_gets_it(env):
    lx = start(env)
    c = Client(lx.port)
    r = c.roundtrip("GET", "/tag?x=1", headers=[("Luxy-Trace", "1"), ("Connection", "keep-alive, X-Drop"),
                                                ("X-Drop", "secret")])
    assert r.status == 200
    n = r.header("Luxy-Trace")
    assert n and n.isdigit(), r.headers
    plain = c.roundtrip("GET", "/plain")
    assert plain.status == 200 and plain.header("Luxy-Trace") is None, "only asked-for requests are traced"
    c.close()

    def fetched():
        t = admin_get(lx.subs["aport"], "/api/traces?id=" + n)
        return t if t.status == 200 else None
    t = wait_for(fetched, what="the trace in the ring")
    trace = json.loads(t.body)
    assert trace["trace"] == int(n) and trace["path"] == "/tag" and trace["status"] == 200
    assert trace["upstream"] == "app" and trace["backend"].startswith("127.0.0.1:")
    events = [(e["stage"], e["what"]) for e in trace["events"]]
    stages = [s for s, _ in events]
    for want in ("head", "hygiene", "forwarding", "hook", "on_request", "balance", "end"):
        assert want in stages, (want, events)
    assert ("hygiene", "- X-Drop: secret") in events, events
    assert ("on_request", "+ X-Tagged: yes") in events, events
    assert any(s == "balance" and w.startswith("chose server") for s, w in events), events
    assert any(s == "hook" and "on_request (" in w and "ran in" in w for s, w in events), events
    assert admin_get(lx.subs["aport"], "/api/traces?id=999999").status == 404


def test_the_trace_field_from_outside_the_admin_networks_is_ignored(env):
    lx = start(env, CONF_CLOSED)
    r = Client(lx.port).roundtrip("GET", "/x", headers=[("Luxy-Trace", "1")])
    assert r.status == 200
    assert r.header("Luxy-Trace") is None


def test_luxy_trace_follows_the_live_stream_with_a_filter(env, tmp_path):
    lx = start(env)
    out = open(tmp_path / "trace.out", "w+")
    p = subprocess.Popen(luxy_command(["trace", "--admin", "127.0.0.1:%d" % lx.subs["aport"],
                                       "--filter", "path=/match* status=2xx", "--count", "2", "--seconds", "20"]),
                         stdout=out, stderr=subprocess.PIPE)
    try:
        c = Client(lx.port)
        # the stream starts with the first poll: until then requests are not traced
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and p.poll() is None:
            assert c.roundtrip("GET", "/nomatch").status == 200
            assert c.roundtrip("GET", "/match/%d" % int(time.monotonic() * 1000)).status == 200
            out.seek(0)
            if len(out.read().splitlines()) >= 2:
                break
            time.sleep(0.1)
        rc = p.wait(timeout=20)
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 0, p.stderr.read()
    out.seek(0)
    lines = out.read().splitlines()
    assert len(lines) == 2, lines
    seen = [json.loads(line) for line in lines]
    assert all(t["path"].startswith("/match/") and t["status"] == 200 for t in seen), seen
    assert len({t["trace"] for t in seen}) == 2, "no trace twice"
    # the polls themselves are never traced: without a filter only traffic shows
    r = admin_get(lx.subs["aport"], "/api/traces?since=0&max=200")
    listeners = {t["listener"] for t in json.loads(r.body)["traces"]}
    assert listeners and "127.0.0.1:%d" % lx.subs["aport"] not in listeners, listeners


def test_bad_filters_are_refused(env):
    lx = start(env)
    r = admin_get(lx.subs["aport"], "/api/traces?filter=nonsense")
    assert r.status == 400 and b"key=value" in r.body
    r = admin_get(lx.subs["aport"], "/api/traces?filter=colour%3Dred")
    assert r.status == 400 and b"unknown key" in r.body
    r = admin_get(lx.subs["aport"], "/api/traces?since=0&filter=status%3D5xx")
    assert r.status == 200 and json.loads(r.body)["traces"] == []


CONF_CACHE = '''logs { access = false }
listen { "127.0.0.1:$port", upstream = "app", cache = true }
listen { "127.0.0.1:$aport", mode = "admin" }
upstream "app" { "127.0.0.1:$b1port" }
cache { size = "4MB" }
'''


def test_the_cache_decision_and_its_reason_are_traced(env):
    def handler(req, conn):
        conn.respond(200, b"cached " + req.path.encode(), [("Cache-Control", "max-age=120")], req=req)
    b1 = env.backend(handler)
    lx = env.luxy(CONF_CACHE, b1port=b1.port)
    wait_for(lambda: admin_get(lx.subs["aport"], "/api/status").status == 200, what="the admin listener")
    c = Client(lx.port)
    stages = []
    for want in ("MISS", "HIT"):
        r = c.roundtrip("GET", "/c/one", headers=[("Luxy-Trace", "1")])
        assert r.status == 200 and r.header("X-Cache") == want, r.headers
        n = r.header("Luxy-Trace")
        t = wait_for(lambda: (lambda t: t if t.status == 200 else None)(admin_get(lx.subs["aport"], "/api/traces?id=" + n)),
                     what="trace " + n)
        stages.append([e["what"] for e in json.loads(t.body)["events"] if e["stage"] == "cache"])
    c.close()
    miss, hit = stages
    assert any("MISS: not stored" in w for w in miss), miss
    assert any(w.startswith("stored: storable, fresh for 120s") for w in miss), miss
    assert any("fresh: a HIT" in w for w in hit), hit
    assert len(b1.requests) == 1
