-- cache/tracking_params.lua - one cache entry per page, not per campaign:
-- tracking parameters (utm_*, fbclid, gclid, ...) are left out of the key,
-- and the others are sorted, so ?b=2&a=1&utm_source=x and ?a=1&b=2 share an
-- entry. The origin still receives the URL as the client sent it.
--
--   build/luxy -c scripts/cache/tracking_params.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:9001" }
cache { size = "256MB" }

local tracking = { utm_source = true, utm_medium = true, utm_campaign = true, utm_term = true,
                   utm_content = true, fbclid = true, gclid = true, mc_eid = true, msclkid = true }

function cache_key(req)
  local kept = {}
  for pair in (req.query or ""):gmatch("[^&]+") do
    local name = pair:match("^([^=]*)")
    if not tracking[name] then kept[#kept + 1] = pair end
  end
  table.sort(kept)
  -- host names are case-insensitive: Shop.Example and shop.example are one site
  local key = "http://" .. (req.host or ""):lower() .. req.path
  if #kept > 0 then key = key .. "?" .. table.concat(kept, "&") end
  return key
end
