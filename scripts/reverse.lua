-- reverse.lua - a complete reverse proxy: clients talk to :8080, luxy
-- spreads their requests over two backends and hides where they are.
--
-- Try it with two throwaway backends:
--   python3 -m http.server 9001 --bind 127.0.0.1 &
--   python3 -m http.server 9002 --bind 127.0.0.1 &
--   build/luxy -c scripts/reverse.lua
--   curl -v http://127.0.0.1:8080/

workers "auto"

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001",
  { "127.0.0.1:9002", weight = 2 },   -- gets two requests of every three
  balance = "wrr",
  keepalive = 32,                      -- idle connections kept per backend
}

timeouts { backend_connect = "2s", backend_read = "30s", client_idle = "60s" }
limits { body_size = "16MB" }

-- Cosmetic changes must not fail requests: if on_response errors, the
-- response goes out unchanged.
fail_open { "on_response" }

function on_request(req)
  -- a tiny health endpoint answered by the proxy itself
  if req.path == "/_luxy/health" then
    return req:respond(200, "ok\n")
  end
  req:set_header("X-Request-Start", string.format("%.3f", luxy.now()))
end

function on_response(req, res)
  -- backend hiding: drop what tells clients which software runs behind us
  res:del_header("Server")
  res:del_header("X-Powered-By")
end
