-- balance/ip_hash.lua - a client address always reaches the same server
-- (consistent hashing on the client's address: behind trusted proxies,
-- the address they report). For servers that keep per-client state in
-- memory and cannot share it.
--
--   build/luxy -c scripts/balance/ip_hash.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
  balance = "ip_hash",
}
