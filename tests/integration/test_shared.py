"""luxy.shared (docs/shared.md): dictionaries every worker sees.

A real luxy with two workers; hooks answer from the dictionaries with
req:respond and say which worker they ran in (X-Worker), so each test
checks both what the dictionary holds and that both workers took part.
Then the two example scripts in scripts/security, and what `luxy -t`
says about the directive and the API at load."""

import os
import re
import threading
import time

import pytest

from luxyharness import REPO, Client, run_check, scaled, wait_for

CONF = r"""
workers(2)
lua { instructions = 100000 }
listen { "127.0.0.1:$port", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }
shared "d" { size = "1MB" }
shared "small" { size = "64KB" }
shared "api" { size = 65536 }
local util = require "luxy.util"
local d = luxy.shared("d")               -- handles taken at the top level
local small = luxy.shared("small")

local function reply(req, body)
  return req:respond(200, tostring(body) .. "\n", { ["X-Worker"] = tostring(luxy.worker_id) })
end

local routes = {}
routes["/incr"] = function(req) return reply(req, d:incr("hits", 1, 0)) end
routes["/get"] = function(req, q) return reply(req, d:get(q.k)) end
routes["/set"] = function(req, q) return reply(req, d:set(q.k, q.v, tonumber(q.ttl))) end
routes["/ttl"] = function(req, q) return reply(req, d:ttl(q.k)) end
routes["/fill"] = function(req, q)
  local v = string.rep("v", 1000)
  for i = 1, tonumber(q.n) do assert(small:set("k" .. i, v)) end
  return reply(req, small:count() .. " " .. small:free_space() .. " " .. small:capacity())
end
routes["/has"] = function(req, q) return reply(req, small:get(q.k) ~= nil) end
routes["/bad/key_table"] = function(req) d:get({}) end
routes["/bad/key_empty"] = function(req) d:set("", 1) end
routes["/bad/key_long"] = function(req) d:set(string.rep("k", 70000), 1) end
routes["/bad/value_table"] = function(req) d:set("k", {}) end
routes["/bad/ttl_negative"] = function(req) d:set("k", 1, -1) end
routes["/bad/ttl_nan"] = function(req) d:set("k", 1, 0/0) end
routes["/bad/ttl_string"] = function(req) d:add("k", 1, "1") end
routes["/bad/delta"] = function(req) d:incr("k", "1") end
routes["/bad/undeclared"] = function(req) luxy.shared("nope") end
routes["/bad/not_a_handle"] = function(req) d.get(req, "k") end
routes["/api"] = function(req)
  local a = luxy.shared("api")
  assert(a ~= d and a == luxy.shared("api"), "one handle per name")
  assert(a:get("x") == nil)
  assert(a:set("i", 42) == true)
  assert(math.type(a:get("i")) == "integer" and a:get("i") == 42, "integers stay integers")
  assert(a:set("f", 42.0) and math.type(a:get("f")) == "float", "floats stay floats")
  assert(a:set("b", false) and a:get("b") == false)
  assert(a:set("s", "a\0b") and a:get("s") == "a\0b")
  local ok, err = a:add("i", 1)
  assert(ok == false and err == "exists", "add over a key")
  assert(a:add("new", 1) == true)
  ok, err = a:replace("missing", 1)
  assert(ok == false and err == "not found", "replace of nothing")
  assert(a:replace("new", "two") == true and a:get("new") == "two")
  assert(a:incr("i", 1) == 43)
  assert(a:incr("i", 0.5) == 43.5 and math.type(a:get("i")) == "float")
  local v
  v, err = a:incr("nothing", 1)
  assert(v == nil and err == "not found", "incr without init")
  assert(a:incr("c", 5, 10) == 15, "incr with init")
  v, err = a:incr("s", 1)
  assert(v == nil and err == "not a number", "incr of a string")
  assert(a:cas("k", nil, "v1") == true, "cas from absent")
  local cur
  ok, cur = a:cas("k", nil, "v2")
  assert(ok == false and cur == "v1", "cas gives the value it found")
  assert(a:cas("k", "v1", "v2") == true and a:get("k") == "v2")
  assert(a:cas("k", "v2", nil) == true and a:get("k") == nil, "cas to nil deletes")
  assert(a:set("t", 1, 100))
  local left = a:ttl("t")
  assert(left > 99 and left <= 100, "ttl left")
  assert(a:ttl("i") == 0 and a:ttl("absent") == nil)
  assert(a:expire("t", 0) == true and a:ttl("t") == 0)
  ok, err = a:expire("absent", 1)
  assert(ok == false and err == "not found")
  assert(a:delete("t") == true and a:delete("t") == false)
  assert(a:set("new", nil) == true and a:get("new") == nil, "set nil deletes")
  assert(a:count() == 5, "i f b s c")
  assert(a:free_space() < a:capacity() and a:capacity() < 65536)
  ok, err = a:set("big", string.rep("x", a:capacity()))
  assert(ok == nil and err == "too big", "a value the whole dictionary cannot hold")
  assert(tostring(a) == "luxy.shared (api)" and getmetatable(a) == "luxy.shared")
  assert(a:flush_all() == 5 and a:count() == 0 and a:free_space() == a:capacity())
  return reply(req, "ok")
end

function on_request(req)
  local f = routes[req.path]
  if f then return f(req, util.query(req.query)) end
end
"""


