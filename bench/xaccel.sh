#!/usr/bin/env bash
# X-Accel benchmark in the native test topology: 64 KiB ranged requests through nginx, where the backend only
# authorises and nginx sends the bytes (MEDIA_DELIVERY=x-accel, the shared locations), against the same nginx
# serving the same file statically. One run, side by side.
# Needs: a release build (built if missing), wrk, nginx, psql, the PostgreSQL server binaries.
# Usage: bench/xaccel.sh [SECONDS] [REPLICAS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
seconds=${1:-10}
replicas=${2:-1}
target=${CARGO_TARGET_DIR:-target}
bin="$target/release/fermata"
[ -x "$bin" ] || cargo build --release -p fermata
work=$(mktemp -d /tmp/fermata-xaccel.XXXXXX)
chmod 755 "$work"
nginx_port=$(free_port)
static_port=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export MEDIA_DIR="$work/media" MEDIA_DELIVERY=x-accel MEMORY_SOFT_LIMIT_MB=0 RUST_LOG=warn
export RATE_LIMIT_API_BURST=100000000 RATE_LIMIT_API_PER_SEC=100000000 PUBLIC_URL="http://127.0.0.1:$nginx_port"
# The first replica owns the embedded PostgreSQL; the others share it over its unix socket.
ports=()
upstreams=""
for i in $(seq 1 "$replicas"); do
  port=$(free_port); ports+=("$port")
  upstreams+="server 127.0.0.1:$port; "
  if [ "$i" -eq 1 ]; then
    DATA_DIR="$work/data" BIND="127.0.0.1:$port" "$bin" serve & pids+=($!)
    for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
    shared_db="postgres://fermata@localhost/fermata?host=$work/data/postgres"
  else
    DATABASE_URL="$shared_db" DATA_DIR="$work/data-$i" BIND="127.0.0.1:$port" "$bin" serve & pids+=($!)
    for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
  fi
done

psql_() { psql -q -h "$work/data/postgres" -U fermata -d fermata -v ON_ERROR_STOP=1 "$@"; }
hash=$(printf '%064d' 1 | tr 0 f)
mkdir -p "$MEDIA_DIR/ff/ff"
head -c $((8 * 1024 * 1024)) /dev/urandom > "$MEDIA_DIR/ff/ff/$hash.mp3"
chmod 644 "$MEDIA_DIR/ff/ff/$hash.mp3"
song=$(psql_ -At <<SQL | head -n1
INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Bench');
INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), 'Bench', id FROM artists LIMIT 1;
INSERT INTO songs (id, title, artist_id, album_id, duration_ms, codec, size_bytes, content_hash, storage, path, search_text)
  SELECT gen_random_uuid(), 'Bench file', artist_id, id, 300000, 'mp3', 8388608, '$hash', 'media', 'ff/ff/$hash.mp3', 'bench file'
  FROM albums LIMIT 1 RETURNING id;
SQL
)

mkdir -p "$work/frontend"
# The test topology's config (shared locations), plus one plain static server on the same media folder.
scripts/nginx-config "$work/nginx" "$nginx_port" "$MEDIA_DIR" "$work/library" "$work/frontend" "$upstreams"
sed -i -e 's|access_log .*;|access_log off;|' -e '$d' "$work/nginx/nginx.conf"
cat >> "$work/nginx/nginx.conf" <<NGINX
    server {
        listen 127.0.0.1:$static_port;
        root $MEDIA_DIR;
        tcp_nopush on;
    }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" & pids+=($!)
sleep 1

echo "bench-password-1" | DATA_DIR="$work/data" "$bin" user create bencher >/dev/null
cookie=$(curl -fs -c - -H 'content-type: application/json' -d '{"username":"bencher","password":"bench-password-1"}' \
  "http://127.0.0.1:$nginx_port/api/auth/login" | awk '/fermata_session/ {print "fermata_session=" $7}')
check=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "Cookie: $cookie" -H 'Range: bytes=0-65535' \
  "http://127.0.0.1:$nginx_port/api/music/songs/$song/stream")
[ "$check" = "206 65536" ] || { echo "X-Accel check failed: $check" >&2; exit 1; }


echo
echo "## x-accel run $(date -u +%FT%TZ) on $(nproc) cores, $replicas backend replica(s), ${seconds}s per case"
echo
echo "| case | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
range="Range: bytes=0-65535"
for round in 1 2; do
  run "nginx-static-64k-$round" "http://127.0.0.1:$static_port/ff/ff/$hash.mp3" "$range"
  run "nginx-xaccel-64k-$round" "http://127.0.0.1:$nginx_port/api/music/songs/$song/stream" "$range" "Cookie: $cookie"
done
python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
read = lambda n: float(open(f"{work}/rps-{n}").read())
static = statistics.median(read(f"nginx-static-64k-{r}") for r in (1, 2))
xaccel = statistics.median(read(f"nginx-xaccel-64k-{r}") for r in (1, 2))
print(f"\nnginx with X-Accel / nginx static, 64 KiB ranges (median of 2 rounds): **{xaccel / static:.2f}×** (target ≥ 0.9)")
PY
