-- cache/static_assets_spec.lua - what static_assets.lua decides, offline:
--   build/luxy test scripts/cache/static_assets_spec.lua
-- Static assets (by extension) are kept for a day whatever their headers
-- say; everything else is left to the RFC rules; the backend's Server
-- field never reaches clients.
config "static_assets.lua"

local function get(path) return { path = path, headers = { Host = "www.example" } } end

case "a stylesheet sent with no-cache is stored for a day" {
  request = get("/css/site.css"),
  response = { status = 200, headers = { ["Cache-Control"] = "no-cache", ["Content-Type"] = "text/css" } },
  expect = { decision = "cache", cache = { plan = "lookup", key = "http://www.example:80/css/site.css",
                                           store = true, ttl = 86400, reason = "cache_store said yes" } },
}

case "an image with no caching headers at all: a day" {
  request = get("/img/logo.png"),
  response = { status = 200, headers = { ["Content-Type"] = "image/png" } },
  expect = { cache = { store = true, ttl = 86400 } },
}

case "the extension is the path's: a version query does not hide it" {
  request = get("/js/app.js?v=3"),
  response = { status = 200, headers = { ["Cache-Control"] = "max-age=0" } },
  expect = { cache = { key = "http://www.example:80/js/app.js?v=3", store = true, ttl = 86400 } },
}

case "fonts too (woff2)" {
  request = get("/fonts/inter.woff2"),
  response = { status = 200, headers = { ["Cache-Control"] = "private" } },
  expect = { cache = { store = true, ttl = 86400 } },
}

case "an asset that sets a cookie is still stored (the stored copy drops it); the client that asked gets it" {
  request = get("/img/pixel.gif"),
  response = { status = 200, headers = { ["Set-Cookie"] = "visitor=1" } },
  expect = { cache = { store = true, ttl = 86400 }, response = { headers = { ["Set-Cookie"] = "visitor=1" } } },
}

case "only 200s are forced: a missing asset is left to the RFC (not stored)" {
  request = get("/img/missing.png"),
  response = { status = 404, headers = { ["Content-Type"] = "text/html" } },
  expect = { cache = { store = false } },
}

case "Vary: * can never be stored, not even for a day" {
  request = get("/css/site.css"),
  response = { status = 200, headers = { Vary = "*" } },
  expect = { cache = { store = false } },
}

case "a page is left to the RFC: max-age=30 is 30 seconds" {
  request = get("/index.html"),
  response = { status = 200, headers = { ["Cache-Control"] = "max-age=30", ["Content-Type"] = "text/html" } },
  expect = { cache = { store = true, ttl = 30, reason = "storable" } },
}

case "a page without freshness or validator is not stored" {
  request = get("/account"),
  response = { status = 200, headers = { ["Content-Type"] = "text/html" } },
  expect = { cache = { store = false } },
}

case "a name merely ending like an extension is not an asset (/report.css.html)" {
  request = get("/report.css.html"),
  response = { status = 200, headers = { ["Cache-Control"] = "max-age=5" } },
  expect = { cache = { store = true, reason = "storable", ttl = 5 } },
}

case "the backend's Server field is removed from responses" {
  request = get("/index.html"),
  response = { status = 200, headers = { Server = "nginx/1.25.3", ["Cache-Control"] = "max-age=30" } },
  expect = { response = { status = 200, headers = { Server = false, ["Cache-Control"] = "max-age=30" } } },
}

-- the lookup, against a response the cache holds (stored = ..., age in seconds)
local page = { ["Content-Type"] = "text/html", ["Cache-Control"] = "max-age=60", Server = "Apache" }

case "a stored page within its max-age is a HIT, answered without the backend" {
  request = { path = "/about", headers = { Host = "shop.example" } },
  stored = { status = 200, headers = page, body = "about us", age = 30 },
  expect = { cache = { lookup = "HIT" }, backend = false,
             response = { status = 200, headers = { Server = false, ["Cache-Control"] = "max-age=60" } } },
}

case "past its max-age it is asked again with its validators" {
  request = { path = "/about", headers = { Host = "shop.example" } },
  stored = { status = 200, headers = page, age = 90 },
  expect = { cache = { lookup = "REVALIDATE" }, backend = "127.0.0.1:9001" },
}

case "a stored asset is fresh for a day whatever it said" {
  request = { path = "/app.css", headers = { Host = "shop.example" } },
  stored = { status = 200, headers = { ["Cache-Control"] = "no-cache" }, age = 3600 },
  expect = { cache = { lookup = "REVALIDATE" } },
}

case "another language's variant does not answer this request" {
  request = { path = "/about", headers = { Host = "shop.example", ["Accept-Language"] = "ko" } },
  stored = { status = 200, headers = { ["Cache-Control"] = "max-age=60", Vary = "Accept-Language" }, age = 1,
             request = { headers = { ["Accept-Language"] = "en" } } },
  expect = { cache = { lookup = "MISS" } },
}
