#!/usr/bin/env bash
# How long `pavilion db copy` takes to move a big community from SQLite to
# PostgreSQL: the demo community plus RECORDS feedback records in its estates
# (the records_1m shape: 98 % closed with five state changes and a rating,
# the newest 2 % open with two), copied into a throwaway PostgreSQL cluster
# started in a temporary folder on a free port. Prints the copy's own report
# (rows per table, total, time), the wall time and the copy's peak memory.
#
#   benches/db_copy.sh [RECORDS]                         # default 1000000
#   PAVILION_BIN=target/debug/pavilion benches/db_copy.sh 20000   # another build
#
# Seeding 1,000,000 records with sqlite3 takes about as long as the copy;
# the SQLite file is kept as target/bench-db-copy-RECORDS.sqlite and reused.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
records=${1:-1000000}
bin=${PAVILION_BIN:-./target/release/pavilion}
pg=/usr/lib/postgresql/15/bin
[ -x "$pg/postgres" ] || { echo "needs Debian's postgresql-15 (apt-get install postgresql)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3 (apt-get install sqlite3)" >&2; exit 1; }
[ -n "${PAVILION_BIN:-}" ] || cargo build --release --locked --quiet

dir=$(mktemp -d)
server=
cleanup() {
    [ -z "$server" ] || kill -INT "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
chmod 755 "$dir"

source_db=$PWD/target/bench-db-copy-$records.sqlite
if [ ! -f "$source_db" ]; then
    echo "seeding the demo community and $records records into $source_db (once)…"
    started=$(date +%s.%N)
    PAVILION__DATABASE__URL="sqlite://$dir/seed.sqlite" PAVILION__DATA_DIR="$dir/data" \
        RUST_LOG=warn "$bin" demo --seed-only >"$dir/seed.log" 2>&1
    sqlite3 "$dir/seed.sqlite" <<SQL
PRAGMA synchronous = OFF;
CREATE TEMP TABLE places AS
SELECT row_number() OVER (ORDER BY b.id) - 1 AS n, b.estate_id, b.id AS building_id, e.community_id
  FROM buildings b JOIN estates e ON e.id = b.estate_id;
CREATE TEMP TABLE n (i INTEGER PRIMARY KEY);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $records)
INSERT INTO n SELECT i FROM c;
-- The steps of a finished record and of an open one: (open, seq, minutes, state, previous).
CREATE TEMP TABLE steps (open INTEGER, seq INTEGER, minutes INTEGER, state TEXT, previous TEXT);
INSERT INTO steps VALUES
    (0, 1, 0, 'submitted', NULL), (0, 2, 3, 'accepted', 'submitted'),
    (0, 3, 12, 'on_site', 'accepted'), (0, 4, 40, 'resolved', 'on_site'),
    (0, 5, 600, 'closed', 'resolved'),
    (1, 1, 0, 'submitted', NULL), (1, 2, 3, 'accepted', 'submitted');
CREATE TEMP TABLE filed AS
SELECT n.i, (SELECT coalesce(max(id), 0) FROM records) + n.i AS id,
       p.community_id, p.estate_id, p.building_id,
       n.i > $records - $records / 50 AS open,
       strftime('%Y-%m-%dT%H:%M:%S', '2024-12-01', '+' || (n.i * 63072000 / $records) || ' seconds') AS t
  FROM n JOIN places p ON p.n = n.i % (SELECT count(*) FROM places);
BEGIN;
INSERT INTO records (id, number, community_id, estate_id, building_id, category, class, title,
                     description, location, source, tracking_hash, created_at)
SELECT id, printf('BM-%07d', i), community_id, estate_id, building_id,
       CASE i % 6 WHEN 0 THEN 'repairs' WHEN 1 THEN 'elevator' WHEN 2 THEN 'parking'
                  WHEN 3 THEN 'rubbish' WHEN 4 THEN 'noise' ELSE 'fees' END,
       CASE i % 6 WHEN 3 THEN 'major' WHEN 4 THEN 'urgent' WHEN 5 THEN 'complex' ELSE 'general' END,
       '楼道灯坏了', '3号楼2单元三楼的楼道灯不亮，晚上上楼很危险。', '2单元三楼', 'web',
       printf('%064x', id), t || '.000000Z'
  FROM filed;
INSERT INTO record_events (record_id, seq, at, actor_name, action, from_state, to_state, note,
                           public, published, rating)
SELECT f.id, s.seq, strftime('%Y-%m-%dT%H:%M:%S', f.t, '+' || s.minutes || ' minutes') || '.000000Z',
       '物业小陈', s.state, s.previous, s.state, '已处理', 1, 1,
       CASE s.state WHEN 'closed' THEN f.i % 5 + 1 END
  FROM filed f JOIN steps s ON s.open = f.open
 ORDER BY f.id, s.seq;
INSERT INTO record_heads (record_id, state, version, state_since)
SELECT f.id, s.state, s.seq, strftime('%Y-%m-%dT%H:%M:%S', f.t, '+' || s.minutes || ' minutes') || '.000000Z'
  FROM filed f JOIN steps s ON s.open = f.open
 WHERE s.seq = (SELECT max(seq) FROM steps WHERE open = f.open);
COMMIT;
SQL
    mv "$dir/seed.sqlite" "$source_db"
    printf 'seeded in %.1f s\n' "$(echo "$(date +%s.%N) - $started" | bc)"
fi

# A throwaway cluster, run as the postgres user when we are root (PostgreSQL refuses root).
as_pg=()
if [ "$(id -u)" = 0 ]; then
    mkdir "$dir/pg"
    chown -R postgres:postgres "$dir/pg"
    as_pg=(setpriv --reuid=postgres --regid=postgres --clear-groups --)
fi
"${as_pg[@]}" "$pg/initdb" -D "$dir/pg/data" -U pavilion -A trust -E UTF8 --locale=C \
    --no-sync >"$dir/initdb.log"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$pg/postgres" -D "$dir/pg/data" -p "$port" -k "$dir/pg" \
    -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c max_wal_size=4GB \
    -c logging_collector=off >"$dir/pg/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    "$pg/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
done
"$pg/createdb" -h 127.0.0.1 -p "$port" -U pavilion pavilion

echo "copying $(du -h "$source_db" | cut -f1) of SQLite ($records bench records + the demo) with $bin"
started=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$dir/peak_kib" \
    "$bin" db copy --from "sqlite://$source_db" --to "postgres://pavilion@127.0.0.1:$port/pavilion"
elapsed=$(echo "$(date +%s.%N) - $started" | bc)
printf 'wall time %.1f s, peak memory of the copy %s MiB, PostgreSQL database %s\n' "$elapsed" \
    "$(( $(cat "$dir/peak_kib") / 1024 ))" \
    "$(psql -At -h 127.0.0.1 -p "$port" -U pavilion pavilion \
        -c "SELECT pg_size_pretty(pg_database_size('pavilion'))")"
