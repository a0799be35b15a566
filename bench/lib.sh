# Helpers shared by the benchmark scripts (sourced). Callers set $work (a scratch dir) and $seconds.

# A loopback port that was free a moment ago.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run NAME URL [HEADER...]: wrk with --latency (CONNS clients, default 50); prints a table row with req/s,
# p50, p99 and errors, and keeps req/s in $work/rps-NAME for ratios. Two seconds of the same load first, not
# measured (connections opened, the database's per-connection plan and function caches filled). With PACE_MS
# each client waits that long after every response (bench/paced.lua): clients with think time, not a closed
# loop at full speed. WRK_TIMEOUT (default 2s, wrk's own) is how long a response may take before wrk counts
# it as an error.
run() {
  local name=$1 url=$2; shift 2
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  [ -n "${PACE_MS:-}" ] && args+=(-s bench/paced.lua)
  local out rps p50 p99 errors
  args+=(--timeout "${WRK_TIMEOUT:-2s}")
  local threads=$(( ${CONNS:-50} < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"${CONNS:-50}" -d2s "${args[@]}" "$url" >/dev/null
  out=$(wrk -t"$threads" -c"${CONNS:-50}" -d"${seconds}s" --latency "${args[@]}" "$url")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "${errors:-none}"
  echo "$rps" > "$work/rps-$name"
}

# seed_catalogue SONGS: the benchmark catalogue, written straight into the database psql_ reaches: 2,000 artists,
# 10,000 albums and SONGS songs with pseudo-word titles, then VACUUM ANALYZE.
seed_catalogue() {
  echo "seeding $1 songs..." >&2
  psql_ <<SQL
-- Deterministic pseudo-words so titles share words the way real libraries do.
CREATE TEMP TABLE words AS SELECT w, row_number() OVER () AS n FROM unnest(ARRAY['love','night','blue','river','dream',
 'fire','heart','rain','summer','road','moon','dance','light','city','home','gold','shadow','wild','song','time',
 'dvořák','symphony','étude','café','señor','über','nocturne','prelude','suite','waltz']) AS w;
INSERT INTO artists (id, name) SELECT gen_random_uuid(), 'Artist ' || i || ' ' || (SELECT w FROM words WHERE n = 1 + i % 30)
 FROM generate_series(1, 2000) i;
INSERT INTO albums (id, title, artist_id, year)
 SELECT gen_random_uuid(), initcap((SELECT w FROM words WHERE n = 1 + (i * 7) % 30)) || ' ' || i, a.id, 1950 + i % 70
 FROM generate_series(1, 10000) i JOIN LATERAL (SELECT id FROM artists ORDER BY name OFFSET (i % 2000) LIMIT 1) a ON true;
CREATE TEMP TABLE al AS SELECT id, artist_id, row_number() OVER (ORDER BY id) AS n, title FROM albums;
INSERT INTO songs (id, title, artist_id, album_id, track_number, genre, year, duration_ms, codec, bitrate, size_bytes,
                   content_hash, storage, path, search_text, play_count)
 SELECT gen_random_uuid(),
        initcap((SELECT w FROM words WHERE n = 1 + (i * 13) % 30)) || ' ' || (SELECT w FROM words WHERE n = 1 + (i * 17) % 30) || ' ' || i,
        al.artist_id, al.id, 1 + i % 12, (ARRAY['Rock','Jazz','Classical','Pop','Folk'])[1 + i % 5], 1950 + i % 70,
        120000 + (i % 240) * 1000, 'mp3', 320, 5000000, md5(i::text) || md5((i + 1)::text), 'media', 'bench/' || i || '.mp3',
        '', i % 1000
 FROM generate_series(1, $1) i JOIN al ON al.n = 1 + i % 10000;
UPDATE songs s SET search_text = s.title || ' ' || ar.name || ' ' || al.title
 FROM artists ar, albums al WHERE ar.id = s.artist_id AND al.id = s.album_id;
SQL
  # A library in its steady state, as autovacuum leaves it some minutes after a scan: visibility map set (index-only
  # scans without heap visits), GIN pending lists merged, statistics current.
  psql_ -c "VACUUM ANALYZE"
}

# start_backend: the release binary (FERMATA_BIN, or built if missing) serving on a free loopback port, with a private database
# under a scratch directory that is removed on exit. Sets bin, work, port, server (its pid) and pids (processes
# killed on exit; add yours). Settings for the backend are exported before the call.
start_backend() {
  local target=${CARGO_TARGET_DIR:-target}
  bin="${FERMATA_BIN:-$target/release/fermata}"
  [ -x "$bin" ] || cargo build --release -p fermata
  work=$(mktemp -d /tmp/fermata-bench.XXXXXX)
  chmod 755 "$work"
  port=$(free_port)
  pids=()
  trap cleanup EXIT
  export DATA_DIR="$work/data" BIND="127.0.0.1:$port" MEMORY_SOFT_LIMIT_MB=0 LOG_FORMAT=text RUST_LOG=warn
  # As the container image and scripts/run set it: two glibc malloc arenas instead of up to 8 per core.
  export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
  malloc_threshold
  export RATE_LIMIT_API_BURST=100000000 RATE_LIMIT_API_PER_SEC=100000000
  "$bin" serve & pids+=($!)
  server=${pids[0]}
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
}

# glibc's fixed mmap threshold as the image sets it, unless given; MALLOC_MMAP_THRESHOLD_=dynamic leaves glibc's
# default (a threshold that grows with the largest block freed) for comparison.
malloc_threshold() {
  if [ "${MALLOC_MMAP_THRESHOLD_:-}" = dynamic ]; then unset MALLOC_MMAP_THRESHOLD_
  else export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-4194304}"; fi
}

cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }

