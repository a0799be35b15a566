-- wrk script for bench/plays.sh: each request counts a play of a random song by a random signed-in listener.
-- PLAY_SONGS and PLAY_COOKIES name files with one song id / one Cookie header value per line; PLAY_ORIGIN is
-- the Origin header a browser would send (the backend refuses cross-site writes).
local songs, cookies = {}, {}
local origin = os.getenv("PLAY_ORIGIN")

local function lines(path, into)
  for line in io.lines(path) do
    if line ~= "" then into[#into + 1] = line end
  end
end

function init(args)
  lines(os.getenv("PLAY_SONGS"), songs)
  lines(os.getenv("PLAY_COOKIES"), cookies)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  local song = songs[math.random(#songs)]
  local headers = { Cookie = cookies[math.random(#cookies)], Origin = origin }
  return wrk.format("POST", "/api/music/" .. song .. "/play", headers, "")
end
