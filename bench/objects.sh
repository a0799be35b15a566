#!/usr/bin/env bash
# Object storage benchmark (MEDIA_STORE=s3), one run, side by side: 64 KiB ranges through nginx from the bucket
# (the backend authorises with a presigned URL, nginx fetches from the S3 server), from the local media volume
# (X-Accel, sendfile), and from a plain static nginx; then a 1 GiB upload to each store through the API: time and
# the backend's peak RSS. The S3 server is s3s-fs (S3S_FS or on PATH; see .ci/run), on the same machine.
# Needs: a release build (built if missing), wrk, nginx, curl, psql, the PostgreSQL server binaries.
# Usage: bench/objects.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
seconds=${1:-10}
s3s=${S3S_FS:-$(command -v s3s-fs || echo "${TMPDIR:-/tmp}/fermata-tools/bin/s3s-fs")}
[ -x "$s3s" ] || { echo "s3s-fs not found (cargo install --locked s3s-fs@0.14.1 --features binary)" >&2; exit 1; }

export MEDIA_STORE=fs
nginx_stack 1
fs_backend=$server

# The S3 server and a second backend on the same database with its media in the bucket, behind its own nginx.
key=bench-key secret=bench-secret-key bucket=bench
s3_port=$(free_port)
mkdir -p "$work/s3/$bucket"
"$s3s" --host 127.0.0.1 --port "$s3_port" --access-key "$key" --secret-key "$secret" "$work/s3" >/dev/null 2>&1 &
pids+=($!)
s3_backend_port=$(free_port)
s3_nginx_port=$(free_port)
MEDIA_STORE=s3 S3_ENDPOINT="http://127.0.0.1:$s3_port" S3_BUCKET=$bucket S3_ACCESS_KEY_ID=$key \
  S3_SECRET_ACCESS_KEY=$secret DATABASE_URL="postgres://fermata@localhost/fermata?host=$work/data/postgres" \
  DATA_DIR="$work/data-s3" MEDIA_DIR="$work/media-s3" BIND="127.0.0.1:$s3_backend_port" "$bin" serve &
pids+=($!)
s3_backend=$!
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$s3_backend_port/ready" >/dev/null && break; sleep 0.2; done
scripts/nginx-config "$work/nginx-s3" "$s3_nginx_port" "$work/media-s3" "$work/library" "$work/frontend" \
  "server 127.0.0.1:$s3_backend_port;"
sed -i -e 's|access_log .*;|access_log off;|' "$work/nginx-s3/nginx.conf"
nginx -p "$work/nginx-s3" -c "$work/nginx-s3/nginx.conf" & pids+=($!)
sleep 1

# The same kind of file in each store: 8 MiB, its own bytes (content hashes are unique).
head -c $((8 * 1024 * 1024)) /dev/urandom > "$work/local.mp3"
hash=$(sha256sum "$work/local.mp3" | cut -d' ' -f1)
local_song=$(add_song "$work/local.mp3" mp3 320 300)
local_file="${hash:0:2}/${hash:2:2}/$hash.mp3"
head -c $((8 * 1024 * 1024)) /dev/urandom > "$work/bucket.mp3"
bucket_hash=$(sha256sum "$work/bucket.mp3" | cut -d' ' -f1)
object_key="${bucket_hash:0:2}/${bucket_hash:2:2}/$bucket_hash.mp3"
curl -fs --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" -H 'Content-Type: audio/mpeg' \
  -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  -T "$work/bucket.mp3" "http://127.0.0.1:$s3_port/$bucket/fermata/$object_key"
bucket_song=$(psql_ -At <<SQL | head -n1
INSERT INTO songs (id, title, artist_id, album_id, duration_ms, codec, bitrate, size_bytes, content_hash, storage, path, search_text)
  SELECT gen_random_uuid(), 'Bench object', artist_id, id, 300000, 'mp3', 320, $((8 * 1024 * 1024)), '$bucket_hash', 'media',
         '$object_key', 'bench object'
  FROM albums LIMIT 1 RETURNING id;
SQL
)
s3_url="http://127.0.0.1:$s3_nginx_port/api/music/songs/$bucket_song/stream"
check=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "Cookie: $cookie" -H 'Range: bytes=0-65535' "$s3_url")
[ "$check" = "206 65536" ] || { echo "object store check failed: $check" >&2; exit 1; }

