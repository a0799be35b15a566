#!/usr/bin/env bash
# The two write paths docs/scaling.md models, measured on one PostgreSQL (durable: fsync on, as `fermata serve`
# runs it):
#   1. Plays written: POST /api/music/{id}/play through one release backend (random listeners, random songs of a
#      SONGS-song catalogue), then the same transaction as catalog::plays::record run by pgbench straight on
#      PostgreSQL, spread over the catalogue and all on one song (the hot row of a new release).
#   2. Events fanned out: REPLICAS replicas each holding SUBSCRIBERS open /api/events streams while pgbench
#      publishes as fast as it can on the events channel (pg_notify, as events::publish); counts what every stream
#      received.
# Needs: a release build (built if missing), wrk, curl, pgbench, the PostgreSQL server binaries.
# Usage: bench/plays.sh [SONGS] [SECONDS]   (env: USERS=200 REPLICAS=3 SUBSCRIBERS=10)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
songs=${1:-100000}
seconds=${2:-10}
users=${USERS:-200}
replicas=${REPLICAS:-3}
subscribers=${SUBSCRIBERS:-10}
export RATE_LIMIT_AUTH_BURST=100000
nginx_stack "$replicas"
seed_catalogue "$songs"
origin="http://127.0.0.1:$nginx_port"

# Listeners: the bench user's password hash copied to more accounts (so signing them in checks a real hash),
# each signed in through nginx; and 100,000 more for the database-only runs, which need no session.
psql_ <<SQL
INSERT INTO users (id, username, email, password_hash, role, disabled, session_epoch, created_at, updated_at)
  SELECT gen_random_uuid(), 'listener' || i, 'listener' || i || '@example.com', u.password_hash, 'user', false, 0, now(), now()
  FROM generate_series(1, 100000) i, (SELECT password_hash FROM users WHERE username = 'bencher') u;
CREATE TABLE bench_users AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM users;
CREATE TABLE bench_songs AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM songs;
ALTER TABLE bench_users ADD PRIMARY KEY (n);
ALTER TABLE bench_songs ADD PRIMARY KEY (n);
ANALYZE;
SQL
psql_ -At -c "SELECT id FROM songs" > "$work/songs.txt"
for i in $(seq 1 "$users"); do
  curl -fs -c - -H 'content-type: application/json' -H "Origin: $origin" \
    -d "{\"username\":\"listener$i\",\"password\":\"bench-password-1\"}" "$origin/api/auth/login" \
    | awk '/fermata_session/ {print "fermata_session=" $7}'
done > "$work/cookies.txt"
[ "$(wc -l < "$work/cookies.txt")" -eq "$users" ] || { echo "could not sign $users listeners in" >&2; exit 1; }

echo
echo "## run $(date -u +%FT%TZ) on $(nproc) cores, $songs songs, $users signed-in listeners, ${seconds}s per case"
echo
echo "### Plays written"
echo
echo "| case | plays/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
export PLAY_SONGS="$work/songs.txt" PLAY_COOKIES="$work/cookies.txt" PLAY_ORIGIN="$origin"
before=$(psql_ -At -c "SELECT count(*) FROM plays")
(
  export PACE_MS=
  out=$(wrk -t2 -c50 -d"${seconds}s" --latency --timeout 5s -s bench/plays.lua "http://127.0.0.1:${ports[0]}")
  printf '| POST play, one replica (50 clients) | %s | %s | %s | %s |\n' \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" "$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')"
)
after=$(psql_ -At -c "SELECT count(*) FROM plays")
echo "| (rows added to plays by that run: $((after - before))) | | | | |"

# The transaction catalog::plays::record runs, with ids picked at random in the database.
cat > "$work/play.sql" <<SQL
\set u random(1, 100001)
\set s random(1, $songs)
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('play:' || :u || ':' || :HOT, 0));
SELECT s.play_count, EXISTS (SELECT 1 FROM plays p WHERE p.user_id = u.id AND p.song_id = s.id
    AND p.played_at > now() - make_interval(secs => s.duration_ms / 2000.0)
    AND p.played_at < now() + make_interval(secs => s.duration_ms / 2000.0))
  FROM songs s, bench_users u WHERE s.id = (SELECT id FROM bench_songs WHERE n = :HOT) AND u.n = :u;
