-- anonymous_spec.lua - what leaves the proxy under anonymous.lua, offline:
--   build/luxy test --explain scripts/anonymous_spec.lua
-- The "elite" level: no client address, no sign of a proxy, one browser
-- identity for everyone, no client hints; cookies only for the site the
-- user is on; the company intranet sees who is asking (transparent).
config "anonymous.lua"

local ELITE_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " ..
                 "Chrome/131.0.0.0 Safari/537.36"
local FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0 MyDistro/1.2"

-- a browser behind another proxy (docs/anonymity.md's example), on host
local function browser(host, more)
  local h = {
    Host = host, ["User-Agent"] = FIREFOX, Accept = "text/html",
    ["Accept-Language"] = "ko-KR,ko;q=0.9,en;q=0.5", Cookie = "session=abc",
    ["X-Forwarded-For"] = "192.0.2.7", ["X-Real-IP"] = "192.0.2.7", Forwarded = "for=192.0.2.7",
    ["Client-IP"] = "192.0.2.7", ["True-Client-IP"] = "192.0.2.7", Via = "1.1 corp-proxy",
    From = "someone@example.com", ["Sec-CH-UA"] = '"Chromium";v="131"', ["Sec-CH-UA-Platform"] = '"Linux"',
    ["Device-Memory"] = "8", ["X-Forwarded-Proto"] = "https", ["X-Custom"] = "kept",
  }
  for k, v in pairs(more or {}) do h[k] = v end
  return h
end

case "elite: no client address in any field" {
  request = { target = "http://shop.example/page", headers = browser("shop.example") },
  expect = {
    decision = "route", origin = "shop.example:80",
    headers = { ["X-Forwarded-For"] = false, ["X-Real-IP"] = false, Forwarded = false, ["Client-IP"] = false,
                ["True-Client-IP"] = false },
  },
}

case "elite: no sign of a proxy (no Via, neither the client's nor luxy's)" {
  request = { target = "http://shop.example/page", headers = browser("shop.example") },
  expect = { headers = { Via = false, ["X-Forwarded-Proto"] = false, ["X-Request-Id"] = false } },
}

case "elite: one browser identity, no client hints, no From" {
  request = { target = "http://shop.example/page", headers = browser("shop.example") },
  expect = {
    headers = { ["User-Agent"] = ELITE_UA, ["Accept-Language"] = "en-US,en;q=0.9", ["Sec-CH-UA"] = false,
                ["Sec-CH-UA-Platform"] = false, ["Device-Memory"] = false, From = false,
                Accept = "text/html", ["X-Custom"] = "kept" },
  },
}

case "elite: a client without a User-Agent gets the common one" {
  request = { target = "http://shop.example/", headers = { Host = "shop.example" } },
  expect = { headers = { ["User-Agent"] = ELITE_UA, ["Accept-Language"] = false } },
}

case "elite: a Referer from another site is cut to its origin" {
  request = { target = "http://shop.example/page",
              headers = browser("shop.example", { Referer = "https://news.example/articles/1?ref=home" }) },
  expect = { headers = { Referer = "https://news.example/" } },
}

case "elite: a Referer of the same site stays whole" {
  request = { target = "http://shop.example/cart",
              headers = browser("shop.example", { Referer = "http://shop.example/page?id=3" }) },
  expect = { headers = { Referer = "http://shop.example/page?id=3" } },
}

case "cookies: the site the user is on gets its cookies" {
  request = { target = "http://shop.example/cart",
              headers = browser("shop.example", { ["Sec-Fetch-Site"] = "same-origin" }) },
  response = { status = 200, headers = { ["Set-Cookie"] = "cart=1; Path=/" } },
  expect = { headers = { Cookie = "session=abc" }, response = { headers = { ["Set-Cookie"] = "cart=1; Path=/" } } },
}

case "cookies: a tracker embedded in another site gets none, and sets none" {
  request = { target = "http://tracker.example/pixel.gif",
              headers = browser("tracker.example", { ["Sec-Fetch-Site"] = "cross-site" }) },
  response = { status = 200, headers = { ["Set-Cookie"] = "uid=42; Max-Age=31536000" } },
  expect = { headers = { Cookie = false }, response = { headers = { ["Set-Cookie"] = false } } },
}

case "cookies: without Sec-Fetch-Site, a Referer of another site makes it third party" {
  request = { target = "http://tracker.example/pixel.gif",
              headers = browser("tracker.example", { Referer = "https://news.example/articles/1" }) },
  expect = { headers = { Cookie = false } },
}

case "elite: the client learns nothing of the proxy either (no Via on the response)" {
  request = { target = "http://shop.example/", headers = browser("shop.example") },
  response = { status = 200, headers = { ["Content-Type"] = "text/html" } },
  expect = { response = { status = 200, headers = { Via = false, ["Content-Type"] = "text/html" } } },
}

case "the intranet is the exception: it sees who is asking (transparent)" {
  request = { target = "http://wiki.intranet.example/page",
              headers = browser("wiki.intranet.example", { ["Sec-Fetch-Site"] = "same-origin" }) },
  expect = {
    headers = {
      ["X-Forwarded-For"] = "192.0.2.7, 127.0.0.1", Forwarded = "for=192.0.2.7, for=127.0.0.1",
      ["User-Agent"] = FIREFOX, ["Accept-Language"] = "ko-KR,ko;q=0.9,en;q=0.5", From = "someone@example.com",
      Cookie = "session=abc", ["Sec-CH-UA"] = '"Chromium";v="131"',
    },
  },
}

case "a look-alike of the intranet gets no exception" {
  request = { target = "http://intranet.example.evil.example/", headers = browser("intranet.example.evil.example") },
  expect = { headers = { ["X-Forwarded-For"] = false, ["User-Agent"] = ELITE_UA } },
}

case "https:// tunnels to port 443" {
  request = { method = "CONNECT", target = "shop.example:443", headers = { Host = "shop.example:443" } },
  expect = { decision = "route", origin = "shop.example:443", request_line = false },
}

case "tunnels to other ports are refused" {
  request = { method = "CONNECT", target = "shop.example:8443", headers = { Host = "shop.example:8443" } },
  expect = { decision = "refuse", status = 403 },
}

case "only this machine may use it" {
  request = { target = "http://shop.example/", headers = { Host = "shop.example" }, client = "198.51.100.20" },
  expect = { decision = "refuse", status = 403 },
}
