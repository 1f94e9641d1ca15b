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
  if type(v) == "string" then return string.format("%q", v) end
  if v == false then return "absent" end
  return tostring(v)
end

-- The first value of field name (any case) in a { {name, value}, ... } list.
local function field(list, name)
  local want = name:lower()
  for _, f in ipairs(list or {}) do
    if f[1]:lower() == want then return f[2] end
  end
  return nil
end

local function check_fields(problems, what, list, expected)
  for name, want in pairs(expected) do
    local got = field(list, name)
    if want == false then
      if got ~= nil then problems[#problems + 1] = string.format("%s %s: expected absent, got %q", what, name, got) end
    elseif want == true then
      if got == nil then problems[#problems + 1] = string.format("%s %s: expected present, got absent", what, name) end
    elseif got ~= tostring(want) then
      problems[#problems + 1] = string.format("%s %s: expected %s, got %s", what, name, show(tostring(want)), got and string.format("%q", got) or "absent")
    end
  end
end

local scalar = { "decision", "status", "error", "upstream", "parent", "backend", "backend_index", "origin",
                 "request_line", "body" }

local function compare(outcome, expect)
  local problems = {}
  for _, k in ipairs(scalar) do
    if expect[k] ~= nil and outcome[k] ~= expect[k] then
      problems[#problems + 1] = string.format("%s: expected %s, got %s", k, show(expect[k]), show(outcome[k]))
    end
  end
  if expect.headers then check_fields(problems, "backend header", outcome.headers, expect.headers) end
  if expect.cache then
    local c = outcome.cache or {}
    for k, want in pairs(expect.cache) do
      if c[k] ~= want then
        problems[#problems + 1] = string.format("cache.%s: expected %s, got %s", k, show(want), show(c[k]))
      end
    end
  end
  if expect.response then
    local r = outcome.response or {}
    if expect.response.status and r.status ~= expect.response.status then
      problems[#problems + 1] = string.format("response.status: expected %s, got %s", show(expect.response.status), show(r.status))
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
      if outcome.trace and outcome.trace ~= "" then io.write("     trace:\n", (outcome.trace:gsub("\n(.)", "\n%1"))) end
    end
  end
end
print(string.format("%d passed, %d failed", passed, failed))
return failed == 0 and 0 or 1
