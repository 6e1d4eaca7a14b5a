use std::path::Path;
use std::sync::OnceLock;

use actix_web::web::Data;
use pavilion::domain::*;
use pavilion::settings::Settings;
use pavilion::startup::Application;
use pavilion::store::postgres::scratch::ScratchCluster;
use pavilion::web::AppState;
use reqwest::redirect::Policy;
use scraper::{Html, Selector};

pub const PASSWORD: &str = "test-password-1";

pub struct TestApp {
    pub address: String,
    pub state: Data<AppState>,
    /// The server's database: a file in `data_dir` (SQLite) or a database of
    /// its own on the scratch cluster (PostgreSQL); see [`backend`].
    pub database_url: String,
    /// The RTMP ingest port (a free port picked at start).
    pub rtmp_port: u16,
    pub data_dir: std::path::PathBuf,
    pub _dir: tempfile::TempDir,
    /// The PostgreSQL database made for this server, dropped with it.
    pub _database: Option<ScratchDatabase>,
}

/// A place with one unit and an active registration code.
pub struct Place {
    pub community: Community,
    pub estate: Estate,
    pub building: Building,
    pub unit: Unit,
    pub code: RegistrationCode,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Settings for a server on free ports with everything under `dir`. The
/// database is a SQLite file there; a server of its own on PostgreSQL needs
/// `settings.database.url = test_database_url(dir).await` (as `spawn_app` does).
pub fn test_settings(dir: &Path) -> Settings {
    let mut settings = Settings::load(None).expect("settings");
    settings.server.port = 0;
    settings.live.rtmp_port = 0;
    // WebRTC (WHIP) publishers on loopback only, on a free port.
    settings.live.webrtc_udp_port = 0;
    settings.live.webrtc_ips = "127.0.0.1".into();
    settings.data_dir = dir.to_owned();
    settings.database.url = sqlite_url(dir);
    // Cheap hashes keep the suite fast; production defaults are tested in unit tests.
    settings.auth.argon2_memory_kib = 256;
    settings.auth.argon2_iterations = 1;
    settings
}

/// A server whose settings `tweak` adjusts first (e.g. a short grace period).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(backend(), tweak).await
}

/// A server on a fresh database of its own on the scratch PostgreSQL
/// cluster, whatever `PAVILION_TEST_DATABASE` says: for tests of several
/// nodes sharing one database. Its URL is `database_url`; another node on
/// the same database is `spawn_app_on_postgres_with(|s| s.database.url =
/// first.database_url.clone())` (the first keeps the database: it is dropped
/// with the first, so keep that one until the others are done).
pub async fn spawn_app_on_postgres() -> TestApp {
    spawn_app_on_postgres_with(|_| {}).await
}

/// The same, with settings `tweak` adjusts first (a node name, a shared
/// database URL, a shared media directory).
pub async fn spawn_app_on_postgres_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(Backend::Postgres, tweak).await
}

/// A server on a fresh database of its own on `backend`.
pub async fn spawn_app_on(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut settings = test_settings(dir.path());
    tweak(&mut settings);
    // A database of its own, unless `tweak` chose one (another node's).
    let mut database = None;
    if backend == Backend::Postgres && settings.database.url == sqlite_url(dir.path()) {
        let made = ScratchDatabase::new().await;
        settings.database.url = made.url.clone();
        database = Some(made);
    }
    let database_url = settings.database.url.clone();
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        rtmp_port: state.rtmp_port,
        data_dir: dir.path().to_owned(),
        state,
        database_url,
        _dir: dir,
        _database: database,
    }
}

// ------------------------------------------------------------ the database

/// The database the suite runs on. `PAVILION_TEST_DATABASE=postgres` runs it
/// on PostgreSQL: one scratch cluster per test binary, started on first use,
/// and a fresh migrated database for every server. Unset (or `sqlite`): a
/// SQLite file in each server's temporary folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    *BACKEND.get_or_init(
        || match std::env::var("PAVILION_TEST_DATABASE").as_deref() {
            Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
            Ok("postgres" | "postgresql") => Backend::Postgres,
            Ok(other) => panic!("PAVILION_TEST_DATABASE={other:?}: expected sqlite or postgres"),
        },
    )
}

