#!/usr/bin/env bash
# The in-memory search index (#23) on a large catalogue: how long a replica takes to build it when it starts, and
# what it costs in resident memory. Seeds SONGS songs (bench/lib.sh), restarts the backend on them and reads the
# index's build log line and the RSS once the first search has answered (for a binary without the index, e.g. a
# build of an earlier commit as FERMATA_BIN, the same path gives the baseline: run both, alternated).
# Then single searches one at a time (no load: the cost of one query, not a queue), median of 9 each, ordinary
# and worst-case queries (the review's 71 characters of single letters, 200 characters of typos); then each of a
# selective and a broad query under 50 clients flat out for LOAD_SECONDS (default 10), with the CPU each search
# cost the backend, PostgreSQL and the machine.
# Usage: bench/search-index.sh [SONGS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
songs=${1:-100000}
rounds=${2:-3}
seconds=0
start_backend
seed_catalogue "$songs" >/dev/null
echo "bench-password-1" | "$bin" user create bencher --admin >/dev/null 2>&1


echo
echo "## run $(date -u +%FT%TZ) on $(nproc) cores, $songs songs"
echo
echo "| binary | round | index build | RSS after the first search |"
echo "|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
    restart_backend "$bin"
    sed 's/\x1b\[[0-9;]*m//g' "$work/serve.log" > "$work/plain.log"  # without the log's colours
    built=$(grep -o 'search index built.*' "$work/plain.log" | grep -o 'seconds=[0-9.]*' | head -n1 || true)
    sizes=$(grep -o 'sizes=Sizes {[^}]*}' "$work/plain.log" | head -n1 || true)
    echo "| $(basename "$bin") | $round | ${built:-none} ${sizes} | $(rss "$server") MiB |"
done

# median_ms QUERY: the median time of 9 searches for QUERY (already URL-encoded), in ms, after one unmeasured.
median_ms() {
  local url="http://127.0.0.1:$port/api/search?q=$1"
  curl -s -o /dev/null -H "Cookie: $cookie" "$url"
  for _ in $(seq 1 9); do curl -s -o /dev/null -w '%{time_total}\n' -H "Cookie: $cookie" "$url"; done |
    sort -n | awk '{t[NR]=$1} END {printf "%.1f ms", t[5] * 1000}'
}
letters=$(python3 -c "print('%20'.join('abcdefghijklmnopqrstuvwxyzabcdefghij'))")
typos=$(python3 -c "import random, urllib.parse; r = random.Random(7); print(urllib.parse.quote(' '.join(''.join(r.choice('aeiourstln') for _ in range(r.randint(5, 8))) for _ in range(40))[:200]))")
echo
echo "| query | median of 9 |"
echo "|---|---|"
for q in dvorak symphny love%20night dvo "$letters" "$typos"; do
  label=$q; [ "$q" = "$letters" ] && label="36 single letters"; [ "$q" = "$typos" ] && label="200 characters of 5-8 letter typos"
  echo "| $label | $(median_ms "$q") |"
done

# Under load: 50 clients flat out, a selective query (a catalogue number: tens of matches) and a broad word (~7,000
# matches, ranked in full), with where the CPU went during each run (milliseconds of CPU per search: the backend,
# PostgreSQL's processes, and the whole machine, whose remainder is wrk and whatever else runs), read from /proc.
# cpu_ticks PID...: user+system clock ticks of the given processes and of their children that ended (the postmaster
# collects those of connections the pool closed during a run; without them PostgreSQL's share came out negative).
cpu_ticks() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
sample() { echo "$(cpu_ticks "$server") $(cpu_ticks $(pgrep -x postgres)) $(machine_ticks)"; }
seconds=${LOAD_SECONDS:-10}
echo
echo "| query (50 clients, ${seconds}s) | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
cpu_rows=""
for case in "selective 4711" "broad dvorak"; do
  set -- $case
  before=$(sample)
  run "search-$1" "http://127.0.0.1:$port/api/search?q=$2" "Cookie: $cookie"
  after=$(sample)
  # run's warm-up (2 s) and measured run both count: searches = rate x (seconds + 2).
  cpu_rows+=$(python3 - "$1" "$(cat "$work/rps-search-$1")" "$seconds" "$(getconf CLK_TCK)" $before $after <<'PY'
import sys
name, rps, secs, hz = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
b, a = [float(x) for x in sys.argv[5:8]], [float(x) for x in sys.argv[8:11]]
n = rps * (secs + 2)
ms = [(y - x) / hz / n * 1000 for x, y in zip(b, a)]
print(f"| {name} | {ms[0]:.2f} | {ms[1]:.2f} | {ms[2]:.2f} | {ms[2] - ms[0] - ms[1]:.2f} |")
PY
)$'\n'
done
echo
echo "| CPU ms per search | backend | PostgreSQL | whole machine | rest (wrk, others) |"
echo "|---|---|---|---|---|"
printf '%s' "$cpu_rows"
echo
echo "RSS after the load: $(rss "$server") MiB"
