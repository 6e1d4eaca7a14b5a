#!/usr/bin/env bash
# Serving HLS to many viewers: Pavilion next to nginx serving the same bytes.
#
# One broadcast is live (the pre-encoded 720p30 2.5 Mb/s sample, published
# with `ffmpeg -re -stream_loop -1 -c copy`; see live_common.sh), and one has
# ended (its replay: a copy of the live broadcast's first segments in its own
# recording directory, the broadcast row marked ended with a published
# replay). wrk then loads, CONNECTIONS keep-alive connections at a time for
# SECONDS each, in ROUNDS rounds (3: the figures are each row's median):
#
#   Pavilion  /live/L/source/seg-N.m4s    the newest segment (~0.6 MB), from memory
#   nginx     /L/source/seg-N.m4s         the same file, from the recording on disk
#   Pavilion  /live/L/source/part-P.m4s   a low-latency part (~0.1 MB), from memory
#   nginx     /part.m4s                   a copy of the same bytes, from disk
#   Pavilion  /live/L/source/index.m3u8   the live playlist (6 segments), rendered per request
#   nginx     /live.m3u8                  a snapshot of those same bytes, from disk
#   Pavilion  /live/R/source/seg-3.m4s    a segment of the ended broadcast: a replay, from disk
#   nginx     /R/source/seg-3.m4s         the same file
#
# and, in the first round only, Pavilion alone:
#
#   /live/L/source/seg-0.m4s              an old segment of the live broadcast, no longer
#                                         in memory: from disk (a viewer far behind)
#   /live/L/source/seg-999999.m4s         a segment that does not exist (404): the cost
#                                         of the disk path's checks alone
#   the live playlist with `Accept-Encoding: gzip, deflate, br`, as browsers
#             send it (nginx has gzip off, so no nginx row)
#
# nginx: a minimal nginx.conf written to the temporary directory, root = the
# broadcasts' recording directories, worker_processes 2, access_log off,
# sendfile on, keepalive_requests raised so both servers keep connections.
# wrk runs with --timeout 10s so slow responses count in the latency figures
# rather than as socket timeouts. wrk, both servers and the publisher share
# this machine's cores.
#
#   benches/hls_serving.sh [CONNECTIONS] [SECONDS] [WRK_THREADS] [ROUNDS]
#   benches/hls_serving.sh 1000 20 2 3      # the defaults
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
connections=${1:-1000}
seconds=${2:-20}
threads=${3:-2}
rounds=${4:-3}

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