/// The test binary's PostgreSQL cluster. It is never dropped; its watchdog
/// stops it when the test binary exits.
fn cluster() -> &'static ScratchCluster {
    static CLUSTER: OnceLock<ScratchCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        ScratchCluster::start()
            .expect("a scratch PostgreSQL cluster (needs: apt-get install postgresql)")
    })
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("pavilion.sqlite").display())
}

/// A new, empty database for one server (or CLI run) on the backend under
/// test: a SQLite file in `dir`, or a migrated database on the cluster.
pub async fn test_database_url(dir: &Path) -> String {
    database_url_on(backend(), dir).await
}

/// A new database on `backend`: a SQLite file in `dir`, or a database with
/// Pavilion's schema on the test binary's scratch PostgreSQL cluster.
pub async fn database_url_on(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => sqlite_url(dir),
        Backend::Postgres => postgres_database_url().await,
    }
}

/// A new database with Pavilion's schema on the test binary's scratch
/// PostgreSQL cluster (started on first use); its URL.
pub async fn postgres_database_url() -> String {
    cluster()
        .create_database()
        .await
        .expect("a scratch PostgreSQL database")
}

/// A database on the scratch cluster that is dropped (its connections
/// ended) when this is: a PostgreSQL pass would otherwise keep a few
/// megabytes for every server it started until the test binary exits.
pub struct ScratchDatabase {
    pub url: String,
}

impl ScratchDatabase {
    pub async fn new() -> Self {
        Self {
            url: postgres_database_url().await,
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let name = self.url.rsplit('/').next().unwrap_or_default().to_owned();
        // Not waited for: a drop must not block the test's runtime.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    use sqlx::Connection;
                    let admin = sqlx::PgConnection::connect(&cluster().url("postgres")).await;
                    if let Ok(mut admin) = admin {
                        let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = sqlx::query(&drop).execute(&mut admin).await;
                    }
                })
        });
    }
}

/// The same, for tests without a runtime of their own (the CLI's).
pub fn test_database_url_blocking(dir: &Path) -> String {
    match backend() {
        Backend::Sqlite => sqlite_url(dir),
        Backend::Postgres => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test_database_url(dir)),
    }
}

/// A connection of its own to a server's database, as another process or
/// another node would open one: for what the server's store offers no way to
/// do (tamper with append-only tables, hold the database busy).
pub enum RawDb {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl RawDb {
    pub async fn connect(url: &str) -> Self {
        use sqlx::Connection;
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        } else {
            Self::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        }
    }

