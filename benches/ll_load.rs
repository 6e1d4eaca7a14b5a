//! Thousands of low-latency viewers of one broadcast, on this machine.
//!
//!   cargo bench --bench ll_load                                  # 2,000 viewers, 60 s
//!   cargo bench --bench ll_load -- --viewers 500 --seconds 30 --ramp 5
//!   cargo bench --bench ll_load -- --target both --viewers 4000  # also a district
//!
//! `--target district` runs the viewers through nginx (the README's sample
//! configuration, with its LL-HLS cache rules) in front of two nodes on
//! PostgreSQL, the encoder publishing to node A (support/district.rs);
//! `--target both` first the single SQLite node, then the district, in the
//! same run. A district's report adds how many requests nginx passed to the
//! nodes per part and per blocking reload (from its access log, which logs
//! every request not answered from the cache) and nginx's CPU and memory.
//!
//! Every viewer also notes, for each blocking reload, its edge delay: when
//! the playlist arrived, minus the wall-clock end of the newest part it
//! lists (EXT-X-PROGRAM-DATE-TIME of the open segment plus its parts'
//! durations). hls.js plays PART-HOLD-BACK (1.5 s) behind that edge, so its
//! latency is about 1.5 s plus this delay (see BENCHMARKS.md).
//!
//! Starts `pavilion serve` with the demo broadcast and the ffmpeg CLI
//! publishing the 720p30 2.5 Mb/s sample to it (see support/live_server.rs),
//! then runs VIEWERS simulated hls.js players in low-latency mode on a tokio
//! runtime in this process: each tunes in with a plain playlist request,
//! then, over and over, asks at the same time for the next playlist
//! (blocking reload, `_HLS_msn`/`_HLS_part` of the part after the newest) and
//! for the hinted part (held until it exists), and fetches any listed part it
//! missed. Viewers start spread over RAMP seconds; figures cover the SECONDS
//! after that.
//!
//! Reports per request kind the response time (a held request's includes the
//! hold, about half a part), the fan-out lag (for each part, how long after
//! the first viewer the others received it), error and status counts, and
//! the CPU and memory of the server, of this load generator and of the
//! machine (both share its cores).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/live_server.rs"]
mod live_server;

use live_server::{cpu_seconds, machine_ticks, percentile, rss_kib, sample_flv, LiveServer};

#[path = "support/district.rs"]
mod district;

struct Options {
    viewers: usize,
    seconds: u64,
    ramp: u64,
    /// `single`, `district` or `both`.
    target: String,
}

fn options() -> Options {
    let mut options = Options {
        viewers: 2000,
        seconds: 60,
        ramp: 10,
        target: "single".into(),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut args = args.iter().skip(1);
    let number = |name: &str, value: Option<&String>| -> u64 {
        value
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} takes a number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--viewers" => options.viewers = number(arg, args.next()) as usize,
            "--seconds" => options.seconds = number(arg, args.next()),
            "--ramp" => options.ramp = number(arg, args.next()),
            "--target" => options.target = args.next().cloned().unwrap_or_default(),
            _ => {} // `cargo bench` adds --bench
        }
    }
    options
}

/// What a viewer needs from a live playlist.
#[derive(Debug, Default)]
struct Edge {
    /// The segment and part index after the newest part (the next reload).
    next_msn: u64,
    next_part: usize,
    /// The running number of the hinted part.
    hint: u64,
}

