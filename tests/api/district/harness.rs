//! A district on loopback: Pavilion nodes as real processes (so one can be
//! killed with SIGKILL), sharing one PostgreSQL database and one media
//! directory, behind Debian's nginx for HTTP (with the LL-HLS cache rules
//! of the README) and for RTMP (the stream module).
//!
//! The data is seeded through an in-process server on the same database
//! (`District::seeder`), so every `TestApp` helper works; it is a node too,
//! just not behind nginx.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::*;

pub struct District {
    /// An in-process node on the district's database and media directory.
    pub seeder: TestApp,
    pub nodes: Vec<Node>,
    pub nginx: Nginx,
    /// The nodes' logs and nginx's files; gone with the district.
    _dir: tempfile::TempDir,
}

pub struct Node {
    pub name: String,
    pub http_port: u16,
    pub rtmp_port: u16,
    child: Option<Child>,
    log: PathBuf,
}

pub struct Nginx {
    pub http_port: u16,
    pub rtmp_port: u16,
    child: Child,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl District {
    /// `count` nodes and nginx in front of them, on a new database.
    pub async fn start(count: usize) -> District {
        let seeder = spawn_app_on_postgres().await;
        let dir = tempfile::Builder::new()
            .prefix("pavilion-district-")
            .tempdir()
            .unwrap();
        let nginx_http = free_port();
        let public_url = format!("http://127.0.0.1:{nginx_http}");
        let mut nodes = Vec::new();
        for index in 0..count {
            let name = format!("node-{}", (b'a' + index as u8) as char);
            nodes.push(Node::start(&name, &seeder, &public_url, dir.path()));
        }
        for node in &mut nodes {
            node.wait_until_healthy().await;
        }
        let nginx = Nginx::start(dir.path(), nginx_http, &nodes);
        nginx.wait_until_listening().await;
        District {
            seeder,
            nodes,
            nginx,
            _dir: dir,
        }
    }

    /// `path` on node `index` directly.
    pub fn node_url(&self, index: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nodes[index].http_port)
    }

    /// The RTMP ingest address through the load balancer.
    pub fn ingest_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.nginx.rtmp_port)
    }

    /// The node called `name`.
    pub fn index_of(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|node| node.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// Kills node `index` with SIGKILL: no clean-up, no goodbye.
    pub fn kill_9(&mut self, index: usize) {
        self.nodes[index].kill_9();
    }

    /// What the nodes and nginx logged, for a failing assertion.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for node in &self.nodes {
            all.push_str(&format!("----- {} -----\n", node.name));
            all.push_str(&tail(&node.log, 60));
        }
        all.push_str("----- nginx -----\n");
        all.push_str(&tail(&self.nginx.dir.join("error.log"), 30));
        all
    }

    /// The district as a browser sees it: every request through nginx.
    pub fn front(&self) -> TestApp {
        self.view(format!("http://127.0.0.1:{}", self.nginx.http_port))
    }

    /// Node `index` reached directly, past the load balancer.
    pub fn node(&self, index: usize) -> TestApp {
        self.view(format!("http://127.0.0.1:{}", self.nodes[index].http_port))
    }

    /// The seeder's helpers, speaking HTTP to `address` instead.
    fn view(&self, address: String) -> TestApp {
        TestApp {
            address,
            state: self.seeder.state.clone(),
            database_url: self.seeder.database_url.clone(),
            rtmp_port: self.nginx.rtmp_port,
            data_dir: self.seeder.data_dir.clone(),
            _dir: tempfile::tempdir().unwrap(),
            // The seeder keeps the database; views only borrow it.
            _database: None,
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n") + "\n"
}

impl Node {
    fn start(name: &str, seeder: &TestApp, public_url: &str, dir: &Path) -> Node {
        let (http_port, rtmp_port) = (free_port(), free_port());
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_pavilion"))
            .arg("serve")
            .current_dir(dir)
            .env("PAVILION__DATABASE__URL", &seeder.database_url)
            .env("PAVILION__DATA_DIR", &seeder.data_dir)
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
            // Several servers on one machine: each its own WebRTC port.
            .env("PAVILION__LIVE__WEBRTC_UDP_PORT", "0")
            .env("PAVILION__LIVE__WEBRTC_IPS", "127.0.0.1")
            .env("PAVILION__AUTH__ARGON2_MEMORY_KIB", "256")
            .env("PAVILION__AUTH__ARGON2_ITERATIONS", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .expect("the pavilion binary starts");
        stop_when_the_tests_stop(child.id(), &["-KILL", &child.id().to_string()]);
        Node {
            name: name.to_owned(),
            http_port,
            rtmp_port,
            child: Some(child),
            log,
        }
    }

    async fn wait_until_healthy(&mut self) {
        let url = format!("http://127.0.0.1:{}/healthz", self.http_port);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(&url).await {
                if response.status().is_success() {
                    return;
                }
            }
            if let Some(exit) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "node {} exited with {exit}:\n{}",
                    self.name,
                    tail(&self.log, 40)
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {} did not become healthy:\n{}",
                self.name,
                tail(&self.log, 40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_9();
    }
}

impl Nginx {
    fn start(dir: &Path, http_port: u16, nodes: &[Node]) -> Nginx {
        let rtmp_port = free_port();
        let dir = dir.join("nginx");
        std::fs::create_dir_all(dir.join("cache")).unwrap();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, configuration(&dir, http_port, rtmp_port, nodes)).unwrap();
        // Its own process group: its workers go with it, whatever happens
        // to the master.
        let child = Command::new(nginx_binary())
            .process_group(0)
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
            .expect("nginx starts (./dev test installs it)");
        stop_when_the_tests_stop(child.id(), &["-TERM", &format!("-{}", child.id())]);
        Nginx {
            http_port,
            rtmp_port,
            child,
            dir,
        }
    }

    async fn wait_until_listening(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.http_port))
            .await
            .is_err()
            || tokio::net::TcpStream::connect(("127.0.0.1", self.rtmp_port))
                .await
                .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
                    + &std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many requests for `path_part` nginx sent on to a node, from its
    /// access log (one line per client request, with the cache status).
    pub fn upstream_requests(&self, path_part: &str) -> usize {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(path_part))
            .filter(|line| {
                let status = line.rsplit(' ').next().unwrap_or("");
                matches!(status, "MISS" | "BYPASS" | "EXPIRED" | "-")
            })
            .count()
    }
}

