-- wrk script: after each response a connection waits a random time, PACE_MS on average (uniform between 0
-- and twice that), before its next request: clients with think time that do not move in lockstep, instead
-- of a closed loop at full speed. wrk's latencies do not include the wait.
local pace = tonumber(os.getenv("PACE_MS") or "0")

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function delay()
  return math.random(0, 2 * pace)
end
