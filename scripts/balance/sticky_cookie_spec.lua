-- balance/sticky_cookie_spec.lua - what sticky_cookie.lua decides, offline:
--   build/luxy test scripts/balance/sticky_cookie_spec.lua
-- A new client is balanced by least connections and pinned with
-- Set-Cookie: srv=<opaque id>; with that cookie it returns to its server
-- while the server may take it (up, not drained), else it is balanced
-- again and gets a new cookie.
config "sticky_cookie.lua"

-- the servers' ids (a hash of the group, address and listing: no address in them)
local id = { "90ebfd7cb7c5ee7a", "9cd9e7efb456c7a3", "1998a800a41ebf70" }
local function pin(i) return "srv=" .. id[i] .. "; Path=/; HttpOnly" end

local function visit(cookie)
  return { path = "/cart", headers = { Host = "shop.example", Cookie = cookie } }
end
local ok = { status = 200, headers = { ["Content-Type"] = "text/html" } }

case "a new client is balanced (least connections) and pinned to the server it got" {
  request = visit(nil),
  backends = { app = { { inflight = 3 }, { inflight = 0 }, { inflight = 5 } } },
  response = ok,
  expect = { decision = "route", backend_index = 2, response = { status = 200, headers = { ["Set-Cookie"] = pin(2) } } },
}

case "another new client, other loads: another server, its own id" {
  request = visit("theme=dark"),
  backends = { app = { { inflight = 4 }, { inflight = 6 }, { inflight = 1 } } },
  response = ok,
  expect = { backend_index = 3, response = { headers = { ["Set-Cookie"] = pin(3) } } },
}

case "a pinned client returns to its server, however busy, and is not pinned again" {
  request = visit("theme=dark; srv=" .. id[2]),
  backends = { app = { { inflight = 0 }, { inflight = 40 }, { inflight = 0 } } },
  response = ok,
  expect = { backend_index = 2, response = { status = 200, headers = { ["Set-Cookie"] = false } } },
}

case "pinned also when the backend sets cookies of its own" {
  request = visit(nil),
  backends = { app = { { inflight = 0 }, { inflight = 1 }, { inflight = 1 } } },
  response = { status = 200, headers = { ["Set-Cookie"] = "cart=7; Path=/" } },
  expect = { backend_index = 1, response = { headers = { ["Set-Cookie"] = pin(1) } } },
}

case "its server drained for a deploy: the client moves, with one new cookie" {
  request = visit("srv=" .. id[2]),
  backends = { app = { { inflight = 2 }, { state = "drained" }, { inflight = 1 } } },
  response = ok,
  expect = { backend_index = 3, response = { headers = { ["Set-Cookie"] = pin(3) } } },
}

case "its server down: the same" {
  request = visit("srv=" .. id[1]),
  backends = { app = { { state = "down" }, { inflight = 0 }, { inflight = 1 } } },
  response = ok,
  expect = { backend_index = 2, response = { headers = { ["Set-Cookie"] = pin(2) } } },
}

case "a cookie naming no server of the group is ignored: balanced and pinned anew" {
  request = visit("srv=0123456789abcdef"),
  backends = { app = { { inflight = 1 }, { inflight = 1 }, { inflight = 0 } } },
  response = ok,
  expect = { backend_index = 3, response = { headers = { ["Set-Cookie"] = pin(3) } } },
}

case "a malformed cookie (an address) is ignored too" {
  request = visit("srv=127.0.0.1:9001"),
  backends = { app = { { inflight = 1 }, { inflight = 0 }, { inflight = 1 } } },
  response = ok,
  expect = { backend_index = 2, response = { headers = { ["Set-Cookie"] = pin(2) } } },
}
