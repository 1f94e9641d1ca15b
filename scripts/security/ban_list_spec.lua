-- security/ban_list_spec.lua - what ban_list.lua decides, offline:
--   build/luxy test scripts/security/ban_list_spec.lua
-- A client that gets 20 answers 4xx within 60 s is banned for 600 s
-- (403 with Retry-After); an operator on this host can look at a ban and
-- lift it. The cases run in order against the shared dictionaries, at the
-- times they give.
config "ban_list.lua"

local T = 1767225600 -- 2026-01-01 00:00:00 UTC
local SCANNER, OTHER, OPERATOR = "203.0.113.66", "198.51.100.9", "127.0.0.1"

local function visit(ip, t, path, status)
  return {
    request = { path = path or "/", headers = { Host = "www.example" }, client = ip }, time = t,
    response = status and { status = status, headers = { ["Content-Type"] = "text/html" } } or nil,
  }
end
local function banned(retry_after)
  return { decision = "respond", status = 403, body = "forbidden: too many errors, try again later\n",
           headers = { ["Retry-After"] = tostring(retry_after) } }
end
local function operator(method, who, t, ip)
  return { request = { method = method, path = "/_ban/" .. who, headers = { Host = "127.0.0.1:8080" },
                       client = ip or OPERATOR }, time = t }
end
local function def(c, expect) c.expect = expect return c end

for n = 1, 19 do
  case("a scanner's 404 number " .. n .. " passes (counted)")(
    def(visit(SCANNER, T + n, "/wp-admin/" .. n, 404), { decision = "route", response = { status = 404 } }))
end

case "other statuses are not counted: a 200, a 302, a 500" (
  def(visit(SCANNER, T + 20, "/", 500), { decision = "route", response = { status = 500 } }))
case "still not banned" (def(visit(SCANNER, T + 20, "/", 302), { decision = "route" }))

case "the 20th 4xx within the window bans it" (
  def(visit(SCANNER, T + 21, "/.env", 403), { decision = "route", response = { status = 403 } }))

case "a banned client is refused with 403, Retry-After the ban's length" (
  def(visit(SCANNER, T + 21, "/"), banned(600)))

case "a minute into the ban: Retry-After counts down" (def(visit(SCANNER, T + 81, "/"), banned(540)))

case "other clients are not affected" (def(visit(OTHER, T + 81, "/"), { decision = "route", upstream = "app" }))

case "the operator sees the ban and how long it has left" (
  def(operator("GET", SCANNER, T + 81),
      { decision = "respond", status = 200, body = SCANNER .. " is banned for 540 more seconds\n" }))

case "an unbanned address is not banned" (
  def(operator("GET", OTHER, T + 81), { decision = "respond", status = 404, body = OTHER .. " is not banned\n" }))

case "only from this host: a remote operator (even a banned one) gets 403" (
  def(operator("DELETE", SCANNER, T + 81, SCANNER), { decision = "respond", status = 403, body = "forbidden\n" }))

case "the operator lifts the ban" (
  def(operator("DELETE", SCANNER, T + 82), { decision = "respond", status = 200, body = "unbanned " .. SCANNER .. "\n" }))

case "unbanned, the client passes again" (def(visit(SCANNER, T + 82, "/"), { decision = "route" }))

case "lifting it twice says so" (
  def(operator("DELETE", SCANNER, T + 82), { decision = "respond", status = 404, body = SCANNER .. " is not banned\n" }))

case "a request without an address is a usage error" (
  def(operator("GET", "", T + 82), { decision = "respond", status = 400 }))

case "other methods are refused, saying which are allowed" (
  def(operator("PUT", SCANNER, T + 82), { decision = "respond", status = 405, headers = { Allow = "GET, DELETE" } }))

-- the window starts at a client's first 4xx: 19 of them, then a pause
-- longer than the window, and the count starts again
for n = 1, 19 do
  case("another client's 4xx number " .. n)(def(visit(OTHER, T + 100 + n, "/x" .. n, 404), { decision = "route" }))
end
case "the 20th, 61 s after the first, starts a new window: no ban" (
  def(visit(OTHER, T + 161, "/x20", 404), { decision = "route" }))
case "so the client still passes" (def(visit(OTHER, T + 161, "/"), { decision = "route" }))

-- a ban lapses by itself after 600 s
for n = 1, 20 do
  case("a third client's 404 number " .. n)(def(visit("192.0.2.1", T + 200, "/y" .. n, 404), { decision = "route" }))
end
case "banned at once after 20 in a burst" (def(visit("192.0.2.1", T + 200, "/"), banned(600)))
case "still banned just before the end" (def(visit("192.0.2.1", T + 799, "/"), banned(1)))
case "free again after 600 s" (def(visit("192.0.2.1", T + 800, "/"), { decision = "route" }))
