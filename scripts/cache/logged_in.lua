-- cache/logged_in.lua - anonymous visitors share cached pages; a logged-in
-- user (a session cookie) always goes to the origin, and a response that
-- logs someone in (sets the session cookie) is never stored.
--
--   build/luxy -c scripts/cache/logged_in.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:9001" }
cache { size = "128MB" }

local util = require "luxy.util"

local function logged_in(req)
  return util.cookie(req, "session") ~= nil
end

function cache_key(req)
  if logged_in(req) then return false end   -- false: bypass the cache
  -- nil: the default key (scheme, host, port, path and query)
end

function cache_store(req, res)
  local cookie = res:header("Set-Cookie")
  if cookie and cookie:find("session=") then return false end
end
