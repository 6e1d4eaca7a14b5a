//! Chat fan-out: thousands of watch-page sockets of one broadcast, and how
//! long a comment takes from the moment it is posted to the last socket
//! that shows it; on one node with SQLite, then on a district (two nodes on
//! PostgreSQL, nginx in front), in the same run.
//!
//!   cargo bench --bench chat_fanout                                # 5,000 sockets, 100 posts
//!   cargo bench --bench chat_fanout -- --sockets 1000 --posts 30 --only district
//!   cargo bench --bench chat_fanout -- --via nginx                 # district sockets through nginx
//!
//! A comment travels as on the watch page: residents signed in (`/login`)
//! post `{"type":"post","kind":"chat",…}` frames over their own socket to
//! node A; chat is post-moderated by default (questions are held for a
//! moderator, chat is shown at once unless a filter holds it), so the
//! comment is stored and published as a `comment` event to every socket of
//! the room: on node A from memory, on node B after PostgreSQL's NOTIFY and
//! a read of the new events. Posts come every INTERVAL ms from AUTHORS
//! residents in turn (the flood guard allows one person 5 in 10 s).
//!
//! SOCKETS anonymous viewers (hls.js is not involved) are spread evenly over
//! the nodes, connected straight to them (or, with `--via nginx`, through
//! nginx, which sends each to a node of its choosing; the node that took
//! it is read from `X-Pavilion-Node`). The viewers run on a tokio runtime
//! in this process, on two threads: this machine's two cores are shared
//! with the servers and PostgreSQL.
//!
//! Reports per post: post → ack (the author's node stored it), post →
//! first and → last socket, per node; and the CPU and memory of the nodes,
//! PostgreSQL is not counted, of this load generator and of the machine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[path = "support/district.rs"]
mod district;
#[path = "support/live_server.rs"]
mod live_server;

use district::{District, NginxOptions};
use live_server::{cpu_seconds, machine_ticks, percentile, rss_kib, LiveServer};

struct Options {
    sockets: usize,
    posts: usize,
    interval: Duration,
    authors: usize,
    only: Option<String>,
    via_nginx: bool,
}

fn options() -> Options {
    let mut options = Options {
        sockets: 5000,
        posts: 100,
        interval: Duration::from_millis(1000),
        authors: 6,
        only: None,
        via_nginx: false,
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
            "--sockets" => options.sockets = number(arg, args.next()) as usize,
            "--posts" => options.posts = number(arg, args.next()) as usize,
            "--interval-ms" => options.interval = Duration::from_millis(number(arg, args.next())),
            "--authors" => options.authors = number(arg, args.next()) as usize,
            "--only" => options.only = args.next().cloned(),
            "--via" => options.via_nginx = args.next().map(String::as_str) == Some("nginx"),
            _ => {} // `cargo bench` adds --bench
        }
    }
    options
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(options));
}

async fn run(options: Options) {
    println!(
        "{} sockets, {} posts every {} ms from {} residents",
        options.sockets,
        options.posts,
        options.interval.as_millis(),
        options.authors
    );
    let mut reports = Vec::new();
    if options.only.as_deref() != Some("district") {
        let server = LiveServer::start(&[]).await;
        let authors = register_authors(&server.database, options.authors).await;
        let target = Target {
            name: "single node, SQLite".into(),
            viewers: vec![server.url("")],
            poster: server.url(""),
            pids: vec![("node".into(), vec![server.pid()])],
            broadcast: server.broadcast,
        };
        reports.push(measure(&options, &target, &authors).await);
        let warnings = server.log();
        if !warnings.is_empty() {
            println!("server warnings:\n{warnings}");
        }
    }
    if options.only.as_deref() != Some("single") {
        let nginx = NginxOptions {
            connections: (options.sockets * 2 + 2000).max(8192),
            ..NginxOptions::default()
        };
        let district = District::start(2, nginx).await;
        let authors = register_authors(&district.database_url, options.authors).await;
        let viewers = if options.via_nginx {
            vec![district.url("")]
        } else {
            vec![district.node_url(0, ""), district.node_url(1, "")]
        };
        let mut pids: Vec<(String, Vec<u32>)> = district
            .nodes
            .iter()
            .map(|n| (n.name.clone(), vec![n.pid()]))
            .collect();
        if options.via_nginx {
            pids.push(("nginx (master and workers)".into(), district.nginx.pids()));
        }
        let target = Target {
            name: format!(
                "two nodes on PostgreSQL, sockets {}",
                if options.via_nginx {
                    "through nginx"
                } else {
                    "straight to the nodes"
                }
            ),
            viewers,
            poster: district.node_url(0, ""),
            pids,
            broadcast: district.broadcast,
        };
        reports.push(measure(&options, &target, &authors).await);
        let logs = district.logs();
        if !logs.is_empty() {
            println!("district warnings:\n{logs}");
        }
    }
    println!();
    for report in reports {
        println!("{report}");
    }
}

