#!/usr/bin/env bash
# Serving HLS to many viewers: Pavilion next to nginx serving the same bytes.
#
# One broadcast is live (the pre-encoded 720p30 2.5 Mb/s sample, published
# with `ffmpeg -re -stream_loop -1 -c copy`; see live_common.sh). wrk then
# loads, CONNECTIONS keep-alive connections at a time for SECONDS each:
#
#   Pavilion  /live/1/source/seg-N.m4s    the newest segment (~0.6 MB), from memory
#   nginx     /source/seg-N.m4s           the same file, from the recording on disk
#   Pavilion  /live/1/source/index.m3u8   the live playlist (6 segments), rendered per request
#   nginx     /source/live.m3u8           a snapshot of those same bytes, from disk
#   Pavilion  /live/1/source/seg-0.m4s    an old segment no longer in memory: read from disk
#                                         after a SQLite lookup (a replay, or a viewer far behind)
#   Pavilion  /live/1/source/seg-999999.m4s  the same lookup for a segment that does
#                                         not exist (404): the lookup's cost alone
#   Pavilion  the live playlist with `Accept-Encoding: gzip, deflate, br`, as browsers
#             send it (before e6c7c10 it was compressed on every request; nginx has
#             gzip off, so no nginx row)
#
# nginx: a minimal nginx.conf written to the temporary directory, root = the
# broadcast's recording directory, worker_processes 2, access_log off,
# sendfile on, keepalive_requests raised so both servers keep connections.
# wrk runs with --timeout 10s so slow responses count in the latency figures
# rather than as socket timeouts. wrk, both servers and the publisher share
# this machine's cores.
#
#   benches/hls_serving.sh [CONNECTIONS] [SECONDS] [WRK_THREADS]
#   benches/hls_serving.sh 1000 20 2      # the defaults
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
connections=${1:-1000}
seconds=${2:-20}
threads=${3:-2}

command -v wrk >/dev/null && command -v nginx >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk nginx >/dev/null; }
for tool in ffmpeg sqlite3 curl; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
# Each connection is a file descriptor in wrk and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --locked --quiet

dir=$(mktemp -d)
# shellcheck source=benches/live_common.sh
source benches/live_common.sh
nginx_pid=
cleanup() {
    [[ -z $nginx_pid ]] || { kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }
    stop_all
    rm -rf "$dir"
}
trap cleanup EXIT
ensure_sample_flv

start_server 1
id=${broadcast_ids[0]}
publish 1
pavilion="http://127.0.0.1:$http_port/live/$id/source"
# 14 segments: seg-0 has then left the in-memory cache (12 segments).
echo "waiting for broadcast $id to have 14 segments (~30 s) ..."
wait_for_segments "$id" 6
until (($(newest_segment "$id") >= 13)); do sleep 1; done

recording=$data_dir/media/broadcasts/$id
nginx_port=$(free_port)
mkdir -p "$dir/nginx"
curl -fs "$pavilion/index.m3u8" >"$dir/nginx/live.m3u8"
cat >"$dir/nginx/nginx.conf" <<EOF
worker_processes 2;
worker_rlimit_nofile 65536;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
daemon off;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    types {
        application/vnd.apple.mpegurl m3u8;
        video/iso.segment m4s;
        video/mp4 mp4;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        root $recording;
        location = /source/live.m3u8 { alias $dir/nginx/live.m3u8; }
    }
}
EOF
# When run as root, nginx's workers drop to nobody: let them read the files.
chmod -R a+rX "$dir"
nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$nginx_port/source/live.m3u8" && break; sleep 0.1; done
nginx_url="http://127.0.0.1:$nginx_port/source"

# Both servers must hand out identical bytes for the comparison to mean anything.
same() {
    cmp -s <(curl -fs "$1") <(curl -fs "$2") || { echo "!! $1 and $2 differ" >&2; exit 1; }
}

