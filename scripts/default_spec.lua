-- default_spec.lua - what default.lua (luxy without -c) decides, offline:
--   build/luxy test scripts/default_spec.lua
-- A forward proxy for this machine only, anonymity "anonymous" (the
-- default level), a shared cache, and a help page for requests sent to the
-- proxy itself.
config "default.lua"

local browser = {
  Host = "example.com", ["User-Agent"] = "curl/8.5", Accept = "*/*", Cookie = "lang=en",
  ["X-Forwarded-For"] = "10.1.2.3", ["X-Real-IP"] = "10.1.2.3", ["Proxy-Connection"] = "keep-alive",
}

case "an http:// URL is fetched from its origin, in origin form" {
  request = { target = "http://example.com/page?q=1", headers = browser },
  expect = {
    decision = "cache", origin = "example.com:80", request_line = "GET /page?q=1 HTTP/1.1",
    headers = { Host = "example.com" },
  },
}

case "a port in the URL is the origin's port" {
  request = { target = "http://example.com:8080/x", headers = { Host = "example.com:8080" } },
  expect = { origin = "example.com:8080", request_line = "GET /x HTTP/1.1", headers = { Host = "example.com:8080" } },
}

case "anonymous: no client address reaches the origin, the proxy says Via" {
  request = { target = "http://example.com/", headers = browser, client = "127.0.0.5" },
  expect = {
    headers = {
      ["X-Forwarded-For"] = false, ["X-Real-IP"] = false, Forwarded = false, ["Proxy-Connection"] = false,
      Via = "1.1 luxy", ["User-Agent"] = "curl/8.5", Cookie = "lang=en", Accept = "*/*",
    },
  },
}

case "the client gets Via on the response too" {
  request = { target = "http://example.com/", headers = { Host = "example.com" } },
  response = { status = 200, headers = { ["Content-Type"] = "text/html", Connection = "close" } },
  expect = { response = { status = 200, headers = { Via = "1.1 luxy", ["Content-Type"] = "text/html", Connection = false } } },
}

case "https:// goes through a CONNECT tunnel to port 443, with no head sent" {
  request = { method = "CONNECT", target = "example.com:443", headers = { Host = "example.com:443" } },
  expect = { decision = "route", origin = "example.com:443", request_line = false },
}

case "CONNECT to another port is refused" {
  request = { method = "CONNECT", target = "mail.example.com:25", headers = { Host = "mail.example.com:25" } },
  expect = { decision = "refuse", status = 403, error = "CONNECT to this port is not allowed" },
}

case "https:// in absolute form is refused: use CONNECT" {
  request = { target = "https://example.com/", headers = { Host = "example.com" } },
  expect = { decision = "reject", status = 400 },
}

case "never an open proxy: a client from another network is refused" {
  request = { target = "http://example.com/", headers = { Host = "example.com" }, client = "203.0.113.7" },
  expect = { decision = "refuse", status = 403, error = "access denied" },
}

case "IPv6 loopback is a local client" {
  request = { target = "http://example.com/", headers = { Host = "example.com" }, client = "::1" },
  expect = { decision = "cache", origin = "example.com:80" },
}

case "a request to the proxy itself gets the help page" {
  request = { path = "/", headers = { Host = "127.0.0.1:3128" } },
  expect = { decision = "respond", status = 200 },
}

case "GETs are looked up in the shared cache by scheme, host, port and target" {
  request = { target = "http://Example.COM/a/b?x=1&y=2", headers = { Host = "Example.COM" } },
  expect = { decision = "cache", cache = { plan = "lookup", key = "http://example.com:80/a/b?x=1&y=2" } },
}

case "a response with max-age is stored for that long" {
  request = { target = "http://example.com/logo.png", headers = { Host = "example.com" } },
  response = { status = 200, headers = { ["Cache-Control"] = "max-age=600", ["Content-Type"] = "image/png" } },
  expect = { cache = { store = true, ttl = 600, reason = "storable" } },
}

case "no-store is honoured" {
  request = { target = "http://example.com/account", headers = { Host = "example.com" } },
  response = { status = 200, headers = { ["Cache-Control"] = "no-store" } },
  expect = { cache = { store = false } },
}

case "a shared cache keeps no private response" {
  request = { target = "http://example.com/me", headers = { Host = "example.com" } },
  response = { status = 200, headers = { ["Cache-Control"] = "private, max-age=60" } },
  expect = { cache = { store = false } },
}

case "an upload of any size passes (body_size = false), past the cache" {
  request = { method = "PUT", target = "http://example.com/big.iso",
              headers = { Host = "example.com", ["Content-Length"] = "10737418240" } },
  expect = { decision = "route", origin = "example.com:80", headers = { ["Content-Length"] = "10737418240" } },
}
