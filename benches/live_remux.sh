#!/usr/bin/env bash
# What a live broadcast costs the server: N encoders publish at once, and the
# server's CPU and memory are sampled once every stream is steady.
#
# Each encoder is `ffmpeg -re -stream_loop -1 -i sample.flv -c copy -f flv rtmp://…`
# publishing the same pre-encoded 60 s 1280x720 30 fps 2.5 Mb/s H.264 + AAC
# stream (encoded once into target/, see live_common.sh), so the encoders cost
# next to nothing and the server's work is the remux: RTMP ingest, FLV
# parsing, fMP4 fragments/segments via ffmpeg-next, playlists, segments kept
# in memory and written to disk. Each broadcast has the source rendition and
# the audio-only rendition (both remuxed), like the demo's; no 480p transcode.
#
# For each N a fresh server (temporary data directory, free ports) is started,
# its idle RSS read, the N encoders started, WARM-UP seconds waited (the live
# cache holds 12 segments = 24 s, so memory has levelled off by then), then
# over WINDOW seconds:
#   CPU  = utime + stime of the server (/proc/PID/stat), as % of one core;
#          also the share of the media threads (named live-{id});
#   RSS  = VmRSS (/proc/PID/status) at the start and end of the window, and
#          every 10 s in between (printed as a trace);
#   the publishers' own CPU and the whole machine's, so that other load on
#   the machine is visible; segments made per broadcast (expected WINDOW / 2).
#
#   benches/live_remux.sh [COUNTS] [WINDOW_SECONDS] [WARMUP_SECONDS]
#   benches/live_remux.sh "1 4 8" 30 40          # the defaults
#   benches/live_remux.sh 8 300                  # memory over five minutes
#   AUDIO_RENDITION=0 benches/live_remux.sh      # source rendition only
#   SIMULTANEOUS_START=1 benches/live_remux.sh 8 # all encoders at once (see BENCHMARKS.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
counts=${1:-1 4 8}
window=${2:-30}
warmup=${3:-40}
audio_rendition=${AUDIO_RENDITION:-1}

for tool in ffmpeg sqlite3 curl; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
cargo build --release --locked --quiet

dir=$(mktemp -d)
# shellcheck source=benches/live_common.sh
source benches/live_common.sh
trap 'stop_all; rm -rf "$dir"' EXIT
ensure_sample_flv

ticks_of_publishers() {
    local total=0 pid
    for pid in "${publisher_pids[@]}"; do
        total=$((total + $(cpu_ticks "$pid")))
    done
    echo "$total"
}

