//! Password spraying against a real server: 1,000 wrong logins with 1,000
//! different account names from one address, while a real user logs in from
//! elsewhere. How long does that user wait, and how much memory does the
//! server take?
//!
//!   cargo bench --bench spray_load
//!   cargo bench --bench spray_load -- --attempts 1000 --concurrency 50
//!   PAVILION_BIN=/tmp/pavilion-before cargo bench --bench spray_load   # another build
//!
//! It starts `pavilion serve` (this build's release binary, or `PAVILION_BIN`)
//! on a free port with a temporary data directory and the production Argon2
//! defaults (19 MiB, 2 iterations), `server.trust_proxy = true` so that the
//! load generator can speak for several client addresses through
//! `X-Forwarded-For`, and one account (`pavilion user add`, a resident
//! volunteer observer). Then, at once:
//!
//! - the sprayer: `--attempts` logins (default 1,000) with names
//!   `user0`, `user1`, … and one password, `--concurrency` at a time (default
//!   50), all from 203.0.113.7;
//! - the user: every 250 ms a full login with the right password (a fresh
//!   browser: `GET /login` for the form token, then `POST /login`), each from
//!   its own address 198.51.100.k (another device at home; one address per
//!   login, so the user's own per-name limit is not what is measured),
//!   until the spray is over, then 4 more.
//!
//! Reported: the spray's statuses and duration, the user's `POST /login`
//! times (p50, p95, max) and statuses, and the server's peak resident memory
//! (`VmHWM` from /proc/PID/status) before and after. The server is stopped at
//! the end. Load generator and server share the machine's cores.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

const USER: &str = "laozhang";
const USER_PASSWORD: &str = "a real resident's password";

struct Options {
    attempts: usize,
    concurrency: usize,
}

fn options() -> Options {
    let mut options = Options {
        attempts: 1000,
        concurrency: 50,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse().ok());
        match args[i].as_str() {
            "--attempts" => options.attempts = value().expect("--attempts N"),
            "--concurrency" => options.concurrency = value().expect("--concurrency N"),
            _ => {}
        }
        i += 1;
    }
    options
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    fn command(binary: &str, dir: &std::path::Path, port: u16) -> Command {
        let mut command = Command::new(binary);
        command
            .current_dir(dir)
            .env("PAVILION__DATA_DIR", dir)
            .env(
                "PAVILION__DATABASE__URL",
                format!("sqlite://{}", dir.join("pavilion.sqlite").display()),
            )
            .env("PAVILION__SERVER__PORT", port.to_string())
            .env("PAVILION__SERVER__TRUST_PROXY", "true")
            .env("PAVILION__LIVE__RTMP_PORT", "0")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null());
        command
    }

    async fn start(binary: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut add = Self::command(binary, dir.path(), port)
            .args(["user", "add", "--username", USER, "--display-name", "老张"])
            .args(["--role", "observer", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(add.stdin.take().unwrap(), "{USER_PASSWORD}").unwrap();
        assert!(add.wait().unwrap().success(), "pavilion user add failed");
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Self::command(binary, dir.path(), port)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(server.url("/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Peak resident memory so far, in MiB.
    fn peak_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn form_token(server: &Server, client: &reqwest::Client) -> String {
    let page = client
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page
        .find(r#"name="csrf_token" value=""#)
        .expect("a form token")
        + 25;
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// One login; its status and how long the POST took.
async fn login(
    server: &Server,
    client: &reqwest::Client,
    token: &str,
    address: &str,
    username: &str,
    password: &str,
) -> (u16, Duration) {
    let started = Instant::now();
    let status = match client
        .post(server.url("/login"))
        .header("X-Forwarded-For", address)
        .form(&[
            ("csrf_token", token),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    };
    (status, started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn run(options: Options) {
    let binary =
        std::env::var("PAVILION_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pavilion").to_owned());
    println!("server: {binary}");
    let server = Arc::new(Server::start(&binary).await);
    let peak_at_start = server.peak_mib();

    // The user logs in once before the spray: the unloaded time.
    let quiet = {
        let client = browser();
        let token = form_token(&server, &client).await;
        login(
            &server,
            &client,
            &token,
            "198.51.100.250",
            USER,
            USER_PASSWORD,
        )
        .await
    };
    assert_eq!(quiet.0, 303, "the user cannot log in at all");

    let sprayer = browser();
    let spray_token = form_token(&server, &sprayer).await;
    let slots = Arc::new(Semaphore::new(options.concurrency));
    let spray_started = Instant::now();
    let attempts = options.attempts;
    let spray_server = server.clone();
    let spray = tokio::spawn(async move {
        let mut running = Vec::new();
        for i in 0..attempts {
            let permit = slots.clone().acquire_owned().await.unwrap();
            let (server, sprayer, token) =
                (spray_server.clone(), sprayer.clone(), spray_token.clone());
            running.push(tokio::spawn(async move {
                let name = format!("user{i}");
                let result = login(
                    &server,
                    &sprayer,
                    &token,
                    "203.0.113.7",
                    &name,
                    "Spring2026!",
                )
                .await;
                drop(permit);
                result.0
            }));
        }
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for attempt in running {
            *statuses.entry(attempt.await.unwrap()).or_default() += 1;
        }
        (statuses, spray_started.elapsed())
    });
    // Let the spray get going before the user's first login.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut user_times = Vec::new();
    let mut user_statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut after_spray = 0;
    let mut k = 0;
    while after_spray < 4 {
        if spray.is_finished() {
            after_spray += 1;
        }
        let client = browser();
        let token = form_token(&server, &client).await;
        let address = format!("198.51.100.{}", k % 250);
        k += 1;
        let (status, took) = login(&server, &client, &token, &address, USER, USER_PASSWORD).await;
        *user_statuses.entry(status).or_default() += 1;
        user_times.push(took);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (spray_statuses, spray_took) = spray.await.unwrap();
    let peak_at_end = server.peak_mib();
    user_times.sort();

    println!("load average: {}", load_average());
    println!(
        "spray: {} attempts, {} at a time, in {:.2} s; statuses {:?}",
        options.attempts,
        options.concurrency,
        spray_took.as_secs_f64(),
        spray_statuses
    );
    println!(
        "user alone: POST /login {:.0} ms",
        quiet.1.as_secs_f64() * 1000.0
    );
    println!(
        "user during the spray: {} logins, statuses {:?}; POST /login p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        user_times.len(),
        user_statuses,
        percentile(&user_times, 50.0).as_secs_f64() * 1000.0,
        percentile(&user_times, 95.0).as_secs_f64() * 1000.0,
        user_times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    println!(
        "server peak memory (VmHWM): {peak_at_start:.1} MiB after start, {peak_at_end:.1} MiB after the spray"
    );
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(options));
}
