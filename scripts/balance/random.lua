-- balance/random.lua - weighted random choice. No state at all: many
-- luxy instances in front of the same servers spread alike without
-- talking to each other.
--
--   build/luxy -c scripts/balance/random.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
  balance = "random",
}