# "% of one core" from a tick count over a number of seconds.
percent() { awk -v t="$1" -v s="$2" -v hz="$clk_tck" 'BEGIN { printf "%.1f", 100 * t / hz / s }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

rows=()
for n in $counts; do
    rm -rf "$dir/data"
    start_server "$n" "$audio_rendition"
    sleep 2
    rss_idle=$(rss_kib "$server_pid")
    echo "== $n stream(s): server pid $server_pid, http :$http_port, rtmp :$rtmp_port, idle RSS $(mib "$rss_idle") MiB"
    if [[ ${SIMULTANEOUS_START:-0} == 1 ]]; then
        # All encoders at the same instant: shows the refusals of problem 1
        # in BENCHMARKS.md (the run stops if any encoder was refused).
        for k in $(seq "$n"); do publish "$k" nowait; done
        refused=0
        for k in $(seq "$n"); do wait_live "$k" "${publisher_pids[k - 1]}" || refused=$((refused + 1)); done
        if ((refused > 0)); then
            echo "   !! $refused of $n encoders refused; broadcast states:" \
                "$(sqlite3 "$data_dir/pavilion.sqlite" "SELECT id || ':' || state FROM broadcasts" | paste -sd' ')"
            summarize_warnings
            exit 1
        fi
    else
        for k in $(seq "$n"); do publish "$k"; done
    fi
    for id in "${broadcast_ids[@]}"; do wait_for_segments "$id" 1; done
    echo "   all $n live; warming up ${warmup}s, then measuring ${window}s"
    sleep "$warmup"

    before=()
    for id in "${broadcast_ids[@]}"; do before+=("$(newest_segment "$id")"); done
    read -r busy0 total0 < <(machine_ticks)
    server0=$(cpu_ticks "$server_pid")
    media0=$(thread_ticks "$server_pid" live-)
    publishers0=$(ticks_of_publishers)
    rss0=$(rss_kib "$server_pid")
    start=$(date +%s.%N)

    # RSS every 10 s through the window, to tell a level from a slope.
    trace=()
    while (($(awk -v a="$start" -v b="$(date +%s.%N)" -v w="$window" 'BEGIN { print (w - (b - a) > 10) }'))); do
        sleep 10
        trace+=("$(mib "$(rss_kib "$server_pid")")")
    done
    sleep "$(awk -v a="$start" -v b="$(date +%s.%N)" -v w="$window" 'BEGIN { r = w - (b - a); print (r > 0 ? r : 0) }')"

    seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    rss1=$(rss_kib "$server_pid")
    server1=$(cpu_ticks "$server_pid")
    media1=$(thread_ticks "$server_pid" live-)
    publishers1=$(ticks_of_publishers)
    read -r busy1 total1 < <(machine_ticks)
    made=0
    for i in "${!broadcast_ids[@]}"; do
        made=$((made + $(newest_segment "${broadcast_ids[$i]}") - before[i]))
    done

    # Sanity: every publisher still running, every broadcast still live,
    # nothing logged at WARN or above.
    for pid in "${publisher_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || echo "   !! publisher $pid stopped: $(cat "$dir"/publisher-*.log)"
    done
    not_live=$(sqlite3 "$data_dir/pavilion.sqlite" \
        "SELECT count(*) FROM broadcasts WHERE stream_key LIKE 'bench-key-%' AND state <> 'live'")
    ((not_live == 0)) || echo "   !! $not_live broadcast(s) not live"
    warnings=$(server_warnings | wc -l)
    ((warnings == 0)) || { echo "   !! $warnings warning(s) in the server log:"; summarize_warnings; }

    server_pct=$(percent $((server1 - server0)) "$seconds")
    machine_pct=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) -v c="$(nproc)" \
        'BEGIN { printf "%.1f", 100 * c * b / t }')
    expected=$(awk -v n="$n" -v s="$seconds" 'BEGIN { printf "%d", n * s / 2 }')
    rows+=("$(printf '| %d | %s %% | %s %% | %s %% | %s | %s | %s | %+.1f | %d (≈%d) | %s %% | %s %% |' \
        "$n" "$server_pct" \
        "$(awk -v p="$server_pct" -v n="$n" 'BEGIN { printf "%.1f", p / n }')" \
        "$(percent $((media1 - media0)) "$seconds")" \
        "$(mib "$rss_idle")" "$(mib "$rss1")" \
        "$(awk -v a="$rss_idle" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / 1024 / n }')" \
        "$(awk -v a="$rss0" -v b="$rss1" 'BEGIN { print (b - a) / 1024 }')" \
        "$made" "$expected" \
        "$(percent $((publishers1 - publishers0)) "$seconds")" "$machine_pct")")
    echo "   ${rows[-1]}"
    echo "   RSS (MiB) at the window's start and every 10 s: $(mib "$rss0") ${trace[*]} $(mib "$rss1")"
    stop_all
done

cat <<EOF

Window ${window}s after ${warmup}s of warm-up; CPU as % of one core ($(nproc) cores: 100 % = one core busy).
RSS in MiB; "per stream" = (RSS with streams - idle RSS) / streams. Audio rendition: $audio_rendition.

| streams | server CPU | per stream | of which media threads | idle RSS | RSS with streams | per stream | RSS change in window | segments made (expected) | publishers' CPU | whole machine |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
printf '%s\n' "${rows[@]}"
