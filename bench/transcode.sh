#!/usr/bin/env bash
# Transcoding benchmark: a 5-minute FLAC (stereo pink noise, 44.1 kHz: the encoders' worst case) behind nginx
# in the native test topology. Per target format: time to first byte and real-time factor of one transcode;
# concurrent transcodes (each another rendition, so none is shared) and their aggregate real-time factor, with
# the backend's RSS alone and with its ffmpeg processes; then a cached rendition's 64 KiB ranges through nginx
# (X-Accel) against nginx serving the same file statically. One run, side by side.
# Needs: a release build (built if missing), wrk, nginx, ffmpeg, psql, the PostgreSQL server binaries.
# Usage: bench/transcode.sh [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
seconds=${1:-10}
rounds=${2:-3}
export TRANSCODE_MAX_PROCESSES=64 TRANSCODE_MAX_PER_USER=64
nginx_stack 1

echo "making a 5-minute FLAC..." >&2
ffmpeg -v error -y -f lavfi -i "anoisesrc=color=pink:sample_rate=44100:duration=300" -ac 2 -c:a flac "$work/five.flac"
song=$(add_song "$work/five.flac" flac 1100 300)
base="http://127.0.0.1:$nginx_port/api/music/songs/$song/stream"

# forget: empties the transcode cache, so the next request transcodes again.
forget() { rm -rf "$MEDIA_DIR"/transcodes/??; psql_ -c "DELETE FROM transcodes"; }

# ffmpeg_rss: the summed RSS (MiB) of the backend's ffmpeg children.
ffmpeg_rss() {
  local total=0 pid one
  for pid in $(pgrep -P "$server" ffmpeg || true); do
    one=$(rss "$pid" 2>/dev/null || true)
    total=$((total + ${one:-0}))
  done
  echo "$total"
}

echo
echo "## transcode run $(date -u +%FT%TZ) on $(nproc) cores, a 300 s FLAC, median of $rounds rounds"
echo
echo "| format at 160k | time to first byte | whole transcode | real-time factor | output |"
echo "|---|---|---|---|---|"
for format in opus mp3 aac; do
  ttfbs=(); totals=()
  for _ in $(seq 1 "$rounds"); do
    forget
    read -r ttfb total size < <(curl -s -o /dev/null -H "Cookie: $cookie" \
      -w '%{time_starttransfer} %{time_total} %{size_download}\n' "$base?format=$format&max_bitrate=160")
    ttfbs+=("$ttfb"); totals+=("$total")
  done
  python3 - "$format" "$size" "${ttfbs[*]}" "${totals[*]}" <<'PY'
import statistics, sys
fmt, size, ttfbs, totals = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
ttfb = statistics.median(map(float, ttfbs)); total = statistics.median(map(float, totals))
print(f"| {fmt} | {ttfb * 1000:.0f} ms | {total:.2f} s | {300 / total:.0f}× | {size / 1e6:.1f} MB |")
PY
done

echo
echo "| concurrent transcodes (opus/mp3/aac mixed) | wall time | slowest's real-time factor | aggregate real-time factor | backend RSS | + ffmpeg RSS |"
echo "|---|---|---|---|---|---|"
renditions=()
for bitrate in 32 48 64 96 112 128 160 192 224 256 320; do
  for format in opus mp3 aac; do renditions+=("format=$format&max_bitrate=$bitrate"); done
done
for n in 1 2 4 8 16; do
  forget
  start=$(date +%s.%N)
  jobs_=()
  for i in $(seq 0 $((n - 1))); do
    curl -s -o /dev/null -H "Cookie: $cookie" -w '%{time_total}\n' "$base?${renditions[$i]}" > "$work/t-$i" &
    jobs_+=($!)
  done
  peak_backend=0; peak_ffmpeg=0
  while kill -0 "${jobs_[@]}" 2>/dev/null; do
    b=$(rss "$server"); f=$(ffmpeg_rss)
    f=${f:-0}
    [ "$b" -gt "$peak_backend" ] && peak_backend=$b
    [ "$f" -gt "$peak_ffmpeg" ] && peak_ffmpeg=$f
    sleep 0.1
  done
  wait "${jobs_[@]}"
  end=$(date +%s.%N)
  python3 - "$n" "$start" "$end" "$peak_backend" "$peak_ffmpeg" "$work" <<'PY'
import sys
n, start, end, backend, ffmpeg, work = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
slowest = max(float(open(f"{work}/t-{i}").read()) for i in range(n))
wall = end - start
print(f"| {n} | {wall:.2f} s | {300 / slowest:.0f}× | {n * 300 / wall:.0f}× | {backend} MiB | {int(backend) + ffmpeg} MiB |")
PY
done

# A cached rendition through nginx (X-Accel) against nginx static on the same file.
forget
curl -s -o /dev/null -H "Cookie: $cookie" "$base?format=mp3&max_bitrate=160"
cached=""
for _ in $(seq 1 100); do
  cached=$(cd "$MEDIA_DIR" && ls transcodes/??/*-160.mp3 2>/dev/null | head -n1) && [ -n "$cached" ] && break
  sleep 0.1
done
check=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "Cookie: $cookie" -H 'Range: bytes=0-65535' \
  "$base?format=mp3&max_bitrate=160")
[ "$check" = "206 65536" ] || { echo "cached transcode check failed: $check" >&2; exit 1; }
versus_static cached-transcode "$cached" "$base?format=mp3&max_bitrate=160"
