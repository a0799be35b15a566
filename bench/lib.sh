# Helpers shared by the benchmark scripts (sourced). Callers set $work (a scratch dir) and $seconds.

# A loopback port that was free a moment ago.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run NAME URL [HEADER...]: wrk with --latency (CONNS clients, default 50); prints a table row with req/s,
# p50, p99 and errors, and keeps req/s in $work/rps-NAME for ratios. Two seconds of the same load first, not
# measured (connections opened, the database's per-connection plan and function caches filled). With PACE_MS
# each client waits that long after every response (bench/paced.lua): clients with think time, not a closed
# loop at full speed. WRK_TIMEOUT (default 2s, wrk's own) is how long a response may take before wrk counts
# it as an error.
run() {
  local name=$1 url=$2; shift 2
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  [ -n "${PACE_MS:-}" ] && args+=(-s bench/paced.lua)
  local out rps p50 p99 errors
  args+=(--timeout "${WRK_TIMEOUT:-2s}")
  wrk -t2 -c"${CONNS:-50}" -d2s "${args[@]}" "$url" >/dev/null
  out=$(wrk -t2 -c"${CONNS:-50}" -d"${seconds}s" --latency "${args[@]}" "$url")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "${errors:-none}"
  echo "$rps" > "$work/rps-$name"
}
