-- luxy.anonymity.elite - the origin cannot tell a proxy is involved, nor
-- much about the client's device: no client address, no Via or other
-- proxy trail, no From, no client hints; every request carries the same
-- common User-Agent, a client's Accept-Language becomes one common value,
-- and a Referer from another origin is cut to that origin.
--
--   listen { ..., mode = "forward", anonymity = false }
--   local level = require "luxy.anonymity.elite"
--   local opts = { user_agent = "...", accept_language = "en-US,en;q=0.9" }
--   function on_request(req) level.request(req, opts) end
--   function on_response(req, res) level.response(req, res, opts) end

local common = require "luxy.anonymity.common"

local level = {}

--- A Referer from another origin than the destination's, cut to that
--- origin ("https://news.example/"); the same origin's is kept; nil when
--- it cannot be read.
local function referer_for(req, value)
  value = value:match("^%s*(.-)%s*$")
  local scheme, authority, host, port = common.parse_origin(value)
  if not scheme then return nil end
  if scheme:lower() == "http" and port == (req.port or 80) and host:lower() == (req.host or ""):lower() then
    return value
  end
  return scheme .. "://" .. authority .. "/"
end

function level.request(req, opts)
  opts = common.options(opts)
  if opts.send_only then common.send_only(req, opts.send_only) end
  common.cookies(req, opts)
  common.del_all(req, common.identity)
  common.del_all(req, common.trail)
  common.del_all(req, common.device)
  common.del_client_hints(req)
  req:set_header("User-Agent", opts.user_agent)
  if req:header("Accept-Language") then req:set_header("Accept-Language", opts.accept_language) end
  local ref = req:header("Referer")
  if ref then
    local cut = referer_for(req, ref)
    if cut then req:set_header("Referer", cut) else req:del_header("Referer") end
  end
end

function level.response(req, res, opts)
  common.response(req, res, common.options(opts), false)
end

return level