/// The wall-clock end of the newest part a playlist lists: the open
/// segment's EXT-X-PROGRAM-DATE-TIME plus its parts' durations.
fn edge_end(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut start = None;
    let mut parts = 0.0;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            start = chrono::DateTime::parse_from_rfc3339(value).ok();
            parts = 0.0;
        } else if let Some(rest) = line.strip_prefix("#EXT-X-PART:DURATION=") {
            parts += rest
                .split(',')
                .next()
                .and_then(|d| d.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    let start = start?.with_timezone(&chrono::Utc);
    Some(start + chrono::Duration::microseconds((parts * 1e6) as i64))
}

fn part_number(uri: &str) -> Option<u64> {
    uri.strip_prefix("part-")?
        .strip_suffix(".m4s")?
        .parse()
        .ok()
}

fn read_edge(text: &str) -> Option<Edge> {
    let mut sequence = None;
    let mut segments = 0u64;
    let mut open_parts = 0;
    let mut hint = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = value.parse::<u64>().ok();
        } else if line.starts_with("#EXT-X-PART:") {
            open_parts += 1;
        } else if line.starts_with("#EXTINF:") {
            segments += 1;
            open_parts = 0;
        } else if let Some(rest) = line.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"") {
            hint = part_number(rest.trim_end_matches('"'));
        }
    }
    Some(Edge {
        next_msn: sequence? + segments,
        next_part: open_parts,
        hint: hint?,
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Reload,
    Hinted,
    CatchUp,
}

#[derive(Default)]
struct Tally {
    times: HashMap<Kind, Vec<f64>>,
    statuses: HashMap<u16, u64>,
    errors: u64,
    bytes: u64,
    /// (part number, when it arrived) for hinted parts.
    arrivals: Vec<(u64, Instant)>,
    /// Per blocking reload: arrival minus the wall-clock end of the newest
    /// listed part, ms.
    edge_delays: Vec<f64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (kind, times) in other.times {
            self.times.entry(kind).or_default().extend(times);
        }
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.arrivals.extend(other.arrivals);
        self.edge_delays.extend(other.edge_delays);
    }
}

struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn covers(&self, at: Instant) -> bool {
        at >= self.start && at <= self.end
    }
}

/// One response: status and body, or `None` after a transport error.
async fn fetch(http: &reqwest::Client, url: &str) -> Option<(u16, bytes::Bytes)> {
    let response = http.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.bytes().await.ok()?))
}

async fn viewer(http: reqwest::Client, base: String, window: Arc<Window>) -> Tally {
    let mut tally = Tally::default();
    let playlist = format!("{base}index.m3u8");
    let mut edge = None;
    let mut fetched_up_to = 0;
    while Instant::now() < window.end {
        let Some(current) = edge.take() else {
            // Tune in (again, after an error).
            match fetch(&http, &playlist).await {
                Some((200, body)) => {
                    edge = read_edge(&String::from_utf8_lossy(&body));
                    fetched_up_to = edge.as_ref().map_or(0, |e: &Edge| e.hint);
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
            continue;
        };
        let Edge {
            next_msn,
            next_part,
            hint,
        } = current;
        let reload_url = format!("{playlist}?_HLS_msn={next_msn}&_HLS_part={next_part}");
        let part_url = format!("{base}part-{hint}.m4s");
        let started = Instant::now();
        let reload = async {
            let answer = fetch(&http, &reload_url).await;
            (answer, Instant::now())
        };
        let part = async {
            let answer = fetch(&http, &part_url).await;
            (answer, Instant::now())
        };
        let ((reloaded, reloaded_at), (hinted, hinted_at)) = tokio::join!(reload, part);
        let note = |kind, answer: &Option<(u16, bytes::Bytes)>, at: Instant, tally: &mut Tally| {
            if !window.covers(at) {
                return;
            }
            match answer {
                Some((status, body)) => {
                    *tally.statuses.entry(*status).or_default() += 1;
                    tally.bytes += body.len() as u64;
                    let millis = at.duration_since(started).as_secs_f64() * 1000.0;
                    tally.times.entry(kind).or_default().push(millis);
                }
                None => tally.errors += 1,
            }
        };
        note(Kind::Reload, &reloaded, reloaded_at, &mut tally);
        note(Kind::Hinted, &hinted, hinted_at, &mut tally);
        if matches!(hinted, Some((200, _))) && window.covers(hinted_at) {
            tally.arrivals.push((hint, hinted_at));
        }
        fetched_up_to = fetched_up_to.max(hint + 1);
        let Some((200, body)) = reloaded else {
            continue; // tune in again
        };
        let text = String::from_utf8_lossy(&body);
        if window.covers(reloaded_at) {
            if let Some(end) = edge_end(&text) {
                // Arrival in wall-clock time: now, less what passed since.
                let arrived = chrono::Utc::now()
                    - chrono::Duration::from_std(reloaded_at.elapsed()).unwrap_or_default();
                let delay = (arrived - end).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                tally.edge_delays.push(delay);
            }
        }
        edge = read_edge(&text);
        // Parts listed meanwhile that this viewer has not fetched yet.
        let newest = edge.as_ref().map_or(0, |e| e.hint);
        while fetched_up_to < newest {
            let started = Instant::now();
            let answer = fetch(&http, &format!("{base}part-{fetched_up_to}.m4s")).await;
            let at = Instant::now();
            if window.covers(at) {
                match &answer {
                    Some((status, body)) => {
                        *tally.statuses.entry(*status).or_default() += 1;
                        tally.bytes += body.len() as u64;
                        let millis = at.duration_since(started).as_secs_f64() * 1000.0;
                        tally.times.entry(Kind::CatchUp).or_default().push(millis);
                    }
                    None => tally.errors += 1,
                }
            }
            fetched_up_to += 1;
        }
    }
    tally
}

fn summary(name: &str, values: &mut [f64], unit: &str) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "{name:<34} n {:>8}  p50 {:>8.1} {unit}  p95 {:>8.1} {unit}  p99 {:>8.1} {unit}  max {:>8.1} {unit}",
        values.len(),
        percentile(values, 0.5),
        percentile(values, 0.95),
        percentile(values, 0.99),
        values.last().copied().unwrap_or(f64::NAN),
    )
}

