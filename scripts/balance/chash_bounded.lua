-- balance/chash_bounded.lua - consistent hashing with bounded loads: keys
-- stay on their server as with chash, except that no server takes more
-- than hash_balance x the average load; a hot key spills over to the
-- next servers of the ring instead of melting its own.
--
--   build/luxy -c scripts/balance/chash_bounded.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:9004",
  balance = "chash_bounded",
  hash = "path",
  hash_balance = 1.25,
}