/// Where the sockets go and who posts where.
struct Target {
    name: String,
    /// Base URLs the viewers are spread over, in turn.
    viewers: Vec<String>,
    /// Base URL the residents post through.
    poster: String,
    /// Processes whose CPU and memory are reported (summed per entry).
    pids: Vec<(String, Vec<u32>)>,
    broadcast: i64,
}

/// `count` residents of the demo estate who may post (registered with
/// household codes of units nobody else uses, the demo password).
async fn register_authors(database: &str, count: usize) -> Vec<String> {
    use pavilion::domain::{DisplayName, Username};
    let store = pavilion::store::connect(database).await.unwrap();
    let (resident, hash) = store
        .credentials(&Username::parse("resident").unwrap())
        .await
        .unwrap()
        .expect("the demo resident");
    let estate = resident.estate_id.expect("the demo resident's estate");
    let mut codes = Vec::new();
    for building in store.list_buildings(estate).await.unwrap() {
        let units = store.codes_for_building(building.id).await.unwrap();
        // The first unit of each building is the demo's residents'.
        codes.extend(units.into_iter().skip(1).filter_map(|(_, code)| code));
    }
    assert!(codes.len() >= count, "only {} free units", codes.len());
    let mut names = Vec::new();
    for (n, code) in codes.iter().take(count).enumerate() {
        let name = format!("bench{n}");
        if store
            .credentials(&Username::parse(&name).unwrap())
            .await
            .unwrap()
            .is_none()
        {
            store
                .register_resident(
                    &code.code,
                    Username::parse(&name).unwrap(),
                    DisplayName::parse(&format!("压测住户{n}")).unwrap(),
                    hash.clone(),
                )
                .await
                .unwrap();
        }
        names.push(name);
    }
    names
}

/// Signs `username` in at `base`; returns the session's `Cookie` header.
async fn sign_in(base: &str, username: &str) -> String {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = page
        .split_once("name=\"csrf_token\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(token, _)| token.to_owned())
        .expect("the login page has a form token");
    let response = http
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", username),
            ("password", pavilion::demo::DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "login as {username}");
    use reqwest::cookie::CookieStore;
    let cookies = jar
        .cookies(&base.parse().unwrap())
        .expect("a session cookie");
    cookies.to_str().unwrap().to_owned()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the watch page's socket at `base` (as a browser: Origin, and the
/// cookie when signed in); waits for its snapshot. Returns the node that
/// answered.
async fn open_socket(base: &str, broadcast: i64, cookie: Option<&str>) -> (Socket, String) {
    let url = format!(
        "{}/live/{broadcast}/ws",
        base.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", base.parse().unwrap());
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("Cookie", cookie.parse().unwrap());
    }
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("socket to {base}: {e}"));
    let node = response
        .headers()
        .get("x-pavilion-node")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.contains("\"type\":\"snapshot\"") => break,
            Ok(Some(Ok(_))) => {}
            other => panic!("no snapshot from {base}: {other:?}"),
        }
    }
    (socket, node)
}

/// The post number of a comment event of this bench, if `text` is one.
fn post_number(text: &str) -> Option<usize> {
    if !text.contains("\"type\":\"event\"") {
        return None;
    }
    let (_, rest) = text.split_once(MARK)?;
    let (number, _) = rest.split_once('条')?;
    number.parse().ok()
}

/// What each post's text starts with: "压测第17条…".
const MARK: &str = "压测第";

