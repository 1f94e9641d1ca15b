-- balance/tenant_then_p2c_spec.lua - what tenant_then_p2c.lua's
-- select_backend decides, offline:
--   build/luxy test scripts/balance/tenant_then_p2c_spec.lua
-- A tenant (X-Tenant) always reaches the same server (consistent hashing
-- on its name); requests without one are balanced by power of two
-- choices on latency.
config "tenant_then_p2c.lua"

local home      = { acme = 3, globex = 2, initech = 1, umbrella = 1, hooli = 1, stark = 3 }
local without_2 = { acme = 3, globex = 1, initech = 1, umbrella = 1, hooli = 1, stark = 3 }
local tenants = { "acme", "globex", "initech", "umbrella", "hooli", "stark" }

local function as(tenant, path)
  return { path = path or "/", headers = { Host = "saas.example", ["X-Tenant"] = tenant } }
end

for _, t in ipairs(tenants) do
  case("tenant " .. t .. " lives on server " .. home[t]) {
    request = as(t), expect = { decision = "route", upstream = "app", backend_index = home[t] },
  }
end

case "a tenant stays on its server whatever the path" {
  request = as("globex", "/reports/2024?full=1"), expect = { backend_index = 2 },
}

case "a tenant stays on its server even when it is the slowest and busiest" {
  request = as("acme"),
  backends = { app = { { latency = 0.005 }, { latency = 0.005 }, { latency = 0.900, inflight = 30 } } },
  expect = { backend_index = 3 },
}

for _, t in ipairs(tenants) do
  case("server 2 down: " .. t .. (home[t] == 2 and " moves to " or " stays on ") .. without_2[t]) {
    request = as(t), backends = { app = { {}, { state = "down" }, {} } }, expect = { backend_index = without_2[t] },
  }
end

case "no tenant: p2c on latency (of the two left, the faster)" {
  request = { path = "/", headers = { Host = "saas.example" } },
  backends = { app = { { latency = 0.200 }, { state = "down" }, { latency = 0.010 } } },
  expect = { backend_index = 3 },
}

for n = 1, 6 do
  case("no tenant, draw " .. n .. ": the slowest of three never wins a draw") {
    request = { path = "/", headers = { Host = "saas.example" } },
    backends = { app = { { latency = 0.010 }, { latency = 0.500 }, { latency = 0.012 } } },
    expect = { backend_index = { 1, 3 } },
  }
end

case "every server down: 503" {
  request = as("acme"),
  backends = { app = { { state = "down" }, { state = "down" }, { state = "down" } } },
  expect = { decision = "fail", status = 503 },
}
