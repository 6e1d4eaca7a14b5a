//! Builds the application from settings: store, services, listener, routes.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::accounts::Accounts;
use crate::chat::Chat;
use crate::feedback::records::Records;
use crate::live::Live;
use crate::media::picture::DecodeSlots;
use crate::settings::Settings;
use crate::signage::{Signage, SignageSettings};
use crate::store::{self, Store};
use crate::web::{self, observability, AppState};

use actix_web::web::Data;

pub struct Application {
    port: u16,
    server: Server,
    state: Data<AppState>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store =
            store::connect_with(&settings.database.url, settings.database.busy_timeout()).await?;
        Self::build_with_store(settings, store).await
    }

    pub async fn build_with_store(
        mut settings: Settings,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {}:{}: {e}",
                    settings.server.host,
                    settings.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        // From here on `settings.node.name` is the name this node goes by
        // (responses, metrics, /healthz, the live hub).
        settings.node.name = settings.node.name_or_default(port);
        if settings.node.header_value().is_none() {
            anyhow::bail!(
                "node.name {:?} cannot name this node: use printable ASCII without spaces",
                settings.node.name
            );
        }
        let node = crate::live::Node::new(
            settings.node.name.clone(),
            settings.node.internal_url_or_default(port),
        );
        tracing::info!(node = %node.name, internal_url = %node.internal_url, "this node");
        if settings.node.internal_url.trim().is_empty()
            && !settings.database.url.starts_with("sqlite:")
        {
            tracing::warn!(
                "node.internal_url is not set: other nodes on this database cannot reach this \
                 one's live broadcasts unless they run on this machine"
            );
        }
        let live = Live::new(
            store.clone(),
            settings.live.clone(),
            &settings.data_dir,
            node,
        );
        let rtmp_port = live.start().await?;
        let pictures = Arc::new(DecodeSlots::for_this_machine());
        let metrics = observability::Metrics::new(&settings.node.name)?;
        metrics
            .registry()
            .register(Box::new(pictures.decodes.clone()))?;
        metrics
            .registry()
            .register(Box::new(pictures.busy.clone()))?;
        let signage = Signage::new(
            store.clone(),
            SignageSettings {
                public_url: settings.server.public_url.clone(),
                time_zone: settings.time_zone,
                client_version: web::kiosk::client_version().to_owned(),
                data_dir: settings.data_dir.clone(),
            },
            pictures.clone(),
        );
        signage.spawn_tasks();
        signage.spawn_cap_poller(
            std::time::Duration::from_secs(settings.cap.poll_seconds.max(1)),
            settings.cap.private_feeds,
        );
        let chat = Chat::new(store.clone(), live.hub().clone(), settings.time_zone);
        chat.spawn_tasks();
        let state = Data::new(AppState {
            accounts: Accounts::new(store.clone(), &settings.auth)?,
            records: Records::new(store.clone(), settings.time_zone),
            live,
            signage,
            chat,
            rtmp_port,
            metrics,
            pictures,
            store,
            settings,
        });
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(actix_web::web::FormConfig::default().limit(web::forms::FORM_LIMIT))
                .wrap(web::error_pages())
                .wrap(from_fn(web::ensure_form_token))
                .wrap(web::browser_policy::default_headers(&app_state.settings))
                .wrap(Compress::default())
                .wrap(from_fn(observability::record))
                .wrap(TracingLogger::<web::request_log::RedactingRootSpan>::new())
                .configure(web::routes)
        })
        // Longer than the screens' 30 s heartbeat, so they keep their
        // connection instead of opening one per report.
        .keep_alive(std::time::Duration::from_secs(75))
        .h1_write_buffer_size(web::public::WRITE_BUFFER)
        .listen(listener)?
        // A client that closes its connection is gone: drop its request even
        // while it is held (a blocking playlist reload, a hinted part).
        .h1_allow_half_closed(false)
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside (tests that take it down and back up).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM, then finishes in-flight requests (graceful shutdown).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Prints the one-time setup link when there is no admin yet: on standard
/// output for the operator who starts the server, never as a log event, since
/// logs are kept and shipped and the link makes whoever holds it an admin.
pub async fn announce_setup_link(state: &AppState) -> anyhow::Result<()> {
    if let Some(token) = state.accounts.setup_token_if_needed().await? {
        let base = state.settings.server.public_url.trim_end_matches('/');
        let link = format!("{base}/setup/{token}");
        tracing::warn!(
            "no admin account yet: open the one-time setup link printed on standard output to create the first admin"
        );
        println!(
            "\n  首次启动：请在 24 小时内打开此链接创建第一个管理员账号\n  First start: open this link within 24 hours to create the first admin\n  {link}\n"
        );
    }
    Ok(())
}
