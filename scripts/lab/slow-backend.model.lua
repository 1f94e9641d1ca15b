-- lab/slow-backend.model.lua - a backend model for `luxy simulate`: three
-- servers, the third five times slower than the others. Servers are the
-- group's, by position; the ones not listed take `default`.
--
--   build/luxy simulate -c scripts/balance/rr.lua --balance rr,least_conn,p2c \
--     --workload scripts/lab/bursty.workload.lua --model scripts/lab/slow-backend.model.lua
return {
  default = {
    capacity = 16,                                   -- requests served at once
    queue = 1000,                                    -- waiting beyond them; more are refused
    latency = { median = "10ms", p99 = "40ms" },     -- lognormal, by median and p99
  },
  backends = {
    [3] = { latency = { median = "50ms", p99 = "200ms" } },
  },
}
