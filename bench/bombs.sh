#!/usr/bin/env bash
# Peak memory of the core on the hostile inputs the security review of #41 found, each in its own process
# (/usr/bin/time -v's maximum resident set), release build: the analysis of a 1 Hz FLAC and of 45 minutes of
# silence in 34 KB, an M3U of one 1 MiB line, a 150 MB cover.jpg checked and a 4000x4000 JPEG made a thumbnail.
# Usage: bench/bombs.sh (needs ffmpeg; CARGO_TARGET_DIR is honoured).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p fermata-core --example bomb
bin="${CARGO_TARGET_DIR:-target}/release/examples/bomb"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
ff() { ffmpeg -v error -y "$@"; }
ff -f lavfi -i anullsrc=r=1:cl=mono -t 100000000 -c:a flac -frame_size 65535 "$work/one-hertz.flac"
ff -f lavfi -i anullsrc=r=44100:cl=mono -t 2700 -c:a flac -frame_size 65535 "$work/silence.flac"
ff -f lavfi -i sine=frequency=440:duration=180 -c:a flac "$work/real.flac"
python3 -c "import sys; sys.stdout.write('#EXTM3U\n' + '/a' * (512 * 1024) + '\n')" > "$work/line.m3u"
python3 -c "import sys; sys.stdout.write('#EXTM3U\n' + ('/music/' + 'x' * 4000 + '\n') * 250)" > "$work/lines.m3u"
ff -f lavfi -i testsrc2=size=4000x4000 -frames:v 1 -q:v 2 "$work/big.jpg"
# A JPEG that is 150 MB: the image, then 150 MB after its end marker (as a padded or concatenated file would be).
cp "$work/big.jpg" "$work/huge.jpg"; head -c 150000000 /dev/zero >> "$work/huge.jpg"
printf '%-44s %10s %12s  %s\n' "input" "bytes" "peak RSS" "outcome"
run() {
  local label=$1 file=$2; shift 2
  local out; out=$( { /usr/bin/time -v "$bin" "$@" 2>&1 >/dev/null; } || true)
  local rss; rss=$(grep 'Maximum resident' <<<"$out" | awk '{print $6}')
  printf '%-44s %10s %9s KiB  %s\n' "$label" "$(stat -c %s "$file")" "$rss" "$(grep -E '^(ok|refused):' <<<"$out" | cut -c1-90)"
}
run "analysis: FLAC at 1 Hz" "$work/one-hertz.flac" analyse "$work/one-hertz.flac" flac
run "analysis: 45 min of silence in a small FLAC" "$work/silence.flac" analyse "$work/silence.flac" flac
run "analysis: a real 3-minute FLAC (baseline)" "$work/real.flac" analyse "$work/real.flac" flac
run "M3U: one line of 1 MiB" "$work/line.m3u" m3u "$work/line.m3u"
run "M3U: 250 lines of 4 KB" "$work/lines.m3u" m3u "$work/lines.m3u"
run "cover check: a 150 MB cover.jpg" "$work/huge.jpg" cover "$work/huge.jpg"
run "thumbnail: a 4000x4000 JPEG at 300 px" "$work/big.jpg" thumbnail "$work/big.jpg" 300