def start(env, workers=2, conf=CONF):
    b = env.backend()
    lx = env.luxy(conf.replace("workers(2)", "workers(%d)" % workers), backend_port=b.port)
    return b, lx


def get(port, target):
    c = Client(port)
    try:
        return c.roundtrip("GET", target)
    finally:
        c.close()


def text(r):
    return r.body.decode().strip()


def line_of(conf, needle):
    for i, line in enumerate(conf.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("%r not in the configuration" % needle)


def until_both_workers(port, target, seen, limit=200):
    """More requests (at most limit, each on a fresh connection) until both
    workers have been seen in X-Worker."""
    for _ in range(limit):
        if seen >= {"1", "2"}:
            break
        seen.add(get(port, target).header("X-Worker"))
    return seen


def test_incr_from_two_workers_adds_up_exactly(env):
    b, lx = start(env)
    threads_n, per_thread = 8, 40
    values, workers, errors = [], set(), []
    lock = threading.Lock()

    def run():
        try:
            for _ in range(per_thread):
                r = get(lx.port, "/incr")  # a fresh connection each: the kernel spreads them
                with lock:
                    values.append(int(text(r)))
                    workers.add(r.header("X-Worker"))
        except Exception as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=run) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(scaled(60))
    assert not errors, errors
    total = threads_n * per_thread
    assert sorted(values) == list(range(1, total + 1)), "every incr saw a distinct value"
    assert text(get(lx.port, "/get?k=hits")) == str(total)
    until_both_workers(lx.port, "/get?k=hits", workers)
    assert workers == {"1", "2"}, "only workers %s served" % sorted(workers)
    assert not b.requests, "every request was answered by the hook"


def test_a_value_set_in_one_worker_is_read_in_the_other(env):
    b, lx = start(env)
    r = get(lx.port, "/set?k=greeting&v=hello")
    assert r.status == 200 and text(r) == "true", r
    setter = r.header("X-Worker")
    for _ in range(200):
        r = get(lx.port, "/get?k=greeting")
        assert text(r) == "hello", r
        if r.header("X-Worker") != setter:
            break
    assert r.header("X-Worker") != setter, "never reached the other worker"


def test_ttl_expires_over_real_time(env):
    b, lx = start(env)
    t0 = time.monotonic()
    assert text(get(lx.port, "/set?k=brief&v=here&ttl=0.3")) == "true"
    r = get(lx.port, "/get?k=brief")
    if time.monotonic() - t0 < 0.25:  # a slow machine may be past it already
        assert text(r) == "here", r
        left = float(text(get(lx.port, "/ttl?k=brief")))
        assert 0 < left <= 0.3, left
    wait_for(lambda: text(get(lx.port, "/get?k=brief")) == "nil", timeout=5, what="the entry to expire")
    assert time.monotonic() - t0 >= 0.3, "gone before its ttl"
    assert text(get(lx.port, "/ttl?k=brief")) == "nil", "an expired key has no ttl"
    assert text(get(lx.port, "/set?k=kept&v=1")) == "true"
    assert text(get(lx.port, "/ttl?k=kept")) == "0", "no ttl: 0"


def test_eviction_at_the_size(env):
    b, lx = start(env, workers=1)
    count, free, capacity = map(int, text(get(lx.port, "/fill?n=200")).split())
    # 64 KB less its index; an entry is 80 bytes of overhead + key + 1000
    assert capacity == 65536 - 2048
    assert free >= 0 and count * 1080 <= capacity, (count, free)
    assert count >= capacity // (80 + 4 + 1000) - 1, "evicted only what was needed"
    assert text(get(lx.port, "/has?k=k1")) == "false", "the oldest were evicted"
    assert text(get(lx.port, "/has?k=k200")) == "true", "the newest are there"
    assert text(get(lx.port, "/has?k=k%d" % (200 - count + 1))) == "true"