# rss PID: resident memory in MiB.
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }

# psql_: psql on the backend's private database.
psql_() { psql -q -h "$DATA_DIR/postgres" -U fermata -d fermata -v ON_ERROR_STOP=1 "$@"; }

# restart_backend BIN [SETTLE]: the backend (BIN) again on the same data directory, logging at info to
# $work/serve.log; waits until it is ready, signs in as bencher (created by the caller) into $cookie, waits until a
# search answers (the catalogue is loaded into memory), then SETTLE seconds (default 1).
restart_backend() {
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
  RUST_LOG=info "$1" serve > "$work/serve.log" 2>&1 & server=$!; pids=("$server")
  for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  cookie=$(curl -fs -c - -H 'content-type: application/json' -d '{"username":"bencher","password":"bench-password-1"}' \
    "http://127.0.0.1:$port/api/auth/login" | awk '/fermata_session/ {print "fermata_session=" $7}')
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$port/api/search?q=dvorak")" = 200 ] && break
    sleep 0.1
  done
  sleep "${2:-1}"
}

# nginx_stack REPLICAS: release backends behind nginx in the native test topology (the shared locations,
# MEDIA_DELIVERY=x-accel), plus a plain static nginx server on the same media folder, and a signed-in user.
# Sets bin, work, nginx_port, static_port, ports, pids, cookie; MEDIA_DIR is $work/media. The first replica owns
# the embedded PostgreSQL; the others share it over its unix socket. Settings are exported before the call.
nginx_stack() {
  local replicas=$1 target=${CARGO_TARGET_DIR:-target} upstreams="" port shared_db
  bin="${FERMATA_BIN:-$target/release/fermata}"
  [ -x "$bin" ] || cargo build --release -p fermata
  work=$(mktemp -d /tmp/fermata-bench.XXXXXX)
  chmod 755 "$work"
  nginx_port=$(free_port)
  static_port=$(free_port)
  pids=()
  ports=()
  trap cleanup EXIT
  export MEDIA_DIR="$work/media" MEDIA_DELIVERY=x-accel MEMORY_SOFT_LIMIT_MB=0 RUST_LOG=warn
  export RATE_LIMIT_API_BURST=100000000 RATE_LIMIT_API_PER_SEC=100000000 PUBLIC_URL="http://127.0.0.1:$nginx_port"
  export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" DATA_DIR="$work/data"
  malloc_threshold
  for i in $(seq 1 "$replicas"); do
    port=$(free_port); ports+=("$port")
    upstreams+="server 127.0.0.1:$port; "
    if [ "$i" -eq 1 ]; then
      BIND="127.0.0.1:$port" "$bin" serve & pids+=($!)
      for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
      shared_db="postgres://fermata@localhost/fermata?host=$work/data/postgres"
    else
      DATABASE_URL="$shared_db" DATA_DIR="$work/data-$i" BIND="127.0.0.1:$port" "$bin" serve & pids+=($!)
      for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
    fi
  done
  server=${pids[0]}
  mkdir -p "$work/frontend" "$MEDIA_DIR"
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
  echo "bench-password-1" | "$bin" user create bencher >/dev/null
  cookie=$(curl -fs -c - -H 'content-type: application/json' -d '{"username":"bencher","password":"bench-password-1"}' \
    "http://127.0.0.1:$nginx_port/api/auth/login" | awk '/fermata_session/ {print "fermata_session=" $7}')
}

