//! Ingest-to-screen latency of a live broadcast played by hls.js in headless
//! chromium, with Low-Latency HLS on or off.
//!
//!   cargo bench --bench ll_latency                              # 2 minutes, LL on
//!   cargo bench --bench ll_latency -- --minutes 10 --low-latency off
//!   cargo bench --bench ll_latency -- --keyframes-every 10    # a 10 s keyframe interval
//!   cargo bench --bench ll_latency -- --district              # through nginx's cache
//!
//! With `--district`, the server is a district instead (support/district.rs:
//! two nodes on PostgreSQL, nginx in front with the README's cache rules),
//! the encoder publishes to node A, and the page is opened through nginx.
//! Starts `pavilion serve` on a temporary data directory (the demo community
//! and its broadcast), publishes to it with the ffmpeg CLI in real time (the
//! 720p30 sample of benches/live_common.sh: 1 s keyframe interval, 2.5 Mb/s,
//! `-re -stream_loop -1 -c copy`), opens the watch page in headless chromium
//! through chromedriver, and once a second samples
//!
//!   latency = wall clock now − the program date-time of the playing position
//!
//! (hls.js `playingDate`, from the playlist's EXT-X-PROGRAM-DATE-TIME, which
//! is the server's clock when a segment's first frame arrived). Prints the
//! median, p95 and maximum, and the stalls: `waiting` events of the video
//! element and one-second samples in which the picture did not move.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

#[path = "support/district.rs"]
mod district;
#[path = "support/live_server.rs"]
mod live_server;

use live_server::{percentile, sample_flv_with_keyframes_every, LiveServer};

struct Options {
    minutes: f64,
    low_latency: bool,
    warm_up: u64,
    /// Print a sample every this many seconds.
    report_every: usize,
    /// The publisher's keyframe interval, seconds.
    keyframes_every: u32,
    /// Two nodes behind nginx instead of one server.
    district: bool,
}

