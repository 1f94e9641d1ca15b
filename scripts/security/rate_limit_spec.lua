-- security/rate_limit_spec.lua - what rate_limit.lua decides, offline:
--   build/luxy test scripts/security/rate_limit_spec.lua
-- A token bucket per client address: 10 requests a second on average,
-- bursts of 20, then 429 with Retry-After. The cases run in order against
-- one shared dictionary, at the times they give.
config "rate_limit.lua"

local T = 1767225600 -- 2026-01-01 00:00:00 UTC
local function from(ip, t)
  return { request = { path = "/api/items", headers = { Host = "api.example" }, client = ip }, time = t }
end
local limited = {
  decision = "respond", status = 429, body = "too many requests\n",
  headers = { ["Retry-After"] = "1", ["Content-Type"] = "text/plain" },
}

for n = 1, 20 do
  local c = from("203.0.113.7", T)
  c.expect = { decision = "route", upstream = "app" }
  case("a burst of 20 at once passes: request " .. n)(c)
end

local c = from("203.0.113.7", T)
c.expect = limited
case "the 21st in the same instant is refused with 429 and Retry-After" (c)

c = from("198.51.100.1", T)
c.expect = { decision = "route" }
case "another client has a bucket of its own" (c)

c = from("203.0.113.7", T + 0.5)
c.expect = { decision = "route" }
case "half a second later 5 tokens came back: one passes" (c)

for n = 1, 4 do
  c = from("203.0.113.7", T + 0.5)
  c.expect = { decision = "route" }
  case("and four more: request " .. n)(c)
end

c = from("203.0.113.7", T + 0.5)
c.expect = limited
case "then the bucket is empty again" (c)

for n = 1, 20 do
  c = from("203.0.113.7", T + 10)
  c.expect = { decision = "route" }
  case("after 10 s of rest the bucket is full again (20): request " .. n)(c)
end

c = from("203.0.113.7", T + 10)
c.expect = limited
case "but not more than full: the 21st is refused" (c)

-- a client that spent its burst may go on at the sustained rate: here 5
-- a second (2 tokens come back between requests, 1 is taken)
for n = 1, 20 do
  c = from("192.0.2.50", T + 100)
  c.expect = { decision = "route" }
  case("another burst of 20: request " .. n)(c)
end
for n = 1, 10 do
  c = from("192.0.2.50", T + 100 + n * 0.2)
  c.expect = { decision = "route" }
  case("then one every 0.2 s passes: request " .. n)(c)
end
