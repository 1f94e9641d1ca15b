-- balance/wrr.lua - smooth weighted round robin (the default): servers
-- take requests in proportion to their weights, interleaved (5:1:1 gives
-- a a b a c a a, never five a's in a row). For servers of unequal size.
-- Weights can change at run time (POST /api/server ... action=weight).
--
--   build/luxy -c scripts/balance/wrr.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }
listen { "127.0.0.1:9901", mode = "admin" }

upstream "app" {
  { "127.0.0.1:9001", weight = 5 },
  "127.0.0.1:9002",
  "127.0.0.1:9003",
  balance = "wrr",
}