    /// Runs one statement (no parameters); the rows it changed.
    pub async fn execute(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            Self::Sqlite(c) => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()),
            Self::Postgres(c) => sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()),
        }
    }

    /// The single BIGINT (`COUNT(*)`) that `sql` selects.
    pub async fn count(&mut self, sql: &str) -> i64 {
        match self {
            Self::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
            Self::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
        }
    }

    /// Holds the database as another writer would, until [`RawDb::release`]:
    /// every change waits for it, reads do not. SQLite has one write lock
    /// (`BEGIN IMMEDIATE`). PostgreSQL has none for a whole database, so
    /// every table is locked `EXCLUSIVE`: plain reads pass, inserts, updates,
    /// deletes and `SELECT … FOR UPDATE` wait.
    pub async fn hold_writes(&mut self) {
        match self {
            Self::Sqlite(c) => {
                sqlx::query("BEGIN IMMEDIATE").execute(c).await.unwrap();
            }
            Self::Postgres(c) => {
                let tables: String = sqlx::query_scalar(
                    "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables
                     WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
                )
                .fetch_one(&mut *c)
                .await
                .unwrap();
                sqlx::query("BEGIN").execute(&mut *c).await.unwrap();
                sqlx::query(&format!("LOCK TABLE {tables} IN EXCLUSIVE MODE"))
                    .execute(&mut *c)
                    .await
                    .unwrap();
            }
        }
    }

    /// Lets go of what [`RawDb::hold_writes`] held.
    pub async fn release(&mut self) {
        self.execute("ROLLBACK").await.unwrap();
    }

    pub async fn close(self) {
        use sqlx::Connection;
        match self {
            Self::Sqlite(c) => c.close().await.unwrap(),
            Self::Postgres(c) => c.close().await.unwrap(),
        }
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub fn system() -> Actor {
    Actor {
        id: None,
        name: "test".into(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The backend this server's database is on.
    pub fn backend(&self) -> Backend {
        if self.database_url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// A connection of its own to this server's database.
    pub async fn raw_db(&self) -> RawDb {
        RawDb::connect(&self.database_url).await
    }

    /// Takes the database away from under the running server, for good:
    /// PostgreSQL's is dropped (its connections are ended); SQLite's file is
    /// damaged in place (the server's open connections would still read an
    /// unlinked file, so it is checkpointed, then its header overwritten).
    pub async fn lose_database(&self) {
        match self.backend() {
            Backend::Sqlite => {
                // Everything into the main file, so that no reader finds it elsewhere.
                let mut db = self.raw_db().await;
                let RawDb::Sqlite(c) = &mut db else {
                    unreachable!()
                };
                let (busy, _, _): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&mut *c)
                        .await
                        .unwrap();
                assert_eq!(busy, 0, "the checkpoint was not blocked");
                db.close().await;
                let path = self.database_url.trim_start_matches("sqlite://");
                let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                std::io::Write::write_all(&mut file, &[0; 100]).unwrap();
            }
            Backend::Postgres => {
                let name = self.database_url.rsplit('/').next().unwrap();
                let mut admin = RawDb::connect(&cluster().url("postgres")).await;
                admin
                    .execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .unwrap();
            }
        }
    }

    pub async fn seed_place(&self) -> Place {
        self.seed_place_named("幸福社区", "XF", "阳光花园", "3号楼")
            .await
    }

    /// A community with one estate, one building and its units, named as given.
    pub async fn seed_place_named(
        &self,
        community: &str,
        code: &str,
        estate: &str,
        building: &str,
    ) -> Place {
        let store = &self.state.store;
        let community = store
            .create_community(
                &system(),
                &PlaceName::parse(community).unwrap(),
                &CommunityCode::parse(code).unwrap(),
            )
            .await
            .unwrap();
        let estate = store
            .create_estate(&system(), community.id, &PlaceName::parse(estate).unwrap())
            .await
            .unwrap();
        let building = store
            .create_building(&system(), estate.id, &PlaceName::parse(building).unwrap())
            .await
            .unwrap();
        store
            .add_units(
                &system(),
                building.id,
                &UnitLabel::parse_list("301 302").unwrap(),
            )
            .await
            .unwrap();
        store
            .issue_missing_codes(
                &system(),
                building.id,
                &mut pavilion::accounts::tokens::registration_code,
            )
            .await
            .unwrap();
        let (unit, code) = store
            .codes_for_building(building.id)
            .await
            .unwrap()
            .remove(0);
        Place {
            community,
            estate,
            building,
            unit,
            code: code.unwrap(),
        }
    }

    /// Creates an account with `role` named after it (`admin`, `staff`, …).
    pub async fn create_account(&self, role: Role, place: Option<&Place>) -> Account {
        let hash = self
            .state
            .accounts
            .hash(&Password::parse(PASSWORD.into()).unwrap())
            .await
            .unwrap();
        if role == Role::Resident {
            let place = place.expect("residents need a place");
            return self
                .state
                .store
                .register_resident(
                    &place.code.code,
                    Username::parse("resident").unwrap(),
                    DisplayName::parse("3号楼老张").unwrap(),
                    hash,
                )
                .await
                .unwrap();
        }
        let new = NewAccount {
            username: Username::parse(role.as_str()).unwrap(),
            display_name: DisplayName::parse(&format!("{} name", role.as_str())).unwrap(),
            password_hash: hash,
            role,
            community_id: None,
            estate_id: None,
            unit_id: None,
        };
        self.state
            .store
            .create_account(&system(), new)
            .await
            .unwrap()
    }

    /// A client logged in as `username`.
    pub async fn login(&self, username: &str) -> reqwest::Client {
        let client = client();
        let response = self
            .post_form(
                &client,
                "/login",
                &[("username", username), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(response.status(), 303, "login as {username} failed");
        client
    }

    /// The form token this client's pages carry (every page has the language switch form).
    pub async fn form_token(&self, client: &reqwest::Client) -> String {
        let page = client
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        form_token_in(&page).unwrap_or_else(|| {
            let start: String = page.chars().take(600).collect();
            panic!("page has a form token; it was:\n{start}")
        })
    }

    /// Posts a form with the client's valid form token.
    pub async fn post_form(
        &self,
        client: &reqwest::Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.form_token(client).await;
        let mut body: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        body.extend_from_slice(fields);
        client
            .post(self.url(path))
            .form(&body)
            .send()
            .await
            .unwrap()
    }

    /// The body of a GET, as a person's browser would load the page.
    pub async fn text(&self, client: &reqwest::Client, path: &str) -> String {
        client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The JSON body of a GET.
    pub async fn json(&self, client: &reqwest::Client, path: &str) -> serde_json::Value {
        client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An Open311 API key issued through the console by `issuer` (signed in
    /// as an admin); the page shows it once.
    pub async fn issue_open311_key(&self, issuer: &reqwest::Client, name: &str) -> String {
        let response = self
            .post_form(issuer, "/console/api-keys", &[("name", name)])
            .await;
        assert_eq!(response.status(), 200, "the key is issued");
        let page = response.text().await.unwrap();
        text_of(&page, "code.reg-code").expect("the new key is shown")
    }

    /// POSTs an Open311 request, form-encoded as GeoReport clients send it.
    pub async fn open311_post(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        client()
            .post(self.url("/open311/v2/requests.json"))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn audit(&self, action: &str) -> Vec<AuditEntry> {
        self.state
            .store
            .audit_log(&AuditFilter {
                action: Some(action.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
    }
}

pub fn form_token_in(page: &str) -> Option<String> {
    let html = Html::parse_document(page);
    let selector = Selector::parse(r#"input[name="csrf_token"]"#).unwrap();
    html.select(&selector)
        .next()
        .and_then(|e| e.value().attr("value"))
        .map(str::to_owned)
}

/// The text of the first element matching `selector`.
pub fn text_of(page: &str, selector: &str) -> Option<String> {
    let html = Html::parse_document(page);
    let selector = Selector::parse(selector).unwrap();
    html.select(&selector)
        .next()
        .map(|e| e.text().collect::<String>())
}

/// The value of the first series named `name` in Prometheus text, whatever
/// its labels (every series carries at least `node`).
pub fn series_value<'a>(metrics: &'a str, name: &str) -> Option<&'a str> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let value = match rest.strip_prefix('{') {
            Some(labelled) => labelled.split_once("} ")?.1,
            None => rest.strip_prefix(' ')?,
        };
        Some(value.trim())
    })
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A WebSocket to `/live/{id}/ws`, as a browser's watch page opens it.
pub struct LiveSocket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    /// Frames read while waiting for another kind, in arrival order.
    skipped: std::collections::VecDeque<serde_json::Value>,
}

/// A logged-in browser: its HTTP client and the cookies it would send.
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Browser {
    /// The `Cookie` header this browser sends to the app.
    pub fn cookie_header(&self, app: &TestApp) -> Option<String> {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&app.address.parse().unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

impl TestApp {
    /// Another resident of `place`, with the nickname `nickname`.
    pub async fn add_resident(&self, place: &Place, username: &str, nickname: &str) -> Account {
        let hash = self
            .state
            .accounts
            .hash(&Password::parse(PASSWORD.into()).unwrap())
            .await
            .unwrap();
        self.state
            .store
            .register_resident(
                &place.code.code,
                Username::parse(username).unwrap(),
                DisplayName::parse(nickname).unwrap(),
                hash,
            )
            .await
            .unwrap()
    }

    /// A staff account with a chosen name (several of one role).
    pub async fn add_staff(
        &self,
        role: Role,
        username: &str,
        community: Option<CommunityId>,
    ) -> Account {
        let display_name = format!("{username}的名字");
        self.add_placed_staff(role, username, &display_name, community, None)
            .await
    }

    /// A staff account tied to `community` and `estate` (the whole
    /// installation when both are `None`), shown as `display_name`.
    pub async fn add_placed_staff(
        &self,
        role: Role,
        username: &str,
        display_name: &str,
        community: Option<CommunityId>,
        estate: Option<EstateId>,
    ) -> Account {
        let hash = self
            .state
            .accounts
            .hash(&Password::parse(PASSWORD.into()).unwrap())
            .await
            .unwrap();
        let new = NewAccount {
            username: Username::parse(username).unwrap(),
            display_name: DisplayName::parse(display_name).unwrap(),
            password_hash: hash,
            role,
            community_id: community,
            estate_id: estate,
            unit_id: None,
        };
        self.state
            .store
            .create_account(&system(), new)
            .await
            .unwrap()
    }

    /// Logs `username` in and keeps the cookie jar, for WebSockets.
    pub async fn browser_of(&self, username: &str) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .build()
            .unwrap();
        let response = self
            .post_form(
                &http,
                "/login",
                &[("username", username), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(response.status(), 303, "login as {username} failed");
        Browser { http, jar }
    }

    /// Opens the watch page's socket: anonymous without `browser`;
    /// `after` resumes. Sends this site as the Origin, like a browser.
    pub async fn live_socket(
        &self,
        broadcast: BroadcastId,
        browser: Option<&Browser>,
        after: Option<i64>,
    ) -> LiveSocket {
        self.try_live_socket(broadcast, browser, after, Some(&self.address))
            .await
            .expect("the socket opens")
    }

    /// The same, with any Origin; the handshake's refusal status on failure.
    pub async fn try_live_socket(
        &self,
        broadcast: BroadcastId,
        browser: Option<&Browser>,
        after: Option<i64>,
        origin: Option<&str>,
    ) -> Result<LiveSocket, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut url = format!(
            "{}/live/{broadcast}/ws",
            self.address.replacen("http://", "ws://", 1)
        );
        if let Some(after) = after {
            url.push_str(&format!("?after={after}"));
        }
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().unwrap());
        }
        if let Some(cookie) = browser.and_then(|b| b.cookie_header(self)) {
            request
                .headers_mut()
                .insert("Cookie", cookie.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(LiveSocket {
                stream,
                skipped: Default::default(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("socket failed: {e}"),
        }
    }
}

impl LiveSocket {
    pub async fn send(&mut self, frame: serde_json::Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::text(
                frame.to_string(),
            ))
            .await
            .expect("the frame is sent");
    }

    /// Sends raw text (e.g. an oversized frame).
    pub async fn send_text(&mut self, text: String) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .expect("the frame is sent");
    }

    /// The next JSON frame within `limit`, or `None` if none came (or the socket closed).
    pub async fn next_within(&mut self, limit: std::time::Duration) -> Option<serde_json::Value> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            match message {
                tokio_tungstenite::tungstenite::Message::Text(text) => {
                    return Some(serde_json::from_str(text.as_str()).expect("frames are JSON"));
                }
                tokio_tungstenite::tungstenite::Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next frame of `kind` (`"snapshot"`, `"event"`, `"ack"`, …),
    /// skipping others; panics after five seconds.
    pub async fn expect(&mut self, kind: &str) -> serde_json::Value {
        self.expect_where(kind, |_| true).await
    }

    /// The next frame of `kind` that `test` accepts. Frames of other kinds
    /// are kept for later calls, in order.
    pub async fn expect_where(
        &mut self,
        kind: &str,
        test: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        if let Some(at) = self
            .skipped
            .iter()
            .position(|f| f["type"] == kind && test(f))
        {
            return self.skipped.remove(at).unwrap();
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(frame) if frame["type"] == kind && test(&frame) => return frame,
                Some(frame) => self.skipped.push_back(frame),
                None => panic!("no {kind} frame came; saw {:#?}", self.skipped),
            }
        }
    }

    /// Every frame of `kind` already kept or arriving until none has come
    /// for `quiet`.
    pub async fn drain(
        &mut self,
        kind: &str,
        quiet: std::time::Duration,
    ) -> Vec<serde_json::Value> {
        let mut frames: Vec<serde_json::Value> = Vec::new();
        self.skipped.retain(|f| {
            if f["type"] == kind {
                frames.push(f.clone());
                false
            } else {
                true
            }
        });
        while let Some(frame) = self.next_within(quiet).await {
            if frame["type"] == kind {
                frames.push(frame);
            } else {
                self.skipped.push_back(frame);
            }
        }
        frames
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// The Python that has the PyPI clients of `tests/python-requirements.txt`:
/// `PAVILION_TEST_PYTHON` (set by `./dev test`), or the virtualenv `./dev test`
/// leaves in `.venv-test`. Missing, the test fails and says how to get it.
pub fn python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("PAVILION_TEST_PYTHON") {
        return python.into();
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/python");
    assert!(
        local.exists(),
        "the PyPI test clients are missing: run `./dev test` once (it installs \
         tests/python-requirements.txt into .venv-test)"
    );
    local
}
