#!/usr/bin/env bash
# Listening by sound (#22): how fast songs are analysed and how fast "similar" answers on a large library.
#
# 1. Analysis: FILES music-like MP3s (128 kbit/s stereo, 44.1 kHz, MINUTES long: chords, a bass line and drums
#    made by ffmpeg, each file a different mix so no two are alike) in a library folder, scanned by the release
#    backend. Then (a) the per-song analysis jobs the scan queues (one worker per replica), and (b) the backfill
#    (one song per core at a time) of the same songs: wall time, songs per minute, times real time per core, and
#    the backend's peak RSS sampled every 100 ms while it analyses.
# 2. Similar songs on SONGS songs (bench/lib.sh's catalogue, each given a pseudo-random 28-byte vector, a tempo
#    and a key): the backend's RSS after start without vectors and with them (memory per song), then
#    GET /api/music/songs/{id}/similar?limit=20 one client at a time (latency) and 50 clients (throughput).
# Usage: bench/sonic.sh [FILES] [MINUTES] [SONGS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
files=${1:-24}
minutes=${2:-3}
songs=${3:-100000}
seconds=${4:-10}

library=$(mktemp -d /tmp/fermata-sonic-library.XXXXXX)
trap 'rm -rf "$library"' EXIT
echo "making $files files of $minutes minutes..." >&2
length=$((minutes * 60))
# One master of each part, mixed differently per file (levels, a pitch shift by resampling, an offset).
ffmpeg -v error -y -f lavfi -i "aevalsrc=exprs=0.15*(sin(2*PI*220*t)+sin(2*PI*277.2*t)+sin(2*PI*329.6*t))*(0.6+0.4*sin(2*PI*t/8)):s=44100:d=$length" "$library/chords.wav"
ffmpeg -v error -y -f lavfi -i "aevalsrc=exprs=0.4*sin(2*PI*(55+27.5*lt(mod(t\,4)\,2))*t)*exp(-mod(t\,0.5)*3):s=44100:d=$length" "$library/bass.wav"
ffmpeg -v error -y -f lavfi -i "anoisesrc=color=white:sample_rate=44100:duration=$length:amplitude=0.5" \
  -af "volume='exp(-mod(t,0.46875)*30)':eval=frame" "$library/drums.wav"
mkdir -p "$library/music"
for i in $(seq 1 "$files"); do
  rate=$((44100 + (i % 7) * 1500))
  ffmpeg -v error -y -i "$library/chords.wav" -i "$library/bass.wav" -i "$library/drums.wav" -filter_complex \
    "[0]volume=0.$((3 + i % 6))[a];[1]volume=0.$((2 + i % 5))[b];[2]volume=0.$((1 + i % 4))[c];[a][b][c]amix=inputs=3:normalize=0,asetrate=$rate,aresample=44100,atrim=0:$length" \
    -ac 2 -c:a libmp3lame -b:a 128k -metadata "title=Bench $i" -metadata "artist=Bench Band $((i % 4))" \
    -metadata "album=Bench Album $((i % 6))" "$library/music/$i.mp3"
done
rm -f "$library"/*.wav
audio_seconds=$(python3 -c "print($files * $length)")

export MUSIC_DIR="$library/music"
start_backend
echo "bench-password-1" | "$bin" user create bencher --admin >/dev/null 2>&1
cookie=$(curl -fs -c - -H 'content-type: application/json' \
  -d '{"username":"bencher","password":"bench-password-1"}' "http://127.0.0.1:$port/api/auth/login" |
  awk '/fermata_session/ {print "fermata_session=" $7}')
post() { curl -fs -o /dev/null -X POST -H "Cookie: $cookie" "http://127.0.0.1:$port$1"; }

# wait_analysed: seconds until no song is behind the current measures; peak RSS in $work/peak.
wait_analysed() {
  local start peak=0 now
  start=$(date +%s.%N)
  while [ "$(psql_ -tAc "SELECT count(*) FROM songs WHERE sonic_version IS NULL")" != 0 ]; do
    now=$(rss "$server"); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.1
  done
  echo "$peak" > "$work/peak"
  python3 -c "print(round($(date +%s.%N) - $start, 2))"
}

echo
echo "## run $(date -u +%FT%TZ) on $(nproc) cores: $files MP3s of $minutes min (128 kbit/s), $songs songs for similar"
echo
idle=$(rss "$server")
post /api/admin/scan
for _ in $(seq 1 600); do
  [ "$(psql_ -tAc "SELECT count(*) FROM jobs WHERE kind = 'scan' AND status = 'done'")" = 1 ] && break
  sleep 0.1
done
per_song=$(wait_analysed)
per_song_peak=$(cat "$work/peak")
psql_ -c "UPDATE songs SET sonic_version = NULL"
post /api/admin/analysis
backfill=$(wait_analysed)
backfill_peak=$(cat "$work/peak")
threads=$(nproc)
echo "| analysis | wall | songs/min | × real time per core | peak RSS (idle $idle MiB) |"
echo "|---|---|---|---|---|"
python3 - "$files" "$audio_seconds" "$per_song" "$per_song_peak" "$backfill" "$backfill_peak" "$threads" <<'PY'
import sys
files, audio, per_song, per_song_peak, backfill, backfill_peak, threads = sys.argv[1:]
files, audio, threads = int(files), float(audio), int(threads)
for name, wall, peak, cores in (("analysis jobs (1 worker)", float(per_song), per_song_peak, 1),
                                (f"backfill ({threads} at a time)", float(backfill), backfill_peak, threads)):
    print(f"| {name} | {wall} s | {files / wall * 60:.0f} | {audio / wall / cores:.0f}× | {peak} MiB |")
PY

# Similar songs on a large library (the backend owns its private database: it stays up while the catalogue is
# replaced, then restarts on it).
unset MUSIC_DIR
psql_ -c "DELETE FROM jobs" -c "DELETE FROM songs" -c "DELETE FROM albums" -c "DELETE FROM artists" >/dev/null
seed_catalogue "$songs" >/dev/null

restart_backend "$bin" 2
without=$(rss "$server")
# Vectors spread like real ones (each number within its weighted range), tempi 60-200, every key.
psql_ -c "UPDATE songs SET sonic = (SELECT string_agg(set_byte('\\x00'::bytea, 0, (get_byte(sha256((id::text || k)::bytea), 0) % 64 + 224) % 256), ''::bytea) FROM generate_series(1, 28) k),
                         bpm = 60 + (get_byte(sha256(id::text::bytea), 1) % 140), musical_key = get_byte(sha256(id::text::bytea), 2) % 24,
                         sonic_version = 1" >/dev/null
restart_backend "$bin" 2
with=$(rss "$server")
echo
echo "| $songs songs | RSS without vectors | RSS with vectors | per song |"
echo "|---|---|---|---|"
python3 -c "print(f'| after start | $without MiB | $with MiB | {($with - $without) * 1048576 / $songs:.0f} bytes |')"
song=$(psql_ -tAc "SELECT id FROM songs ORDER BY id LIMIT 1 OFFSET 777")
echo
echo "| GET /similar?limit=20 | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
CONNS=1 run "similar, 1 client" "http://127.0.0.1:$port/api/music/songs/$song/similar?limit=20" "Cookie: $cookie"
CONNS=50 run "similar, 50 clients" "http://127.0.0.1:$port/api/music/songs/$song/similar?limit=20" "Cookie: $cookie"
