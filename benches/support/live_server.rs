//! What the live benchmarks share: a `pavilion serve` process on a temporary
//! data directory with the demo community and its broadcast, and an ffmpeg
//! CLI publishing the 720p30 sample to it (see benches/live_common.sh).
//!
//! Included by the bench targets with `#[path]`; not a bench of its own.
//! Each bench uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The sample stream: 60 s of 1280x720 30 fps H.264 (x264 ultrafast, a
/// keyframe every 30 frames = 1 s, 2500 kb/s) and 48 kHz AAC, encoded once
/// and shared with benches/live_common.sh.
pub fn sample_flv() -> PathBuf {
    sample_flv_with_keyframes_every(1)
}

/// The same sample with a keyframe every `seconds` (1 for the standard one).
pub fn sample_flv_with_keyframes_every(seconds: u32) -> PathBuf {
    let name = match seconds {
        1 => "target/bench-live-720p30-60s.flv".to_owned(),
        n => format!("target/bench-live-720p30-60s-keyframes-{n}s.flv"),
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
        return path;
    }
    eprintln!(
        "encoding the 60 s sample stream once into {} ...",
        path.display()
    );
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let partial = path.with_extension("flv.tmp");
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "60",
        ])
        .args(["-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-g", &(30 * seconds).to_string()])
        .args([
            "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "128k", "-f", "flv"])
        .arg(&partial)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "encoding the sample failed");
    std::fs::rename(&partial, &path).unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server with one broadcast, and its publisher once started.
pub struct LiveServer {
    server: Child,
    publisher: Option<Child>,
    pub http_port: u16,
    pub rtmp_port: u16,
    pub broadcast: i64,
    stream_key: String,
    /// The server's SQLite database.
    pub database: String,
    _dir: tempfile::TempDir,
}

impl LiveServer {
    /// Seeds the demo community, then starts `pavilion serve` with `env`
    /// added to its environment (e.g. `PAVILION__LIVE__LOW_LATENCY=false`).
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let database = format!("sqlite://{}/pavilion.sqlite", data.display());
        let (http_port, rtmp_port) = (free_port(), free_port());
        let command = |what: &str| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_pavilion"));
            command
                .arg(what)
                .current_dir(dir.path())
                .env("PAVILION__DATA_DIR", &data)
                .env("PAVILION__DATABASE__URL", &database)
                .env("PAVILION__SERVER__PORT", http_port.to_string())
                .env("PAVILION__LIVE__RTMP_PORT", rtmp_port.to_string())
                // No broadcast ends (and no replay is made) during a run.
                .env("PAVILION__LIVE__GRACE_SECONDS", "3600")
                .env("RUST_LOG", "warn")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            command
        };
        let seeded = command("demo")
            .arg("--seed-only")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(seeded.success(), "pavilion demo --seed-only failed");
        let (broadcast, stream_key) = {
            // The broadcast `pavilion demo` would publish its test pattern to:
            // source and audio-only renditions, no transcode.
            let store = pavilion::store::connect(&database).await.unwrap();
            let demo = pavilion::demo::live_broadcast(&*store).await.unwrap();
            (demo.id.0, demo.stream_key)
        };
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let server = command("serve").stderr(log).spawn().unwrap();
        let this = Self {
            server,
            publisher: None,
            http_port,
            rtmp_port,
            broadcast,
            stream_key,
            database,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(this.url("/healthz")).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                this.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        this
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    pub fn pid(&self) -> u32 {
        self.server.id()
    }

    /// The server's log lines at WARN or ERROR.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Publishes `flv` to the broadcast in real time, looped, as OBS would
    /// (`ffmpeg -re -stream_loop -1 -c copy`), and waits for its first
    /// segments.
    pub async fn publish(&mut self, flv: &Path) {
        let publisher = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(flv)
            .args(["-c", "copy", "-f", "flv"])
            .arg(format!(
                "rtmp://127.0.0.1:{}/live/{}",
                self.rtmp_port, self.stream_key
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg runs");
        self.publisher = Some(publisher);
        let playlist = self.url(&format!("/live/{}/source/index.m3u8", self.broadcast));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(&playlist).await {
                if response
                    .text()
                    .await
                    .unwrap_or_default()
                    .matches("#EXTINF")
                    .count()
                    >= 3
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the broadcast did not go live: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        for child in self.publisher.iter_mut().chain([&mut self.server]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// CPU time a process has used so far (utime + stime), in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or("", |(_, rest)| rest)
        .split(' ')
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    let output = Command::new("getconf").arg("CLK_TCK").output();
    output
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resident memory of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whole-machine CPU: (busy, total) ticks over all cores.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = stat.lines().next().unwrap_or("");
    let values: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The value at fraction `p` of sorted `values`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
