//! Thousands of lobby screens on one server: does an emergency still reach
//! every screen within 2 seconds, and what do idle screens cost?
//!
//!   cargo bench --bench signage_load                             # 2,000 screens
//!   cargo bench --bench signage_load -- --screens 500,2000,5000  # one run each
//!   cargo bench --bench signage_load -- --screens 500 --steady-seconds 30
//!
//! Other options: --throughput-seconds 10, --concurrency 64 (clients of the
//! throughput run), --round-gap 6, --identity-fetch.
//!
//! For each number of screens a fresh server runs in a child process (this
//! same binary, started with `--serve N`), so that its CPU and memory are its
//! own: it builds the real application (`Application::build`, port 0, a
//! temporary data directory), seeds a community of 4 estates × 5 buildings
//! with 2 screen groups and an admin, pairs N screens — the first 3 through
//! `POST /kiosk/api/pairings` and `GET /kiosk/api/pairings/{secret}`, the rest
//! through `Signage::start_pairing`/`poll_pairing` and the store's
//! `claim_pairing` (the service allows an admin 10 codes a minute) — and
//! publishes 20 notices (community, estate, building, group and screen
//! targets; day-parts; two Markdown tables). It then takes commands on stdin
//! (publish an emergency, withdraw it, time its own parts) from this process,
//! which plays the screens on a tokio runtime:
//!
//! 1. every screen fetches its playlist and holds `GET /kiosk/api/events`
//!    open with its own client, as kiosk.js does (no `Accept-Encoding`, so
//!    the events can be read here);
//! 2. fan-out: an emergency for the whole community, its withdrawal, an
//!    emergency for one estate (a quarter of the screens) and its withdrawal,
//!    `--round-gap` seconds apart (default 6: longer than the server's 5 s
//!    keep-alive, so each round starts as after a quiet spell, with every
//!    screen's idle API connection closed); per screen, the time from the
//!    publish call to the `event: playlist` line and to having fetched the
//!    new playlist (`If-None-Match` with the old version → 200, with the
//!    browsers' `Accept-Encoding`; the ETag must be the announced version;
//!    `--identity-fetch` fetches uncompressed and also checks the first item);
//! 3. idle: 15 s with only the streams open; then steady state for
//!    `--steady-seconds` (default 60): every screen also polls its playlist
//!    with `If-None-Match` (304) and sends a heartbeat, each every 30 s at a
//!    random phase, the fallback rate of a screen whose stream is down (the
//!    streams stay open: the worst case of both);
//! 4. throughput of full (200) playlist fetches with many clients, without
//!    and with the `Accept-Encoding` browsers send;
//! 5. the streams reopened with the browsers' `Accept-Encoding`, to see what
//!    a compressed event stream costs in memory;
//! 6. the server times its own parts (store queries, playlist rendering).
//!
//! Every connection is a file descriptor in both processes: N screens need
//! about 2N + 200 of them per process, so raise the limit first for 5,000
//! screens (`ulimit -n 20000`). The load generator shares the machine's cores
//! with the server; the machine's load average is printed with each figure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch, Semaphore};

/// How often a screen polls (stream down) and sends a heartbeat.
const SCREEN_PERIOD: Duration = Duration::from_secs(30);
/// The product's promise for an emergency.
const PROMISE: Duration = Duration::from_secs(2);
/// What Chromium sends over HTTPS (and to localhost).
const BROWSER_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";
#[path = "support/signage_place.rs"]
mod place;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--serve") {
        let screens = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .expect("--serve takes a number of screens");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(server::serve(screens));
        return;
    }
    let options = options(&args);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(screens::run(options));
}

struct Options {
    screens: Vec<usize>,
    steady_seconds: u64,
    throughput_seconds: u64,
    concurrency: usize,
    /// Seconds between fan-out rounds.
    round_gap: u64,
    /// Fetch the new playlist without `Accept-Encoding` (and check its first
    /// item), instead of as a browser does.
    identity_fetch: bool,
}

fn options(args: &[String]) -> Options {
    let mut options = Options {
        screens: vec![2000],
        steady_seconds: 60,
        throughput_seconds: 10,
        concurrency: 64,
        round_gap: 6,
        identity_fetch: false,
    };
    let mut args = args.iter().skip(1);
    let number = |name: &str, value: Option<&String>| -> u64 {
        value
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} takes a number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--screens" => {
                options.screens = args
                    .next()
                    .map(|list| list.split(',').filter_map(|n| n.parse().ok()).collect())
                    .filter(|list: &Vec<usize>| !list.is_empty())
                    .expect("--screens takes numbers, e.g. 500,2000")
            }
            "--steady-seconds" => options.steady_seconds = number(arg, args.next()),
            "--throughput-seconds" => options.throughput_seconds = number(arg, args.next()),
            "--concurrency" => options.concurrency = number(arg, args.next()) as usize,
            "--round-gap" => options.round_gap = number(arg, args.next()),
            "--identity-fetch" => options.identity_fetch = true,
            _ => {} // `cargo bench` adds --bench
        }
    }
    options
}

/// The server: the real application in this (child) process, driven over
/// stdin/stdout by the load generator.
mod server {
    use std::time::{Duration, Instant};

    use chrono::{Utc, Weekday};
    use pavilion::domain::notice::{
        DayPart, NoticeCategory, NoticeDraft, Target, Validity, Weekdays,
    };
    use pavilion::domain::screen::Screen;
    use pavilion::domain::*;
    use pavilion::signage::Intent;
    use pavilion::web::AppState;
    use tokio::io::{AsyncBufReadExt, BufReader};

    use super::percentile;
    use super::place::{
        self, create_admin, estate_of, hm, pair, seed_place, Place, BUILDINGS_PER_ESTATE,
        FEE_TABLE, PRICE_TABLE, PROSE,
    };

    pub async fn serve(screens: usize) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_writer(std::io::stderr)
            .init();
        let server = place::start().await;
        let (port, state) = (server.port, &server.state);