# The presigned URL nginx would follow, to measure the S3 server on its own (the ceiling of the bucket case).
presigned=$(curl -s -D - -o /dev/null -H "Cookie: $cookie" -H 'X-Fermata-Accel: 1' \
  "http://127.0.0.1:$s3_backend_port/api/music/songs/$bucket_song/stream" | awk -F': ' 'tolower($1) == "x-fermata-file" {print $2}' | tr -d '\r')
[ -n "$presigned" ] || { echo "no presigned URL from the backend" >&2; exit 1; }

echo
echo "## object storage run $(date -u +%FT%TZ) on $(nproc) cores, ${seconds}s per case"
echo
echo "| case | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
range="Range: bytes=0-65535"
for round in 1 2; do
  run "nginx-static-64k-$round" "http://127.0.0.1:$static_port/$local_file" "$range"
  run "volume-xaccel-64k-$round" "http://127.0.0.1:$nginx_port/api/music/songs/$local_song/stream" "$range" "Cookie: $cookie"
  run "bucket-presigned-64k-$round" "$s3_url" "$range" "Cookie: $cookie"
  run "s3-server-alone-64k-$round" "$presigned" "$range"
done
python3 - "$work" <<'PY'
import statistics, sys
work = sys.argv[1]
median = lambda n: statistics.median(float(open(f"{work}/rps-{n}-64k-{r}").read()) for r in (1, 2))
static, volume, bucket = median("nginx-static"), median("volume-xaccel"), median("bucket-presigned")
alone = median("s3-server-alone")
print(f"\nmedians of 2 rounds: volume / static **{volume / static:.2f}×**, bucket / static **{bucket / static:.2f}×**,"
      f" bucket / volume **{bucket / volume:.2f}×**, bucket through nginx / the S3 server alone **{bucket / alone:.2f}×**")
PY

# A 1 GiB WAV (a 44-byte header, then noise) uploaded through each backend's API.
python3 - "$work/big.wav" <<'PY'
import os, struct, sys
data = 1024 * 1024 * 1024
with open(sys.argv[1], "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 44100, 176400, 4, 16)
            + b"data" + struct.pack("<I", data))
    chunk = os.urandom(16 * 1024 * 1024)
    for i in range(data // len(chunk)):
        # Each chunk differs, so the file is one upload's worth of distinct bytes.
        f.write(i.to_bytes(8, "little") + chunk[8:])
PY
admin_cookie() {
  curl -fs -c - -H 'content-type: application/json' -d '{"username":"uploader","password":"bench-password-1"}' \
    "http://127.0.0.1:$1/api/auth/login" | awk '/fermata_session/ {print "fermata_session=" $7}'
}
echo "bench-password-1" | "$bin" user create uploader --admin >/dev/null
echo
echo "| 1 GiB upload | seconds | HTTP | backend peak RSS before | after |"
echo "|---|---|---|---|---|"
for store in volume bucket; do
  if [ "$store" = volume ]; then p=${ports[0]}; pid=$fs_backend; else p=$s3_backend_port; pid=$s3_backend; fi
  c=$(admin_cookie "$p")
  before=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
  # Each store gets its own copy of the bytes: the second would otherwise be a duplicate of the first.
  [ "$store" = bucket ] && printf 'x' | dd of="$work/big.wav" bs=1 seek=100 conv=notrunc status=none
  out=$(curl -s -o "$work/upload-$store.json" -w '%{http_code} %{time_total}' -H "Cookie: $c" -H "Origin: http://127.0.0.1:$nginx_port" \
    -F "file=@$work/big.wav;type=audio/wav" "http://127.0.0.1:$p/api/music/songs")
  after=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
  printf '| %s | %s | %s | %s MiB | %s MiB |\n' "$store" "${out#* }" "${out% *}" "$before" "$after"
done
