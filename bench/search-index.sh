#!/usr/bin/env bash
# The in-memory search index (#23) on a large catalogue: how long a replica takes to build it when it starts, and
# what it costs in resident memory. Seeds SONGS songs (bench/lib.sh), restarts the backend on them and reads the
# index's build log line and the RSS once the first search has answered (for a binary without the index, e.g. a
# build of an earlier commit as FERMATA_BIN, the same path gives the baseline: run both, alternated).
# Then single searches one at a time (no load: the cost of one query, not a queue), median of 9 each, ordinary
# and worst-case queries (the review's 71 characters of single letters, 200 characters of typos).
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