results=()
# The processes of the server under test: pavilion, or nginx (master and workers).
server_pids() {
    if [[ $1 == pavilion ]]; then
        echo "$server_pid"
    else
        echo "$nginx_pid" $(cat "/proc/$nginx_pid/task/$nginx_pid/children")
    fi
}
# Their CPU ticks so far, "user system", and their resident memory now (KiB).
server_ticks() {
    local pid
    for pid in $(server_pids "$1"); do sed 's/^.*) //' "/proc/$pid/stat"; done |
        awk '{ user += $12; sys += $13 } END { print user, sys }'
}
server_rss() {
    local total=0 pid
    for pid in $(server_pids "$1"); do total=$((total + $(rss_kib "$pid"))); done
    echo "$total"
}
# Samples the server's RSS every 0.5 s into $dir/rss-peak until killed.
sample_rss() {
    local peak=0 now
    while :; do
        now=$(server_rss "$1")
        ((now > peak)) && { peak=$now; echo "$peak" >"$dir/rss-peak"; }
        sleep 0.5
    done
}
# run NAME pavilion|nginx URL [wrk options...]: one wrk run; keeps "name|req/s|
# p50|p99|transfer/s|server CPU %|machine busy %|server peak RSS MiB|problems".
run() {
    local name=$1 who=$2 url=$3 out rps p50 p99 transfer problems cpu machine peak
    local user0 user1 system0 system1 busy0 busy1 total0 total1 t0 t1 sampler
    shift 3
    printf '\n== %s (%s)\n   %s\n' "$name" "$(date +%T)" "$url"
    sample_rss "$who" &
    sampler=$!
    read -r user0 system0 < <(server_ticks "$who")
    read -r busy0 total0 < <(machine_ticks)
    t0=$(date +%s.%N)
    out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 10s --latency "$@" "$url")
    t1=$(date +%s.%N)
    read -r busy1 total1 < <(machine_ticks)
    read -r user1 system1 < <(server_ticks "$who")
    kill "$sampler"
    wait "$sampler" 2>/dev/null || true
    echo "$out" | grep -E 'Latency|Req/Sec|requests in|Requests/sec|Transfer/sec|50%|99%|Non-2xx|Socket errors' | sed 's/^/   /'
    rps=$(echo "$out" | awk '/^Requests\/sec/ { print $2 }')
    p50=$(echo "$out" | awk '$1 == "50%" { print $2 }')
    p99=$(echo "$out" | awk '$1 == "99%" { print $2 }')
    transfer=$(echo "$out" | awk '/^Transfer\/sec/ { print $2 }')
    problems=$(echo "$out" | grep -E 'Non-2xx|Socket errors' | sed 's/^ *//' | paste -sd';' - || true)
    cpu=$(awk -v u=$((user1 - user0)) -v s=$((system1 - system0)) -v hz="$clk_tck" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%.0f %% (%.0f %% user)", 100 * (u + s) / hz / (b - a), 100 * u / hz / (b - a) }')
    machine=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) -v c="$(nproc)" 'BEGIN { printf "%.0f", 100 * c * b / t }')
    peak=$(awk -v k="$(cat "$dir/rss-peak")" 'BEGIN { printf "%.0f", k / 1024 }')
    results+=("$name|$rps|$p50|$p99|$transfer|$cpu|$machine|$peak|${problems:-none}")
}

# 1. The newest segment: it stays in memory for 12 segments (~24 s) after
#    it is made, longer than one run.
newest=$(newest_segment "$id")
same "$pavilion/seg-$newest.m4s" "$nginx_url/seg-$newest.m4s"
size=$(curl -fs "$pavilion/seg-$newest.m4s" | wc -c)
echo "segment seg-$newest.m4s: $size bytes"
rss_before=$(rss_kib "$server_pid")
run "Pavilion: live segment (memory)" pavilion "$pavilion/seg-$newest.m4s"
now=$(newest_segment "$id")
((now - newest < 12)) || echo "!! seg-$newest left the in-memory cache during the run (newest now $now)"
run "nginx: same segment (disk)" nginx "$nginx_url/seg-$newest.m4s"

# 2. The live playlist; nginx serves a snapshot of it (same length).
playlist_bytes=$(wc -c <"$dir/nginx/live.m3u8")
run "Pavilion: live playlist (rendered)" pavilion "$pavilion/index.m3u8"
run "nginx: same playlist (disk)" nginx "$nginx_url/live.m3u8"

# 3. Pavilion only: the disk path (a missing and an old segment), and the
#    playlist compressed.
# The SQLite lookup of the disk path alone: a segment that does not exist is
# looked up, then answered 404 (so its Non-2xx count is expected).
run "Pavilion: missing segment (lookup, then 404)" pavilion "$pavilion/seg-999999.m4s"
same "$pavilion/seg-0.m4s" "$nginx_url/seg-0.m4s"
run "Pavilion: old segment seg-0 (disk)" pavilion "$pavilion/seg-0.m4s"
run "Pavilion: live playlist, Accept-Encoding gzip/br" pavilion "$pavilion/index.m3u8" \
    -H 'Accept-Encoding: gzip, deflate, br'

# Did the broadcast keep going under load?
final=$(newest_segment "$id")
state=$(sqlite3 "$data_dir/pavilion.sqlite" "SELECT state FROM broadcasts WHERE id = $id")
warnings=$(server_warnings | wc -l)
kill -0 "${publisher_pids[0]}" 2>/dev/null || echo "!! the publisher stopped: $(cat "$dir/publisher-1.log")"

cat <<EOF

$connections connections, $threads wrk threads, ${seconds}s per run, wrk --timeout 10s; segment seg-$newest.m4s = $size bytes,
live playlist = $playlist_bytes bytes. CPU in % of one core ($(nproc) cores: the whole machine is $(($(nproc) * 100)) %).
Broadcast afterwards: state $state, newest segment $final; server log warnings: $warnings; server RSS $(awk -v a="$rss_before" -v b="$(rss_kib "$server_pid")" 'BEGIN { printf "%.1f MiB before the runs, %.1f MiB after", a / 1024, b / 1024 }').

| what | requests/s | p50 | p99 | transfer/s | server CPU | whole machine | server peak RSS (MiB) | errors |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
EOF
for r in "${results[@]}"; do
    IFS='|' read -r name rps p50 p99 transfer cpu machine peak problems <<<"$r"
    printf '| %s | %s | %s | %s | %s | %s | %s %% | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$transfer" "$cpu" "$machine" "$peak" "$problems"
done
ratio() {
    local a b
    IFS='|' read -r _ a _ <<<"${results[$1]}"
    IFS='|' read -r _ b _ <<<"${results[$2]}"
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
}
printf '\nPavilion/nginx requests/s: segment %s, playlist %s\n' "$(ratio 0 1)" "$(ratio 2 3)"
((warnings == 0)) || { echo "server log warnings:"; summarize_warnings; }
