-- balance/chash.lua - consistent hashing: the same key always reaches the
-- same server, and adding or removing one of N servers moves only about
-- 1/N of the keys (a ring with 160 points per unit of weight). For
-- per-server caches: each object is fetched and kept by one server.
--
--   build/luxy -c scripts/balance/chash.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
  balance = "chash",
  hash = "uri",            -- or "path", "ip", "header:X-Tenant", "cookie:session"
}
