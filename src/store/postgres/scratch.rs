//! A throwaway PostgreSQL cluster for tests and benchmarks: Debian's server
//! binaries, a fresh data directory in a temporary folder, a free port on
//! loopback, durability switched off. Nothing system-wide is touched.
//!
//! PostgreSQL refuses to run as root; when we are root the cluster runs as
//! the `postgres` user the Debian package creates. A small watchdog stops
//! the server (by PID) when the process that started it exits, however it
//! exits, so a test binary that never drops its cluster leaves nothing behind.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, Executor, PgConnection};

/// The database every scratch database is copied from, migrated once.
const TEMPLATE: &str = "pavilion_template";

pub struct ScratchCluster {
    dir: tempfile::TempDir,
    port: u16,
    server: Child,
    next_database: AtomicU64,
    template_ready: tokio::sync::OnceCell<()>,
    creating: tokio::sync::Mutex<()>,
}

impl ScratchCluster {
    /// Creates and starts a cluster; waits until it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let bin = server_binaries()?;
        let dir = tempfile::Builder::new().prefix("pavilion-pg-").tempdir()?;
        let data = dir.path().join("data");
        let as_postgres = is_root();
        if as_postgres {
            // The temporary folder is root's; the server needs its own.
            std::fs::create_dir(&data)?;
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()))?;
        }
        run(as_user(as_postgres, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "pavilion",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]))
        .context("initdb")?;

        let port = free_port()?;
        let mut server = as_user(as_postgres, &bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=400"])
            .args(["-c", "shared_buffers=128MB", "-c", "logging_collector=off"])
            // A test binary makes hundreds of databases (each written to the WAL).
            .args(["-c", "max_wal_size=128MB", "-c", "min_wal_size=32MB"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("server.log"))?);
        let server = server.spawn().context("starting postgres")?;
        watch_over(server.id(), dir.path())?;

        let cluster = Self {
            dir,
            port,
            server,
            next_database: AtomicU64::new(1),
            template_ready: tokio::sync::OnceCell::new(),
            creating: tokio::sync::Mutex::new(()),
        };
        cluster.wait_until_ready(&bin)?;
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://pavilion@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database with Pavilion's schema; returns its URL.
    pub async fn create_database(&self) -> anyhow::Result<String> {
        self.template_ready
            .get_or_try_init(|| async {
                let url = self.url("postgres");
                let mut admin = PgConnection::connect(&url).await?;
                admin
                    .execute(format!("CREATE DATABASE {TEMPLATE}").as_str())
                    .await?;
                let store =
                    super::PgStore::open_with(&self.url(TEMPLATE), Duration::from_secs(10)).await?;
                store.pool().close().await;
                anyhow::Ok(())
            })
            .await?;
        let name = format!(
            "pavilion_{}_{}",
            std::process::id(),
            self.next_database.fetch_add(1, Ordering::Relaxed)
        );
        // Copying from a template needs nobody else copying it at that moment.
        let _one_at_a_time = self.creating.lock().await;
        let mut admin = PgConnection::connect(&self.url("postgres")).await?;
        admin
            .execute(format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}").as_str())
            .await?;
        Ok(self.url(&name))
    }

    /// An empty database without Pavilion's schema (for `db copy` targets
    /// and migration tests); returns its URL.
    pub async fn create_empty_database(&self) -> anyhow::Result<String> {
        let name = format!(
            "empty_{}_{}",
            std::process::id(),
            self.next_database.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&self.url("postgres")).await?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        Ok(self.url(&name))
    }

    /// The server's log, for a failing test to print.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Until the server accepts sessions (it listens a moment before it
    /// does: "the database system is starting up").
    fn wait_until_ready(&self, bin: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let socket = self.dir.path().join(format!(".s.PGSQL.{}", self.port));
        while Instant::now() < deadline {
            let accepting = || {
                Command::new(bin.join("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-U", "pavilion", "-d", "postgres"])
                    .args(["-p", &self.port.to_string()])
                    .status()
                    .is_ok_and(|status| status.success())
            };
            if socket.exists() && accepting() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("PostgreSQL did not start within 30 s:\n{}", self.log())
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast shutdown".
        let _ = Command::new("kill")
            .args(["-INT", &self.server.id().to_string()])
            .status();
        let _ = self.server.wait();
    }
}

/// Debian's server binaries: the newest /usr/lib/postgresql/<version>/bin.
fn server_binaries() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL's server is not installed (apt-get install postgresql)")?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!("no /usr/lib/postgresql/<version>/bin/postgres; apt-get install postgresql"),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

/// `program`, run as the `postgres` user when `as_postgres` (setpriv execs
/// the program itself, so the child's PID is the server's).
fn as_user(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--clear-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command.output().with_context(|| format!("{command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A port nothing listens on now. (Another process could take it before the
/// server does; the start then fails loudly rather than silently.)
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts a watchdog that stops `server` once this process is gone, then
/// removes the cluster's folder `dir` (a cluster kept in a static is never
/// dropped, so its `TempDir` would otherwise stay behind).
fn watch_over(server: u32, dir: &Path) -> anyhow::Result<()> {
    let script =
        "while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do sleep 0.5; done; \
                  kill -INT \"$2\" 2>/dev/null; \
                  for _ in $(seq 120); do kill -0 \"$2\" 2>/dev/null || break; sleep 0.25; done; \
                  rm -rf \"$3\"";
    Command::new("sh")
        .args(["-c", script, "watchdog"])
        .arg(std::process::id().to_string())
        .arg(server.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the watchdog")?;
    Ok(())
}
