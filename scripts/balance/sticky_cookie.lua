-- balance/sticky_cookie.lua - sticky sessions by a cookie luxy sets: a new
-- client is balanced as usual and gets `Set-Cookie: srv=<opaque id>`; its
-- later requests go to that server while it may take them (up, not
-- drained). The id names no address. Drain a server before a deploy and
-- its clients move with one new cookie each.
--
--   build/luxy -c scripts/balance/sticky_cookie.lua

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
  balance = "least_conn",
  sticky = "srv",
}