fn options() -> Options {
    let mut options = Options {
        minutes: 2.0,
        low_latency: true,
        warm_up: 15,
        report_every: 30,
        keyframes_every: 1,
        district: false,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--minutes" => {
                options.minutes = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--minutes N")
            }
            "--low-latency" => options.low_latency = args.next().map(String::as_str) != Some("off"),
            "--district" => options.district = true,
            "--report-every" => {
                options.report_every = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--report-every SECONDS")
            }
            "--keyframes-every" => {
                options.keyframes_every = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--keyframes-every SECONDS")
            }
            "--warm-up" => {
                options.warm_up = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--warm-up SECONDS")
            }
            _ => {} // `cargo bench` adds --bench
        }
    }
    options
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser() -> (Driver, fantoccini::Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs");
    let driver = Driver(driver);
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..50 {
        if let Ok(client) = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return (driver, client);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("cannot reach chromedriver");
}

/// What the page reports each second.
const SAMPLE: &str = r#"
const v = document.querySelector('video');
const p = window.pavilionPlayer;
if (window.stalls === undefined) {
  window.stalls = 0;
  window.hlsErrors = {};
  // The last events, to explain a stall.
  window.journal = [];
  const note = (what) => {
    window.journal.push(`${(performance.now() / 1000).toFixed(2)} ${what} t=${v.currentTime.toFixed(2)}`);
    if (window.journal.length > 40) window.journal.shift();
  };
  v.addEventListener('waiting', () => {
    window.stalls += 1;
    note('WAITING');
    window.stallJournal = window.journal.slice();
    window.stallLog = (window.pavilionLog || []).slice();
  });
  if (p) {
    p.on('hlsError', (_e, data) => {
      window.hlsErrors[data.details] = (window.hlsErrors[data.details] || 0) + 1;
      note(`error ${data.details}`);
    });
    p.on('hlsLevelLoaded', (_e, data) => {
      const d = data.details, s = data.stats;
      note(`playlist ${d.lastPartSn}.${d.lastPartIndex} in ${(s.loading.end - s.loading.start).toFixed(0)} ms`);
    });
    p.on('hlsFragLoaded', (_e, data) => {
      const s = data.frag.stats || data.stats;
      note(`loaded ${data.frag.sn}${data.part ? '.' + data.part.index : ''} in ${(s.loading.end - s.loading.start).toFixed(0)} ms`);
    });
    p.on('hlsFragBuffered', (_e, data) => note(`buffered ${data.frag.sn}${data.part ? '.' + data.part.index : ''}`));
  }
}
let ahead = 0;
for (let i = 0; i < v.buffered.length; i++) {
  if (v.buffered.start(i) <= v.currentTime + 0.1 && v.buffered.end(i) > v.currentTime) ahead = v.buffered.end(i) - v.currentTime;
}
const details = p && p.levels[Math.max(p.currentLevel, 0)] && p.levels[Math.max(p.currentLevel, 0)].details;
return {
  now: Date.now(),
  playing: p && p.playingDate ? p.playingDate.getTime() : null,
  currentTime: v.currentTime,
  paused: v.paused,
  rate: v.playbackRate,
  stalls: window.stalls,
  target: p ? p.targetLatency : null,
  parts: details && details.partList ? details.partList.length : 0,
  ahead: ahead,
  errors: window.hlsErrors,
  journal: window.stallJournal || null,
  log: window.stallLog || null,
};"#;

#[tokio::main]
async fn main() {
    let options = options();
    let flv = sample_flv_with_keyframes_every(options.keyframes_every);
    let low_latency = if options.low_latency { "true" } else { "false" };
    let (server, district, watch) = if options.district {
        assert!(
            options.low_latency,
            "a district runs with the default settings"
        );
        let mut district = district::District::start(2, Default::default()).await;
        district.publish_to(0, &flv).await;
        let watch = district.url(&format!("/live/{}#debug", district.broadcast));
        (None, Some(district), watch)
    } else {
        let mut server = LiveServer::start(&[("PAVILION__LIVE__LOW_LATENCY", low_latency)]).await;
        server.publish(&flv).await;
        let watch = server.url(&format!("/live/{}#debug", server.broadcast));
        (Some(server), None, watch)
    };
    let (_driver, page) = browser().await;
    page.goto(&watch).await.unwrap();

    let started = Instant::now();
    loop {
        let state = page.execute(SAMPLE, vec![]).await.unwrap();
        if state["playing"].is_number() && state["currentTime"].as_f64() > Some(1.0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no playback: {state}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "playing after {:.1} s; warming up for {} s",
        started.elapsed().as_secs_f64(),
        options.warm_up
    );
    tokio::time::sleep(Duration::from_secs(options.warm_up)).await;

    let samples = (options.minutes * 60.0).round() as usize;
    let mut latencies = Vec::with_capacity(samples);
    let mut frozen = 0;
    let mut first: Option<serde_json::Value> = None;
    let mut last = page.execute(SAMPLE, vec![]).await.unwrap();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    for n in 0..samples {
        tick.tick().await;
        let state = page.execute(SAMPLE, vec![]).await.unwrap();
        let (Some(now), Some(playing)) = (state["now"].as_f64(), state["playing"].as_f64()) else {
            frozen += 1;
            continue;
        };
        let latency = (now - playing) / 1000.0;
        latencies.push(latency);
        if state["currentTime"].as_f64() <= last["currentTime"].as_f64() {
            frozen += 1;
        }
        if n % options.report_every == 0 {
            println!(
                "{:>4} s  latency {latency:.2} s  buffered ahead {:.2} s  rate {}  target {}  parts listed {}  stalls {}  player errors {}",
                n,
                state["ahead"].as_f64().unwrap_or(f64::NAN),
                state["rate"],
                state["target"],
                state["parts"],
                state["stalls"],
                state["errors"]
            );
        }
        first.get_or_insert_with(|| last.clone());
        last = state;
    }
    if let Some(log) = last["log"].as_array() {
        println!("hls.js before its last stall:");
        for line in log {
            println!("  {}", line.as_str().unwrap_or_default());
        }
    }
    if let Some(journal) = last["journal"].as_array() {
        println!("what the player did before its last stall:");
        for line in journal {
            println!("  {}", line.as_str().unwrap_or_default());
        }
    }
    let stalls = last["stalls"].as_i64().unwrap_or(0)
        - first
            .as_ref()
            .and_then(|f| f["stalls"].as_i64())
            .unwrap_or(0);
    latencies.sort_by(f64::total_cmp);
    println!();
    println!(
        "{}low latency {}, keyframes every {} s: {} samples over {:.1} min; latency median {:.2} s, p95 {:.2} s, min {:.2} s, max {:.2} s; stalls (waiting events) {stalls}, seconds without progress {frozen}",
        if options.district { "district (through nginx): " } else { "" },
        if options.low_latency { "on" } else { "off" },
        options.keyframes_every,
        latencies.len(),
        options.minutes,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.first().copied().unwrap_or(f64::NAN),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    let warnings = match (&server, &district) {
        (Some(server), _) => server.log(),
        (_, Some(district)) => district.logs(),
        _ => String::new(),
    };
    if !warnings.is_empty() {
        println!("server warnings:\n{warnings}");
    }
    // Ends the session, and with it chromium (ending chromedriver does not).
    let _ = page.close().await;
}
