//! A district for the benchmarks: a scratch PostgreSQL cluster, `count`
//! `pavilion serve` processes on one database and one shared media
//! directory (the settings of tests/api/district/harness.rs), and Debian's
//! nginx in front of them with the README's sample configuration ("Running
//! a district"), read from README.md itself so that the rules cannot drift.
//! The demo community and its broadcast are seeded first, as
//! support/live_server.rs does for one node on SQLite.
//!
//! Included by the bench targets with `#[path]`; each uses a part of it.
//! Everything is stopped by PID when the district is dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pavilion::store::postgres::scratch::ScratchCluster;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct District {
    pub nodes: Vec<Node>,
    pub nginx: Nginx,
    pub database_url: String,
    /// The demo broadcast and its stream key.
    pub broadcast: i64,
    pub stream_key: String,
    publisher: Option<Child>,
    // Dropped last: the processes above go first.
    _cluster: ScratchCluster,
    dir: tempfile::TempDir,
}

pub struct Node {
    pub name: String,
    pub http_port: u16,
    pub rtmp_port: u16,
    child: Child,
    log: PathBuf,
}

pub struct Nginx {
    pub http_port: u16,
    pub rtmp_port: u16,
    child: Child,
    pub dir: PathBuf,
}

/// How nginx runs around the README's rules.
pub struct NginxOptions {
    /// `worker_processes`: Debian's default is `auto` (one per core).
    pub workers: String,
    /// `worker_connections` (and twice that, at most this process's hard
    /// limit, as `worker_rlimit_nofile`).
    pub connections: usize,
    /// Log every request (`all`), only those nginx did not answer from
    /// its cache (`upstream`), or none.
    pub access_log: AccessLog,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    All,
    Upstream,
    Off,
}

impl Default for NginxOptions {
    fn default() -> Self {
        Self {
            workers: "auto".into(),
            connections: 8192,
            access_log: AccessLog::Upstream,
        }
    }
}

impl District {
    /// `count` nodes on a new database and nginx in front of them.
    pub async fn start(count: usize, nginx: NginxOptions) -> District {
        let cluster = tokio::task::spawn_blocking(ScratchCluster::start)
            .await
            .unwrap()
            .expect("a scratch PostgreSQL cluster (apt-get install postgresql)");
        let database_url = cluster.create_database().await.unwrap();
        let dir = tempfile::Builder::new()
            .prefix("pavilion-district-bench-")
            .tempdir()
            .unwrap();
        let media = dir.path().join("shared");
        std::fs::create_dir_all(&media).unwrap();
        let seeded = Command::new(env!("CARGO_BIN_EXE_pavilion"))
            .args(["demo", "--seed-only"])
            .current_dir(dir.path())
            .env("PAVILION__DATABASE__URL", &database_url)
            .env("PAVILION__DATA_DIR", &media)
            .env("PAVILION__SERVER__PORT", free_port().to_string())
            .env("PAVILION__LIVE__RTMP_PORT", free_port().to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(seeded.success(), "pavilion demo --seed-only failed");
        let (broadcast, stream_key) = {
            let store = pavilion::store::connect(&database_url).await.unwrap();
            let demo = pavilion::demo::live_broadcast(&*store).await.unwrap();
            (demo.id.0, demo.stream_key)
        };
        let nginx_http = free_port();
        let public_url = format!("http://127.0.0.1:{nginx_http}");
        let mut nodes: Vec<Node> = (0..count)
            .map(|index| {
                let name = format!("node-{}", (b'a' + index as u8) as char);
                Node::start(&name, &database_url, &media, &public_url, dir.path())
            })
            .collect();
        for node in &mut nodes {
            node.wait_until_healthy().await;
        }
        let nginx = Nginx::start(dir.path(), nginx_http, &nodes, &nginx);
        nginx.wait_until_listening().await;
        District {
            nodes,
            nginx,
            database_url,
            broadcast,
            stream_key,
            publisher: None,
            _cluster: cluster,
            dir,
        }
    }

    /// `path` through nginx.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nginx.http_port)
    }

