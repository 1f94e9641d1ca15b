-- security/ban_list.lua - clients that collect too many 4xx answers (404
-- scanning, password guessing) within a window are banned for a while,
-- in every worker at once: on_response counts a client's 4xx in a shared
-- dictionary, on_request refuses a banned client with 403.
-- An operator on this host can look at and lift a ban:
--
--   build/luxy -c scripts/security/ban_list.lua
--   curl http://127.0.0.1:8080/_ban/203.0.113.7              -- banned? for how long
--   curl -X DELETE http://127.0.0.1:8080/_ban/203.0.113.7    -- unban

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:9001" }
-- two dictionaries, so that counting a flood of clients can never evict a ban
shared "strikes" { size = "4MB" }
shared "bans" { size = "1MB" }

local window = 60        -- seconds in which 4xx answers are counted
local max_errors = 20    -- 4xx answers a client may get in one window
local ban_time = 600     -- seconds a client stays banned

local strikes = luxy.shared("strikes")
local bans = luxy.shared("bans")

local function operator(req)
  if not (req:client_in("127.0.0.0/8") or req:client_in("::1")) then
    return req:respond(403, "forbidden\n")
  end
  local who = req.path:sub(#"/_ban/" + 1)
  if who == "" then
    return req:respond(400, "usage: GET or DELETE /_ban/<client address>\n")
  end
  if req.method == "DELETE" then
    strikes:delete(who)
    if bans:delete(who) then
      luxy.log("warn", "unbanned", who, "by", req.client_ip)
      return req:respond(200, "unbanned " .. who .. "\n")
    end
    return req:respond(404, who .. " is not banned\n")
  elseif req.method == "GET" then
    local left = bans:ttl(who)
    if left then
      return req:respond(200, string.format("%s is banned for %d more seconds\n", who, math.ceil(left)))
    end
    return req:respond(404, who .. " is not banned\n")
  end
  return req:respond(405, "GET or DELETE\n", { Allow = "GET, DELETE" })
end

function on_request(req)
  -- before the ban check: an operator on this host can always unban
  if req.path:find("^/_ban/") then
    return operator(req)
  end
  local left = bans:ttl(req.client_ip)
  if left then
    return req:respond(403, "forbidden: too many errors, try again later\n", {
      ["Retry-After"] = tostring(math.max(1, math.ceil(left))),
    })
  end
end

function on_response(req, res)
  -- luxy's own answers (a ban's 403, the operator's) do not count
  if res.generated or res.status < 400 or res.status > 499 then
    return
  end
  local ip = req.client_ip
  -- the window starts at a client's first 4xx (init_ttl applies on creation)
  local n = strikes:incr(ip, 1, 0, window)
  if n and n >= max_errors then
    bans:set(ip, true, ban_time)
    strikes:delete(ip)
    luxy.log("warn", "banned", ip, "for", ban_time, "seconds after", n, "4xx answers")
  end
end
