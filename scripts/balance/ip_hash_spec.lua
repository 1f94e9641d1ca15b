-- balance/ip_hash_spec.lua - what ip_hash.lua decides, offline:
--   build/luxy test scripts/balance/ip_hash_spec.lua
-- A client address always reaches the same server; a server that leaves
-- moves only its own clients; a client cannot pick its server by sending
-- X-Forwarded-For (no trusted proxies are configured).
config "ip_hash.lua"

-- 198.51.100.N's server with all three up, and with server 3 down
local home      = { 2, 2, 1, 1, 1, 2, 1, 3, 3, 1, 2, 3 }
local without_3 = { 2, 2, 1, 1, 1, 2, 1, 2, 1, 1, 2, 1 }

local function from(ip, path, more)
  local h = { Host = "app.example" }
  for k, v in pairs(more or {}) do h[k] = v end
  return { path = path or "/", headers = h, client = ip }
end

for n = 1, #home do
  case("client 198.51.100." .. n .. " lives on server " .. home[n]) {
    request = from("198.51.100." .. n),
    expect = { decision = "route", upstream = "app", backend_index = home[n] },
  }
end

case "the address decides, not the request: another path, a cookie, the same server" {
  request = from("198.51.100.8", "/cart?id=4", { Cookie = "session=zzz" }),
  expect = { backend_index = 3 },
}

case "X-Forwarded-For from an untrusted client does not move it" {
  request = from("198.51.100.8", "/", { ["X-Forwarded-For"] = "198.51.100.1" }),
  expect = { backend_index = 3, headers = { ["X-Forwarded-For"] = "198.51.100.8" } },
}

case "load does not move a client: 198.51.100.3 stays on a busy server 1" {
  request = from("198.51.100.3"),
  backends = { app = { { inflight = 60 }, {}, {} } },
  expect = { backend_index = 1 },
}

for n = 1, #home do
  case("server 3 down: 198.51.100." .. n .. (home[n] == 3 and " moves to " or " stays on ") .. without_3[n]) {
    request = from("198.51.100." .. n),
    backends = { app = { {}, {}, { state = "down" } } },
    expect = { backend_index = without_3[n] },
  }
end

case "IPv6 clients are hashed too" {
  request = from("2001:db8::1"),
  expect = { backend_index = 2 },
}