fn main() {
    let options = options();
    // The viewers run on two worker threads: this machine's two cores,
    // shared with the server and the publisher.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(options));
}

async fn run(options: Options) {
    let flv = sample_flv();
    if options.target != "district" {
        let mut server = LiveServer::start(&[]).await;
        server.publish(&flv).await;
        let base = server.url(&format!("/live/{}/source/", server.broadcast));
        let processes = vec![("server".to_owned(), vec![server.pid()])];
        println!("\n== single node, SQLite, viewers straight to it ==");
        measure(&options, base, &processes, None).await;
        let warnings = server.log();
        if !warnings.is_empty() {
            println!("server warnings:\n{warnings}");
        }
    }
    if options.target != "single" {
        let nginx = district::NginxOptions {
            // Two connections a viewer, and one to a node for some.
            connections: (options.viewers * 3 + 2000).max(8192),
            ..Default::default()
        };
        let mut district = district::District::start(2, nginx).await;
        district.publish_to(0, &flv).await;
        let base = district.url(&format!("/live/{}/source/", district.broadcast));
        let mut processes: Vec<(String, Vec<u32>)> = district
            .nodes
            .iter()
            .map(|node| (node.name.clone(), vec![node.pid()]))
            .collect();
        processes.push(("nginx (master and workers)".into(), district.nginx.pids()));
        println!(
            "\n== two nodes on PostgreSQL, encoder on {}, viewers through nginx ==",
            district.nodes[0].name
        );
        measure(&options, base, &processes, Some(&district)).await;
        let logs = district.logs();
        if !logs.is_empty() {
            println!("district warnings:\n{logs}");
        }
    }
}

/// CPU seconds and resident KiB of a group of processes.
fn usage(pids: &[u32]) -> (f64, u64) {
    (
        pids.iter().map(|p| cpu_seconds(*p)).sum(),
        pids.iter().map(|p| rss_kib(*p)).sum(),
    )
}

