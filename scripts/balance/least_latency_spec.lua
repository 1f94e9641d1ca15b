-- balance/least_latency_spec.lua - what least_latency.lua's select_backend
-- decides, offline:
--   build/luxy test scripts/balance/least_latency_spec.lua
-- The lowest latency among the servers that may be picked; requests in
-- flight break ties; nil when none is left.
config "least_latency.lua"

local req = { path = "/", headers = { Host = "app.example" } }

case "the fastest server wins" {
  request = req,
  backends = { app = { { latency = 0.050 }, { latency = 0.010 }, { latency = 0.200 } } },
  expect = { decision = "route", upstream = "app", backend_index = 2 },
}

case "load does not outweigh latency: the fastest wins even when busy" {
  request = req,
  backends = { app = { { latency = 0.030, inflight = 0 }, { latency = 0.020, inflight = 40 }, { latency = 0.5 } } },
  expect = { backend_index = 2 },
}

case "equal latencies: the one with fewer in flight" {
  request = req,
  backends = { app = { { latency = 0.010, inflight = 3 }, { latency = 0.010, inflight = 1 }, { latency = 0.2 } } },
  expect = { backend_index = 2 },
}

case "nothing measured yet (latency 0): the idlest one" {
  request = req,
  backends = { app = { { inflight = 2 }, { inflight = 1 }, { inflight = 0 } } },
  expect = { backend_index = 3 },
}

case "the fastest is down: the next fastest" {
  request = req,
  backends = { app = { { latency = 0.050 }, { latency = 0.010, state = "down" }, { latency = 0.200 } } },
  expect = { backend_index = 1 },
}

case "the fastest is ejected (outlier detection): the next fastest" {
  request = req,
  backends = { app = { { latency = 0.050 }, { latency = 0.300 }, { latency = 0.001, state = "ejected" } } },
  expect = { backend_index = 1 },
}

case "none available: the script returns nil and luxy answers 503" {
  request = req,
  backends = { app = { { state = "down" }, { state = "drained" }, { state = "down" } } },
  expect = { decision = "fail", status = 503, error = "no backend is available" },
}