        let started = Instant::now();
        let place = seed_place(state).await;
        let admin = create_admin(state).await;
        let paired = pair(state, &place, &admin, port, screens).await;
        let pairing_time = started.elapsed();
        let published = Instant::now();
        publish_notices(state, &place, &admin, &paired).await;
        println!(
            "ready {port} {:.1} {:.2}",
            pairing_time.as_secs_f64(),
            published.elapsed().as_secs_f64()
        );
        for (index, (_, token)) in paired.iter().enumerate() {
            println!("token {} {token}", estate_of(index));
        }
        println!("end");

        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["emergency", scope] => {
                    let targets = match *scope {
                        "estate" => vec![Target::Estate(place.estates[0])],
                        _ => vec![],
                    };
                    let draft = emergency(place.community, targets);
                    let started = Instant::now();
                    let notice = state
                        .signage
                        .create_notice(&admin, &draft, Intent::Publish)
                        .await
                        .expect("emergency published");
                    println!("published {} {:.2}", notice.id, ms(started.elapsed()));
                }
                ["withdraw", id] => {
                    let id = NoticeId(id.parse().expect("a notice id"));
                    let started = Instant::now();
                    state
                        .signage
                        .withdraw_notice(&admin, id)
                        .await
                        .expect("withdrawn");
                    println!("withdrawn {:.2}", ms(started.elapsed()));
                }
                ["probe"] => {
                    probe(state, place.community, &admin, &paired).await;
                    println!("end");
                }
                _ => break,
            }
        }
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    /// Twenty notices aimed at every kind of target, a few with day-parts.
    async fn publish_notices(
        state: &AppState,
        place: &Place,
        admin: &Account,
        paired: &[(Screen, String)],
    ) {
        let now = Utc::now();
        let always = Validity::new(now - chrono::Duration::hours(1), None).unwrap();
        let week = Validity::new(
            now - chrono::Duration::hours(1),
            Some(now + chrono::Duration::days(7)),
        )
        .unwrap();
        let tomorrow = Validity::new(
            now + chrono::Duration::days(1),
            Some(now + chrono::Duration::days(3)),
        )
        .unwrap();
        let weekday_mornings = DayPart::new(
            Weekdays::from_days([
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]),
            hm(7, 0),
            hm(9, 30),
        )
        .unwrap();
        let nights = DayPart::new(Weekdays::EVERY_DAY, hm(22, 0), hm(6, 0)).unwrap();
        let evenings = DayPart::new(Weekdays::EVERY_DAY, hm(18, 0), hm(21, 0)).unwrap();
        use NoticeCategory::*;
        let draft = |title: &str,
                     body: &str,
                     category: NoticeCategory,
                     validity: Validity,
                     day_parts: Vec<DayPart>,
                     targets: Vec<Target>| {
            NoticeDraft::new(
                place.community,
                title,
                body,
                category,
                false,
                validity,
                day_parts,
                targets,
                15,
                5,
                vec![],
                None,
            )
            .unwrap()
        };
        let mut notices = vec![
            draft(
                "十月物业费收支公示",
                FEE_TABLE,
                Disclosure,
                always,
                vec![],
                vec![],
            ),
            draft(
                "物业收费标准",
                PRICE_TABLE,
                PriceList,
                always,
                vec![],
                vec![],
            ),
            draft("周六二次供水检修", PROSE, Outage, week, vec![], vec![]),
            draft(
                "晨练请勿喧哗",
                PROSE,
                Announcement,
                always,
                vec![weekday_mornings],
                vec![],
            ),
            draft(
                "夜间请关好单元门",
                PROSE,
                Announcement,
                always,
                vec![nights],
                vec![],
            ),
            draft(
                "社区议事会直播预告",
                PROSE,
                BroadcastSchedule,
                tomorrow,
                vec![],
                vec![Target::Community(place.community)],
            ),
        ];
        for (i, estate) in place.estates.iter().enumerate() {
            notices.push(draft(
                &format!("小区{}垃圾分类宣传周", i + 1),
                PROSE,
                Event,
                week,
                vec![evenings],
                vec![Target::Estate(*estate)],
            ));
        }
        for b in [0, 3, 6, 9, 12, 17] {
            notices.push(draft(
                &format!("{}号楼电梯维保", b % BUILDINGS_PER_ESTATE + 1),
                PROSE,
                Outage,
                week,
                vec![],
                vec![Target::Building(place.buildings[b])],
            ));
        }
        notices.push(draft(
            "电梯厅禁止停放电动车",
            PROSE,
            Announcement,
            always,
            vec![],
            vec![Target::Group(place.groups[0])],
        ));
        notices.push(draft(
            "物业中心办公时间调整",
            PRICE_TABLE,
            Announcement,
            always,
            vec![],
            vec![Target::Group(place.groups[1])],
        ));
        for (screen, _) in paired.iter().take(2) {
            notices.push(draft(
                &format!("{} 测试画面", screen.id),
                PROSE,
                Announcement,
                always,
                vec![],
                vec![Target::Screen(screen.id)],
            ));
        }
        assert_eq!(notices.len(), 20);
        for (i, mut notice) in notices.into_iter().enumerate() {
            notice.priority = (i % 9 + 1) as u8;
            state
                .signage
                .create_notice(admin, &notice, Intent::Publish)
                .await
                .unwrap();
        }
    }

    fn emergency(community: CommunityId, targets: Vec<Target>) -> NoticeDraft {
        NoticeDraft::new(
            community,
            "紧急通知：燃气泄漏，请勿使用明火",
            "**请立即关闭燃气阀门**，打开门窗通风，不要开关电器。\n\n抢修电话：0571-88886666",
            NoticeCategory::Outage,
            true,
            Validity::new(Utc::now() - chrono::Duration::minutes(1), None).unwrap(),
            vec![],
            targets,
            30,
            9,
            vec![],
            None,
        )
        .unwrap()
    }

    /// Times the server's parts one by one on a quiet server, and then all
    /// screens' wake-up work at once as an emergency triggers it.
    async fn probe(
        state: &AppState,
        community: CommunityId,
        admin: &Account,
        paired: &[(Screen, String)],
    ) {
        let signage = &state.signage;
        let sample = &paired[..paired.len().min(300)];
        let now = Utc::now();
        let report = |name: &str, mut times: Vec<f64>, note: String| {
            times.sort_by(f64::total_cmp);
            println!(
                "probe\t{name}\t{}\t{:.1}\t{:.1}\t{:.1}\t{note}",
                times.len(),
                percentile(&times, 0.5),
                percentile(&times, 0.95),
                times.last().copied().unwrap_or(f64::NAN),
            );
        };
        let micros = |started: Instant| started.elapsed().as_secs_f64() * 1e6;

        let mut times = Vec::new();
        for (screen, _) in sample {
            let started = Instant::now();
            std::hint::black_box(signage.screen_is_active(screen.id));
            times.push(micros(started));
        }
        report(
            "screen_is_active (in memory, per stream per change)",
            times,
            String::new(),
        );

        let mut times = Vec::new();
        for (_, token) in sample {
            let started = Instant::now();
            signage.authenticate(token).await.unwrap();
            times.push(micros(started));
        }
        report(
            "authenticate (1 SQLite query, per API request)",
            times,
            String::new(),
        );

        let mut times = Vec::new();
        let mut size = 0;
        let mut items = 0;
        for (screen, _) in sample {
            let started = Instant::now();
            let playlist = signage.playlist(screen, now).await.unwrap();
            times.push(micros(started));
            items = playlist.items.len();
            size = serde_json::to_vec(&playlist).unwrap().len();
        }
        report(
            "playlist (resolve, render, version hash; cached notices)",
            times,
            format!("{items} items, {size} bytes JSON"),
        );

        let playlists: Vec<_> = {
            let mut list = Vec::new();
            for (screen, _) in sample {
                list.push(signage.playlist(screen, now).await.unwrap());
            }
            list
        };
        let mut times = Vec::new();
        for playlist in &playlists {
            let started = Instant::now();
            std::hint::black_box(serde_json::to_vec(playlist).unwrap());
            times.push(micros(started));
        }
        report(
            "serialise a playlist to JSON (the 200 body)",
            times,
            String::new(),
        );

        let mut times = Vec::new();
        let beat = pavilion::domain::screen::Heartbeat {
            current_notice: None,
            client_version: "bench".into(),
            uptime_seconds: 60,
            last_error: None,
        };
        for (screen, _) in sample {
            let started = Instant::now();
            signage.heartbeat(screen, beat.clone()).await.unwrap();
            times.push(micros(started));
        }
        report("heartbeat (1 SQLite UPDATE)", times, String::new());

        let mut times = Vec::new();
        for _ in 0..100 {
            let started = Instant::now();
            state
                .store
                .current_notices(community, Utc::now())
                .await
                .unwrap();
            times.push(micros(started));
        }
        report(
            "store.current_notices (what a change makes playlist() reload)",
            times,
            String::new(),
        );

        // Every stream's wake-up after a change, all at once, here on one
        // thread (the server spreads them over its workers): with the
        // community's notices cached, without the query, and right after a
        // change has dropped the cache (as after a publish).
        for (name, with_query, after_change) in [
            (
                "all screens' wake-ups at once (active check + playlist)",
                true,
                false,
            ),
            ("all screens' playlists at once (no query)", false, false),
            (
                "all screens' wake-ups at once, right after a change",
                true,
                true,
            ),
        ] {
            let change = if after_change {
                let draft = NoticeDraft::new(
                    community,
                    "探针通知",
                    "",
                    NoticeCategory::Announcement,
                    false,
                    Validity::new(Utc::now() - chrono::Duration::hours(1), None).unwrap(),
                    vec![],
                    vec![Target::Screen(paired[0].0.id)],
                    15,
                    5,
                    vec![],
                    None,
                )
                .unwrap();
                let notice = signage.create_notice(admin, &draft, Intent::Publish);
                Some(notice.await.unwrap())
            } else {
                None
            };
            let started = Instant::now();
            let work = paired.iter().map(|(screen, _)| async move {
                if with_query {
                    std::hint::black_box(signage.screen_is_active(screen.id));
                }
                signage.playlist(screen, Utc::now()).await.unwrap();
            });
            futures_util::future::join_all(work).await;
            let wall = started.elapsed().as_secs_f64() * 1e6;
            report(
                name,
                vec![wall],
                format!("{} screens, one thread", paired.len()),
            );
            if let Some(notice) = change {
                signage.withdraw_notice(admin, notice.id).await.unwrap();
            }
        }
    }
}

