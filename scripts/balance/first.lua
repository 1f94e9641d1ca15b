-- balance/first.lua - active / standby: everything goes to the first server
-- that may take it; the others stand by in order. With health checks a
-- dead primary is left within `fall` intervals, and it takes over again
-- once it passed `rise` checks.
--
--   build/luxy -c scripts/balance/first.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001",   -- primary
  "127.0.0.1:9002",   -- standby
  balance = "first",
  health = { path = "/healthz", interval = "1s", timeout = "500ms", rise = 3, fall = 2 },
}
