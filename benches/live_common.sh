# Helpers shared by benches/live_remux.sh and benches/hls_serving.sh.
# Sourced, not run. Expects `set -euo pipefail`, the repository root as the
# working directory, and `$dir` (a temporary directory the caller removes).
#
# What the helpers start is remembered in `server_pid` and `publisher_pids`;
# the caller's EXIT trap calls `stop_all` to end exactly those processes.

server_pid=
publisher_pids=()
clk_tck=$(getconf CLK_TCK)
# The demo community's names (src/demo.rs); benchmark broadcasts belong to it.
demo_community='幸福社区'
demo_owner=secretary

# A TCP port nothing on 127.0.0.1 listens on (a connection attempt is refused).
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# The sample stream, encoded once and kept in target/ (like records_1m's
# database): 60 s of 1280x720 30 fps H.264 (x264 ultrafast, keyframe every
# 30 frames = 1 s, 2500 kb/s) and 48 kHz AAC, in FLV as an encoder sends it.
# Publishing it with `-c copy` costs the publisher almost no CPU, so the
# server's remux is what gets measured, not an encoder.
sample_flv=target/bench-live-720p30-60s.flv
ensure_sample_flv() {
    [[ -s $sample_flv ]] && return
    echo "encoding the 60 s sample stream once into $sample_flv ..."
    ffmpeg -nostdin -v error -y \
        -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 \
        -c:v libx264 -preset ultrafast -g 30 -b:v 2500k -maxrate 2500k -bufsize 2500k -pix_fmt yuv420p \
        -c:a aac -b:a 128k \
        -f flv "$sample_flv.tmp"
    mv "$sample_flv.tmp" "$sample_flv"
}

# Seeds the demo community into a fresh data directory under $dir, adds
# `count` broadcasts with stream keys bench-key-1..count, and starts
# `pavilion serve` (not `pavilion demo`: the demo's own test-pattern encoder
# runs inside the server process and would be counted as server CPU).
# Sets http_port, rtmp_port, data_dir, server_pid, broadcast_ids.
start_server() {
    local count=$1 audio_rendition=${2:-1}
    data_dir=$dir/data
    http_port=$(free_port)
    rtmp_port=$(free_port)
    while [[ $rtmp_port == "$http_port" ]]; do rtmp_port=$(free_port); done
    export PAVILION__DATA_DIR=$data_dir
    export PAVILION__DATABASE__URL="sqlite://$data_dir/pavilion.sqlite"
    export PAVILION__SERVER__PORT=$http_port
    export PAVILION__LIVE__RTMP_PORT=$rtmp_port
    # No broadcast ends (and no replay is made, which burns CPU) during a run.
    export PAVILION__LIVE__GRACE_SECONDS=3600
    # Request logging at info would dominate the HTTP figures.
    export RUST_LOG=warn
    mkdir -p "$data_dir"
    ./target/release/pavilion demo --seed-only >"$dir/seed.log" 2>&1
    local now
    now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
    # Rows like the demo broadcast's (src/demo.rs): source rendition always,
    # the audio-only rendition (also a remux) as the demo has it, no 480p
    # transcode (that one re-encodes; not what is measured here).
    for k in $(seq "$count"); do
        sqlite3 "$data_dir/pavilion.sqlite" "
            INSERT INTO broadcasts (community_id, title, description, starts_at, owner_id,
                                    stream_key, rendition_low, rendition_audio, created_at)
            SELECT c.id, 'Benchmark stream $k', '', '$now', a.id, 'bench-key-$k', 0, $audio_rendition, '$now'
            FROM communities c, accounts a
            WHERE c.name = '$demo_community' AND a.username = '$demo_owner';"
    done
    mapfile -t broadcast_ids < <(sqlite3 "$data_dir/pavilion.sqlite" \
        "SELECT id FROM broadcasts WHERE stream_key LIKE 'bench-key-%' ORDER BY id")
    ./target/release/pavilion serve >"$dir/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 150); do
        curl -fs "http://127.0.0.1:$http_port/healthz" >/dev/null && return
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.2
    done
    echo "the server did not start; its log:" >&2
    cat "$dir/server.log" >&2
    exit 1
}

