#!/usr/bin/env bash
# Catalog and streaming benchmarks, side by side in one run (machines are noisy: compare within a run).
#   1. 64 KiB ranged requests: backend direct vs nginx serving the same file statically.
#   2. List and search on a 100,000-song catalogue: p50/p99 at 50 concurrent clients, flat out and paced.
#   3. Backend RSS: idle, and during 200 concurrent full-file streams.
# Needs: a release build (built if missing), wrk, nginx, psql, the PostgreSQL server binaries.
# Usage: bench/catalog.sh [SONGS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
songs=${1:-100000}
seconds=${2:-10}
start_backend
nginx_port=$(free_port)
sleep 2
idle_rss=$(rss "$server")

seed_catalogue "$songs"

# One real 8 MiB file for the range and streaming runs, served by both the backend and nginx.
hash=$(printf '%064d' 1 | tr 0 f)
mkdir -p "$DATA_DIR/media/ff/ff"
head -c $((8 * 1024 * 1024)) /dev/urandom > "$DATA_DIR/media/ff/ff/$hash.mp3"
song=$(psql_ -At -c "INSERT INTO songs (id, title, artist_id, album_id, duration_ms, codec, size_bytes, content_hash, storage, path, search_text)
  SELECT gen_random_uuid(), 'Bench file', artist_id, id, 300000, 'mp3', 8388608, '$hash', 'media', 'ff/ff/$hash.mp3', 'bench file'
  FROM albums LIMIT 1 RETURNING id")
song=$(echo "$song" | head -n1)

echo "bench-password-1" | "$bin" user create bencher --admin >/dev/null 2>&1
cookie=$(curl -fs -c - -H 'content-type: application/json' -d '{"username":"bencher","password":"bench-password-1"}' \
  "http://127.0.0.1:$port/api/auth/login" | awk '/fermata_session/ {print "fermata_session=" $7}')

cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
error_log $work/nginx-error.log warn;
pid $work/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:$nginx_port;
    root $DATA_DIR/media;
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
sleep 1


echo
echo "## run $(date -u +%FT%TZ) on $(nproc) cores, $songs songs, ${seconds}s per case"
echo
echo "| case | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
range="Range: bytes=0-65535"
run nginx-static-64k "http://127.0.0.1:$nginx_port/ff/ff/$hash.mp3" "$range"
run backend-direct-64k "http://127.0.0.1:$port/api/music/songs/$song/stream" "$range" "Cookie: $cookie"
run list-songs "http://127.0.0.1:$port/api/music/songs?limit=50" "Cookie: $cookie"
run list-songs-by-added-desc "http://127.0.0.1:$port/api/music/songs?limit=50&sort=added&order=desc" "Cookie: $cookie"
run list-songs-filtered-q "http://127.0.0.1:$port/api/music/songs?limit=50&q=river" "Cookie: $cookie"
run search-dvorak "http://127.0.0.1:$port/api/search?q=dvorak" "Cookie: $cookie"
run search-typo "http://127.0.0.1:$port/api/search?q=symphny" "Cookie: $cookie"

echo
echo "Paced: the same 50 clients, each waiting PACE_MS on average after every response (people with think time)."
echo
echo "| case | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
PACE_MS=50 run list-songs-paced-50ms "http://127.0.0.1:$port/api/music/songs?limit=50" "Cookie: $cookie"
PACE_MS=25 run list-songs-paced-25ms "http://127.0.0.1:$port/api/music/songs?limit=50" "Cookie: $cookie"
PACE_MS=100 run list-songs-filtered-q-paced-100ms "http://127.0.0.1:$port/api/music/songs?limit=50&q=river" "Cookie: $cookie"
PACE_MS=500 run search-dvorak-paced-500ms "http://127.0.0.1:$port/api/search?q=dvorak" "Cookie: $cookie"
PACE_MS=500 run search-typo-paced-500ms "http://127.0.0.1:$port/api/search?q=symphny" "Cookie: $cookie"

# Resident memory with the catalogue loaded and searched (the search index, where a replica keeps one).
catalogue_rss=$(rss "$server")

ratio=$(python3 -c "print(round(float(open('$work/rps-backend-direct-64k').read()) / float(open('$work/rps-nginx-static-64k').read()), 2))")
echo
echo "backend direct / nginx static, 64 KiB ranges: **$ratio×** (target ≥ 0.3)"

# RSS while 200 clients stream the whole 8 MiB file over and over.
peak=0
# A whole 8 MiB file within 10 s is about five times the rate of CD-quality audio (176 KB/s); only slower is an error.
CONNS=200 WRK_TIMEOUT=10s run stream-200-clients "http://127.0.0.1:$port/api/music/songs/$song/stream" "Cookie: $cookie" > "$work/stream.txt" &
wrk_pid=$!
while kill -0 "$wrk_pid" 2>/dev/null; do
  now=$(rss "$server"); [ "$now" -gt "$peak" ] && peak=$now; sleep 0.2
done
cat "$work/stream.txt"
echo
echo "backend RSS: idle ${idle_rss} MiB (target < 24); after the catalogue runs ${catalogue_rss} MiB; peak during 200 concurrent full-file streams ${peak} MiB (target < 64)"
