-- luxy-cache.lua - luxy's cache cells of `make bench` (tests/bench/bench.sh):
-- a caching reverse proxy in front of the benchmark's nginx origin, which
-- sends Cache-Control: max-age=60 under /cached/. The equivalent of the
-- nginx proxy_cache and varnish (malloc storage) configurations the script
-- writes: every request after the first is a hit from memory. One worker,
-- no access log.
--
-- This is a template: bench.sh replaces @LISTEN_PORT@, @ORIGIN1_PORT@ and
-- @ORIGIN2_PORT@ with its ports and runs the copy under $BENCH_DIR.

workers(1)

logs { access = false, level = "warn" }

listen { "127.0.0.1:@LISTEN_PORT@", mode = "reverse", upstream = "origin" }

upstream "origin" {
  "127.0.0.1:@ORIGIN1_PORT@",
  "127.0.0.1:@ORIGIN2_PORT@",
  keepalive = 64,
}

cache { size = "256MB" }
