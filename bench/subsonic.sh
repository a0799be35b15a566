#!/usr/bin/env bash
# The OpenSubsonic API beside the REST API it shares a core with, in one run:
#   1. A full library sync as Symfonium and substreamer do it: search3 with an empty query, pages of 500 songs,
#      albums and artists, until the library is exhausted. Total time and the backend's peak RSS; beside it the
#      web player's way to read every song (GET /api/music/songs?limit=500, by cursor).
#   2. getAlbumList2 and getCoverArt (a cached 300 px thumbnail) at 50 paced clients, p50/p99, beside
#      GET /api/music/albums and /api/music/albums/{id}/cover.
# Needs: a release build (built if missing), wrk, psql, ffmpeg, the PostgreSQL server binaries.
# Usage: bench/subsonic.sh [SONGS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
songs=${1:-100000}
seconds=${2:-10}
# The key the app password is stored under (docs/subsonic.md).
SUBSONIC_CREDENTIAL_KEY=$(openssl rand -base64 32)
export SUBSONIC_CREDENTIAL_KEY
start_backend
base="http://127.0.0.1:$port"

seed_catalogue "$songs"
# One real cover for every album (thumbnails are made once, then served from the cache like any cover).
mkdir -p "$DATA_DIR/media/covers"
ffmpeg -loglevel error -f lavfi -i testsrc=size=600x600 -frames:v 1 "$DATA_DIR/media/covers/bench.jpg"
psql_ -c "UPDATE albums SET cover_path = 'media:covers/bench.jpg'"
album=$(psql_ -At -c "SELECT id FROM albums ORDER BY id LIMIT 1")

echo "bench-password-1" | "$bin" user create bencher --admin >/dev/null 2>&1
cookie=$(curl -fs -c - -H 'content-type: application/json' -d '{"username":"bencher","password":"bench-password-1"}' \
  "$base/api/auth/login" | awk '/fermata_session/ {print "fermata_session=" $7}')
key=$(curl -fs -H "Cookie: $cookie" -H 'content-type: application/json' -H "Origin: http://localhost:8080" \
  -d '{"name":"bench"}' "$base/api/me/subsonic-credentials" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
auth="u=bencher&p=$key&c=bench&v=1.16.1&f=json"

# sync NAME: runs the Python pager named NAME while sampling the backend's RSS; prints "seconds peak_mib items".
sync() {
  local name=$1 peak=0 now
  python3 - "$name" "$base" "$auth" "$cookie" > "$work/sync-$name" <<'PY' &
import json, sys, time, urllib.request
name, base, auth, cookie = sys.argv[1:5]
def get(url, headers={}):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
        return json.load(r)
started = time.monotonic()
items = 0
if name == "search3":
    offset = 0
    while True:
        page = get(f"{base}/rest/search3?{auth}&query=&songCount=500&albumCount=500&artistCount=500"
                   f"&songOffset={offset}&albumOffset={offset}&artistOffset={offset}")["subsonic-response"]["searchResult3"]
        counts = [len(page.get(k, [])) for k in ("song", "album", "artist")]
        items += sum(counts)
        if max(counts) < 500:
            break
        offset += 500
else:
    cursor = None
    while True:
        url = f"{base}/api/music/songs?limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = get(url, {"Cookie": cookie})
        items += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
print(f"{time.monotonic() - started:.1f} {items}")
PY
  local py=$!
  while kill -0 "$py" 2>/dev/null; do
    now=$(rss "$server"); [ "$now" -gt "$peak" ] && peak=$now; sleep 0.1
  done
  wait "$py"
  read -r secs items < "$work/sync-$name"
  echo "$secs $peak $items"
}

echo
echo "## run $(date -u +%FT%TZ) on $(nproc) cores, $songs songs, ${seconds}s per case"
echo
echo "Full library sync (one client), idle RSS $(rss "$server") MiB before:"
echo
echo "| how | items | seconds | backend peak RSS |"
echo "|---|---|---|---|"
read -r s p n < <(sync search3); echo "| search3, query \"\", pages of 500 songs + albums + artists | $n | $s | $p MiB |"
read -r s p n < <(sync rest); echo "| REST GET /api/music/songs?limit=500 by cursor (songs only) | $n | $s | $p MiB |"
read -r s p n < <(sync search3); echo "| search3 again | $n | $s | $p MiB |"
read -r s p n < <(sync rest); echo "| REST again | $n | $s | $p MiB |"

echo
echo "50 clients, each waiting 100 ms on average after every response:"
echo
echo "| case | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
PACE_MS=100 run subsonic-getAlbumList2-newest-50 "$base/rest/getAlbumList2?$auth&type=newest&size=50"
PACE_MS=100 run rest-albums-50 "$base/api/music/albums?limit=50" "Cookie: $cookie"
PACE_MS=100 run subsonic-getCoverArt-300 "$base/rest/getCoverArt?$auth&id=al-$album&size=300"
PACE_MS=100 run rest-album-cover-300 "$base/api/music/albums/$album/cover?size=300" "Cookie: $cookie"
echo
echo "Flat out (no pacing):"
echo
echo "| case | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
run subsonic-getAlbumList2-newest-50 "$base/rest/getAlbumList2?$auth&type=newest&size=50"
run rest-albums-50 "$base/api/music/albums?limit=50" "Cookie: $cookie"
run subsonic-getCoverArt-300 "$base/rest/getCoverArt?$auth&id=al-$album&size=300"
run rest-album-cover-300 "$base/api/music/albums/$album/cover?size=300" "Cookie: $cookie"
