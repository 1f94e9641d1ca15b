-- luxy-forward.lua - the forward-proxy cell of `make bench`
-- (tests/bench/bench.sh): wrk sends absolute-URI requests
-- (GET http://127.0.0.1:ORIGIN/1k HTTP/1.1) and luxy fetches them from the
-- benchmark's nginx origin. One worker, no access log; only local clients
-- (the forward-mode default).
--
-- This is a template: bench.sh replaces @LISTEN_PORT@ with its port and
-- @ANONYMITY@ with the level of the cell ("anonymous", false, "elite"), and runs
-- the copy under $BENCH_DIR.

workers(1)

logs { access = false, level = "warn" }

listen { "127.0.0.1:@LISTEN_PORT@", mode = "forward", anonymity = @ANONYMITY@ }
