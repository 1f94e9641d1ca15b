-- balance/least_conn_spec.lua - what least_conn.lua decides, offline:
--   build/luxy test scripts/balance/least_conn_spec.lua
-- Weighted least connections: the fewest requests in flight per unit of
-- weight (server 3 has weight 2); a server that is down is never picked.
config "least_conn.lua"

local req = { path = "/report", headers = { Host = "app.example" } }
local function loads(a, b, c) return { app = { { inflight = a }, { inflight = b }, { inflight = c } } } end

case "the least loaded is chosen" {
  request = req, backends = loads(5, 1, 9),
  expect = { decision = "route", upstream = "app", backend_index = 2, backend = "127.0.0.1:9002" },
}

case "another spread, another choice" {
  request = req, backends = loads(0, 3, 4), expect = { backend_index = 1 },
}

case "per unit of weight: 3 in flight on weight 2 (1.5) beats 2 on weight 1" {
  request = req, backends = loads(2, 2, 3), expect = { backend_index = 3 },
}

case "per unit of weight: 5 on weight 2 (2.5) loses to 2 on weight 1" {
  request = req, backends = loads(4, 2, 5), expect = { backend_index = 2 },
}

case "latency does not count, only requests in flight" {
  request = req,
  backends = { app = { { inflight = 1, latency = 0.001 }, { inflight = 0, latency = 3 }, { inflight = 4 } } },
  expect = { backend_index = 2 },
}

case "an idle server that is down is not picked" {
  request = req,
  backends = { app = { { inflight = 0, state = "down" }, { inflight = 7 }, { inflight = 10 } } },
  expect = { backend_index = 3 },
}

case "a weight changed at run time counts: weight 4 on server 1" {
  request = req,
  backends = { app = { { inflight = 6, weight = 4 }, { inflight = 2 }, { inflight = 4 } } },
  expect = { backend_index = 1 },
}

case "every server down: a quick 503" {
  request = req,
  backends = { app = { { state = "down" }, { state = "down" }, { state = "drained" } } },
  expect = { decision = "fail", status = 503 },
}