/// The value at fraction `p` of sorted `values`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// What the machine and the server process look like right now.
mod machine {
    use std::process::Command;

    /// CPU time a process has used so far (utime + stime), in seconds.
    pub fn cpu_seconds(pid: u32) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map_or("", |(_, rest)| rest)
            .split(' ')
            .collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
            .sum();
        ticks / 100.0 // USER_HZ is 100 on Linux
    }

    /// VmRSS and VmHWM (peak) of a process, MiB.
    pub fn memory_mib(pid: u32) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Open file descriptors of a process.
    pub fn open_files(pid: u32) -> usize {
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
    }

    /// Whole-machine CPU: (busy, total) ticks over all cores.
    pub fn ticks() -> (u64, u64) {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let values: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: u64 = values.iter().take(8).sum();
        let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
        (total - idle, total)
    }

    pub fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// The 1-minute load average.
    pub fn load() -> f64 {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// TcpExt ListenOverflows + ListenDrops so far (whole machine): SYNs the
    /// kernel dropped because a listen queue was full.
    pub fn listen_drops() -> u64 {
        let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
        let [names, values] = lines[..] else {
            return 0;
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .filter(|(name, _)| *name == "ListenOverflows" || *name == "ListenDrops")
            .filter_map(|(_, value)| value.parse::<u64>().ok())
            .sum()
    }

    /// TCP connections accepted so far (Tcp PassiveOpens, whole machine).
    pub fn passive_opens() -> u64 {
        let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("Tcp:")).collect();
        let [names, values] = lines[..] else {
            return 0;
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(name, _)| *name == "PassiveOpens")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0)
    }

    /// The accept queue length of the socket listening on `port` (ss's Send-Q).
    pub fn listen_backlog(port: u16) -> Option<u64> {
        let output = Command::new("ss")
            .args(["-ltnH", &format!("sport = :{port}")])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.split_whitespace().nth(2)?.parse().ok()
    }

    /// CPU use between two points: (server % of one core, load generator %
    /// of one core, machine % of all cores).
    pub struct Usage {
        server: (f64, u32),
        generator: f64,
        machine: (u64, u64),
        started: std::time::Instant,
        load: f64,
    }

    impl Usage {
        pub fn start(server: u32) -> Self {
            Self {
                server: (cpu_seconds(server), server),
                generator: cpu_seconds(std::process::id()),
                machine: ticks(),
                started: std::time::Instant::now(),
                load: load(),
            }
        }

        pub fn finish(&self) -> Cpu {
            let seconds = self.started.elapsed().as_secs_f64();
            let (busy, total) = ticks();
            Cpu {
                server: (cpu_seconds(self.server.1) - self.server.0) / seconds * 100.0,
                generator: (cpu_seconds(std::process::id()) - self.generator) / seconds * 100.0,
                machine: (busy - self.machine.0) as f64 / (total - self.machine.1).max(1) as f64
                    * 100.0
                    * cores() as f64,
                load: (self.load, load()),
            }
        }
    }

    #[derive(Clone, Copy, Debug)]
    pub struct Cpu {
        /// % of one core.
        pub server: f64,
        pub generator: f64,
        /// % of one core, all cores together (200 % = both busy).
        pub machine: f64,
        /// Load average at the start and the end.
        pub load: (f64, f64),
    }

    impl std::fmt::Display for Cpu {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(
                f,
                "server {:.0} %, load generator {:.0} %, machine {:.0} % of {} %; load average {:.1} → {:.1}",
                self.server,
                self.generator,
                self.machine,
                cores() * 100,
                self.load.0,
                self.load.1
            )
        }
    }
}

