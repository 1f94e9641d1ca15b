-- luxy.util - small helpers policy scripts keep rewriting: trimming and
-- splitting, cookies and query strings, a fast string hash. Built into the
-- binary (lua/luxy/ is embedded); plain Lua, so it runs under the same
-- budget as the script that calls it.
--
--   local util = require "luxy.util"
--   local session = util.cookie(req, "session")

local util = {}

--- s without leading and trailing whitespace.
function util.trim(s)
  return (s:match("^%s*(.-)%s*$"))
end

--- The pieces of s between occurrences of sep (a plain string, not a
--- pattern); empty pieces are kept: split("a,,b", ",") is { "a", "", "b" }.
function util.split(s, sep)
  assert(type(sep) == "string" and #sep > 0, "split: the separator must be a non-empty string")
  local out, start = {}, 1
  while true do
    local i, j = s:find(sep, start, true)
    if not i then
      out[#out + 1] = s:sub(start)
      return out
    end
    out[#out + 1] = s:sub(start, i - 1)
    start = j + 1
  end
end

function util.starts_with(s, prefix)
  return s:sub(1, #prefix) == prefix
end

function util.ends_with(s, suffix)
  return suffix == "" or s:sub(-#suffix) == suffix
end

--- "%41b+c" -> "Ab c" (form encoding: '+' is a space).
function util.url_decode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- A query string as a table; a name given twice keeps its first value.
--- query("a=1&b=x%20y&flag") is { a = "1", b = "x y", flag = "" }.
function util.query(qs)
  local out = {}
  if not qs then return out end
  for pair in qs:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = util.url_decode(k)
    if out[k] == nil then out[k] = util.url_decode(v) end
  end
  return out
end

--- The cookies of a Cookie header value as a table (the first of a name
--- wins, as browsers send the most specific first).
function util.cookies(header)
  local out = {}
  if not header then return out end
  for pair in header:gmatch("[^;]+") do
    local k, v = pair:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
    if k and k ~= "" and out[k] == nil then
      if v:sub(1, 1) == '"' and v:sub(-1) == '"' and #v >= 2 then v = v:sub(2, -2) end
      out[k] = v
    end
  end
  return out
end

--- One cookie of a request, or nil.
function util.cookie(req, name)
  return util.cookies(req:header("Cookie"))[name]
end

--- FNV-1a, 32 bits: a cheap, well-spread hash for sticky choices.
function util.fnv1a(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return h
end

return util
