-- balance/p2c_spec.lua - what p2c.lua decides, offline:
--   build/luxy test scripts/balance/p2c_spec.lua
-- Power of two choices on a peak-EWMA score: two different servers drawn
-- at random, the lower (peak latency + 1 ms) x (in flight + 1) / weight
-- wins. With two candidates the draw is always both of them, so those
-- cases are exact; with four, the slowest can never win a draw.
config "p2c.lua"
seed(7)

local req = { path = "/", headers = { Host = "app.example" } }

case "of two, the faster wins" {
  request = req,
  backends = { app = { { latency = 0.100 }, { state = "down" }, { latency = 0.010 }, { state = "down" } } },
  expect = { decision = "route", upstream = "app", backend_index = 3 },
}

case "latency x load: a fast server with 20 in flight (11 x 21) loses to an idle slower one (51 x 1)" {
  request = req,
  backends = { app = { { latency = 0.010, inflight = 20 }, { latency = 0.050 }, { state = "down" }, { state = "down" } } },
  expect = { backend_index = 2 },
}

case "latency x load: with 3 in flight (11 x 4) the fast one still wins over 51 x 1" {
  request = req,
  backends = { app = { { latency = 0.010, inflight = 3 }, { latency = 0.050 }, { state = "down" }, { state = "down" } } },
  expect = { backend_index = 1 },
}

case "per unit of weight: weight 4 makes 8 in flight cheaper" {
  request = req,
  backends = { app = { { latency = 0.010, inflight = 8, weight = 4 }, { latency = 0.010, inflight = 3 },
                       { state = "drained" }, { state = "drained" } } },
  expect = { backend_index = 1 },
}

-- four candidates: whichever two are drawn, server 4 (1 s) loses its draw
for n = 1, 12 do
  case("draw " .. n .. ": a server turned slow gets nothing") {
    request = req,
    backends = { app = { { latency = 0.010 }, { latency = 0.012 }, { latency = 0.011 }, { latency = 1.0 } } },
    expect = { backend_index = { 1, 2, 3 } },
  }
end

for n = 1, 6 do
  case("draw " .. n .. ": an ejected server is never drawn, however fast") {
    request = req,
    backends = { app = { { latency = 0.050 }, { latency = 0.0001, state = "ejected" }, { latency = 0.050 },
                         { latency = 0.050 } } },
    expect = { backend_index = { 1, 3, 4 } },
  }
end

case "one left: it takes everything" {
  request = req,
  backends = { app = { { state = "down" }, { state = "ejected" }, { latency = 3, inflight = 100 }, { state = "drained" } } },
  expect = { backend_index = 3 },
}