/// The load generator: N screens, each with its own HTTP client.
mod screens {
    use super::*;
    use machine::{Cpu, Usage};

    /// A screen as the load generator plays it.
    pub struct Screen {
        index: usize,
        estate: usize,
        token: String,
        http: reqwest::Client,
        /// The playlist version it has (its ETag without quotes).
        version: Mutex<String>,
    }

    /// The server process, driven over its stdin and stdout.
    struct Server {
        child: tokio::process::Child,
        stdin: tokio::process::ChildStdin,
        lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
        pid: u32,
        port: u16,
        log: std::path::PathBuf,
        _dir: tempfile::TempDir,
    }

    impl Server {
        async fn start(screens: usize) -> (Self, Vec<(usize, String)>, f64, f64) {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("server.log");
            let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
                .args(["--serve", &screens.to_string()])
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::fs::File::create(&log).unwrap())
                .kill_on_drop(true)
                .spawn()
                .expect("the server process starts");
            let pid = child.id().unwrap();
            let stdin = child.stdin.take().unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let ready = lines.next_line().await.unwrap().unwrap_or_else(|| {
                panic!(
                    "the server did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
            let fields: Vec<&str> = ready.split_whitespace().collect();
            let port = fields[1].parse().unwrap();
            let pairing_seconds = fields[2].parse().unwrap();
            let publish_seconds = fields[3].parse().unwrap();
            let mut tokens = Vec::with_capacity(screens);
            while let Some(line) = lines.next_line().await.unwrap() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                match fields[..] {
                    ["token", estate, token] => {
                        tokens.push((estate.parse().unwrap(), token.into()))
                    }
                    _ => break,
                }
            }
            let server = Self {
                child,
                stdin,
                lines,
                pid,
                port,
                log,
                _dir: dir,
            };
            (server, tokens, pairing_seconds, publish_seconds)
        }

        async fn send(&mut self, command: &str) {
            self.stdin
                .write_all(format!("{command}\n").as_bytes())
                .await
                .unwrap();
            self.stdin.flush().await.unwrap();
        }

        async fn reply(&mut self) -> String {
            self.lines
                .next_line()
                .await
                .unwrap()
                .expect("the server answers")
        }

        fn base(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }

        fn memory(&self) -> (f64, f64) {
            machine::memory_mib(self.pid)
        }

        /// WARN and ERROR lines of the server's log, counted by message.
        fn warnings(&self) -> Vec<(usize, String)> {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let mut counts: HashMap<String, usize> = HashMap::new();
            for line in text
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            {
                // Drop the timestamp; keep the level, target and message.
                let key: String = line
                    .split_whitespace()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(160)
                    .collect();
                *counts.entry(key).or_default() += 1;
            }
            let mut list: Vec<(usize, String)> = counts.into_iter().map(|(k, n)| (n, k)).collect();
            list.sort_by(|a, b| b.cmp(a));
            list
        }

        async fn stop(mut self) {
            self.send("quit").await;
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
            let _ = self.child.kill().await;
        }
    }

    #[derive(Clone, Copy)]
    struct Round {
        id: u32,
        t0: Instant,
    }

    /// One screen's view of a change: when the event came, when it had the new playlist.
    struct Arrival {
        round: u32,
        screen: usize,
        event: Duration,
        fetched: Option<Duration>,
        status: u16,
        /// The fetched playlist's ETag is the version the event announced.
        announced_version: bool,
        /// Whether the first item is an emergency (when the body could be read).
        emergency_first: Option<bool>,
    }

    /// What a playlist request brought.
    #[derive(Default)]
    struct Fetched {
        status: u16,
        version: Option<String>,
        emergency_first: Option<bool>,
    }

    #[derive(Default)]
    struct Counters {
        ready: AtomicUsize,
        stream_failures: AtomicUsize,
        fetch_failures: AtomicUsize,
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tls_built_in_root_certs(false)
            .connect_timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    fn etag_version(response: &reqwest::Response) -> Option<String> {
        response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_owned())
    }

    impl Screen {
        /// Fetches the playlist as kiosk.js does, with `If-None-Match` once
        /// it has one and the given `Accept-Encoding`. A compressed body is
        /// read but not decoded (the ETag says which version it is).
        async fn fetch_playlist(
            &self,
            base: &str,
            accept_encoding: Option<&str>,
        ) -> Result<Fetched, reqwest::Error> {
            let known = self.version.lock().unwrap().clone();
            let mut request = self
                .http
                .get(format!("{base}/kiosk/api/playlist"))
                .bearer_auth(&self.token)
                .timeout(Duration::from_secs(60));
            if !known.is_empty() {
                request = request.header(reqwest::header::IF_NONE_MATCH, format!("\"{known}\""));
            }
            if let Some(encoding) = accept_encoding {
                request = request.header(reqwest::header::ACCEPT_ENCODING, encoding);
            }
            let response = request.send().await?;
            let status = response.status().as_u16();
            let version = etag_version(&response);
            let compressed = response.headers().contains_key("content-encoding");
            let body = response.bytes().await?;
            if status != 200 {
                return Ok(Fetched {
                    status,
                    ..Default::default()
                });
            }
            let emergency_first = (!compressed).then(|| {
                let playlist: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                playlist["items"][0]["emergency"].as_bool() == Some(true)
            });
            if let Some(version) = &version {
                *self.version.lock().unwrap() = version.clone();
            }
            Ok(Fetched {
                status,
                version,
                emergency_first,
            })
        }