media=$data_dir/media/broadcasts
recording=$media/$id
# The ended broadcast: its recording is the live one's first segments.
now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
replay_id=$(sqlite3 "$data_dir/pavilion.sqlite" "
    INSERT INTO broadcasts (community_id, title, description, starts_at, owner_id, state,
                            stream_key, went_live_at, ended_at, replay, replay_millis, created_at)
    SELECT community_id, 'Benchmark replay', '', starts_at, owner_id, 'ended',
           'bench-replay', '$now', '$now', 'published', 12000, '$now'
    FROM broadcasts WHERE id = $id;
    SELECT last_insert_rowid();")
mkdir -p "$media/$replay_id/source"
cp "$recording"/source/init-*.mp4 "$recording"/source/seg-[0-5].m4s "$media/$replay_id/source/"
replay="http://127.0.0.1:$http_port/live/$replay_id/source"

nginx_port=$(free_port)
mkdir -p "$dir/nginx"
cat >"$dir/nginx/nginx.conf" <<CONF
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
        root $media;
        location = /live.m3u8 { alias $dir/nginx/live.m3u8; }
        location = /part.m4s { alias $dir/nginx/part.m4s; }
    }
}
CONF
curl -fs "$pavilion/index.m3u8" >"$dir/nginx/live.m3u8"
# When run as root, nginx's workers drop to nobody: let them read the files.
chmod -R a+rX "$dir"
nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$nginx_port/live.m3u8" && break; sleep 0.1; done
nginx_url="http://127.0.0.1:$nginx_port"

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
# wrk's latency ("850.00us", "12.30ms", "1.20s") in milliseconds.
millis() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000; else if (v ~ /m$/) n *= 60000
        printf "%.2f", n }'
}
# run ROW SERVER URL [wrk options...]: one wrk run against SERVER (pavilion or
# nginx); keeps "row|server|req/s|p50 ms|p99 ms|transfer/s|server CPU %|server
# user CPU %|machine busy %|server peak RSS MiB|problems".
run() {
    local row=$1 who=$2 url=$3 out rps p50 p99 transfer problems cpu user machine peak
    local user0 user1 system0 system1 busy0 busy1 total0 total1 t0 t1 sampler
    shift 3
    printf '\n== %s: %s (%s)\n   %s\n' "$row" "$who" "$(date +%T)" "$url"
    echo 0 >"$dir/rss-peak"
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
    p50=$(millis "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
    p99=$(millis "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    transfer=$(echo "$out" | awk '/^Transfer\/sec/ { print $2 }')
    problems=$(echo "$out" | grep -E 'Non-2xx|Socket errors' | sed 's/^ *//' | paste -sd';' - || true)
    cpu=$(awk -v u=$((user1 - user0)) -v s=$((system1 - system0)) -v hz="$clk_tck" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%.0f", 100 * (u + s) / hz / (b - a) }')
    user=$(awk -v u=$((user1 - user0)) -v hz="$clk_tck" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%.0f", 100 * u / hz / (b - a) }')
    machine=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) -v c="$(nproc)" 'BEGIN { printf "%.0f", 100 * c * b / t }')
    peak=$(awk -v k="$(cat "$dir/rss-peak")" 'BEGIN { printf "%.0f", k / 1024 }')
    results+=("$row|$who|$rps|$p50|$p99|$transfer|$cpu|$user|$machine|$peak|${problems:-none}")
}

rss_before=$(rss_kib "$server_pid")
for round in $(seq "$rounds"); do
    printf '\n######## round %s of %s\n' "$round" "$rounds"
    # 1. The newest segment: it stays in memory for 12 segments (~24 s)
    #    after it is made, longer than one run.
    newest=$(newest_segment "$id")
    same "$pavilion/seg-$newest.m4s" "$nginx_url/$id/source/seg-$newest.m4s"
    segment_bytes=$(curl -fs "$pavilion/seg-$newest.m4s" | wc -c)
    run "live segment (memory)" pavilion "$pavilion/seg-$newest.m4s"
    now=$(newest_segment "$id")
    ((now - newest < 12)) || echo "!! seg-$newest left the in-memory cache during the run (newest now $now)"
    run "live segment (memory)" nginx "$nginx_url/$id/source/seg-$newest.m4s"

    # 2. A part: the first one the playlist lists (a part of a finished
    #    segment, in memory as long as that segment is).
    curl -fs "$pavilion/index.m3u8" >"$dir/playlist"
    part=$(grep -o 'URI="part-[0-9]*\.m4s"' "$dir/playlist" | head -1 | sed 's/URI="\(.*\)"/\1/')
    [[ -n $part ]] || { echo "!! the live playlist lists no part" >&2; exit 1; }
    curl -fs "$pavilion/$part" >"$dir/nginx/part.m4s"
    chmod a+r "$dir/nginx/part.m4s"
    part_bytes=$(wc -c <"$dir/nginx/part.m4s")
    same "$pavilion/$part" "$nginx_url/part.m4s"
    run "live part (memory)" pavilion "$pavilion/$part"
    run "live part (memory)" nginx "$nginx_url/part.m4s"

    # 3. The live playlist; nginx serves a snapshot of it (same length).
    cp "$dir/playlist" "$dir/nginx/live.m3u8"
    chmod a+r "$dir/nginx/live.m3u8"
    playlist_bytes=$(wc -c <"$dir/nginx/live.m3u8")
    run "live playlist (rendered)" pavilion "$pavilion/index.m3u8"
    run "live playlist (rendered)" nginx "$nginx_url/live.m3u8"

    # 4. A replay's segment, from disk on both.
    same "$replay/seg-3.m4s" "$nginx_url/$replay_id/source/seg-3.m4s"
    replay_bytes=$(curl -fs "$replay/seg-3.m4s" | wc -c)
    run "replay segment (disk)" pavilion "$replay/seg-3.m4s"
    run "replay segment (disk)" nginx "$nginx_url/$replay_id/source/seg-3.m4s"

    ((round == 1)) || continue
    # 5. Pavilion only: the live broadcast's disk path (an old and a missing
    #    segment; the missing one's Non-2xx count is expected), and the
    #    playlist as browsers ask for it.
    run "missing segment (checks, then 404)" pavilion "$pavilion/seg-999999.m4s"
    same "$pavilion/seg-0.m4s" "$nginx_url/$id/source/seg-0.m4s"
    run "old live segment seg-0 (disk)" pavilion "$pavilion/seg-0.m4s"
    run "live playlist, Accept-Encoding gzip/br" pavilion "$pavilion/index.m3u8" \
        -H 'Accept-Encoding: gzip, deflate, br'
done

# Did the broadcast keep going under load?
final=$(newest_segment "$id")
state=$(sqlite3 "$data_dir/pavilion.sqlite" "SELECT state FROM broadcasts WHERE id = $id")
warnings=$(server_warnings | wc -l)
kill -0 "${publisher_pids[0]}" 2>/dev/null || echo "!! the publisher stopped: $(cat "$dir/publisher-1.log")"

# Each row's median over the rounds, and each round's Pavilion/nginx ratios.
printf '%s\n' "${results[@]}" >"$dir/results"
cat <<SUMMARY

$connections connections, $threads wrk threads, ${seconds}s per run, $rounds rounds, wrk --timeout 10s; last round:
segment $segment_bytes bytes, part $part_bytes bytes, live playlist $playlist_bytes bytes, replay segment
$replay_bytes bytes. CPU in % of one core ($(nproc) cores: the whole machine is $(($(nproc) * 100)) %). Medians over
the rounds (Pavilion-only rows: one run). Broadcast afterwards: state $state, newest segment $final;
server log warnings: $warnings; server RSS $(awk -v a="$rss_before" -v b="$(rss_kib "$server_pid")" 'BEGIN { printf "%.1f MiB before the runs, %.1f MiB after", a / 1024, b / 1024 }').

| what | server | requests/s | p50 (ms) | p99 (ms) | transfer/s (each run) | server CPU (user) | whole machine | server peak RSS (MiB) | errors |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
SUMMARY
# The median of the numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mapfile -t rows < <(cut -d'|' -f1,2 "$dir/results" | awk '!seen[$0]++')
for row in "${rows[@]}"; do
    pick() { awk -F'|' -v r="$row" -v f="$1" '$1 "|" $2 == r { print $f }' "$dir/results"; }
    printf '| %s | %s | %.0f | %.1f | %.1f | %s | %s %% (%s %%) | %s %% | %s | %s |\n' \
        "${row%%|*}" "${row#*|}" "$(pick 3 | median)" "$(pick 4 | median)" "$(pick 5 | median)" \
        "$(pick 6 | paste -sd/ -)" "$(pick 7 | median)" "$(pick 8 | median)" "$(pick 9 | median)" \
        "$(pick 10 | median)" "$(pick 11 | sort -u | paste -sd';' -)"
done
echo
echo "Pavilion/nginx in each round, and the median (target: requests/s >= 0.90, p99 <= 1.50):"
for row in "live segment (memory)" "live part (memory)" "live playlist (rendered)" "replay segment (disk)"; do
    awk -F'|' -v r="$row" '
        function med(a, n,   i, j, t) {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $1 == r && $2 == "pavilion" { rp[++np] = $3; lp[np] = $5 }
        $1 == r && $2 == "nginx" { rn[++nn] = $3; ln[nn] = $5 }
        END {
            for (i = 1; i <= np; i++) {
                q[i] = rp[i] / rn[i]; p[i] = lp[i] / ln[i]
                qs = qs sprintf(" %.2f", q[i]); ps = ps sprintf(" %.2f", p[i])
            }
            printf "  %-26s requests/s%s -> median %.2f; p99%s -> median %.2f\n", r, qs, med(q, np), ps, med(p, np)
        }' "$dir/results"
done
((warnings == 0)) || { echo "server log warnings:"; summarize_warnings; }
