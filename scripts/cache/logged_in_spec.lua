-- cache/logged_in_spec.lua - what logged_in.lua decides, offline:
--   build/luxy test scripts/cache/logged_in_spec.lua
-- Anonymous visitors share cached pages; a logged-in user (a session
-- cookie) always goes to the origin; a response that logs someone in
-- (sets the session cookie) is never stored.
config "logged_in.lua"

local function get(path, cookie)
  return { path = path, headers = { Host = "shop.example", Cookie = cookie } }
end
local fresh = { status = 200, headers = { ["Cache-Control"] = "max-age=60", ["Content-Type"] = "text/html" } }

case "an anonymous visitor is served from the cache, by the default key" {
  request = get("/products?page=2"),
  expect = { decision = "cache", upstream = "app", cache = { plan = "lookup", key = "http://shop.example:80/products?page=2" } },
}

case "other cookies do not make a visitor logged in" {
  request = get("/products", "theme=dark; lang=en"),
  expect = { cache = { plan = "lookup", key = "http://shop.example:80/products" } },
}

case "a logged-in user bypasses the cache and reaches the origin" {
  request = get("/products", "theme=dark; session=abc123"),
  expect = { decision = "cache", cache = { plan = "bypass (cache_key)", key = false }, upstream = "app",
             backend = "127.0.0.1:9001", headers = { Cookie = "theme=dark; session=abc123" } },
}

case "a cookie merely named like it is not a session (xsession=)" {
  request = get("/products", "xsession=1"),
  expect = { cache = { plan = "lookup" } },
}

case "a page for anonymous visitors is stored for its max-age" {
  request = get("/products"), response = fresh,
  expect = { cache = { store = true, ttl = 60, reason = "storable" } },
}

case "a response that logs someone in is never stored" {
  request = get("/login"),
  response = { status = 200, headers = { ["Cache-Control"] = "max-age=60", ["Set-Cookie"] = "session=new; HttpOnly" } },
  expect = { cache = { store = false, reason = "cache_store said no" },
             response = { headers = { ["Set-Cookie"] = "session=new; HttpOnly" } } },
}

case "other Set-Cookie responses are left to the RFC rules: not stored in a shared cache" {
  request = get("/products"),
  response = { status = 200, headers = { ["Cache-Control"] = "max-age=60", ["Set-Cookie"] = "theme=dark" } },
  expect = { cache = { store = false, reason = "Set-Cookie" } },
}

case "the RFC decides the rest: no freshness, no validator, not stored" {
  request = get("/products"), response = { status = 200, headers = { ["Content-Type"] = "text/html" } },
  expect = { cache = { store = false } },
}

case "the RFC decides the rest: no-store is honoured" {
  request = get("/products"), response = { status = 200, headers = { ["Cache-Control"] = "no-store" } },
  expect = { cache = { store = false } },
}

case "a POST is never cached" {
  request = { method = "POST", path = "/cart", headers = { Host = "shop.example" }, body = "item=3" },
  expect = { decision = "route", upstream = "app", cache = false },
}
