#!/usr/bin/env bash
# What PostgreSQL itself takes to store song rows, without the scan (#23): seeds SONGS songs (bench/lib.sh), copies
# 10,000 of them with new ids, paths and hashes, then inserts them back in one statement per way and rolls back,
# alternating: INSERT ... SELECT, the same with ON CONFLICT DO NOTHING, from jsonb_populate_recordset (the scan's
# way in), COPY FROM a binary file, and INSERT without the list filter's trigram index and the foreign keys
# (dropped inside the rolled-back transaction). Prints psql's timings in the order of the statements.
# Usage: bench/insert-floor.sh [SONGS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
seconds=0
start_backend
seed_catalogue "${1:-100000}" >/dev/null
# The server process writes and reads the COPY file.
copy_dir="$work/copy"; mkdir "$copy_dir"; chmod 777 "$copy_dir"
cols=$(psql_ -At -c "SELECT string_agg(quote_ident(column_name), ',' ORDER BY ordinal_position)
  FROM information_schema.columns WHERE table_name = 'songs' AND is_generated = 'NEVER'")
insert="INSERT INTO songs ($cols) SELECT $cols FROM src"
without="DROP INDEX songs_search_folded_trgm_idx; ALTER TABLE songs DROP CONSTRAINT songs_album_id_fkey,
  DROP CONSTRAINT songs_artist_id_fkey"
psql_ >/dev/null <<SQL
CREATE TABLE src AS SELECT $cols FROM songs ORDER BY random() LIMIT 10000;
UPDATE src SET path = path || '.copy', id = gen_random_uuid();
UPDATE src SET content_hash = encode(sha256(convert_to(path, 'UTF8')), 'hex');
COPY src TO '$copy_dir/src.bin' (FORMAT binary);
CREATE TABLE j AS SELECT jsonb_agg(to_jsonb(src)) AS rows FROM src;
SQL
echo "| round | INSERT … SELECT | ON CONFLICT DO NOTHING | from JSON | COPY binary | no trigram index, no foreign keys |"
echo "|---|---|---|---|---|---|"
for round in 1 2; do
  times=$(psql_ <<SQL | awk '/^Time:/ && $2 > 20 {printf "%s ms | ", $2}'
\\timing on
BEGIN; $insert; ROLLBACK;
BEGIN; $insert ON CONFLICT DO NOTHING; ROLLBACK;
BEGIN; INSERT INTO songs ($cols) SELECT s.* FROM j, jsonb_populate_recordset(NULL::src, j.rows) s ON CONFLICT DO NOTHING; ROLLBACK;
BEGIN; COPY songs ($cols) FROM '$copy_dir/src.bin' (FORMAT binary); ROLLBACK;
BEGIN; $without; $insert; ROLLBACK;
SQL
)
  echo "| $round | $times"
done