# add_song FILE CODEC KBPS SECONDS: a song row for FILE, moved into MEDIA_DIR at its content-addressed place; its id.
add_song() {
  local hash dir
  hash=$(sha256sum "$1" | cut -d' ' -f1)
  dir="$MEDIA_DIR/${hash:0:2}/${hash:2:2}"
  mkdir -p "$dir"
  mv "$1" "$dir/$hash.$2"
  chmod 644 "$dir/$hash.$2"
  psql_ -At <<SQL | head -n1
INSERT INTO artists (id, name) VALUES (gen_random_uuid(), 'Bench') ON CONFLICT DO NOTHING;
INSERT INTO albums (id, title, artist_id) SELECT gen_random_uuid(), 'Bench', id FROM artists LIMIT 1;
INSERT INTO songs (id, title, artist_id, album_id, duration_ms, codec, bitrate, size_bytes, content_hash, storage, path, search_text)
  SELECT gen_random_uuid(), 'Bench file', artist_id, id, $4 * 1000, '$2', $3, $(stat -c %s "$dir/$hash.$2"), '$hash', 'media',
         '${hash:0:2}/${hash:2:2}/$hash.$2', 'bench file'
  FROM albums LIMIT 1 RETURNING id;
SQL
}

# versus_static NAME FILE URL [HEADER...]: 64 KiB ranges of FILE (relative to MEDIA_DIR) from the plain static
# nginx, and of URL through the Fermata nginx with the cookie and HEADERs, two rounds interleaved; prints the
# table and the median ratio.
versus_static() {
  local name=$1 file=$2 url=$3 range="Range: bytes=0-65535" round; shift 3
  echo
  echo "| case | req/s | p50 | p99 | errors |"
  echo "|---|---|---|---|---|"
  for round in 1 2; do
    run "nginx-static-64k-$round" "http://127.0.0.1:$static_port/$file" "$range"
    run "$name-64k-$round" "$url" "$range" "Cookie: $cookie" "$@"
  done
  python3 - "$work" "$name" <<'PY'
import statistics, sys
work, name = sys.argv[1], sys.argv[2]
read = lambda n: float(open(f"{work}/rps-{n}").read())
static = statistics.median(read(f"nginx-static-64k-{r}") for r in (1, 2))
ours = statistics.median(read(f"{name}-64k-{r}") for r in (1, 2))
print(f"\n{name} / nginx static, 64 KiB ranges (median of 2 rounds): **{ours / static:.2f}×**")
PY
}
