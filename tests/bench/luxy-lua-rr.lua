
-- luxy-lua-rr.lua - appended to the luxy-lua cell's configuration by
-- bench.sh: round robin written in Lua, to compare with the built-in
-- balance = "rr" (what a strategy costs when a script makes the choice).
local turn = 0
function select_backend(req, backends)
  turn = turn % #backends + 1
  return backends[turn]
end
