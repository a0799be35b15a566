#!/usr/bin/env bash
# Scan benchmark: `fermata scan` of FILES small tagged MP3s (bench/gen-mp3-library.py; default 100,000), warm
# page cache, first scan then a rescan with nothing changed; the scan's own files/s, where its time went (the
# phases it logs) and the CLI's peak RSS (VmHWM). ROUNDS (default 1) repeats both scans on fresh databases.
# FERMATA_BIN picks the binary (default: the release build, built if missing); LIBRARY reuses a library
# generated before (it is made there when missing, and kept).
# Needs: ffmpeg, python3, the PostgreSQL server binaries.
# Usage: bench/scan.sh [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-100000}
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$(pwd)/$target" ;; esac
bin=${FERMATA_BIN:-$target/release/fermata}
[ -x "$bin" ] || cargo build --release -p fermata
work=$(mktemp -d /tmp/fermata-scan.XXXXXX)
chmod 755 "$work"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

library=${LIBRARY:-/tmp/fermata-scan-library-$files}
if [ ! -f "$library.complete" ]; then
  echo "generating $files files in $library..." >&2
  rm -rf "$library"
  mkdir -p "$library"
  python3 bench/gen-mp3-library.py "$library" "$files"
  touch "$library.complete"
fi
# Warm the page cache the way a second look at a library would.
find "$library" -type f -print0 | xargs -0 cat > /dev/null

# scan: runs `fermata scan`, polling its peak RSS; prints the fields of its "scan finished" line and the peak.
scan() {
  "$bin" scan > "$work/scan.log" 2>&1 &
  local pid=$! peak=0 now
  while kill -0 "$pid" 2>/dev/null; do
    now=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${now:-0}" -gt "$peak" ] && peak=$now
    sleep 0.05
  done
  wait "$pid"
  grep 'scan finished"' "$work/scan.log" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read()); r = r.get("fields", r)
phases = ", ".join(f"{k[:-8]} {r[k]:.2f}" for k in r if k.endswith("_seconds"))
print(" | ".join(str(r.get(k)) for k in ["files", "added", "unchanged", "skipped", "files_per_second"]),
      "| %.2f | %s |" % (r["seconds"], phases), end=" ")'
  echo "$peak"
}

echo
echo "## scan run $(date -u +%FT%TZ) on $(nproc) cores, $files files, $bin"
echo
echo "| case | files | added | unchanged | skipped | files/s | seconds | phases (s) | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "${ROUNDS:-1}"); do
  export DATA_DIR="$work/data-$round" MUSIC_DIR="$library" LOG_FORMAT=json RUST_LOG=info MEMORY_SOFT_LIMIT_MB=0
  "$bin" migrate >/dev/null 2>&1
  printf '| first scan | %s |\n' "$(scan)"
  printf '| rescan | %s |\n' "$(scan)"
  # The database's server stops with the CLI; its files go.
  rm -rf "$DATA_DIR"
done