        /// Holds the event stream open for good, reconnecting after a second
        /// when it fails, and fetches the playlist on every new version.
        async fn hold_stream(
            self: Arc<Self>,
            base: String,
            rounds: watch::Receiver<Round>,
            arrivals: mpsc::UnboundedSender<Arrival>,
            counters: Arc<Counters>,
            opening: Arc<Semaphore>,
            fetch_encoding: Option<&'static str>,
        ) {
            let mut permit = Some(opening.acquire_owned().await.unwrap());
            let mut ready = false;
            loop {
                let fresh = self.version.lock().unwrap().is_empty();
                if fresh && self.fetch_playlist(&base, None).await.is_err() {
                    counters.fetch_failures.fetch_add(1, Ordering::Relaxed);
                }
                let response = self
                    .http
                    .get(format!("{base}/kiosk/api/events"))
                    .bearer_auth(&self.token)
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .send()
                    .await;
                let mut body = match response {
                    Ok(r) if r.status() == 200 => r.bytes_stream(),
                    _ => {
                        counters.stream_failures.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let mut buffer: Vec<u8> = Vec::new();
                while let Some(Ok(chunk)) = body.next().await {
                    buffer.extend_from_slice(&chunk);
                    while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                        let block: Vec<u8> = buffer.drain(..end + 2).collect();
                        let Some(version) = playlist_event(&block) else {
                            continue;
                        };
                        if !ready {
                            ready = true;
                            permit.take();
                            counters.ready.fetch_add(1, Ordering::Relaxed);
                        }
                        if *self.version.lock().unwrap() == version {
                            continue;
                        }
                        let event_at = Instant::now();
                        let round = *rounds.borrow();
                        let fetched = self.fetch_playlist(&base, fetch_encoding).await;
                        let done_at = Instant::now();
                        if fetched.is_err() {
                            counters.fetch_failures.fetch_add(1, Ordering::Relaxed);
                        }
                        let fetched = fetched.unwrap_or_default();
                        let _ = arrivals.send(Arrival {
                            round: round.id,
                            screen: self.index,
                            event: event_at.saturating_duration_since(round.t0),
                            fetched: (fetched.status == 200)
                                .then(|| done_at.saturating_duration_since(round.t0)),
                            status: fetched.status,
                            announced_version: fetched.version.as_deref() == Some(&version),
                            emergency_first: fetched.emergency_first,
                        });
                    }
                }
                counters.stream_failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }

        /// Polls and heartbeats every 30 s at random phases from `start` to
        /// `end`; returns (kind, milliseconds, status or 0 on error).
        async fn steady(
            self: Arc<Self>,
            base: String,
            start: tokio::time::Instant,
            end: tokio::time::Instant,
        ) -> Vec<(&'static str, f64, u16)> {
            let phase = |seed: u64| {
                Duration::from_millis(rand::Rng::gen_range(&mut rand::thread_rng(), 0..seed))
            };
            let period = SCREEN_PERIOD.as_millis() as u64;
            let mut schedule = Vec::new();
            for (kind, first) in [("poll", phase(period)), ("heartbeat", phase(period))] {
                let mut at = start + first;
                while at < end {
                    schedule.push((at, kind));
                    at += SCREEN_PERIOD;
                }
            }
            schedule.sort();
            let mut samples = Vec::with_capacity(schedule.len());
            for (uptime, (at, kind)) in schedule.into_iter().enumerate() {
                tokio::time::sleep_until(at).await;
                let started = Instant::now();
                let status = if kind == "poll" {
                    self.fetch_playlist(&base, None)
                        .await
                        .map_or(0, |f| f.status)
                } else {
                    let beat = json!({
                        "current_notice": null,
                        "client_version": "bench",
                        "uptime_seconds": uptime * 30,
                        "last_error": null,
                    });
                    self.http
                        .post(format!("{base}/kiosk/api/heartbeat"))
                        .bearer_auth(&self.token)
                        .json(&beat)
                        .timeout(Duration::from_secs(60))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                };
                samples.push((kind, started.elapsed().as_secs_f64() * 1000.0, status));
            }
            samples
        }
    }

    /// The version of a `playlist` event block, if it is one.
    fn playlist_event(block: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(block).ok()?;
        let mut event = "";
        let mut data = "";
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("event: ") {
                event = value;
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = value;
            }
        }
        if event != "playlist" {
            return None;
        }
        let data: Value = serde_json::from_str(data).ok()?;
        Some(data["version"].as_str()?.to_owned())
    }

    /// Figures of one fan-out round.
    struct FanOut {
        name: &'static str,
        targeted: usize,
        publish_ms: f64,
        event: Vec<f64>,
        fetched: Vec<f64>,
        /// Targeted screens that had the playlist within 2 s.
        within_promise: usize,
        missing: usize,
        /// Screens that were told of a change not meant for them.
        untargeted_events: usize,
        wrong_first_item: usize,
        bad_status: usize,
        cpu: Cpu,
        listen_drops: u64,
    }

    fn stats(values: &[f64]) -> String {
        if values.is_empty() {
            return "—".into();
        }
        format!(
            "{:.0} / {:.0} / {:.0} / {:.0}",
            percentile(values, 0.5),
            percentile(values, 0.95),
            percentile(values, 0.99),
            values.last().unwrap()
        )
    }

    /// Figures of one number of screens.
    struct Run {
        screens: usize,
        pairing_seconds: f64,
        rss_idle: f64,
        rss_streams: f64,
        streams_seconds: f64,
        fan_outs: Vec<FanOut>,
        idle: Option<Idle>,
        steady: Option<Steady>,
        throughput: Vec<Throughput>,
        compressed: Option<Compressed>,
    }

    struct Steady {
        seconds: u64,
        poll: Vec<f64>,
        heartbeat: Vec<f64>,
        statuses: HashMap<(&'static str, u16), usize>,
        cpu: Cpu,
        rss: (f64, f64),
        listen_drops: u64,
        /// TCP connections accepted on the machine during the window.
        new_connections: u64,
    }

    /// Streams open, nothing else: one keep-alive comment per stream.
    struct Idle {
        cpu: Cpu,
        rss: f64,
    }

    struct Throughput {
        encoding: String,
        requests: usize,
        seconds: f64,
        latency: Vec<f64>,
        bytes: u64,
        errors: usize,
        cpu: Cpu,
    }

    struct Compressed {
        encoding: String,
        opened: usize,
        rss_before: f64,
        rss_after: f64,
    }

    pub async fn run(options: Options) {
        println!(
            "signage_load: screens {:?}, steady {} s, throughput {} s × {} clients; {} cores, load average {:.1}",
            options.screens,
            options.steady_seconds,
            options.throughput_seconds,
            options.concurrency,
            machine::cores(),
            machine::load()
        );
        let mut runs = Vec::new();
        for &n in &options.screens {
            runs.push(run_one(n, &options).await);
        }
        print_summary(&runs, &options);
    }

    fn note(started: Instant, what: &str) {
        println!(
            "[{:>6.1} s, load {:.1}] {what}",
            started.elapsed().as_secs_f64(),
            machine::load()
        );
    }

