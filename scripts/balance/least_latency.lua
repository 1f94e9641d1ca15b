-- balance/least_latency.lua - a strategy written in Lua: the server with
-- the lowest latency (its EWMA of connect to first byte, every worker's)
-- among those that may be picked, in-flight requests breaking ties. What
-- luxy measures is read live from each backend: b.latency, b.inflight,
-- b.error_rate, b.state, b.available, b.tried, b.failure ...
--
--   build/luxy -c scripts/balance/least_latency.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" { "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003" }

function select_backend(req, backends)
  local best
  for i = 1, #backends do
    local b = backends[i]
    if b.available and not b.tried then
      if best == nil or b.latency < best.latency or
         (b.latency == best.latency and b.inflight < best.inflight) then
        best = b
      end
    end
  end
  return best  -- nil: every server is out or tried; luxy answers 503 or the last error
end
