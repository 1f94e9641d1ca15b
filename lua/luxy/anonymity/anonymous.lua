-- luxy.anonymity.anonymous - the default of forward listeners: the origin
-- learns that a proxy passed the request on (Via), never the client's
-- address: luxy adds none and removes every field a client or an earlier
-- proxy put one in.
--
--   listen { ..., mode = "forward", anonymity = false }
--   local level = require "luxy.anonymity.anonymous"
--   function on_request(req) level.request(req) end
--   function on_response(req, res) level.response(req, res) end

local common = require "luxy.anonymity.common"

local level = {}

function level.request(req, opts)
  opts = common.options(opts)
  if opts.send_only then common.send_only(req, opts.send_only) end
  common.cookies(req, opts)
  common.del_all(req, common.identity)
  if opts.via then req:add_header("Via", "1.1 " .. opts.via) end
end

function level.response(req, res, opts)
  common.response(req, res, common.options(opts), true)
end

return level
