-- sticky_spec.lua - what sticky.lua's select_backend decides, offline:
--   build/luxy test scripts/sticky_spec.lua
-- One user (the session cookie, else the client address) always reaches
-- the same backend; a backend that leaves moves only its own users.
config "sticky.lua"

-- where each session lives with the three backends up (rendezvous hashing
-- of "session#address"): users on every backend, to show who moves
local home = { u1 = 3, u2 = 2, u3 = 1, u4 = 1, u5 = 3, u6 = 2 }
-- with backend 2 down, its users (u2, u6) go to their next best, 3
local without_2 = { u1 = 3, u2 = 3, u3 = 1, u4 = 1, u5 = 3, u6 = 3 }

local function visit(session, client)
  return { path = "/account", headers = { Host = "shop.example", Cookie = "theme=dark; session=" .. session },
           client = client }
end

for _, user in ipairs({ "u1", "u2", "u3", "u4", "u5", "u6" }) do
  case("session " .. user .. " lives on backend " .. home[user]) {
    request = visit(user, "192.0.2.10"),
    expect = { decision = "route", upstream = "app", backend_index = home[user] },
  }
end

case "the session decides, not the address: u2 from another address stays on 2" {
  request = visit("u2", "198.51.100.99"),
  expect = { backend_index = 2, backend = "127.0.0.1:9002" },
}

case "load does not move a user: u3 stays on a busy backend 1" {
  request = visit("u3", "192.0.2.10"),
  backends = { app = { { inflight = 50, latency = 0.5 }, {}, {} } },
  expect = { backend_index = 1 },
}

for _, user in ipairs({ "u1", "u2", "u3", "u4", "u5", "u6" }) do
  case("backend 2 down: " .. user .. (home[user] == 2 and " moves" or " stays") .. " (on " .. without_2[user] .. ")") {
    request = visit(user, "192.0.2.10"),
    backends = { app = { {}, { state = "down" }, {} } },
    expect = { backend_index = without_2[user] },
  }
end

case "a drained backend keeps no user either: u6 goes to 3" {
  request = visit("u6", "192.0.2.10"),
  backends = { app = { {}, { state = "drained" }, {} } },
  expect = { backend_index = 3 },
}

case "without a session, the client address is the key" {
  request = { path = "/", headers = { Host = "shop.example" }, client = "203.0.113.1" },
  expect = { backend_index = 2 },
}

case "the same address, again the same backend" {
  request = { path = "/other", headers = { Host = "shop.example", Cookie = "theme=light" }, client = "203.0.113.1" },
  expect = { backend_index = 2 },
}

case "another address, another home" {
  request = { path = "/", headers = { Host = "shop.example" }, client = "203.0.113.2" },
  expect = { backend_index = 3 },
}

case "every backend down: no backend, luxy answers an error" {
  request = visit("u1", "192.0.2.10"),
  backends = { app = { { state = "down" }, { state = "down" }, { state = "down" } } },
  expect = { decision = "fail", status = 503, error = "no backend is available", backend = false },
}

case "the backend's Server field never reaches the client" {
  request = visit("u1", "192.0.2.10"),
  response = { status = 200, headers = { Server = "gunicorn/21", ["Content-Type"] = "text/html" } },
  expect = { response = { status = 200, headers = { Server = false, ["Content-Type"] = "text/html" } } },
}
