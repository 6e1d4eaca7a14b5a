#!/usr/bin/env bash
# Load check of the foundation's hot paths on loopback: an anonymous page, the
# health check, the public directory API, and a logged-in console page (session
# lookup + role check + dashboard queries). Server and wrk share this machine.
#
#   benches/http_load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-10}
connections=${2:-64}
port=18080

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
cargo build --release --locked --quiet

dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
export PAVILION__DATABASE__URL="sqlite://$dir/bench.sqlite" PAVILION__SERVER__PORT=$port RUST_LOG=warn
./target/release/pavilion demo >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

jar="$dir/cookies"
token=$(curl -fs -c "$jar" -b "$jar" "http://127.0.0.1:$port/login" | grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
curl -fs -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf_token=$token" \
    -d username=admin -d password=pavilion-demo "http://127.0.0.1:$port/login"
session=$(awk '$6 == "pavilion_session" { print $7 }' "$jar")

run() {
    local name=$1 path=$2; shift 2
    printf '\n== %s (%s, %ss, %s connections)\n' "$name" "$path" "$seconds" "$connections"
    wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" "http://127.0.0.1:$port$path" |
        grep -E 'Requests/sec|Latency|50%|99%|Non-2xx'
}
run "health check" /healthz
run "login page (anonymous, rendered)" /login
run "directory API (JSON, 3 queries per estate)" /api/v1/directory
run "console overview (session + role check + counts + audit)" /console -H "Cookie: pavilion_session=$session"
printf '\nserver RSS after the run: %s KiB\n' "$(ps -o rss= -p "$server")"