/// A viewer: reads its socket until `stop`, noting when each post arrived.
async fn viewer(
    mut socket: Socket,
    posts: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Option<Instant>> {
    let mut arrivals = vec![None; posts];
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(n) = post_number(text.as_str()) {
                        if n < posts && arrivals[n].is_none() {
                            arrivals[n] = Some(Instant::now());
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            _ = stop.changed() => break,
        }
    }
    let _ = socket.close(None).await;
    arrivals
}

async fn measure(options: &Options, target: &Target, authors: &[String]) -> String {
    println!("\n== {} ==", target.name);
    // Viewers, connected 50 at a time.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let opened = futures_util::stream::iter(0..options.sockets)
        .map(|n| {
            let base = target.viewers[n % target.viewers.len()].clone();
            let broadcast = target.broadcast;
            async move { open_socket(&base, broadcast, None).await }
        })
        .buffer_unordered(50)
        .collect::<Vec<_>>()
        .await;
    let mut nodes: Vec<String> = Vec::new();
    let mut viewers = Vec::new();
    for (socket, node) in opened {
        if !nodes.contains(&node) {
            nodes.push(node.clone());
        }
        let index = nodes.iter().position(|n| *n == node).unwrap();
        viewers.push((
            index,
            tokio::spawn(viewer(socket, options.posts, stop_rx.clone())),
        ));
    }
    let mut per_node = vec![0; nodes.len()];
    for (index, _) in &viewers {
        per_node[*index] += 1;
    }
    println!(
        "{} sockets open in {:.1} s: {}",
        viewers.len(),
        started.elapsed().as_secs_f64(),
        nodes
            .iter()
            .zip(&per_node)
            .map(|(n, c)| format!("{c} on {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // The authors, each with their own socket on the posting node.
    let mut posters = Vec::new();
    for name in authors {
        let cookie = sign_in(&target.poster, name).await;
        let (socket, _) = open_socket(&target.poster, target.broadcast, Some(&cookie)).await;
        posters.push(socket);
    }
    // Acks come back on the author's socket.
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant, bool)>();
    let mut senders = Vec::new();
    for socket in posters {
        let (sink, mut stream) = socket.split();
        senders.push(sink);
        let ack_tx = ack_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    let text = text.as_str();
                    if text.contains("\"type\":\"ack\"") {
                        let shown = text.contains("\"state\":\"shown\"");
                        if let Some(n) = text
                            .split_once("\"client_id\":\"bench-")
                            .and_then(|(_, rest)| rest.split_once('"'))
                            .and_then(|(n, _)| n.parse().ok())
                        {
                            let _ = ack_tx.send((n, Instant::now(), shown));
                        }
                    } else if text.contains("\"type\":\"error\"") {
                        println!("refused: {text}");
                    }
                }
            }
        });
    }
    drop(ack_tx);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let me = std::process::id();
    let cpu_of = |pids: &[u32]| pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();
    let rss_of = |pids: &[u32]| pids.iter().map(|p| rss_kib(*p)).sum::<u64>();
    let cpu_before: Vec<f64> = target.pids.iter().map(|(_, p)| cpu_of(p)).collect();
    let (my_cpu, machine) = (cpu_seconds(me), machine_ticks());
    let rss_start: Vec<u64> = target.pids.iter().map(|(_, p)| rss_of(p)).collect();
    let window = Instant::now();
    let mut sent = Vec::with_capacity(options.posts);
    let mut tick = tokio::time::interval(options.interval);
    for n in 0..options.posts {
        tick.tick().await;
        let frame = serde_json::json!({
            "type": "post",
            "client_id": format!("bench-{n}"),
            "kind": "chat",
            "text": format!("{MARK}{n}条消息：电梯维修的进度怎么样了？"),
        })
        .to_string();
        let author = n % senders.len();
        let at = Instant::now();
        senders[author]
            .send(Message::text(frame))
            .await
            .expect("the post is sent");
        sent.push(at);
    }
    // CPU over the posts and 3 s after; deliveries up to 10 s after the last.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seconds = window.elapsed().as_secs_f64();
    let cpu: Vec<f64> = target
        .pids
        .iter()
        .zip(&cpu_before)
        .map(|((_, p), before)| (cpu_of(p) - before) / seconds * 100.0)
        .collect();
    let my_cpu = (cpu_seconds(me) - my_cpu) / seconds * 100.0;
    let machine_now = machine_ticks();
    let machine_cpu =
        (machine_now.0 - machine.0) as f64 / (machine_now.1 - machine.1).max(1) as f64 * 200.0;
    let rss_end: Vec<u64> = target.pids.iter().map(|(_, p)| rss_of(p)).collect();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let _ = stop_tx.send(true);
    let mut acks: HashMap<usize, (Instant, bool)> = HashMap::new();
    while let Ok(Some((n, at, shown))) =
        tokio::time::timeout(Duration::from_millis(100), ack_rx.recv()).await
    {
        acks.insert(n, (at, shown));
    }
    let mut arrivals: Vec<(usize, Vec<Option<Instant>>)> = Vec::new();
    for (index, viewer) in viewers {
        arrivals.push((index, viewer.await.unwrap()));
    }

    // Per post: ack, first and last socket, per node.
    let mut ack_ms = Vec::new();
    let mut first_ms = Vec::new();
    let mut last_ms = Vec::new();
    let mut last_per_node: Vec<Vec<f64>> = vec![Vec::new(); nodes.len()];
    let mut first_per_node: Vec<Vec<f64>> = vec![Vec::new(); nodes.len()];
    let mut every_ms = Vec::new();
    let (mut missing, mut held) = (0usize, 0usize);
    for (n, at) in sent.iter().enumerate() {
        match acks.get(&n) {
            Some((ack, shown)) => {
                ack_ms.push(ack.duration_since(*at).as_secs_f64() * 1000.0);
                if !shown {
                    held += 1;
                }
            }
            None => held += 1,
        }
        let mut first = f64::INFINITY;
        let mut last = 0f64;
        let mut node_last = vec![0f64; nodes.len()];
        let mut node_first = vec![f64::INFINITY; nodes.len()];
        for (index, got) in &arrivals {
            match got[n] {
                Some(when) => {
                    let ms = when.duration_since(*at).as_secs_f64() * 1000.0;
                    first = first.min(ms);
                    last = last.max(ms);
                    node_last[*index] = node_last[*index].max(ms);
                    node_first[*index] = node_first[*index].min(ms);
                    every_ms.push(ms);
                }
                None => missing += 1,
            }
        }
        if first.is_finite() {
            first_ms.push(first);
            last_ms.push(last);
            for (index, ms) in node_last.into_iter().enumerate() {
                last_per_node[index].push(ms);
            }
            for (index, ms) in node_first.into_iter().enumerate() {
                if ms.is_finite() {
                    first_per_node[index].push(ms);
                }
            }
        }
    }
    let line = |name: &str, values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        format!(
            "  {name:<40} n {:>6}  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms\n",
            values.len(),
            percentile(values, 0.5),
            percentile(values, 0.99),
            values.last().copied().unwrap_or(f64::NAN)
        )
    };
    let mut out = format!(
        "{}: {} sockets ({}), {} posts every {} ms\n",
        target.name,
        per_node.iter().sum::<usize>(),
        nodes
            .iter()
            .zip(&per_node)
            .map(|(n, c)| format!("{c} on {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        options.posts,
        options.interval.as_millis()
    );
    out.push_str(&line("post → ack", &mut ack_ms));
    out.push_str(&line("post → first socket", &mut first_ms));
    out.push_str(&line("post → LAST socket", &mut last_ms));
    for (index, values) in first_per_node.iter_mut().enumerate() {
        out.push_str(&line(
            &format!("post → first socket on {}", nodes[index]),
            values,
        ));
    }
    for (index, values) in last_per_node.iter_mut().enumerate() {
        out.push_str(&line(
            &format!("post → last socket on {}", nodes[index]),
            values,
        ));
    }
    out.push_str(&line("post → each socket (every delivery)", &mut every_ms));
    out.push_str(&format!(
        "  deliveries missing {missing}, posts not shown (held or unanswered) {held}\n"
    ));
    for (((name, _), cpu), (start, end)) in target
        .pids
        .iter()
        .zip(&cpu)
        .zip(rss_start.iter().zip(&rss_end))
    {
        out.push_str(&format!(
            "  {name}: CPU {cpu:.0} % of one core, RSS {:.1} → {:.1} MiB\n",
            *start as f64 / 1024.0,
            *end as f64 / 1024.0
        ));
    }
    out.push_str(&format!(
        "  load generator CPU {my_cpu:.0} % of one core; whole machine {machine_cpu:.0} % of 200 % (over {seconds:.0} s)\n"
    ));
    print!("{out}");
    out
}
