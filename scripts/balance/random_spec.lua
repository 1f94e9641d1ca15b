-- balance/random_spec.lua - what random.lua decides, offline:
--   build/luxy test scripts/balance/random_spec.lua
-- Weighted random choice among the servers that may be picked. The draws
-- are seeded (seed below), so every run sees the same ones.
config "random.lua"
seed(3)

local req = { path = "/", headers = { Host = "app.example" } }

for n = 1, 8 do
  case("draw " .. n .. ": any server that is up") {
    request = req, expect = { decision = "route", upstream = "app", backend_index = { 1, 2, 3 } },
  }
end

for n = 1, 8 do
  case("draw " .. n .. ": never the one that is down") {
    request = req, backends = { app = { {}, { state = "down" }, {} } }, expect = { backend_index = { 1, 3 } },
  }
end

for n = 1, 8 do
  -- weight 1000 against 1 and 1: another server is drawn once in 500
  case("draw " .. n .. ": weights count (1000 : 1 : 1)") {
    request = req, backends = { app = { {}, {}, { weight = 1000 } } }, expect = { backend_index = 3 },
  }
end

case "no state: load is not looked at, the busy one is drawn as any other" {
  request = req, backends = { app = { { inflight = 1000, weight = 1000 }, {}, {} } }, expect = { backend_index = 1 },
}

case "one left: it takes everything" {
  request = req, backends = { app = { { state = "drained" }, { state = "ejected" }, {} } }, expect = { backend_index = 3 },
}

case "none left: a quick 503" {
  request = req, backends = { app = { { state = "down" }, { state = "down" }, { state = "down" } } },
  expect = { decision = "fail", status = 503 },
}
