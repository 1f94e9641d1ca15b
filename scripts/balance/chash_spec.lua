-- balance/chash_spec.lua - what chash.lua decides, offline:
--   build/luxy test scripts/balance/chash_spec.lua
-- Consistent hashing on the request target: one target, one server; a
-- server that leaves hands only its own targets to the others.
config "chash.lua"

-- each /item/N's server with all three up, and with server 2 down
local home      = { 3, 2, 2, 2, 2, 2, 2, 3, 2, 1, 3, 3, 1, 2, 2, 1 }
local without_2 = { 3, 3, 3, 3, 3, 1, 3, 3, 1, 1, 3, 3, 1, 1, 1, 1 }

local function get(path, client)
  return { path = path, headers = { Host = "cdn.example" }, client = client }
end

for i = 1, #home do
  case("/item/" .. i .. " lives on server " .. home[i]) {
    request = get("/item/" .. i),
    expect = { decision = "route", upstream = "app", backend_index = home[i] },
  }
end

case "the key is the target: another client, the same server" {
  request = get("/item/10", "203.0.113.50"),
  expect = { backend_index = 1 },
}

case "the key is the whole target: its query counts (/item/4?v=3 is elsewhere)" {
  request = get("/item/4?v=3"),
  expect = { backend_index = 3 },
}

case "load does not move a key: /item/1 stays on a busy server 3" {
  request = get("/item/1"),
  backends = { app = { {}, {}, { inflight = 100 } } },
  expect = { backend_index = 3 },
}

for i = 1, #home do
  local moves = home[i] == 2
  case("server 2 down: /item/" .. i .. (moves and " moves to " or " stays on ") .. without_2[i]) {
    request = get("/item/" .. i),
    backends = { app = { {}, { state = "down" }, {} } },
    expect = { backend_index = without_2[i] },
  }
end

case "server 2 back: its keys come back to it" {
  request = get("/item/5"),
  expect = { backend_index = 2 },
}

case "every server down: a quick 503" {
  request = get("/item/1"),
  backends = { app = { { state = "down" }, { state = "down" }, { state = "ejected" } } },
  expect = { decision = "fail", status = 503, error = "no server of the upstream is available" },
}
