-- balance/least_conn.lua - weighted least connections across all workers:
-- the server with the fewest requests in flight per unit of weight. For
-- requests of very different lengths (reports next to page views), where
-- a slow server should get fewer. Health checks take a dead one out.
--
--   build/luxy -c scripts/balance/least_conn.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", { "127.0.0.1:9003", weight = 2 },
  balance = "least_conn",
  health = { path = "/healthz", interval = "2s", timeout = "1s", rise = 2, fall = 3 },
}
