-- balance/wrr_spec.lua - what wrr.lua decides, offline:
--   build/luxy test scripts/balance/wrr_spec.lua
-- Smooth weighted round robin, 5 : 1 : 1: a a b a c a a, never five a's
-- in a row. The cases run in order through one group, as requests
-- through one worker: the sequence goes on from case to case.
config "wrr.lua"

local req = { path = "/", headers = { Host = "app.example" } }

for round = 1, 2 do
  for n, want in ipairs({ 1, 1, 2, 1, 3, 1, 1 }) do
    case("round " .. round .. ", request " .. n .. ": server " .. want) {
      request = req, expect = { decision = "route", upstream = "app", backend_index = want },
    }
  end
end

-- after a whole round the sequence starts again from even
for n, want in ipairs({ 1, 2, 3, 1, 2, 3 }) do
  case("weights changed at run time to 1 : 1 : 1, request " .. n .. ": server " .. want) {
    request = req, backends = { app = { { weight = 1 }, {}, {} } }, expect = { backend_index = want },
  }
end

for n, want in ipairs({ 1, 1, 1, 3, 1, 1 }) do
  case("server 2 down: 5 : 1, request " .. n .. ": server " .. want) {
    request = req, backends = { app = { {}, { state = "down" }, {} } }, expect = { backend_index = want },
  }
end

case "the admin listener (:9901) is luxy's own, never proxied" {
  request = { path = "/api/upstreams", headers = { Host = "127.0.0.1:9901" } }, listener = 2,
  expect = { decision = "admin", upstream = false },
}
