-- sticky.lua - a reverse proxy whose balancing strategy is written in Lua:
-- requests of one user (a session cookie, else the client address) always
-- reach the same backend, using rendezvous hashing so that a backend leaving
-- moves only its own users; retries go to the next best backend.
--
--   build/luxy -c scripts/sticky.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001",
  "127.0.0.1:9002",
  "127.0.0.1:9003",
  tries = 3,
}

-- FNV-1a, 32 bits: cheap, good enough to spread keys
local function hash(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return h
end

local function user_key(req)
  local cookie = req:header("Cookie")
  local session = cookie and cookie:match("session=([^;]+)")
  return session or req.client_ip
end

function select_backend(req, backends)
  local key = user_key(req)
  local best, best_score
  for i = 1, #backends do
    local b = backends[i]
    if b.healthy and not b.tried then
      local score = hash(key .. "#" .. b.addr) * b.weight
      if not best_score or score > best_score then
        best, best_score = b, score
      end
    end
  end
  return best or backends:wrr()   -- every backend tried or down: let luxy decide
end

function on_response(req, res)
  res:del_header("Server")
end
