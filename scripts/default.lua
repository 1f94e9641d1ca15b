-- default.lua - the configuration luxy runs when started without -c.
-- A forward proxy for this machine only: point a client at it and it
-- fetches http:// URLs (and tunnels https:// with CONNECT) on its behalf.
--
--   curl -x http://127.0.0.1:3128 http://example.com/
--   curl -x http://127.0.0.1:3128 https://example.com/
--   curl http://127.0.0.1:3128/          (this page)

listen {
  "127.0.0.1:3128",
  mode = "forward",
  allow = { "127.0.0.0/8", "::1" },  -- never an open proxy
}

limits { body_size = false }          -- uploads of any size pass through

-- A shared cache (RFC 9111): what many clients fetch comes from here after
-- the first. HTTPS through CONNECT is a tunnel: never cached.
cache { size = "64MB" }

-- Requests sent to the proxy itself (not through it) get a short help page
-- instead of an error.
function on_request(req)
  if req.origin == nil then
    return req:respond(200, table.concat({
      "luxy " .. luxy.version .. " - forward proxy",
      "",
      "Use me as an HTTP proxy:",
      "  curl -x http://127.0.0.1:3128 http://example.com/",
      "",
    }, "\n"))
  end
end