INSERT INTO plays (id, user_id, song_id, played_at)
  VALUES (gen_random_uuid(), (SELECT id FROM bench_users WHERE n = :u), (SELECT id FROM bench_songs WHERE n = :HOT), now());
UPDATE songs SET play_count = play_count + 1 WHERE id = (SELECT id FROM bench_songs WHERE n = :HOT) RETURNING play_count;
COMMIT;
SQL
pgbench_() { pgbench -n -h "$DATA_DIR/postgres" -U fermata "$@" fermata 2>&1; }
# wrk closing its connections at the end cancels requests mid-transaction; the rollback's notice is expected.
for case in spread hot; do
  if [ "$case" = spread ]; then sed 's/:HOT/:s/g' "$work/play.sql" > "$work/play-$case.sql"
  else sed 's/:HOT/1/g' "$work/play.sql" > "$work/play-$case.sql"; fi
  out=$(pgbench_ -c 50 -j 2 -T "$seconds" -f "$work/play-$case.sql" 2>&1 || true)
  tps=$(awk '/^tps/ {print int($3)}' <<<"$out")
  lat=$(awk '/latency average/ {print $4 " ms"}' <<<"$out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
  printf '| pgbench, record transaction, %s (50 clients) | %s | avg %s | | %s failed |\n' \
    "$([ "$case" = spread ] && echo 'random songs' || echo 'one song for all')" "$tps" "$lat" "${failed:-0}"
done

echo
echo "### Events fanned out ($replicas replicas × $subscribers open event streams each)"
echo
cat > "$work/notify.sql" <<'SQL'
SELECT pg_notify('fermata_events', '{"type":"bench.tick","audience":"all","data":{"n":1}}');
SQL
echo "| publishing | NOTIFY committed/s | events per stream, median (min–max) | delivered to each stream, median | streams |"
echo "|---|---|---|---|---|"
# Flat out, then paced at RATE notifications per second (pgbench -R): what the fan-out keeps up with.
for rate in max "${RATE:-1000}"; do
  streams=()
  for i in "${!ports[@]}"; do
    for s in $(seq 1 "$subscribers"); do
      # A different listener per stream: one account may hold 8 streams per replica.
      curl -sN -H "Cookie: $(sed -n "$((i * subscribers + s))p" "$work/cookies.txt")" "http://127.0.0.1:${ports[$i]}/api/events" > "$work/sse-$rate-$i-$s.txt" & streams+=($!)
    done
  done
  sleep 2
  if [ "$rate" = max ]; then out=$(pgbench_ -c 4 -j 2 -T "$seconds" -f "$work/notify.sql")
  else out=$(pgbench_ -c 4 -j 2 -T "$seconds" -R "$rate" -f "$work/notify.sql"); fi
  sent=$(awk '/number of transactions actually processed/ {print $NF}' <<<"$out" | cut -d/ -f1)
  tps=$(awk '/^tps/ {print int($3)}' <<<"$out")
  sleep 3
  python3 - "$work" "$rate" "$sent" "$tps" <<'PY'
import glob, statistics, sys
work, rate, sent, tps = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
got = [open(f).read().count("event: bench.tick") for f in sorted(glob.glob(f"{work}/sse-{rate}-*.txt"))]
label = "as fast as 4 publishers can" if rate == "max" else f"paced at {rate}/s"
print(f"| {label} | {tps} ({sent} in all) | {statistics.median(got):.0f} ({min(got)}–{max(got)}) "
      f"| {100 * statistics.median(got) / sent:.1f} % | {len(got)} |")
PY
  kill "${streams[@]}" 2>/dev/null || true
done
