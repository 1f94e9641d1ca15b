-- luxy.anonymity.common - what the anonymity levels share: the lists of
-- fields that give a client away, the cookie policy, and the URL and site
-- helpers. The levels (transparent.lua, anonymous.lua, elite.lua) are
-- plain Lua written with these; core/anonymity.c runs the same rules in C
-- for speed, and the tests hold both to the same output. To make your own
-- level, copy a level file next to your configuration and change it.

local common = {}

--- Fields that carry the client's address.
common.identity = {
  "X-Forwarded-For", "Forwarded", "X-Forwarded", "Forwarded-For", "X-Real-IP", "Client-IP",
  "True-Client-IP", "X-Client-IP", "X-Originating-IP", "CF-Connecting-IP", "X-Cluster-Client-IP",
  "Fastly-Client-IP", "X-ProxyUser-IP", "X-Remote-IP", "X-Remote-Addr", "X-Coming-From",
  "Coming-From", "Akamai-Client-IP",
}

--- Fields that say a proxy is involved.
common.trail = {
  "Via", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Server",
  "X-Forwarded-Scheme", "X-Forwarded-Ssl",
}

--- Fields that describe the person, the device or the OS (and every
--- Sec-CH-* client hint, see device_field).
common.device = { "From", "Device-Memory", "DPR", "Viewport-Width", "Width", "RTT", "Downlink", "ECT" }

common.defaults = {
  via = "luxy",
  user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    .. "Chrome/131.0.0.0 Safari/537.36",
  accept_language = "en-US,en;q=0.9",
  cookies = "pass",      -- "pass", "strip" or "third_party"
  send_only = nil,       -- a list of field names: only these (and Host) are sent
}

--- opts with the defaults filled in.
function common.options(opts)
  local o = {}
  for k, v in pairs(common.defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  return o
end

function common.del_all(req, names)
  for _, name in ipairs(names) do req:del_header(name) end
end

function common.del_client_hints(req)
  for name in pairs(req:headers()) do
    if name:sub(1, 7) == "sec-ch-" then req:del_header(name) end
  end
end

--- Only the fields in list (and Host) stay.
function common.send_only(req, list)
  local keep = { host = true }
  for _, name in ipairs(list) do keep[name:lower()] = true end
  for name in pairs(req:headers()) do
    if not keep[name] then req:del_header(name) end
  end
end

--- "https://user@a.example:8443/x?y" -> scheme, authority (no userinfo),
--- host (no brackets), port; nil when it is not an http(s) URL.
function common.parse_origin(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil end
  local lower = scheme:lower()
  if lower ~= "http" and lower ~= "https" then return nil end
  local authority = rest:match("^[^/?#]*")
  authority = authority:match("@([^@]*)$") or authority
  if authority == "" then return nil end
  local host, port
  if authority:sub(1, 1) == "[" then
    host, port = authority:match("^%[([^%]]*)%]:?(%d*)$")
    if not host then return nil end
  else
    host, port = authority:match("^([^:]*):?(%d*)$")
    if not host then return nil end
  end
  if host == "" then return nil end
  local n = (port ~= "" and tonumber(port)) or (lower == "https" and 443 or 80)
  if n > 65535 then return nil end
  return scheme, authority, host, n
end

--- The site of a host name: its last two labels, or three under a
--- two-letter country code with a short second level (example.co.uk).
--- An approximation of registrable domains without a public-suffix list.
function common.site(host)
  host = host:gsub("%.$", "")
  if host:find(":") or not host:find("%a") then return host end -- an IP address
  local labels = {}
  for label in host:gmatch("[^.]+") do labels[#labels + 1] = label end
  local n = #labels
  if n <= 2 then return host end
  local keep = 2
  if #labels[n] == 2 and #labels[n - 1] <= 3 then
    if n <= 3 then return host end
    keep = 3
  end
  return table.concat(labels, ".", n - keep + 1, n)
end

--- Did another site's page cause this request (Sec-Fetch-Site, else the
--- Referer's site against the destination's)?
function common.third_party(req)
  local fetch_site = req:header("Sec-Fetch-Site")
  if fetch_site then
    return fetch_site:match("^%s*(.-)%s*$"):lower() == "cross-site"
  end
  local ref = req:header("Referer")
  if not ref then return false end
  local _, _, host = common.parse_origin(ref:match("^%s*(.-)%s*$"))
  if not host then return false end
  return common.site(host):lower() ~= common.site(req.host or ""):lower()
end

--- Applies the cookie policy; remembers the decision for the response.
function common.cookies(req, opts)
  local strip = opts.cookies == "strip" or (opts.cookies == "third_party" and common.third_party(req))
  req.ctx.anonymity_strip_cookies = strip
  if strip then req:del_header("Cookie") end
end

--- The response side every level shares: Set-Cookie goes when the
--- request's cookies went; Via when the level admits a proxy.
function common.response(req, res, opts, via)
  if req.ctx.anonymity_strip_cookies then res:del_header("Set-Cookie") end
  if via and opts.via then res:add_header("Via", "1.1 " .. opts.via) end
end

--- X-Forwarded-For and Forwarded with the client's address appended.
function common.forward_identity(req)
  local ip = req.client_ip
  local xff = req:header("X-Forwarded-For")
  req:set_header("X-Forwarded-For", xff and (xff .. ", " .. ip) or ip)
  local element = ip:find(":") and ('for="[' .. ip .. ']"') or ("for=" .. ip)
  local fwd = req:header("Forwarded")
  req:set_header("Forwarded", fwd and (fwd .. ", " .. element) or element)
end

return common
