-- anonymous.lua - a forward proxy that tells origins as little as possible
-- about its clients: no client address, no proxy announcement, one generic
-- browser identity. Point browsers or curl at 127.0.0.1:3128.
--
--   build/luxy -c scripts/anonymous.lua
--   curl -x http://127.0.0.1:3128 http://example.com/

listen {
  "127.0.0.1:3128",
  mode = "forward",
  allow = { "127.0.0.0/8", "::1" },
  via = false,            -- no "Via: 1.1 luxy"
  x_forwarded = false,    -- no X-Forwarded-For / -Proto
  connect_ports = { 443 },
}

limits { body_size = false }

-- Fields that identify the client, its device or its software.
local drop = {
  "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Client-IP",
  "True-Client-IP", "X-Client-IP", "X-Cluster-Client-IP",
  "Sec-CH-UA", "Sec-CH-UA-Mobile", "Sec-CH-UA-Platform", "Sec-CH-UA-Platform-Version",
  "Sec-CH-UA-Model", "Sec-CH-UA-Arch", "Sec-CH-UA-Full-Version-List",
  "X-Requested-With", "DNT",
}

local generic_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

function on_request(req)
  for _, name in ipairs(drop) do
    req:del_header(name)
  end
  if req:header("User-Agent") then
    req:set_header("User-Agent", generic_agent)
  end
  -- a Referer tells the next site where the user came from: keep only the origin
  local ref = req:header("Referer")
  if ref then
    local origin = ref:match("^(https?://[^/]+)")
    if origin then req:set_header("Referer", origin .. "/") else req:del_header("Referer") end
  end
end