impl Drop for Nginx {
    /// SIGTERM to the master is nginx's fast shutdown (it stops its
    /// workers); whatever is left of the group after a few seconds is killed.
    /// (SIGKILL to the master alone would leave its workers running.)
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let kill = |signal: &str| {
            Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status()
        };
        let _ = kill("-TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill("-KILL");
        let _ = self.child.wait();
    }
}

/// Runs `kill ARGS` (the shell's own: no `--`) once this test process has
/// gone while `pid` still runs, however the tests went (a panic that skips `Drop`, a timeout's
/// SIGKILL): nodes and nginx never outlive the tests that started them.
fn stop_when_the_tests_stop(pid: u32, kill: &[&str]) {
    let script =
        "while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do sleep 0.5; done; \
                  kill -0 \"$2\" 2>/dev/null || exit 0; shift 2; kill \"$@\" 2>/dev/null";
    let _ = Command::new("sh")
        .args(["-c", script, "watchdog"])
        .arg(std::process::id().to_string())
        .arg(pid.to_string())
        .args(kill)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// The configuration of the README's "Running a district", on loopback ports.
fn configuration(dir: &Path, http_port: u16, rtmp_port: u16, nodes: &[Node]) -> String {
    let http_servers: String = nodes
        .iter()
        .map(|n| {
            format!(
                "        server 127.0.0.1:{} max_fails=1 fail_timeout=10s;\n",
                n.http_port
            )
        })
        .collect();
    let rtmp_servers: String = nodes
        .iter()
        .map(|n| {
            format!(
                "        server 127.0.0.1:{} max_fails=1 fail_timeout=10s;\n",
                n.rtmp_port
            )
        })
        .collect();
    let dir = dir.display();
    let module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    let user = if is_root() { "user root;" } else { "" };
    format!(
        r#"# Written by the district test harness.
{user}
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
load_module {module};
events {{ worker_connections 8192; }}

http {{
    log_format cache '$remote_addr "$request" $status $upstream_cache_status';
    access_log {dir}/access.log cache;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{nginx_http}
    upstream pavilion {{
{http_servers}        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{http_port};
{nginx_server}
    }}
}}

stream {{
    upstream pavilion_rtmp {{
{rtmp_servers}    }}
    server {{
        listen 127.0.0.1:{rtmp_port};
        proxy_pass pavilion_rtmp;
        proxy_connect_timeout 1s;
    }}
}}
"#,
        nginx_http = HTTP_RULES.replace("{cache}", &format!("{dir}/cache")),
        nginx_server = SERVER_RULES,
    )
}

/// The `http` part shared with the README's sample (cache and maps).
const HTTP_RULES: &str = r#"
    proxy_cache_path {cache} levels=1:2 keys_zone=pavilion_hls:16m max_size=1g inactive=10m use_temp_path=off;
    # A playlist request without _HLS_msn is a plain reload: never cached.
    map $arg__HLS_msn $pavilion_plain_reload {
        ""      1;
        default 0;
    }
    map $http_upgrade $pavilion_connection {
        default upgrade;
        ""      "";
    }
"#;

/// The `server` part shared with the README's sample.
const SERVER_RULES: &str = r#"
        client_max_body_size 300m;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Set here once: a proxy_set_header inside a location would drop
        # all of these there. Connection is "upgrade" for WebSockets and
        # empty otherwise, which keeps upstream connections alive.
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $pavilion_connection;
        # Only nodes may say a request was relayed by a node.
        proxy_set_header X-Pavilion-Relayed "";
        proxy_connect_timeout 1s;
        proxy_next_upstream error timeout http_502 http_503;

        # Pages, forms, the watch page's WebSocket and the screens' event stream.
        location / {
            proxy_pass http://pavilion;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }

        # LL-HLS media: names are never reused, so one fetch per cache serves all.
        location ~ ^/live/[0-9]+/[^/]+/[^/]+\.(m4s|mp4)$ {
            proxy_pass http://pavilion;
            proxy_cache pavilion_hls;
            proxy_cache_valid 200 10m;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 6s;
            proxy_cache_lock_age 6s;
        }

        # LL-HLS playlists: a blocking reload (_HLS_msn/_HLS_part) names one
        # future playlist; the first viewer's request waits at the origin and
        # everyone else's waits on the cache lock for that same answer.
        location ~ ^/live/[0-9]+/[^/]+/index\.m3u8$ {
            proxy_pass http://pavilion;
            proxy_cache pavilion_hls;
            proxy_cache_key $uri$is_args$args;
            proxy_ignore_headers Cache-Control Expires;
            proxy_cache_valid 200 2s;
            proxy_cache_bypass $pavilion_plain_reload;
            proxy_no_cache $pavilion_plain_reload;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 6s;
            proxy_cache_lock_age 6s;
        }
"#;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}
