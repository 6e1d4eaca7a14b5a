//! Thousands of low-latency viewers of one broadcast, on this machine.
//!
//!   cargo bench --bench ll_load                                  # 2,000 viewers, 60 s
//!   cargo bench --bench ll_load -- --viewers 500 --seconds 30 --ramp 5
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

struct Options {
    viewers: usize,
    seconds: u64,
    ramp: u64,
}

fn options() -> Options {
    let mut options = Options {
        viewers: 2000,
        seconds: 60,
        ramp: 10,
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
        edge = read_edge(&String::from_utf8_lossy(&body));
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
    let mut server = LiveServer::start(&[]).await;
    server.publish(&flv).await;
    let base = server.url(&format!("/live/{}/source/", server.broadcast));
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
    let pid = server.pid();
    let me = std::process::id();
    tokio::time::sleep_until(start.into()).await;
    let (server_cpu, my_cpu, machine) = (cpu_seconds(pid), cpu_seconds(me), machine_ticks());
    let rss_start = rss_kib(pid);
    let mut rss_peak = rss_start;
    while Instant::now() < window.end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_peak = rss_peak.max(rss_kib(pid));
    }
    let seconds = options.seconds as f64;
    let server_cpu = (cpu_seconds(pid) - server_cpu) / seconds * 100.0;
    let my_cpu = (cpu_seconds(me) - my_cpu) / seconds * 100.0;
    let machine_now = machine_ticks();
    let machine_cpu =
        (machine_now.0 - machine.0) as f64 / (machine_now.1 - machine.1).max(1) as f64 * 200.0;
    let rss_end = rss_kib(pid);
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
    let mut statuses: Vec<_> = tally.statuses.iter().collect();
    statuses.sort();
    println!(
        "statuses {statuses:?}, transport errors {}, {:.1} MB/s received",
        tally.errors,
        tally.bytes as f64 / seconds / 1e6
    );
    println!(
        "server CPU {server_cpu:.0} % of one core, RSS {:.1} MiB at the start, {:.1} MiB peak, {:.1} MiB at the end",
        rss_start as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    println!(
        "load generator CPU {my_cpu:.0} % of one core; whole machine {machine_cpu:.0} % of 200 %"
    );
    let warnings = server.log();
    if !warnings.is_empty() {
        println!("server warnings:\n{warnings}");
    }
}