def test_the_lua_api_as_documented(env):
    b, lx = start(env, workers=1)
    r = get(lx.port, "/api")
    assert r.status == 200 and text(r) == "ok", "%r\n%s" % (r, lx.error_log())


BAD = [
    ("/bad/key_table", "key must be a string, not table"),
    ("/bad/key_empty", "key must be 1 to 65535 bytes"),
    ("/bad/key_long", "key must be 1 to 65535 bytes"),
    ("/bad/value_table", "a shared value is a string, number or boolean, not table"),
    ("/bad/ttl_negative", "ttl must be a finite number of seconds"),
    ("/bad/ttl_nan", "ttl must be a finite number of seconds"),
    ("/bad/ttl_string", "ttl must be a number of seconds, not string"),
    ("/bad/delta", "number expected, got string"),
    ("/bad/undeclared", "no shared dictionary 'nope'"),
    ("/bad/not_a_handle", "luxy.shared expected"),
]


@pytest.mark.parametrize("path,message", BAD, ids=[p.rsplit("/", 1)[1] for p, _ in BAD])
def test_bad_arguments_fail_the_hook_with_file_and_line(env, path, message):
    b, lx = start(env, workers=1)
    c = env.client(lx.port)
    r = c.roundtrip("GET", path)
    assert r.status == 500, r
    where = "conf.lua:%d:" % line_of(lx.conf_text, '"%s"' % path)
    wait_for(lambda: where in lx.error_log() and message in lx.error_log(), timeout=5,
             what="%s and %r in the error log:\n%s" % (where, message, lx.error_log()))
    r = c.roundtrip("GET", "/set?k=after&v=fine")
    assert r.status == 200 and text(r) == "true", "the next request works"
    assert text(get(lx.port, "/get?k=after")) == "fine"


def test_every_call_is_charged_to_the_budget(env):
    b, lx = start(env, workers=1, conf=CONF + r"""
local big = string.rep("x", 100000)   -- made at the top level, with its larger budget
routes["/big/set"] = function(req) return reply(req, d:set("big", big)) end
routes["/big/get"] = function(req) return reply(req, #d:get("big")) end
routes["/big/cas"] = function(req) return reply(req, d:cas("big", big, big)) end
routes["/loop"] = function(req) for i = 1, 1e9 do d:get("big"); iterations = i end end
routes["/iterations"] = function(req) return reply(req, iterations) end
""")
    # lua.instructions = 100000; 100,000 bytes are 6,250 units to copy or compare
    assert text(get(lx.port, "/big/set")) == "true"
    assert text(get(lx.port, "/big/get")) == "100000"
    assert text(get(lx.port, "/big/cas")) == "true", "compares and copies: 12,500 units fit"
    t0 = time.monotonic()
    r = get(lx.port, "/loop")
    assert r.status == 500, r
    assert time.monotonic() - t0 < scaled(5)
    lx.wait_error_log("instruction budget exceeded")
    # uncharged, a loop of a few instructions would run thousands of times
    n = int(text(get(lx.port, "/iterations")))
    assert 1 <= n <= 16, "%d reads of 100,000 bytes within 100,000 units" % n


# ---------------------------------------------------------------- luxy -t

def check(tmp_path, body):
    path = os.path.join(str(tmp_path), "check.lua")
    with open(path, "w") as f:
        f.write('listen { "127.0.0.1:1", mode = "forward" }\n' + body)
    return run_check(["-c", path])


def test_check_accepts_directives_and_top_level_handles(tmp_path):
    rc, out = check(tmp_path, 'shared "limits" { size = "8MB" }\nshared "a.b-c_1" {}\n'
                    'local limits = luxy.shared("limits")\n'
                    'function on_request(req) limits:incr(req.client_ip, 1, 0, 60) end\n')
    assert rc == 0 and "is valid" in out, out


