//! The `pavilion` command line.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::accounts::{tokens, Accounts};
use crate::domain::{Actor, DisplayName, NewAccount, Password, Role, Username};
use crate::media::rtmp;
use crate::media::test_pattern::{self, TestPattern};
use crate::settings::Settings;
use crate::startup::Application;
use crate::store;

#[derive(Parser)]
#[command(
    name = "pavilion",
    version,
    about = "社区议事厅 Pavilion — community broadcasts, notice boards and feedback records"
)]
pub struct Cli {
    /// A TOML settings file (default: ./pavilion.toml if present).
    #[arg(long, global = true, env = "PAVILION_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Seed a demo community (once) and run the server.
    Demo {
        /// Only seed; do not start the server.
        #[arg(long)]
        seed_only: bool,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Broadcast tools.
    Broadcast {
        #[command(subcommand)]
        command: BroadcastCommand,
    },
    /// Database tools.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Copy a SQLite database, with its whole history, into a new and empty
    /// PostgreSQL database (for a community moving to several nodes). Stop
    /// Pavilion first; the copy is all or nothing.
    Copy {
        /// The SQLite database: sqlite://path/to/pavilion.sqlite (read only).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty PostgreSQL database: postgres://user:password@host/database.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Subcommand)]
enum BroadcastCommand {
    /// Publish a synthetic stream (test picture with a running clock, and a
    /// tone) over RTMP, as an encoder would: a live broadcast without OBS.
    TestPattern {
        /// The broadcast's stream key (console → broadcasts).
        #[arg(long)]
        key: String,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
        /// The ingest address (default: this machine's RTMP port from the settings).
        #[arg(long)]
        server: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a staff account. Reads the password from standard input when
    /// `--password-stdin` is given; otherwise generates and prints one.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// admin, secretary, moderator, staff or observer.
        #[arg(long)]
        role: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Db {
        command: DbCommand::Copy { from, to },
    } = &cli.command
    {
        // Needs no settings: both databases are named on the command line.
        return db_copy(from, to).await;
    }
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Db { .. } => unreachable!("handled above"),
        Command::Serve => serve(settings, false).await,
        Command::Demo { seed_only } => {
            let store =
                store::connect_with(&settings.database.url, settings.database.busy_timeout())
                    .await?;
            let accounts = Accounts::new(store.clone(), &settings.auth)?;
            crate::demo::seed(&*store, &accounts).await?;
            crate::demo::print_accounts(&settings.server.public_url);
            if seed_only {
                return Ok(());
            }
            serve(settings, true).await
        }
        Command::Broadcast {
            command:
                BroadcastCommand::TestPattern {
                    key,
                    seconds,
                    server,
                },
        } => {
            let server = server.unwrap_or_else(|| {
                format!("rtmp://127.0.0.1:{}/{}", settings.live.rtmp_port, rtmp::APP)
            });
            let pattern = TestPattern {
                url: format!("{}/{key}", server.trim_end_matches('/')),
                seconds,
                ..TestPattern::default()
            };
            let stop = Arc::new(AtomicBool::new(false));
            let stopper = stop.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    stopper.store(true, Ordering::SeqCst);
                }
            });
            println!("publishing a test pattern to {server}/…");
            let report =
                tokio::task::spawn_blocking(move || test_pattern::publish(&pattern, &stop))
                    .await??;
            println!(
                "published {} video and {} audio frames",
                report.video_frames, report.audio_frames
            );
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    display_name,
                    role,
                    password_stdin,
                },
        } => {
            let store =
                store::connect_with(&settings.database.url, settings.database.busy_timeout())
                    .await?;
            let accounts = Accounts::new(store.clone(), &settings.auth)?;
            let role = Role::parse(&role)
                .filter(|r| *r != Role::Resident)
                .ok_or_else(|| {
                    anyhow::anyhow!("role must be admin, secretary, moderator, staff or observer")
                })?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (tokens::random_token()[..16].to_owned(), true)
            };
            let new = NewAccount {
                username: Username::parse(&username)
                    .map_err(|e| anyhow::anyhow!("username: {e}"))?,
                display_name: DisplayName::parse(&display_name)
                    .map_err(|e| anyhow::anyhow!("display name: {e}"))?,
                password_hash: accounts
                    .hash(
                        &Password::parse(password.clone())
                            .map_err(|e| anyhow::anyhow!("password: {e}"))?,
                    )
                    .await?,
                role,
                community_id: None,
                estate_id: None,
                unit_id: None,
            };
            let actor = Actor {
                id: None,
                name: "cli".into(),
            };
            let account = store
                .create_account(&actor, new)
                .await
                .map_err(|e| match e {
                    store::StoreError::Conflict => {
                        anyhow::anyhow!("an account named {username:?} already exists")
                    }
                    e => e.into(),
                })?;
            println!(
                "created {} ({}) with id {}",
                account.username,
                role.as_str(),
                account.id
            );
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
    }
}

/// `pavilion db copy`: one line per table with its rows, a total, the time.
async fn db_copy(from: &str, to: &str) -> anyhow::Result<()> {
    let report = store::copy::copy(from, to)
        .await
        .context("db copy: nothing was copied")?;
    let width = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(0)
        .max("total".len());
    for table in &report.tables {
        let note = if table.derived {
            "  (rebuilt by PostgreSQL's triggers, checked)"
        } else {
            ""
        };
        println!("{:<width$}  {:>10}{note}", table.table, table.rows);
    }
    println!("{:<width$}  {:>10}", "total", report.total_rows());
    println!(
        "{} tables copied in {:.1} s",
        report.tables.len(),
        report.elapsed.as_secs_f64()
    );
    Ok(())
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    tracing::info!(
        address = %format!("{}:{}", settings.server.host, app.port()),
        public_url = settings.server.public_url,
        "Pavilion is listening"
    );
    let state = app.state();
    // Start serving (and listening for SIGTERM) before printing anything an
    // operator might act on.
    let server = actix_web::rt::spawn(app.run_until_stopped());
    let watcher_state = state.clone();
    actix_web::rt::spawn(async move {
        crate::feedback::escalation::watch(
            &watcher_state.records,
            std::time::Duration::from_secs(30),
        )
        .await
    });
    tokio::task::yield_now().await;
    crate::startup::announce_setup_link(&state).await?;
    if demo {
        let broadcast = crate::demo::live_broadcast(&*state.store).await?;
        let url = format!(
            "rtmp://127.0.0.1:{}/{}/{}",
            state.rtmp_port,
            rtmp::APP,
            broadcast.stream_key
        );
        println!(
            "  演示直播 Demo broadcast: {}/live/{}\n",
            settings.server.public_url.trim_end_matches('/'),
            broadcast.id
        );
        std::thread::Builder::new()
            .name("demo-encoder".into())
            .spawn(move || demo_encoder(url))?;
    }
    server.await??;
    tracing::info!("stopped");
    Ok(())
}

/// The demo's synthetic encoder: publishes for as long as the server runs,
/// reconnecting if it is dropped (a light 480p picture to spare the CPU).
fn demo_encoder(url: String) {
    let pattern = TestPattern {
        url,
        width: 854,
        height: 480,
        label: "Pavilion demo broadcast".into(),
        ..TestPattern::default()
    };
    let never = AtomicBool::new(false);
    loop {
        if let Err(e) = test_pattern::publish(&pattern, &never) {
            tracing::warn!(error = %e, "demo encoder stopped; retrying in 5 s");
        }
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}
