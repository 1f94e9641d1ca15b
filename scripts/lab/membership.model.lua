-- lab/membership.model.lua - a backend model with events: server 2 slows
-- down fivefold for a minute, server 3 fails a fifth of its requests for
-- 30 s, server 1 leaves the group at 3 min and joins again at 4 min (key
-- movement is measured at each change). Times are from the start.
--
--   build/luxy simulate -c scripts/balance/chash.lua --balance chash,rr \
--     --workload scripts/lab/bursty.workload.lua --model scripts/lab/membership.model.lua
return {
  default = { capacity = 32, latency = { median = "8ms", p99 = "30ms" }, bandwidth = 100e6 },
  events = {
    { at = "1m", backend = 2, slow = 5, duration = "1m" },
    { at = "2m", backend = 3, fail = 0.2, fail_kind = "reset", duration = "30s" },
    { at = "3m", backend = 1, leave = true, duration = "1m" },  -- drained: no new requests; back after a minute
  },
}