# Publishes the sample stream, looped forever in real time, to broadcast
# number `k` (its key bench-key-k), as OBS would: one RTMP connection.
# Returns once the server has marked the broadcast live, so that encoders
# start one after another: publishes that start at the same moment are
# sometimes refused (SQLite write contention when going live, reported to the
# encoder as "this broadcast has ended"; see BENCHMARKS.md). With a second
# argument `nowait` it returns at once (wait_live checks afterwards).
publish() {
    local k=$1 pid
    ffmpeg -nostdin -v error -re -stream_loop -1 -i "$sample_flv" -c copy \
        -f flv "rtmp://127.0.0.1:$rtmp_port/live/bench-key-$k" >"$dir/publisher-$k.log" 2>&1 &
    pid=$!
    publisher_pids+=("$pid")
    [[ ${2:-} == nowait ]] || wait_live "$k" "$pid" || exit 1
}

# Waits until broadcast bench-key-k is live; fails (status 1, with the
# publisher's complaint) if its publisher `pid` exits first.
wait_live() {
    local k=$1 pid=$2
    for _ in $(seq 100); do
        [[ $(sqlite3 "$data_dir/pavilion.sqlite" "SELECT state FROM broadcasts WHERE stream_key = 'bench-key-$k'") == live ]] && return
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "publishing to bench-key-$k failed: $(tr '\n' ' ' <"$dir/publisher-$k.log")" >&2
    return 1
}

# The server log's lines at WARN or ERROR (colour codes removed).
server_warnings() {
    sed 's/\x1b\[[0-9;]*m//g' "$dir/server.log" | grep -E '^\S+ +(WARN|ERROR) ' || true
}

# Those lines grouped: count, first and last time, the message with numbers as #.
summarize_warnings() {
    server_warnings |
        sed -E 's/^(\S+) +(WARN|ERROR) +/\1 \2 /' |
        awk '{ t = $1; $1 = ""; m = $0; gsub(/[0-9][0-9.]*/, "#", m)
               if (!(m in n)) { first[m] = t; order[++k] = m }
               n[m]++; last[m] = t }
             END { for (i = 1; i <= k; i++) { m = order[i]; printf "   %d x%s (%s .. %s)\n", n[m], m, first[m], last[m] } }'
}

# The newest segment number in a broadcast's live playlist (-1 if none yet).
newest_segment() {
    local id=$1
    curl -fs "http://127.0.0.1:$http_port/live/$id/source/index.m3u8" |
        sed -n 's/^seg-\([0-9]*\)\.m4s$/\1/p' | tail -1 | grep . || echo -1
}

# Waits until a broadcast's live playlist lists at least `n` segments.
wait_for_segments() {
    local id=$1 n=$2 listed
    for _ in $(seq 600); do
        listed=$(curl -fs "http://127.0.0.1:$http_port/live/$id/source/index.m3u8" | grep -c '^seg-' || true)
        ((listed >= n)) && return
        sleep 0.2
    done
    echo "broadcast $id did not list $n segments within 120 s; server log:" >&2
    tail -20 "$dir/server.log" >&2
    exit 1
}

# CPU time a process has used so far, in clock ticks (utime + stime).
# The fields are counted after the command name, which may hold spaces.
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# CPU ticks of those threads of process $1 whose name starts with $2
# (the media threads are named live-{broadcast id}).
thread_ticks() {
    local total=0 task t
    for task in /proc/"$1"/task/*; do
        [[ $(cat "$task/comm" 2>/dev/null) == "$2"* ]] || continue
        t=$(sed 's/^.*) //' "$task/stat" 2>/dev/null | awk '{ print $12 + $13 }') || continue
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

# Resident memory of a process, KiB.
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Whole-machine CPU counters: "busy total" ticks over all cores.
machine_ticks() {
    awk '/^cpu / { idle = $5 + $6; total = 0; for (i = 2; i <= 9; i++) total += $i; print total - idle, total }' /proc/stat
}

stop_publishers() {
    local pid
    for pid in "${publisher_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${publisher_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    publisher_pids=()
}

stop_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}

stop_all() {
    stop_publishers
    stop_server
}
