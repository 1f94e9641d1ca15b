-- balance/p2c.lua - power of two choices on a peak-EWMA latency score:
-- two servers drawn at random, the one with the better (latency x load)
-- wins. A server that turns slow loses traffic within a few requests and
-- wins it back as its latency recovers (Finagle's and Linkerd's default).
-- balance = "p2c" compares requests in flight instead of latency.
--
--   build/luxy -c scripts/balance/p2c.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:9004",
  balance = "p2c_ewma",
  -- a server failing half its requests over 10 s is taken out for 10 s,
  -- then 20 s, ... (never more than half of the group at once)
  outlier = { consecutive = 5, error_rate = 0.5, min_requests = 20, eject = "10s" },
}