async fn measure(
    options: &Options,
    base: String,
    processes: &[(String, Vec<u32>)],
    district: Option<&district::District>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let now = Instant::now();
    let start = now + Duration::from_secs(options.ramp + 5);
    let window = Arc::new(Window {
        start,
        end: start + Duration::from_secs(options.seconds),
    });
    let tallies = Arc::new(Mutex::new(Tally::default()));
    let mut viewers = Vec::with_capacity(options.viewers);
    for n in 0..options.viewers {
        let (http, base, window, tallies) =
            (http.clone(), base.clone(), window.clone(), tallies.clone());
        let delay =
            Duration::from_secs_f64(options.ramp as f64 * n as f64 / options.viewers as f64);
        viewers.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let tally = viewer(http, base, window).await;
            tallies.lock().unwrap().merge(tally);
        }));
    }
    println!(
        "{} viewers starting over {} s; measuring {} s after {} s ...",
        options.viewers,
        options.ramp,
        options.seconds,
        options.ramp + 5
    );
    let me = std::process::id();
    tokio::time::sleep_until(start.into()).await;
    if let Some(district) = district {
        district.nginx.truncate_access_log();
    }
    let before: Vec<(f64, u64)> = processes.iter().map(|(_, pids)| usage(pids)).collect();
    let (my_cpu, machine) = (cpu_seconds(me), machine_ticks());
    let mut rss_peak: Vec<u64> = before.iter().map(|(_, rss)| *rss).collect();
    while Instant::now() < window.end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for ((_, pids), peak) in processes.iter().zip(&mut rss_peak) {
            *peak = (*peak).max(usage(pids).1);
        }
    }
    let seconds = options.seconds as f64;
    let after: Vec<(f64, u64)> = processes.iter().map(|(_, pids)| usage(pids)).collect();
    let my_cpu = (cpu_seconds(me) - my_cpu) / seconds * 100.0;
    let machine_now = machine_ticks();
    let machine_cpu =
        (machine_now.0 - machine.0) as f64 / (machine_now.1 - machine.1).max(1) as f64 * 200.0;
    // nginx writes its log buffer at least once a second.
    let access_log = match district {
        Some(district) => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Some(district.nginx.access_log())
        }
        None => None,
    };
    for viewer in viewers {
        let _ = viewer.await;
    }
    let mut tally = std::mem::take(&mut *tallies.lock().unwrap());

    println!();
    println!(
        "{} viewers, {} s measured",
        options.viewers, options.seconds
    );
    for (kind, name) in [
        (Kind::Reload, "blocking playlist reload"),
        (Kind::Hinted, "hinted part (held until it exists)"),
        (Kind::CatchUp, "missed part (catch-up)"),
    ] {
        let times = tally.times.entry(kind).or_default();
        let rate = times.len() as f64 / seconds;
        println!("{}  ({rate:.0}/s)", summary(name, times, "ms"));
    }
    // Fan-out: how long after the first viewer each viewer got a part.
    let mut first: HashMap<u64, Instant> = HashMap::new();
    for &(number, at) in &tally.arrivals {
        let earliest = first.entry(number).or_insert(at);
        *earliest = (*earliest).min(at);
    }
    let mut lags: Vec<f64> = tally
        .arrivals
        .iter()
        .map(|(number, at)| at.duration_since(first[number]).as_secs_f64() * 1000.0)
        .collect();
    println!(
        "{}",
        summary("fan-out lag of a hinted part", &mut lags, "ms")
    );
    println!(
        "{}",
        summary(
            "edge delay of a blocking reload",
            &mut tally.edge_delays,
            "ms"
        )
    );
    let mut statuses: Vec<_> = tally.statuses.iter().collect();
    statuses.sort();
    println!(
        "statuses {statuses:?}, transport errors {}, {:.1} MB/s received",
        tally.errors,
        tally.bytes as f64 / seconds / 1e6
    );
    for (((name, _), (cpu_before, rss_start)), ((cpu_after, rss_end), peak)) in processes
        .iter()
        .zip(&before)
        .zip(after.iter().zip(&rss_peak))
    {
        println!(
            "{name}: CPU {:.0} % of one core, RSS {:.1} MiB at the start, {:.1} MiB peak, {:.1} MiB at the end",
            (cpu_after - cpu_before) / seconds * 100.0,
            *rss_start as f64 / 1024.0,
            *peak as f64 / 1024.0,
            *rss_end as f64 / 1024.0
        );
    }
    println!(
        "load generator CPU {my_cpu:.0} % of one core; whole machine {machine_cpu:.0} % of 200 %"
    );
    if let (Some(log), Some(district)) = (access_log, district) {
        origin_requests(&log, district, &tally);
    }
}