    async fn run_one(n: usize, options: &Options) -> Run {
        let started = Instant::now();
        println!("\n=== {n} screens ===");
        let (mut server, tokens, pairing_seconds, publish_seconds) = Server::start(n).await;
        let base = server.base();
        note(
            started,
            &format!(
                "server pid {} on port {}: {n} screens paired in {pairing_seconds:.1} s, 20 notices published in {publish_seconds:.2} s; listen backlog {}",
                server.pid,
                server.port,
                machine::listen_backlog(server.port).map_or("?".into(), |b| b.to_string())
            ),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss_idle, _) = server.memory();

        let screens: Vec<Arc<Screen>> = tokens
            .into_iter()
            .enumerate()
            .map(|(index, (estate, token))| {
                Arc::new(Screen {
                    index,
                    estate,
                    token,
                    http: client(),
                    version: Mutex::new(String::new()),
                })
            })
            .collect();

        // 1. Every screen fetches its playlist and opens its stream.
        let (round_tx, round_rx) = watch::channel(Round {
            id: 0,
            t0: Instant::now(),
        });
        let (arrival_tx, mut arrival_rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let opening = Arc::new(Semaphore::new(100));
        let fetch_encoding = (!options.identity_fetch).then_some(BROWSER_ACCEPT_ENCODING);
        let opened_at = Instant::now();
        let streams: Vec<_> = screens
            .iter()
            .map(|screen| {
                tokio::spawn(screen.clone().hold_stream(
                    base.clone(),
                    round_rx.clone(),
                    arrival_tx.clone(),
                    counters.clone(),
                    opening.clone(),
                    fetch_encoding,
                ))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while counters.ready.load(Ordering::Relaxed) < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let streams_seconds = opened_at.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss_streams, _) = server.memory();
        note(
            started,
            &format!(
                "{} of {n} streams open in {streams_seconds:.1} s ({} stream and {} fetch failures); server RSS {rss_idle:.1} → {rss_streams:.1} MiB ({:.1} KiB per stream), {} fds",
                counters.ready.load(Ordering::Relaxed),
                counters.stream_failures.load(Ordering::Relaxed),
                counters.fetch_failures.load(Ordering::Relaxed),
                (rss_streams - rss_idle) * 1024.0 / n as f64,
                machine::open_files(server.pid),
            ),
        );
        // Events from before the first round (none expected) are dropped.
        while arrival_rx.try_recv().is_ok() {}

        // 2. Fan-out rounds.
        let estate_screens = screens.iter().filter(|s| s.estate == 0).count();
        let mut fan_outs = Vec::new();
        let mut round_id = 0;
        let mut last_notice = String::new();
        for (name, command, targeted) in [
            ("emergency, whole community", "emergency all", n),
            ("all clear (withdrawn)", "withdraw", n),
            ("emergency, one estate", "emergency estate", estate_screens),
            ("all clear, one estate", "withdraw", estate_screens),
        ] {
            round_id += 1;
            tokio::time::sleep(Duration::from_secs(options.round_gap)).await;
            let command = if command == "withdraw" {
                format!("withdraw {last_notice}")
            } else {
                command.to_owned()
            };
            let usage = Usage::start(server.pid);
            let drops = machine::listen_drops();
            let t0 = Instant::now();
            round_tx.send_replace(Round { id: round_id, t0 });
            server.send(&command).await;
            let reply = server.reply().await;
            let fields: Vec<&str> = reply.split_whitespace().collect();
            let publish_ms: f64 = match fields[..] {
                ["published", id, ms] => {
                    last_notice = id.to_owned();
                    ms.parse().unwrap()
                }
                ["withdrawn", ms] => ms.parse().unwrap(),
                _ => panic!("unexpected answer {reply}"),
            };
            let mut arrivals = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while arrivals.len() < targeted {
                match tokio::time::timeout_at(deadline, arrival_rx.recv()).await {
                    Ok(Some(a)) if a.round == round_id => arrivals.push(a),
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            // Give untargeted screens a moment to show up wrongly.
            let settle = tokio::time::Instant::now() + Duration::from_secs(1);
            while let Ok(Some(a)) = tokio::time::timeout_at(settle, arrival_rx.recv()).await {
                if a.round == round_id {
                    arrivals.push(a);
                }
            }
            let cpu = usage.finish();
            let estate_only = targeted < n;
            let (mine, others): (Vec<&Arrival>, Vec<&Arrival>) = arrivals
                .iter()
                .partition(|a| !estate_only || screens[a.screen].estate == 0);
            let expect_emergency = command.starts_with("emergency");
            let fan_out = FanOut {
                name,
                targeted,
                publish_ms,
                event: sorted(
                    mine.iter()
                        .map(|a| a.event.as_secs_f64() * 1000.0)
                        .collect(),
                ),
                fetched: sorted(
                    mine.iter()
                        .filter_map(|a| a.fetched)
                        .map(|d| d.as_secs_f64() * 1000.0)
                        .collect(),
                ),
                within_promise: mine
                    .iter()
                    .filter(|a| a.fetched.is_some_and(|d| d <= PROMISE))
                    .count(),
                missing: targeted.saturating_sub(mine.len()),
                untargeted_events: others.len(),
                wrong_first_item: mine
                    .iter()
                    .filter(|a| {
                        a.status == 200
                            && (!a.announced_version
                                || a.emergency_first.is_some_and(|e| e != expect_emergency))
                    })
                    .count(),
                bad_status: mine.iter().filter(|a| a.status != 200).count(),
                cpu,
                listen_drops: machine::listen_drops() - drops,
            };
            note(
                started,
                &format!(
                    "{name}: publish call {publish_ms:.1} ms; event p50/p95/p99/max {} ms; playlist fetched {} ms; {}/{} within 2 s; {} missing, {} not 200, {} wrong first item, {} untargeted events; {}; listen drops +{}",
                    stats(&fan_out.event),
                    stats(&fan_out.fetched),
                    fan_out.within_promise,
                    targeted,
                    fan_out.missing,
                    fan_out.bad_status,
                    fan_out.wrong_first_item,
                    fan_out.untargeted_events,
                    cpu,
                    fan_out.listen_drops,
                ),
            );
            fan_outs.push(fan_out);
        }

        // 3. Idle (streams open, nothing else), then steady state: polls
        // and heartbeats every 30 s per screen.
        let idle = if options.steady_seconds > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let usage = Usage::start(server.pid);
            tokio::time::sleep(Duration::from_secs(15)).await;
            let idle = Idle {
                cpu: usage.finish(),
                rss: server.memory().0,
            };
            note(
                started,
                &format!(
                    "idle 15 s (streams open, a keep-alive comment each): {}; RSS {:.1} MiB",
                    idle.cpu, idle.rss
                ),
            );
            Some(idle)
        } else {
            None
        };
        let steady = if options.steady_seconds > 0 {
            let usage = Usage::start(server.pid);
            let drops = machine::listen_drops();
            let opens = machine::passive_opens();
            let start = tokio::time::Instant::now();
            let end = start + Duration::from_secs(options.steady_seconds);
            let tasks: Vec<_> = screens
                .iter()
                .map(|s| tokio::spawn(s.clone().steady(base.clone(), start, end)))
                .collect();
            let mut peak = 0f64;
            while tokio::time::Instant::now() < end {
                tokio::time::sleep(Duration::from_secs(1)).await;
                peak = peak.max(server.memory().0);
            }
            let mut poll = Vec::new();
            let mut heartbeat = Vec::new();
            let mut statuses: HashMap<(&'static str, u16), usize> = HashMap::new();
            for task in tasks {
                for (kind, millis, status) in task.await.unwrap() {
                    *statuses.entry((kind, status)).or_default() += 1;
                    if kind == "poll" {
                        poll.push(millis);
                    } else {
                        heartbeat.push(millis);
                    }
                }
            }
            let cpu = usage.finish();
            let steady = Steady {
                seconds: options.steady_seconds,
                poll: sorted(poll),
                heartbeat: sorted(heartbeat),
                statuses,
                cpu,
                rss: (server.memory().0, peak),
                listen_drops: machine::listen_drops() - drops,
                new_connections: machine::passive_opens() - opens,
            };
            let mut statuses: Vec<_> = steady.statuses.iter().collect();
            statuses.sort();
            note(
                started,
                &format!(
                    "steady {} s: {:.1} req/s; poll (304) p50/p95/p99/max {} ms; heartbeat {} ms; statuses {:?}; {}; RSS {:.1} MiB (peak {:.1}); listen drops +{}; {} TCP connections accepted on the machine",
                    steady.seconds,
                    (steady.poll.len() + steady.heartbeat.len()) as f64 / steady.seconds as f64,
                    stats(&steady.poll),
                    stats(&steady.heartbeat),
                    statuses,
                    cpu,
                    steady.rss.0,
                    steady.rss.1,
                    steady.listen_drops,
                    steady.new_connections,
                ),
            );
            Some(steady)
        } else {
            None
        };

        // 4. Throughput of full playlist fetches.
        let mut throughput = Vec::new();
        let tokens: Vec<String> = screens.iter().map(|s| s.token.clone()).collect();
        for encoding in [None, Some(BROWSER_ACCEPT_ENCODING)] {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let result = full_fetches(
                &base,
                &tokens,
                options.concurrency,
                options.throughput_seconds,
                encoding,
                server.pid,
            )
            .await;
            note(
                started,
                &format!(
                    "full playlists, {} clients, Accept-Encoding {:?} → {}: {:.0} req/s, p50/p95/p99/max {} ms, {:.0} bytes each, {} errors; {}",
                    options.concurrency,
                    encoding.unwrap_or("(none)"),
                    result.encoding,
                    result.requests as f64 / result.seconds,
                    stats(&result.latency),
                    result.bytes as f64 / result.requests.max(1) as f64,
                    result.errors,
                    result.cpu
                ),
            );
            throughput.push(result);
        }

        // 5. The streams again, compressed as browsers get them.
        for task in &streams {
            task.abort();
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let compressed = compressed_streams(&screens, &base, server.pid).await;
        note(
            started,
            &format!(
                "{} streams reopened with Accept-Encoding {BROWSER_ACCEPT_ENCODING:?} → {}: server RSS {:.1} → {:.1} MiB ({:.1} KiB per stream)",
                compressed.opened,
                compressed.encoding,
                compressed.rss_before,
                compressed.rss_after,
                (compressed.rss_after - compressed.rss_before) * 1024.0 / n as f64
            ),
        );

        // 6. The server's own parts.
        server.send("probe").await;
        println!("server-side timings (µs): count, p50, p95, max");
        loop {
            let line = server.reply().await;
            if line == "end" {
                break;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            if let [_, name, count, p50, p95, max, note] = fields[..] {
                println!("  {name:<58} {count:>5} {p50:>10} {p95:>10} {max:>10}  {note}");
            }
        }
        let warnings = server.warnings();
        if warnings.is_empty() {
            println!("server log: no warnings");
        } else {
            println!("server log warnings (count, message):");
            for (count, message) in warnings.iter().take(8) {
                println!("  {count:>6}  {message}");
            }
        }
        server.stop().await;
        Run {
            screens: n,
            pairing_seconds,
            rss_idle,
            rss_streams,
            streams_seconds,
            fan_outs,
            idle,
            steady,
            throughput,
            compressed: Some(compressed),
        }
    }

    async fn full_fetches(
        base: &str,
        tokens: &[String],
        concurrency: usize,
        seconds: u64,
        encoding: Option<&'static str>,
        server: u32,
    ) -> Throughput {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .pool_max_idle_per_host(concurrency)
            .build()
            .unwrap();
        let usage = Usage::start(server);
        let started = Instant::now();
        let end = started + Duration::from_secs(seconds);
        let seen_encoding = Arc::new(Mutex::new(String::from("identity")));
        let workers: Vec<_> = (0..concurrency)
            .map(|worker| {
                let http = http.clone();
                let url = format!("{base}/kiosk/api/playlist");
                let token = tokens[worker * 7 % tokens.len()].clone();
                let seen_encoding = seen_encoding.clone();
                tokio::spawn(async move {
                    let (mut latency, mut bytes, mut errors) = (Vec::new(), 0u64, 0usize);
                    while Instant::now() < end {
                        let sent = Instant::now();
                        let mut request = http.get(&url).bearer_auth(&token);
                        if let Some(encoding) = encoding {
                            request = request.header(reqwest::header::ACCEPT_ENCODING, encoding);
                        }
                        match request.send().await {
                            Ok(response) if response.status() == 200 => {
                                if let Some(e) = response.headers().get("content-encoding") {
                                    *seen_encoding.lock().unwrap() =
                                        e.to_str().unwrap_or("?").to_owned();
                                }
                                match response.bytes().await {
                                    Ok(body) => {
                                        bytes += body.len() as u64;
                                        latency.push(sent.elapsed().as_secs_f64() * 1000.0);
                                    }
                                    Err(_) => errors += 1,
                                }
                            }
                            _ => errors += 1,
                        }
                    }
                    (latency, bytes, errors)
                })
            })
            .collect();
        let mut result = Throughput {
            encoding: String::new(),
            requests: 0,
            seconds: 0.0,
            latency: Vec::new(),
            bytes: 0,
            errors: 0,
            cpu: usage.finish(),
        };
        for worker in workers {
            let (latency, bytes, errors) = worker.await.unwrap();
            result.latency.extend(latency);
            result.bytes += bytes;
            result.errors += errors;
        }
        result.seconds = started.elapsed().as_secs_f64();
        result.cpu = usage.finish();
        result.requests = result.latency.len();
        result.latency = sorted(result.latency);
        result.encoding = seen_encoding.lock().unwrap().clone();
        result
    }

    /// Opens every screen's stream with the browsers' Accept-Encoding and
    /// keeps reading it; returns the server's memory before and after.
    async fn compressed_streams(screens: &[Arc<Screen>], base: &str, server: u32) -> Compressed {
        let (rss_before, _) = machine::memory_mib(server);
        let opened = Arc::new(AtomicUsize::new(0));
        let encoding = Arc::new(Mutex::new(String::from("identity")));
        let opening = Arc::new(Semaphore::new(100));
        let tasks: Vec<_> = screens
            .iter()
            .map(|screen| {
                let (screen, url) = (screen.clone(), format!("{base}/kiosk/api/events"));
                let (opened, encoding, opening) =
                    (opened.clone(), encoding.clone(), opening.clone());
                tokio::spawn(async move {
                    let permit = opening.acquire_owned().await.unwrap();
                    let Ok(response) = screen
                        .http
                        .get(url)
                        .bearer_auth(&screen.token)
                        .header(reqwest::header::ACCEPT, "text/event-stream")
                        .header(reqwest::header::ACCEPT_ENCODING, BROWSER_ACCEPT_ENCODING)
                        .send()
                        .await
                    else {
                        return;
                    };
                    if let Some(e) = response.headers().get("content-encoding") {
                        *encoding.lock().unwrap() = e.to_str().unwrap_or("?").to_owned();
                    }
                    let mut body = response.bytes_stream();
                    if let Some(Ok(_)) = body.next().await {
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(permit);
                    while let Some(Ok(_)) = body.next().await {}
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while opened.load(Ordering::Relaxed) < screens.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss_after, _) = machine::memory_mib(server);
        for task in tasks {
            task.abort();
        }
        let encoding = encoding.lock().unwrap().clone();
        Compressed {
            encoding,
            opened: opened.load(Ordering::Relaxed),
            rss_before,
            rss_after,
        }
    }

    fn print_summary(runs: &[Run], options: &Options) {
        println!("\n=== Summary ===");
        println!(
            "\nEmergency fan-out: ms from the publish call (p50 / p95 / p99 / max); `fetched` = the new playlist is in"
        );
        println!(
            "| screens | round | targeted | publish call | event | fetched | within 2 s | server CPU | load avg |"
        );
        println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for run in runs {
            for f in &run.fan_outs {
                let mut notes = Vec::new();
                if f.missing > 0 {
                    notes.push(format!("{} missing", f.missing));
                }
                if f.untargeted_events > 0 {
                    notes.push(format!("{} untargeted", f.untargeted_events));
                }
                if f.wrong_first_item + f.bad_status > 0 {
                    notes.push(format!("{} wrong", f.wrong_first_item + f.bad_status));
                }
                println!(
                    "| {} | {} | {} | {:.1} | {} | {} | {:.1} %{} | {:.0} % | {:.1} |",
                    run.screens,
                    f.name,
                    f.targeted,
                    f.publish_ms,
                    stats(&f.event),
                    stats(&f.fetched),
                    f.within_promise as f64 * 100.0 / f.targeted.max(1) as f64,
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", notes.join(", "))
                    },
                    f.cpu.server,
                    f.cpu.load.1,
                );
            }
        }
        println!(
            "\nIdle and steady state (streams open; poll + heartbeat per screen every 30 s, {} s window)",
            options.steady_seconds
        );
        println!(
            "| screens | pairing | streams open in | RSS no screens → streams (per screen) | idle CPU | req/s | poll 304 ms | heartbeat ms | server CPU | TCP accepts per request | RSS end (peak) | load avg |"
        );
        println!(
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for run in runs {
            let steady = run.steady.as_ref();
            println!(
                "| {} | {:.1} s | {:.1} s | {:.0} → {:.0} MiB ({:.1} KiB) | {} | {} | {} | {} | {} | {} | {} | {} |",
                run.screens,
                run.pairing_seconds,
                run.streams_seconds,
                run.rss_idle,
                run.rss_streams,
                (run.rss_streams - run.rss_idle) * 1024.0 / run.screens as f64,
                run.idle
                    .as_ref()
                    .map_or("—".into(), |i| format!("{:.1} %", i.cpu.server)),
                steady.map_or("—".into(), |s| format!(
                    "{:.1}",
                    (s.poll.len() + s.heartbeat.len()) as f64 / s.seconds as f64
                )),
                steady.map_or("—".into(), |s| stats(&s.poll)),
                steady.map_or("—".into(), |s| stats(&s.heartbeat)),
                steady.map_or("—".into(), |s| format!("{:.1} %", s.cpu.server)),
                steady.map_or("—".into(), |s| format!(
                    "{:.2}",
                    s.new_connections as f64 / (s.poll.len() + s.heartbeat.len()).max(1) as f64
                )),
                steady.map_or("—".into(), |s| format!("{:.0} ({:.0}) MiB", s.rss.0, s.rss.1)),
                steady.map_or("—".into(), |s| format!("{:.1}", s.cpu.load.1)),
            );
        }
        println!(
            "\nFull playlist fetches (200), {} clients, {} s",
            options.concurrency, options.throughput_seconds
        );
        println!("| screens | encoding | req/s | p50 / p95 / p99 / max ms | bytes | server CPU | machine CPU | load avg |");
        println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for run in runs {
            for t in &run.throughput {
                println!(
                    "| {} | {} | {:.0} | {} | {:.0} | {:.0} % | {:.0} % | {:.1} |",
                    run.screens,
                    t.encoding,
                    t.requests as f64 / t.seconds,
                    stats(&t.latency),
                    t.bytes as f64 / t.requests.max(1) as f64,
                    t.cpu.server,
                    t.cpu.machine,
                    t.cpu.load.1,
                );
            }
        }
        println!("\nEvent streams with the browsers' Accept-Encoding");
        println!("| screens | encoding | opened | RSS before → after | per stream |");
        println!("| ---: | --- | ---: | ---: | ---: |");
        for run in runs {
            if let Some(c) = &run.compressed {
                println!(
                    "| {} | {} | {} | {:.0} → {:.0} MiB | {:.1} KiB |",
                    run.screens,
                    c.encoding,
                    c.opened,
                    c.rss_before,
                    c.rss_after,
                    (c.rss_after - c.rss_before) * 1024.0 / run.screens as f64
                );
            }
        }
    }
}
