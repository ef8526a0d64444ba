-- HTTP/1.1 pipelining for wrk: every write carries DEPTH identical GET
-- requests back to back (TechEmpower-style plaintext load).
-- Usage: wrk -t1 -c64 -d10s -s bench/pipeline.lua http://127.0.0.1:PORT/ -- 16

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  local one = wrk.format("GET", "/")
  batch = string.rep(one, depth)
end

function request()
  return batch
end
