-- balance/rr_spec.lua - what rr.lua decides, offline:
--   build/luxy test scripts/balance/rr_spec.lua
-- Plain round robin: each server in turn, weights ignored. The cases run
-- in order through one group, as requests through one worker: the turn
-- goes on from case to case.
config "rr.lua"

local req = { path = "/", headers = { Host = "app.example" } }

for n, want in ipairs({ 1, 2, 3, 1, 2, 3 }) do
  case("request " .. n .. " goes to server " .. want) {
    request = req, expect = { decision = "route", upstream = "app", backend_index = want },
  }
end

for n, want in ipairs({ 1, 2, 3, 1 }) do
  case("weights ignored (10 : 1 : 1), request " .. n .. ": server " .. want) {
    request = req, backends = { app = { { weight = 10 }, {}, {} } }, expect = { backend_index = want },
  }
end

for n, want in ipairs({ 3, 1, 3, 1 }) do
  case("server 2 down, its turn skipped, request " .. n .. ": server " .. want) {
    request = req, backends = { app = { {}, { state = "down" }, {} } }, expect = { backend_index = want },
  }
end

for n, want in ipairs({ 2, 3, 1 }) do
  case("load ignored (9 in flight on server 2, none elsewhere), request " .. n .. ": server " .. want) {
    request = req, backends = { app = { {}, { inflight = 9 }, {} } }, expect = { backend_index = want },
  }
end
