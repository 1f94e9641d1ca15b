-- lua/lab/spec.lua - the runner of `luxy test [--explain] SPEC.lua...`.
-- A spec names its configuration and describes cases; each case is run
-- by lab.run (lua/lab_spec.c) through the server's own decisions, and what
-- came out is compared with what the case expects. See docs/policy-lab.md.
local args = ...
local explain, verbose = false, false
local files = {}
for _, a in ipairs(args) do
  if a == "--explain" then explain = true
  elseif a == "-v" or a == "--verbose" then verbose = true
  elseif a:sub(1, 1) == "-" then
    io.stderr:write("luxy test: unknown option ", a, "\nusage: luxy test [--explain] [-v] SPEC.lua...\n")
    return 2
  else files[#files + 1] = a end
end
if #files == 0 then
  io.stderr:write("usage: luxy test [--explain] [-v] SPEC.lua...\n",
                  "  runs each spec's cases against its configuration, offline: no sockets, no backends\n",
                  "  --explain  print every case's decision trace (a failing case's is always printed)\n")
  return 2
end

local function dir_of(path) return path:match("^(.*)/[^/]*$") or "." end

local function show(v)
  if type(v) == "string" then return (string.format("%q", v):gsub("\\\n", "\\n")) end
  if v == nil then return "absent" end
  if type(v) == "table" then
    local alts = {}
    for i, a in ipairs(v) do alts[i] = show(a) end
    return "one of " .. table.concat(alts, ", ")
  end
  return tostring(v)
end

local function show_want(v)
  if v == false then return "absent" end
  return show(v)
end

-- Does got match want? false: absent (or false); a list: any one of its values.
local function matches(got, want)
  if want == false then return got == nil or got == false end
  if type(want) == "table" then
    for _, a in ipairs(want) do
      if got == a then return true end
    end
    return false
  end
  return got == want
end

-- Every value of field name (any case) in a { {name, value}, ... } list.
local function values(list, name)
  local want, got = name:lower(), {}
  for _, f in ipairs(list or {}) do
    if f[1]:lower() == want then got[#got + 1] = f[2] end
  end
  return got
end

-- A field given more than once (Set-Cookie, Via) matches when one of its
-- values is the one expected.
local function check_fields(problems, what, list, expected)
  for name, want in pairs(expected) do
    local got = values(list, name)
    local quoted = {}
    for i, v in ipairs(got) do quoted[i] = show(v) end
    local shown = #got == 0 and "absent" or table.concat(quoted, ", ")
    if want == false then
      if #got > 0 then problems[#problems + 1] = string.format("%s %s: expected absent, got %s", what, name, shown) end
    elseif want == true then
      if #got == 0 then problems[#problems + 1] = string.format("%s %s: expected present, got absent", what, name) end
    else
      local found = false
      for _, v in ipairs(got) do found = found or v == tostring(want) end
      if not found then
        problems[#problems + 1] = string.format("%s %s: expected %s, got %s", what, name, show(tostring(want)), shown)
      end
    end
  end
end

local scalar = { "decision", "status", "error", "upstream", "parent", "backend", "backend_index", "origin",
                 "request_line", "body" }

local function compare(outcome, expect)
  local problems = {}
  for _, k in ipairs(scalar) do
    if expect[k] ~= nil and not matches(outcome[k], expect[k]) then
      problems[#problems + 1] = string.format("%s: expected %s, got %s", k, show_want(expect[k]), show(outcome[k]))
    end
  end
  if expect.headers then
    -- a response luxy makes (req:respond) has no backend: its fields go to the client
    check_fields(problems, outcome.decision == "respond" and "response header" or "backend header", outcome.headers,
                 expect.headers)
  end
  if expect.cache == false and outcome.cache then
    problems[#problems + 1] = string.format("cache: expected no cache decision, got plan %s", show(outcome.cache.plan))
  elseif expect.cache then
    local c = outcome.cache or {}
    for k, want in pairs(expect.cache) do
      if not matches(c[k], want) then
        problems[#problems + 1] = string.format("cache.%s: expected %s, got %s", k, type(c[k]) == "boolean" and tostring(want) or show_want(want), show(c[k]))
      end
    end
  end
  if expect.response then
    local r = outcome.response or {}
    if expect.response.status and not matches(r.status, expect.response.status) then
      problems[#problems + 1] = string.format("response.status: expected %s, got %s", show_want(expect.response.status), show(r.status))
    end
    if expect.response.headers then check_fields(problems, "response header", r.headers, expect.response.headers) end
  end
  return problems
end

local passed, failed = 0, 0
for _, file in ipairs(files) do
  local cases, config_path, seed = {}, nil, 1
  local env = setmetatable({}, { __index = _G })
  env.config = function(path)
    config_path = path:sub(1, 1) == "/" and path or dir_of(file) .. "/" .. path
  end
  env.seed = function(n) seed = n end
  env.case = function(name)
    local line = debug.getinfo(2, "l").currentline
    return function(def)
      if type(def) ~= "table" then error("case " .. name .. ": expected a table", 2) end
      cases[#cases + 1] = { name = name, def = def, line = line }
    end
  end
  local chunk, err = loadfile(file, "t", env)
  if not chunk then
    io.stderr:write("luxy test: ", err, "\n")
    return 2
  end
  local ok, e = pcall(chunk)
  if not ok then
    io.stderr:write("luxy test: ", tostring(e), "\n")
    return 2
  end
  if not config_path then
    io.stderr:write("luxy test: ", file, ": no config \"FILE\" line\n")
    return 2
  end
  local opened, oerr = pcall(lab.open, config_path, seed)
  if not opened then
    io.stderr:write("luxy test: ", file, ": ", tostring(oerr), "\n")
    return 2
  end
  for _, c in ipairs(cases) do
    local ran, outcome = pcall(lab.run, c.def)
    local problems
    if not ran then
      problems = { "the case could not run: " .. tostring(outcome) }
      outcome = {}
    else
      problems = compare(outcome, c.def.expect or {})
    end
    if #problems == 0 then
      passed = passed + 1
      if verbose or explain then print(string.format("ok   %s (%s:%d)", c.name, file, c.line)) end
    else
      failed = failed + 1
      print(string.format("FAIL %s (%s:%d)", c.name, file, c.line))
      for _, p in ipairs(problems) do print("     " .. p) end
    end
    if explain or #problems > 0 then
      if outcome.request_line then print("     the backend would receive:\n       " .. outcome.request_line) end
      for _, f in ipairs(outcome.headers or {}) do print("       " .. f[1] .. ": " .. f[2]) end
      local resp = outcome.response
      if resp and resp.status then
        print("     the client would receive:\n       " .. resp.status .. (resp.error and " (" .. resp.error .. ")" or ""))
        for _, f in ipairs(resp.headers or {}) do print("       " .. f[1] .. ": " .. f[2]) end
      end
      if outcome.trace and outcome.trace ~= "" then io.write("     trace:\n", (outcome.trace:gsub("\n(.)", "\n%1"))) end
    end
  end
end
print(string.format("%d passed, %d failed", passed, failed))
return failed == 0 and 0 or 1
