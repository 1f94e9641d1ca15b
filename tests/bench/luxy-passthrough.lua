-- luxy-passthrough.lua - luxy's side of `make bench` (tests/bench/bench.sh):
-- a plain reverse proxy in front of the benchmark's nginx origin, the
-- equivalent of the nginx (upstream keepalive) and haproxy configurations
-- the script writes. One worker, no access log, so the CPU per request is
-- comparable with nginx `worker_processes 1` and haproxy `nbthread 1`.
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