@pytest.mark.parametrize("body,line,needle", [
    ('shared "x" { size = "8MB", sise = 1 }\n', 2, "unknown option 'sise'"),
    ('shared "x" {}\nshared "x" { size = "2MB" }\n', 3, "shared x: declared twice"),
    ('shared "x" { size = "1KB" }\n', 2, "size must be between 64KB and 64GB"),
    ('shared "x" { size = "lots" }\n', 2, "size must be a size"),
    ('shared "bad name" {}\n', 2, "invalid name 'bad name'"),
    ('shared "%s" {}\n' % ("n" * 65), 2, "invalid name"),
    ('shared "x" { "positional" }\n', 2, "unexpected number key"),
    ('local d = luxy.shared("x")\nshared "x" {}\n', 2, "no shared dictionary 'x'"),
    ('local d = luxy.shared("nope")\n', 2, "no shared dictionary 'nope'"),
    ('shared "x" {}\nluxy.shared("x"):set("k", 1)\n', 3, "dictionary operations belong in hooks"),
    ('shrd "x" {}\n', 2, "did you mean 'shared'"),
])
def test_check_refuses_mistakes_with_file_and_line(tmp_path, body, line, needle):
    rc, out = check(tmp_path, body)
    assert rc != 0, out
    assert "check.lua:%d:" % line in out and needle in out, out


# ---------------------------------------------------------------- the example scripts

def example(env, name, backend, workers=2, extra=""):
    text_ = open(os.path.join(REPO, "scripts", "security", name)).read().replace("$", "$$")
    text_ = text_.replace('"127.0.0.1:8080"', '"127.0.0.1:$port"').replace('"127.0.0.1:9001"', '"127.0.0.1:$backend_port"')
    return env.luxy("workers(%d)\n" % workers + text_ + extra, backend_port=backend.port)


def test_rate_limit_answers_429_after_the_burst_and_recovers(env):
    src = open(os.path.join(REPO, "scripts", "security", "rate_limit.lua")).read()
    rate = int(re.search(r"^local rate = (\d+)", src, re.M).group(1))
    burst = int(re.search(r"^local burst = (\d+)", src, re.M).group(1))
    b = env.backend()
    lx = example(env, "rate_limit.lua", b, extra="\nfunction on_response(req, res) "
                 "res:set_header('X-Worker', tostring(luxy.worker_id)) end\n")
    t0 = time.monotonic()
    passed, workers, refused = 0, set(), None
    for _ in range(burst * 3):
        r = get(lx.port, "/page")
        workers.add(r.header("X-Worker"))
        if r.status == 429:
            refused = r
            break
        assert r.status == 200, r
        passed += 1
    elapsed = time.monotonic() - t0
    assert refused is not None, "no 429 after %d requests" % passed
    assert burst <= passed <= burst + rate * elapsed + 1, (passed, elapsed)
    assert len(b.requests) == passed, "a refused request never reaches the backend"
    retry = refused.header("Retry-After")
    assert retry is not None and retry.isdigit() and int(retry) >= 1, refused
    assert workers == {"1", "2"} or passed < 10, "the limit held across workers %s" % sorted(workers)
    # a token comes back every 1/rate seconds
    wait_for(lambda: get(lx.port, "/page").status == 200, timeout=5, what="the bucket to refill")
    assert len(b.requests) == passed + 1


def test_ban_list_bans_after_too_many_4xx_and_an_operator_unbans(env):
    def handler(req, conn):
        if req.path.startswith("/missing"):
            conn.respond(404, b"no\n", req=req)
        else:
            conn.respond(200, b"page\n", req=req)
    b = env.backend(handler)
    src = open(os.path.join(REPO, "scripts", "security", "ban_list.lua")).read()
    max_errors = int(re.search(r"^local max_errors = (\d+)", src, re.M).group(1))
    lx = example(env, "ban_list.lua", b)
    for i in range(max_errors - 1):
        assert get(lx.port, "/missing%d" % i).status == 404
    assert get(lx.port, "/ok").status == 200, "one 4xx short of the limit: not banned"
    assert get(lx.port, "/missing-last").status == 404
    r = get(lx.port, "/ok")
    assert r.status == 403 and r.header("Retry-After") and int(r.header("Retry-After")) >= 1, r
    lx.wait_error_log("banned 127.0.0.1 for")
    seen = len(b.requests)
    for _ in range(10):  # banned in both workers
        assert get(lx.port, "/ok").status == 403
    assert len(b.requests) == seen, "a banned client reaches no backend"
    r = get(lx.port, "/_ban/127.0.0.1")
    assert r.status == 200 and b"is banned for" in r.body, r
    c = env.client(lx.port)
    r = c.roundtrip("DELETE", "/_ban/127.0.0.1")
    assert r.status == 200 and r.body == b"unbanned 127.0.0.1\n", r
    assert c.roundtrip("DELETE", "/_ban/127.0.0.1").status == 404, "not banned any more"
    for _ in range(10):
        assert get(lx.port, "/ok").status == 200
    assert get(lx.port, "/missing-again").status == 404, "the count started again"
    assert get(lx.port, "/ok").status == 200
