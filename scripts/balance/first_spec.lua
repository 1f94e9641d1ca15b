-- balance/first_spec.lua - what first.lua decides, offline:
--   build/luxy test scripts/balance/first_spec.lua
-- Active / standby: everything to the first server that may take it.
config "first.lua"

local req = { path = "/", headers = { Host = "app.example" } }

case "the primary takes every request" {
  request = req, expect = { decision = "route", upstream = "app", backend_index = 1, backend = "127.0.0.1:9001" },
}

case "again the primary: there is no turn to take" {
  request = req, expect = { backend_index = 1 },
}

case "load does not matter: a busy primary still takes it" {
  request = req,
  backends = { app = { { inflight = 500, latency = 2 }, {} } },
  expect = { backend_index = 1 },
}

case "the primary down (failed its health checks): the standby takes over" {
  request = req, backends = { app = { { state = "down" }, {} } }, expect = { backend_index = 2, backend = "127.0.0.1:9002" },
}

case "the primary drained for a deploy: the standby" {
  request = req, backends = { app = { { state = "drained" }, {} } }, expect = { backend_index = 2 },
}

case "the primary ejected (outlier): the standby" {
  request = req, backends = { app = { { state = "ejected" }, {} } }, expect = { backend_index = 2 },
}

case "the primary back: it takes over again" {
  request = req, backends = { app = { {}, {} } }, expect = { backend_index = 1 },
}

case "both down: a quick 503, no waiting" {
  request = req, backends = { app = { { state = "down" }, { state = "down" } } },
  expect = { decision = "fail", status = 503 },
}
