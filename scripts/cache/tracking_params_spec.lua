-- cache/tracking_params_spec.lua - what tracking_params.lua decides, offline:
--   build/luxy test scripts/cache/tracking_params_spec.lua
-- One cache entry per page, not per campaign: tracking parameters are
-- left out of the key and the others sorted; the origin still gets the
-- URL as the client sent it.
config "tracking_params.lua"

local function get(target) return { path = target, headers = { Host = "shop.example" } } end
local KEY = "http://shop.example/p?a=1&b=2"

case "tracking parameters are left out of the key, the rest sorted" {
  request = get("/p?b=2&a=1&utm_source=x"),
  expect = { decision = "cache", cache = { plan = "lookup", key = KEY } },
}

case "the same page without them shares that entry" {
  request = get("/p?a=1&b=2"), expect = { cache = { key = KEY } },
}

case "every tracking parameter goes: utm_*, fbclid, gclid, mc_eid, msclkid" {
  request = get("/p?utm_medium=m&a=1&utm_campaign=c&fbclid=F&b=2&gclid=G&utm_term=t&utm_content=u&mc_eid=e&msclkid=M"),
  expect = { cache = { key = KEY } },
}

case "the order of the other parameters does not matter" {
  request = get("/p?b=2&a=1"), expect = { cache = { key = KEY } },
}

case "parameters that matter keep pages apart" {
  request = get("/p?a=1&b=3"), expect = { cache = { key = "http://shop.example/p?a=1&b=3" } },
}

case "a parameter merely starting like one is kept (utm_sourcex)" {
  request = get("/p?utm_sourcex=1"), expect = { cache = { key = "http://shop.example/p?utm_sourcex=1" } },
}

case "the origin receives the URL as the client sent it" {
  request = get("/p?b=2&a=1&utm_source=x"),
  expect = { upstream = "app", backend = "127.0.0.1:9001", request_line = "GET /p?b=2&a=1&utm_source=x HTTP/1.1" },
}

case "a fresh response is stored under the shared key for its max-age" {
  request = get("/p?a=1&b=2&gclid=G"),
  response = { status = 200, headers = { ["Cache-Control"] = "max-age=300" } },
  expect = { cache = { key = KEY, store = true, ttl = 300 } },
}

case "a POST bypasses the cache" {
  request = { method = "POST", path = "/p?utm_source=x", headers = { Host = "shop.example" }, body = "q=1" },
  expect = { decision = "route", cache = false, request_line = "POST /p?utm_source=x HTTP/1.1" },
}

case "the host's case does not split the cache" {
  request = { path = "/p?b=2&a=1", headers = { Host = "Shop.Example" } },
  expect = { cache = { key = KEY } },
}

case "a page with only tracking parameters shares the bare page's entry" {
  request = get("/p?utm_source=x&gclid=y"),
  expect = { cache = { key = "http://shop.example/p" } },
}
