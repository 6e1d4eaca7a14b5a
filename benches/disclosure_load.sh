#!/usr/bin/env bash
# Load check of the public disclosure page (阳光公示) on loopback, demo data:
# anonymous visitors without cookies (every request a first visit, so no 304),
# a lobby screen revalidating with If-None-Match, and the number of times the
# figures were worked out during the run (pavilion_disclosure_computed_total).
#
#   benches/disclosure_load.sh [SECONDS] [CONNECTIONS]
#   PAVILION_BIN=path/to/pavilion benches/disclosure_load.sh   # another build
#   EXTRA_RECORDS=2000 benches/disclosure_load.sh   # the first estate's month grows by
#                                                   # that many records (filed, accepted, resolved)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-10}
connections=${2:-32}
port=18081
# The demo's first estate, which EXTRA_RECORDS fills.
path=/disclosure?estate=1
bin=${PAVILION_BIN:-./target/release/pavilion}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
[ -n "${PAVILION_BIN:-}" ] || cargo build --release --locked --quiet

dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
export PAVILION__DATABASE__URL="sqlite://$dir/bench.sqlite" PAVILION__SERVER__PORT=$port \
    PAVILION__DATA_DIR="$dir/data" RUST_LOG=warn
# The demo's data without its synthetic encoder, which would take a core.
"$bin" demo --seed-only >"$dir/seed.log" 2>&1
if [ "${EXTRA_RECORDS:-0}" -gt 0 ]; then
    # Straight into SQLite: records filed this month in the demo's first
    # estate, each with three state changes (the triggers derive the facts).
    sqlite3 "$dir/bench.sqlite" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${EXTRA_RECORDS})
INSERT INTO records (number, community_id, estate_id, category, class, title, description,
                     location, source, tracking_hash, created_at)
SELECT 'BENCH-' || i, e.community_id, e.id, 'repairs', 'general', '楼道灯坏了', '压测', '3号楼',
       'web', 'bench-' || i, strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-' || (i % 60) || ' minutes')
  FROM n, (SELECT id, community_id FROM estates WHERE id = 1) e;
INSERT INTO record_events (record_id, seq, at, actor_name, action, to_state, public)
SELECT r.id, s.seq, strftime('%Y-%m-%dT%H:%M:%f000Z', r.created_at, '+' || (s.seq * 7) || ' minutes'),
       'bench', s.action, s.state, 1
  FROM records r, (SELECT 1 AS seq, 'submit' AS action, 'submitted' AS state
                   UNION ALL SELECT 2, 'accept', 'accepted' UNION ALL SELECT 3, 'resolve', 'resolved') s
 WHERE r.number LIKE 'BENCH-%';
SQL
fi
"$bin" serve >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

computed() { curl -fs "http://127.0.0.1:$port/metrics" | awk '$1 ~ /^pavilion_disclosure_computed_total($|{)/ { print $2 }'; }
run() {
    local name=$1; shift
    local before; before=$(computed)
    printf '\n== %s (%s, %ss, %s connections)\n' "$name" "$path" "$seconds" "$connections"
    wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" "http://127.0.0.1:$port$path" |
        grep -E 'Requests/sec|Latency|50%|99%|Non-2xx'
    [ -z "$before" ] || printf 'figures worked out during the run: %s\n' "$(( $(computed) - before ))"
}
run "anonymous visitors (full page each time)"
jar="$dir/cookies"
curl -fs -o /dev/null -c "$jar" -b "$jar" "http://127.0.0.1:$port$path"
etag=$(curl -fs -D - -o /dev/null -c "$jar" -b "$jar" "http://127.0.0.1:$port$path" | awk 'tolower($1) == "etag:" { sub(/\r$/, ""); print $2 }')
if [ -n "$etag" ]; then
    cookie=$(awk '$6 == "pavilion_csrf" { print "pavilion_csrf=" $7 }' "$jar")
    run "a lobby screen revalidating (304)" -H "Cookie: $cookie" -H "If-None-Match: $etag"
fi
