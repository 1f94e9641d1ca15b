-- balance/rr.lua - plain round robin: each server in turn, weights
-- ignored. The simplest fair spread when the servers are alike.
--
--   build/luxy -c scripts/balance/rr.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
  balance = "rr",
}
