-- luxy.anonymity.transparent - the origin learns who the client is: its
-- address goes in X-Forwarded-For and Forwarded, and Via says a proxy
-- passed the request on. Everything the client sent is kept.
--
--   listen { ..., mode = "forward", anonymity = false }
--   local level = require "luxy.anonymity.transparent"
--   function on_request(req) level.request(req, { via = "luxy" }) end
--   function on_response(req, res) level.response(req, res, { via = "luxy" }) end

local common = require "luxy.anonymity.common"

local level = {}

function level.request(req, opts)
  opts = common.options(opts)
  if opts.send_only then common.send_only(req, opts.send_only) end
  common.cookies(req, opts)
  common.forward_identity(req)
  if opts.via then req:add_header("Via", "1.1 " .. opts.via) end
end

function level.response(req, res, opts)
  common.response(req, res, common.options(opts), true)
end

return level
