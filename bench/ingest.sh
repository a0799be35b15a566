#!/usr/bin/env bash
# Ingest benchmarks: first scan and no-change rescan of a generated library (mixed formats), the analysis
# rate, and backend RSS while a 1 GiB file is uploaded.
# Needs: a release build (built if missing; FERMATA_BIN picks one), ffmpeg, curl, the PostgreSQL server binaries.
# Usage: bench/ingest.sh [TRACKS]
set -euo pipefail
cd "$(dirname "$0")/.."
tracks=${1:-2000}
target=${CARGO_TARGET_DIR:-target}
# The binary by absolute path (the scan runs from another directory); CARGO_TARGET_DIR may be absolute.
case "$target" in /*) bin="$target/release/fermata" ;; *) bin="$(pwd)/$target/release/fermata" ;; esac
# FERMATA_BIN picks another binary (an earlier build, to compare), as in the other benches; made absolute.
[ -n "${FERMATA_BIN:-}" ] && bin=$(realpath "$FERMATA_BIN")
[ -x "$bin" ] || cargo build --release -p fermata
work=$(mktemp -d /tmp/fermata-ingest.XXXXXX)
chmod 755 "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

library="$work/library"
echo "generating $tracks tracks..." >&2
# A few real encodes per format, copied with changed tags would still share audio; instead every track is
# its own short encode (a distinct tone), spread over artists and albums.
gen() {
  i=$1; library=$2
  formats=(mp3 flac ogg opus m4a wav)
  codecs=("-c:a libmp3lame -b:a 64k" "-c:a flac" "-c:a libvorbis -q:a 0" "-c:a libopus -b:a 24k" "-c:a aac -b:a 48k" "-c:a pcm_s16le -ar 8000")
  f=$((i % 6)); artist=$((i % 40)); album=$((i % 200))
  dir="$library/Artist $artist/Album $album"
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  ffmpeg -v error -y -f lavfi -i "sine=frequency=$((100 + i)):duration=0.4" -ac 1 ${codecs[$f]} \
    -metadata title="Track $i" -metadata artist="Artist $artist" -metadata album="Album $album" -metadata track=$((i % 20 + 1)) \
    "$dir/$(printf %04d "$i") - Track $i.${formats[$f]}"
}
export -f gen
seq 0 $((tracks - 1)) | xargs -P "$(nproc)" -I{} bash -c 'gen {} '"$library"

export DATA_DIR="$work/data" BIND="127.0.0.1:$port" MUSIC_DIR="$library" LOG_FORMAT=json RUST_LOG=info MEMORY_SOFT_LIMIT_MB=0
export MAX_UPLOAD_BYTES=$((2 * 1024 * 1024 * 1024))
"$bin" migrate >/dev/null 2>&1
# Warm the page cache the way a second look at a library would.
find "$library" -type f -exec cat {} + > /dev/null
scan() { "$bin" scan 2>&1 | grep 'scan finished"' | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r.get("files"), r.get("added"), r.get("unchanged"), r.get("skipped"), r.get("files_per_second"))'; }
read -r files added unchanged skipped first_rate < <(scan)
read -r files2 added2 unchanged2 skipped2 rescan_rate < <(scan)

echo
echo "## ingest run $(date -u +%FT%TZ) on $(nproc) cores"
echo
echo "| case | files | indexed | skipped | files/s |"
echo "|---|---|---|---|---|"
echo "| first scan (warm cache) | $files | $added | $skipped | $first_rate |"
echo "| rescan, nothing changed | $files2 | $unchanged2 (unchanged) | $skipped2 | $rescan_rate |"

# Analysis: the server's workers take the queued jobs; measure how fast they drain.
"$bin" serve > "$work/server.log" 2>&1 & server=$!
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
psql_() { psql -At -h "$DATA_DIR/postgres" -U fermata -d fermata -c "$1"; }
start=$(date +%s.%N)
while [ "$(psql_ "SELECT count(*) FROM jobs WHERE kind = 'analyse' AND status IN ('queued','running')")" != "0" ]; do sleep 0.5; done
end=$(date +%s.%N)
analysed=$(psql_ "SELECT count(*) FROM jobs WHERE kind = 'analyse' AND status = 'done'")
echo
echo "analysis: $analysed songs in $(python3 -c "print(round($end - $start, 1))") s = $(python3 -c "print(round($analysed / ($end - $start), 1))") songs/s (0.4 s tracks, one analysis worker)"

# RSS while a 1 GiB WAV is uploaded (streamed to disk while hashed).
ffmpeg -v error -y -f lavfi -i "anoisesrc=d=6100:r=44100" -ac 2 -c:a pcm_s16le "$work/big.wav"
echo "upload-password-1" | "$bin" user create uploader --admin >/dev/null 2>&1
cookie=$(curl -fs -c - -H 'content-type: application/json' -d '{"username":"uploader","password":"upload-password-1"}' \
  "http://127.0.0.1:$port/api/auth/login" | awk '/fermata_session/ {print "fermata_session=" $7}')
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$server/status"; }
idle=$(rss)
curl -s -o "$work/upload.json" -w '%{http_code}' -H "Cookie: $cookie" -F "file=@$work/big.wav" "http://127.0.0.1:$port/api/music/songs" > "$work/status" &
curl_pid=$!
peak=0
while kill -0 "$curl_pid" 2>/dev/null; do now=$(rss); [ "$now" -gt "$peak" ] && peak=$now; sleep 0.1; done
echo "upload of $(du -h "$work/big.wav" | cut -f1) WAV: HTTP $(cat "$work/status"); backend RSS before ${idle} MiB, peak during ${peak} MiB (target < 64)"
