-- anonymous.lua - a forward proxy that tells origins as little as possible
-- about its clients: the built-in "elite" level (no client address, no
-- sign of a proxy, one common browser identity, client hints removed,
-- Referer cut to its origin across sites), cookies only for the site the
-- user is on, and an exception: the company intranet sees who is asking.
-- Point browsers or curl at 127.0.0.1:3128.
--
--   build/luxy -c scripts/anonymous.lua
--   curl -x http://127.0.0.1:3128 http://example.com/
--
-- docs/anonymity.md shows what an origin sees at each level;
-- lua/luxy/anonymity/elite.lua is the same level written in Lua, to copy
-- and change.

listen {
  "127.0.0.1:3128",
  mode = "forward",
  allow = { "127.0.0.0/8", "::1" },
  anonymity = "elite",
  accept_language = "en-US,en;q=0.9",
  cookies = "third_party",          -- no cookies to trackers embedded in other sites
  connect_ports = { 443 },
}

limits { body_size = false }

local util = require "luxy.util"

function on_request(req)
  -- the company's own sites may know who is asking
  if req.host and util.ends_with(req.host, ".intranet.example") then
    req.anonymity = "transparent"
  end
end