    /// `path` on node `index` directly.
    pub fn node_url(&self, index: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nodes[index].http_port)
    }

    /// Publishes `flv` in real time, looped (as support/live_server.rs),
    /// straight to node `index`'s RTMP port, and waits until the broadcast
    /// plays through nginx.
    pub async fn publish_to(&mut self, index: usize, flv: &Path) {
        let publisher = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i"])
            .arg(flv)
            .args(["-c", "copy", "-f", "flv"])
            .arg(format!(
                "rtmp://127.0.0.1:{}/live/{}",
                self.nodes[index].rtmp_port, self.stream_key
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
                let text = response.text().await.unwrap_or_default();
                if text.matches("#EXTINF").count() >= 3 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the broadcast did not go live through nginx:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The nodes' warnings and errors, and nginx's error log.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            if !lines.is_empty() {
                all.push_str(&format!("----- {} -----\n", node.name));
                for line in &lines[lines.len().saturating_sub(30)..] {
                    all.push_str(line);
                    all.push('\n');
                }
            }
        }
        let errors = std::fs::read_to_string(self.nginx.dir.join("error.log")).unwrap_or_default();
        let errors: Vec<&str> = errors.lines().collect();
        if !errors.is_empty() {
            all.push_str("----- nginx -----\n");
            for line in &errors[errors.len().saturating_sub(20)..] {
                all.push_str(line);
                all.push('\n');
            }
        }
        all
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for District {
    fn drop(&mut self) {
        if let Some(publisher) = self.publisher.as_mut() {
            let _ = publisher.kill();
            let _ = publisher.wait();
        }
    }
}

impl Node {
    /// The environment of tests/api/district/harness.rs, plus a long grace
    /// period (as support/live_server.rs: nothing ends during a run) and
    /// warnings only in the log.
    fn start(name: &str, database: &str, media: &Path, public_url: &str, dir: &Path) -> Node {
        let (http_port, rtmp_port) = (free_port(), free_port());
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_pavilion"))
            .arg("serve")
            .current_dir(dir)
            .env("PAVILION__DATABASE__URL", database)
            .env("PAVILION__DATA_DIR", media)
            .env("PAVILION__NODE__NAME", name)
            .env(
                "PAVILION__NODE__INTERNAL_URL",
                format!("http://127.0.0.1:{http_port}"),
            )
            .env("PAVILION__SERVER__HOST", "127.0.0.1")
            .env("PAVILION__SERVER__PORT", http_port.to_string())
            .env("PAVILION__SERVER__PUBLIC_URL", public_url)
            .env("PAVILION__SERVER__TRUSTED_PROXIES", "127.0.0.1")
            .env("PAVILION__LIVE__RTMP_HOST", "127.0.0.1")
            .env("PAVILION__LIVE__RTMP_PORT", rtmp_port.to_string())
            .env("PAVILION__LIVE__GRACE_SECONDS", "3600")
            .env("PAVILION__AUTH__ARGON2_MEMORY_KIB", "256")
            .env("PAVILION__AUTH__ARGON2_ITERATIONS", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .expect("the pavilion binary starts");
        Node {
            name: name.to_owned(),
            http_port,
            rtmp_port,
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    async fn wait_until_healthy(&mut self) {
        let url = self.url("/healthz");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(&url).await {
                if response.status().is_success() {
                    return;
                }
            }
            if let Some(exit) = self.child.try_wait().unwrap() {
                panic!(
                    "node {} exited with {exit}:\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not become healthy",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    fn start(dir: &Path, http_port: u16, nodes: &[Node], options: &NginxOptions) -> Nginx {
        let rtmp_port = free_port();
        let dir = dir.join("nginx");
        std::fs::create_dir_all(dir.join("cache")).unwrap();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            configuration(&dir, http_port, rtmp_port, nodes, options),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .expect("nginx starts (apt-get install nginx libnginx-mod-stream)");
        Nginx {
            http_port,
            rtmp_port,
            child,
            dir,
        }
    }

    async fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.http_port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}{}",
                std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default(),
                std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The master process and its workers.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let mut pids = vec![master];
        pids.extend(children_of(master));
        pids
    }

    /// The access log: `$upstream_cache_status $upstream_addr "$request" $status`.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// Forgets the access log so far (nginx keeps writing to the same file).
    pub fn truncate_access_log(&self) {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.dir.join("access.log"));
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGKILL to the master; its workers notice their parent is gone
        // and are killed by PID too.
        let workers = children_of(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in workers {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// The PIDs whose parent is `parent`, from /proc.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// The hard limit on open files of this process (`ulimit -Hn`).
pub fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(4)?.parse().ok())
        .unwrap_or(1024)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// The README's sample nginx configuration, verbatim but for the addresses
/// (loopback ports of these nodes instead of 10.0.0.5/6, nginx's own ports
/// instead of 443 and 1935) and the cache directory, inside the main
/// context a Debian nginx.conf gives it (workers, `sendfile`, `tcp_nopush`,
/// temporary paths) and a log for counting origin requests.
pub fn configuration(
    dir: &Path,
    http_port: u16,
    rtmp_port: u16,
    nodes: &[Node],
    options: &NginxOptions,
) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let sample = readme
        .split_once("**nginx** (Debian")
        .and_then(|(_, rest)| rest.split_once("```nginx\n"))
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(sample, _)| sample)
        .expect("README: the sample nginx configuration of \"Running a district\"");
    let dir = dir.display();
    let mut out = String::new();
    let mut replaced = [0usize; 5];
    for line in sample.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(rest) = trimmed.strip_prefix("server 10.0.0.") {
            // One line per node, with the README's parameters.
            let (address, parameters) = rest.split_once(' ').unwrap_or((rest, ""));
            let http = address.ends_with(":8080;") || address.ends_with(":8080");
            if address.starts_with("5:") {
                for node in nodes {
                    let port = if http { node.http_port } else { node.rtmp_port };
                    out.push_str(&format!("{indent}server 127.0.0.1:{port} {parameters}\n"));
                }
                replaced[if http { 0 } else { 1 }] += 1;
            }
            continue;
        }
        if trimmed.starts_with("listen 443 ssl;") {
            out.push_str(&format!("{indent}listen 127.0.0.1:{http_port};\n"));
            replaced[2] += 1;
            continue;
        }
        if trimmed.contains("listen 1935;") {
            out.push_str(&line.replace("listen 1935;", &format!("listen 127.0.0.1:{rtmp_port};")));
            out.push('\n');
            replaced[3] += 1;
            continue;
        }
        if trimmed.starts_with("proxy_cache_path /var/cache/nginx/pavilion ") {
            out.push_str(&line.replace("/var/cache/nginx/pavilion", &format!("{dir}/cache")));
            out.push('\n');
            replaced[4] += 1;
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if trimmed == "http {" {
            let log = match options.access_log {
                AccessLog::All => {
                    format!("access_log {dir}/access.log cache buffer=256k flush=1s;")
                }
                AccessLog::Upstream => format!(
                    "access_log {dir}/access.log cache buffer=256k flush=1s if=$bench_not_hit;"
                ),
                AccessLog::Off => "access_log off;".to_owned(),
            };
            out.push_str(&format!(
                r#"    # Written by benches/support/district.rs: Debian's defaults and a log.
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    log_format cache '$upstream_cache_status $upstream_addr "$request" $status';
    map $upstream_cache_status $bench_not_hit {{ HIT 0; default 1; }}
    {log}
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # The README's rules, as written there:
"#
            ));
        }
    }
    assert_eq!(
        replaced,
        [1, 1, 1, 1, 1],
        "README's sample nginx configuration changed shape: {replaced:?}"
    );
    let user = if is_root() { "user root;\n" } else { "" };
    // No more than this process may open: raising the hard limit is refused
    // in a container, even to root.
    let files = (options.connections * 2).min(open_files_limit());
    format!(
        "# Written by benches/support/district.rs from README.md.\n{user}daemon off;\nmaster_process on;\nworker_processes {};\nworker_rlimit_nofile {};\npid {dir}/nginx.pid;\n\n{out}\nevents {{ worker_connections {}; }}\n",
        options.workers,
        files,
        options.connections,
    )
}
