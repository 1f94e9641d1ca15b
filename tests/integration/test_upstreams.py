"""Listener options (via, x_forwarded), balancing, pooling limits, and what
select_backend sees."""

import collections

from luxyharness import Client


def fresh_get(port, target):
    c = Client(port)
    try:
        return c.roundtrip("GET", target)
    finally:
        c.close()


def test_via_and_x_forwarded_options(env):
    b = env.backend()
    conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app", via = false, x_forwarded = false }
listen { "127.0.0.1:$named_port", upstream = "app", via = "edge-7" }
upstream "app" { "127.0.0.1:$backend_port" }
"""
    lx = env.luxy(conf, backend_port=b.port)
    r = fresh_get(lx.port, "/plain")
    assert r.status == 200
    req = b.last()
    assert req.header("Via") is None
    assert req.header("X-Forwarded-For") is None
    assert req.header("X-Forwarded-Proto") is None
    assert r.header("Via") is None
    r = fresh_get(lx.subs["named_port"], "/named")
    assert b.last().header("Via") == "1.1 edge-7"
    assert b.last().header("X-Forwarded-For") == "127.0.0.1"
    assert r.header("Via") == "1.1 edge-7"


def test_weighted_round_robin_split(env):
    b1 = env.backend(name="w1")
    b2 = env.backend(name="w2")
    conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$one_port", { "127.0.0.1:$two_port", weight = 2 }, balance = "wrr" }
"""
    lx = env.luxy(conf, one_port=b1.port, two_port=b2.port)
    c = env.client(lx.port)
    seen = collections.Counter()
    order = []
    for i in range(30):
        r = c.roundtrip("GET", "/wrr%d" % i)
        assert r.status == 200
        seen[r.header("X-Test-Backend")] += 1
        order.append(r.header("X-Test-Backend"))
    assert seen == {"w1": 10, "w2": 20}, seen
    # smooth: never three in a row for the weight-2 server
    assert "w2,w2,w2" not in ",".join(order), order


def test_random_and_least_conn_use_every_server(env):
    for balance in ("random", "least_conn"):
        b1 = env.backend(name="%s-1" % balance)
        b2 = env.backend(name="%s-2" % balance)
        conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$one_port", "127.0.0.1:$two_port", balance = "%s" }
""" % balance
        lx = env.luxy(conf, one_port=b1.port, two_port=b2.port)
        c = env.client(lx.port)
        for i in range(40):
            assert c.roundtrip("GET", "/%s%d" % (balance, i)).status == 200
        assert len(b1.requests) + len(b2.requests) == 40
        assert b1.requests and b2.requests, (balance, len(b1.requests), len(b2.requests))


def test_keepalive_zero_disables_pooling(env):
    b = env.backend()
    conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port", keepalive = 0 }
"""
    lx = env.luxy(conf, backend_port=b.port)
    c = env.client(lx.port)
    for i in range(3):
        assert c.roundtrip("GET", "/nk%d" % i).status == 200
    assert b.connections == 3


def test_select_backend_sees_backend_fields(env):
    b1 = env.backend(name="f1")
    b2 = env.backend(name="f2")
    conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$one_port", { "127.0.0.1:$two_port", weight = 3 } }

function select_backend(req, backends)
  local parts = { #backends, backends.name }
  for i = 1, #backends do
    local b = backends[i]
    parts[#parts + 1] = table.concat({ b.addr, b.weight, b.index, tostring(b.healthy),
                                       tostring(b.tried), b.inflight, b.requests, b.failures }, ";")
  end
  req.ctx.info = table.concat(parts, "|")
  return backends[1]
end

function on_response(req, res)
  res:set_header("X-Info", req.ctx.info)
end
"""
    lx = env.luxy(conf, one_port=b1.port, two_port=b2.port)
    c = env.client(lx.port)
    for i in range(3):
        r = c.roundtrip("GET", "/f%d" % i)
        assert r.status == 200
        assert r.header("X-Info") == "2|app|127.0.0.1:%d;1;1;true;false;0;%d;0|127.0.0.1:%d;3;2;true;false;0;0;0" % (
            b1.port, i, b2.port), r.header("X-Info")


def test_select_backend_retry_sees_tried(env):
    b = env.backend(name="alive")
    dead_conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$dead_port", "127.0.0.1:$backend_port", tries = 2 }

function select_backend(req, backends)
  req.ctx.calls = (req.ctx.calls or 0) + 1
  if not backends[1].tried then return backends[1] end
  return backends[2]
end

function on_response(req, res)
  res:set_header("X-Calls", tostring(req.ctx.calls))
end
"""
    from luxyharness import free_port
    lx = env.luxy(dead_conf, backend_port=b.port, dead_port=free_port())
    r = env.client(lx.port).roundtrip("GET", "/retry")
    assert r.status == 200, r
    assert r.header("X-Calls") == "2"
    assert r.header("X-Test-Backend") == "alive"


def test_routing_to_unknown_upstream_500(env):
    b = env.backend()
    conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }

function on_request(req)
  if req.path == "/nowhere" then req.upstream = "nope" end
end
"""
    lx = env.luxy(conf, backend_port=b.port)
    c = env.client(lx.port)
    assert c.roundtrip("GET", "/nowhere").status == 500
    assert env.client(lx.port).roundtrip("GET", "/somewhere").status == 200
    assert [q.target for q in b.requests] == ["/somewhere"]


def test_set_query_and_add_header(env):
    b = env.backend()
    conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$backend_port" }

function on_request(req)
  if req.query == "drop=1" then req.query = nil else req.query = "a=b&c=d" end
  req:add_header("X-Multi", "one")
  req:add_header("X-Multi", "two")
end
"""
    lx = env.luxy(conf, backend_port=b.port)
    c = env.client(lx.port)
    c.roundtrip("GET", "/q?x=1")
    assert b.last().target == "/q?a=b&c=d"
    assert b.last().headers.get_all("X-Multi") == ["one", "two"]
    c.roundtrip("GET", "/q?drop=1")
    assert b.last().target == "/q"


def test_select_backend_with_builtin_wrr(env):
    b1 = env.backend(name="r1")
    b2 = env.backend(name="r2")
    conf = """
workers(1)
listen { "127.0.0.1:$port", upstream = "app" }
upstream "app" { "127.0.0.1:$one_port", "127.0.0.1:$two_port" }

function select_backend(req, backends)
  return backends:wrr()
end
"""
    lx = env.luxy(conf, one_port=b1.port, two_port=b2.port)
    c = env.client(lx.port)
    names = [c.roundtrip("GET", "/r%d" % i).header("X-Test-Backend") for i in range(10)]
    assert sorted(names) == ["r1"] * 5 + ["r2"] * 5, names
