-- cache/static_assets.lua - a reverse proxy that keeps static assets for a
-- day whatever their headers say (many apps send none, or no-cache), and
-- leaves everything else to the RFC rules. The stored copy never keeps a
-- Set-Cookie: one client's session must not reach the next.
--
--   build/luxy -c scripts/cache/static_assets.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:9001" }
cache { size = "256MB", max_object = "16MB" }

local static = { "%.css$", "%.js$", "%.mjs$", "%.png$", "%.jpe?g$", "%.gif$", "%.svg$", "%.webp$",
                 "%.ico$", "%.woff2?$", "%.ttf$" }

local function is_static(path)
  for _, pattern in ipairs(static) do
    if path:find(pattern) then return true end
  end
  return false
end

function cache_store(req, res)
  if res.status == 200 and is_static(req.path) then
    return { ttl = 86400, strip = { "Set-Cookie" } }
  end
  -- nil: the RFC decides for the rest
end

function on_response(req, res)
  res:del_header("Server")
end
