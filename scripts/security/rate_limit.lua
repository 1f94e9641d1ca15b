-- security/rate_limit.lua - a per-client rate limit that holds across all
-- workers: a token bucket per client address in a shared dictionary. A
-- client may send `rate` requests a second on average and bursts of up
-- to `burst`; past that it gets 429 Too Many Requests with a Retry-After
-- saying in how many seconds a request will be let through again.
--
--   build/luxy -c scripts/security/rate_limit.lua
--   for i in $(seq 30); do curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:8080/; done

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }
upstream "app" { "127.0.0.1:9001" }
-- about 150 bytes per client: 4 MB keeps ~25,000 of them; when it is
-- full the least recently seen lose their bucket (and start again full)
shared "rate_limit" { size = "4MB" }

local rate = 10      -- tokens a second: the sustained request rate
local burst = 20     -- bucket size: requests a client may send at once
local tries = 8      -- compare-and-swap attempts before giving up

local buckets = luxy.shared("rate_limit")
-- an empty bucket is full again after burst / rate seconds, and a full
-- bucket needs no entry: entries expire by themselves
local idle_ttl = burst / rate + 1

-- Takes one token from key's bucket. Returns true, or false and the
-- seconds until the next token.
local function take(key, now)
  local stored = buckets:get(key)
  for _ = 1, tries do
    local tokens, stamp = burst, now
    if stored then
      local t, s = stored:match("^(%S+) (%S+)$")
      tokens, stamp = tonumber(t), tonumber(s)
      -- workers' clocks differ by a few ms: never refill backwards
      tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
    end
    if tokens < 1 then
      return false, (1 - tokens) / rate
    end
    local ok, current = buckets:cas(key, stored, string.format("%.4f %.4f", tokens - 1, now), idle_ttl)
    if ok then
      return true
    end
    stored = current            -- another worker got there first: retry on what it stored
  end
  -- that much contention on one client's key means it is sending a lot
  return false, 1 / rate
end

function on_request(req)
  local ok, wait = take(req.client_ip, luxy.now())
  if not ok then
    return req:respond(429, "too many requests\n", {
      ["Retry-After"] = tostring(math.max(1, math.ceil(wait))),
      ["Content-Type"] = "text/plain",
    })
  end
end
