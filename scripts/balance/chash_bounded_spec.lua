-- balance/chash_bounded_spec.lua - what chash_bounded.lua decides, offline:
--   build/luxy test scripts/balance/chash_bounded_spec.lua
-- Consistent hashing on the path, with bounded loads: a key stays on its
-- server unless that one has ceil(1.25 x the average in flight, counting
-- this request) or more; then it spills to the next server of the ring.
config "chash_bounded.lua"

local function get(target) return { target = target, headers = { Host = "api.example" } } end

case "/p/1 lives on server 4" {
  request = get("/p/1"), expect = { decision = "route", upstream = "app", backend_index = 4 },
}
case "/p/2 lives on server 1" { request = get("/p/2"), expect = { backend_index = 1 } }
case "/p/3 lives on server 2" { request = get("/p/3"), expect = { backend_index = 2 } }

case "the key is the path: the query does not move it" {
  request = get("/p/3?page=7&sort=desc"), expect = { backend_index = 2 },
}

-- 4 servers, 9 in flight: the bound is ceil(1.25 x 10 / 4) = 4
case "under the bound, the key stays: server 1 at 3 in flight (others 2)" {
  request = get("/p/2"),
  backends = { app = { { inflight = 3 }, { inflight = 2 }, { inflight = 2 }, { inflight = 2 } } },
  expect = { backend_index = 1 },
}

-- 10 in flight: ceil(1.25 x 11 / 4) = 4, and server 1 has 4
case "at the bound, a hot key spills to the next server of the ring" {
  request = get("/p/2"),
  backends = { app = { { inflight = 4 }, { inflight = 2 }, { inflight = 2 }, { inflight = 2 } } },
  expect = { backend_index = 4 },
}

case "with that next server drained too, the spill goes on along the ring (to 3)" {
  request = get("/p/2"),
  backends = { app = { { inflight = 4 }, { inflight = 2 }, { inflight = 2 }, { inflight = 2, state = "drained" } } },
  expect = { backend_index = 3 },
}

case "a hot key's spill does not move other keys: /p/3 stays on 2" {
  request = get("/p/3"),
  backends = { app = { { inflight = 40 }, { inflight = 2 }, {}, {} } },
  expect = { backend_index = 2 },
}

case "everyone equally busy: nobody is over the bound, the key stays" {
  request = get("/p/1"),
  backends = { app = { { inflight = 5 }, { inflight = 5 }, { inflight = 5 }, { inflight = 5 } } },
  expect = { backend_index = 4 },
}

case "its server down: the key goes to the ring's next one" {
  request = get("/p/2"),
  backends = { app = { { state = "down" }, {}, {}, {} } },
  expect = { backend_index = 4 },
}