/// What nginx passed to the nodes during the window, from its access log
/// (`$upstream_cache_status $upstream_addr "$request" $status`, requests
/// answered from the cache left out).
fn origin_requests(log: &str, district: &district::District, tally: &Tally) {
    let mut parts: HashMap<&str, usize> = HashMap::new();
    let mut reloads: HashMap<&str, usize> = HashMap::new();
    let mut plain = 0;
    let mut other = 0;
    let mut cache_statuses: HashMap<&str, usize> = HashMap::new();
    let mut by_node: HashMap<String, usize> = HashMap::new();
    for line in log.lines() {
        let mut fields = line.splitn(3, ' ');
        let (Some(cache), Some(upstream), Some(rest)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(request) = rest.split('"').nth(1) else {
            continue;
        };
        let path = request.split(' ').nth(1).unwrap_or("");
        *cache_statuses.entry(cache).or_default() += 1;
        let node = district
            .nodes
            .iter()
            .find(|n| upstream.ends_with(&format!(":{}", n.http_port)))
            .map_or_else(|| upstream.to_owned(), |n| n.name.clone());
        *by_node.entry(node).or_default() += 1;
        if path.contains("/part-") {
            *parts.entry(path).or_default() += 1;
        } else if path.contains("index.m3u8?_HLS_msn") {
            *reloads.entry(path).or_default() += 1;
        } else if path.contains("index.m3u8") {
            plain += 1;
        } else {
            other += 1;
        }
    }
    let viewer_parts = tally.times.get(&Kind::Hinted).map_or(0, Vec::len)
        + tally.times.get(&Kind::CatchUp).map_or(0, Vec::len);
    let viewer_reloads = tally.times.get(&Kind::Reload).map_or(0, Vec::len);
    let per = |counts: &HashMap<&str, usize>| {
        let total: usize = counts.values().sum();
        let max = counts.values().copied().max().unwrap_or(0);
        let ones = counts.values().filter(|&&n| n == 1).count();
        (total, counts.len(), max, ones)
    };
    let (part_total, part_keys, part_max, part_ones) = per(&parts);
    let (reload_total, reload_keys, reload_max, reload_ones) = per(&reloads);
    println!(
        "origin requests (nginx → nodes) in the window: parts {part_total} for {part_keys} parts = {:.2} per part (max {part_max}; exactly one for {part_ones}), viewers asked {viewer_parts} times",
        part_total as f64 / part_keys.max(1) as f64
    );
    println!(
        "  blocking reloads {reload_total} for {reload_keys} playlists = {:.2} per playlist (max {reload_max}; exactly one for {reload_ones}), viewers asked {viewer_reloads} times",
        reload_total as f64 / reload_keys.max(1) as f64
    );
    let mut cache_statuses: Vec<_> = cache_statuses.into_iter().collect();
    cache_statuses.sort();
    let mut by_node: Vec<_> = by_node.into_iter().collect();
    by_node.sort();
    println!(
        "  plain playlist requests {plain}, other {other}; cache status {cache_statuses:?}; by node {by_node:?}"
    );
}
