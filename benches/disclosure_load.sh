#!/usr/bin/env bash
# Load check of the public disclosure page (阳光公示) on loopback, demo data:
# anonymous visitors without cookies (every request a first visit, so no 304),
# a lobby screen revalidating with If-None-Match, and the number of times the
# figures were worked out during the run (pavilion_disclosure_computed_total).
#
#   benches/disclosure_load.sh [SECONDS] [CONNECTIONS]
#   PAVILION_BIN=path/to/pavilion benches/disclosure_load.sh   # another build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-10}
connections=${2:-32}
port=18081
bin=${PAVILION_BIN:-./target/release/pavilion}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
[ -n "${PAVILION_BIN:-}" ] || cargo build --release --locked --quiet

dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
export PAVILION__DATABASE__URL="sqlite://$dir/bench.sqlite" PAVILION__SERVER__PORT=$port \
    PAVILION__DATA_DIR="$dir/data" RUST_LOG=warn
# The demo's data without its synthetic encoder, which would take a core.
"$bin" demo --seed-only >"$dir/seed.log" 2>&1
"$bin" serve >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

computed() { curl -fs "http://127.0.0.1:$port/metrics" | awk '$1 == "pavilion_disclosure_computed_total" { print $2 }'; }
run() {
    local name=$1; shift
    local before; before=$(computed)
    printf '\n== %s (%ss, %s connections)\n' "$name" "$seconds" "$connections"
    wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" "http://127.0.0.1:$port/disclosure" |
        grep -E 'Requests/sec|Latency|50%|99%|Non-2xx'
    [ -z "$before" ] || printf 'figures worked out during the run: %s\n' "$(( $(computed) - before ))"
}
run "anonymous visitors (full page each time)"
jar="$dir/cookies"
curl -fs -o /dev/null -c "$jar" -b "$jar" "http://127.0.0.1:$port/disclosure"
etag=$(curl -fsI -c "$jar" -b "$jar" "http://127.0.0.1:$port/disclosure" | awk 'tolower($1) == "etag:" { sub(/\r$/, ""); print $2 }')
if [ -n "$etag" ]; then
    cookie=$(awk '$6 == "pavilion_csrf" { print "pavilion_csrf=" $7 }' "$jar")
    run "a lobby screen revalidating (304)" -H "Cookie: $cookie" -H "If-None-Match: $etag"
fi
