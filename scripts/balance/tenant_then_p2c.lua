-- balance/tenant_then_p2c.lua - requests of one tenant (the X-Tenant header)
-- go to the same server, so its data stays warm in that server's memory;
-- requests without a tenant, and retries after that server failed, are
-- balanced by power of two choices on latency.
--
--   build/luxy -c scripts/balance/tenant_then_p2c.lua
--   curl -H 'X-Tenant: acme' http://127.0.0.1:8080/

listen { "127.0.0.1:8080", mode = "reverse", upstream = "app" }

upstream "app" {
  "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003",
  health = { path = "/healthz", interval = "2s" },
}

function select_backend(req, backends)
  local tenant = req:header("X-Tenant")
  if tenant then
    local b = backends:chash(tenant)  -- skips servers down or tried already
    if b then return b end
  end
  return backends:p2c_ewma()
end
