-- reverse_spec.lua - what reverse.lua decides, checked offline:
--   build/luxy test scripts/reverse_spec.lua
config "reverse.lua"

case "the health endpoint is answered by luxy itself" {
  request = { path = "/_luxy/health", headers = { Host = "shop.example" } },
  expect = { decision = "respond", status = 200, body = "ok\n" },
}

case "requests go to the app group, weighted 1:2" {
  request = { path = "/cart", headers = { Host = "shop.example" }, client = "203.0.113.7" },
  expect = {
    decision = "route", upstream = "app", request_line = "GET /cart HTTP/1.1",
    headers = { Host = "shop.example", ["X-Forwarded-For"] = "203.0.113.7", ["X-Request-Start"] = true },
  },
}

case "a server that is down is not picked" {
  request = { path = "/cart", headers = { Host = "shop.example" } },
  backends = { app = { { state = "down" }, {} } },
  expect = { backend = "127.0.0.1:9002" },
}

case "every server down: a quick 503" {
  request = { path = "/cart", headers = { Host = "shop.example" } },
  backends = { app = { { state = "down" }, { state = "drained" } } },
  expect = { decision = "fail", status = 503 },
}

case "hop-by-hop fields never reach the backend" {
  request = { path = "/", headers = { Host = "shop.example", Connection = "close, X-Secret", ["X-Secret"] = "1",
                                      ["Keep-Alive"] = "timeout=5", TE = "trailers" } },
  expect = { headers = { Connection = false, ["X-Secret"] = false, ["Keep-Alive"] = false, TE = false } },
}

case "the backend's software is hidden from clients" {
  request = { path = "/", headers = { Host = "shop.example" } },
  response = { status = 200, headers = { Server = "Apache/2.4.1", ["X-Powered-By"] = "PHP/8", ["Content-Type"] = "text/html" } },
  expect = { response = { status = 200, headers = { Server = false, ["X-Powered-By"] = false, ["Content-Type"] = "text/html" } } },
}

case "HTTP/1.1 without Host is refused" {
  request = { path = "/" },
  expect = { decision = "reject", status = 400 },
}
