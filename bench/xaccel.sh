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
nginx_stack "$replicas"

head -c $((8 * 1024 * 1024)) /dev/urandom > "$work/bench.mp3"
hash=$(sha256sum "$work/bench.mp3" | cut -d' ' -f1)
song=$(add_song "$work/bench.mp3" mp3 320 300)
file="${hash:0:2}/${hash:2:2}/$hash.mp3"

check=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "Cookie: $cookie" -H 'Range: bytes=0-65535' \
  "http://127.0.0.1:$nginx_port/api/music/songs/$song/stream")
[ "$check" = "206 65536" ] || { echo "X-Accel check failed: $check" >&2; exit 1; }

echo
echo "## x-accel run $(date -u +%FT%TZ) on $(nproc) cores, $replicas backend replica(s), ${seconds}s per case"
echo
versus_static nginx-xaccel "$file" "http://127.0.0.1:$nginx_port/api/music/songs/$song/stream"
echo "(target ≥ 0.9)"
