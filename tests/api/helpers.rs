use actix_web::web::Data;
use pavilion::domain::*;
use pavilion::settings::Settings;
use pavilion::startup::Application;
use pavilion::web::AppState;
use reqwest::redirect::Policy;
use scraper::{Html, Selector};

pub const PASSWORD: &str = "test-password-1";

pub struct TestApp {
    pub address: String,
    pub state: Data<AppState>,
    pub database_url: String,
    /// The RTMP ingest port (a free port picked at start).
    pub rtmp_port: u16,
    pub data_dir: std::path::PathBuf,
    pub _dir: tempfile::TempDir,
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

/// Settings for a server on free ports with everything under `dir`.
pub fn test_settings(dir: &std::path::Path) -> Settings {
    let mut settings = Settings::load(None).expect("settings");
    settings.server.port = 0;
    settings.live.rtmp_port = 0;
    settings.data_dir = dir.to_owned();
    settings.database.url = format!("sqlite://{}", dir.join("pavilion.sqlite").display());
    // Cheap hashes keep the suite fast; production defaults are tested in unit tests.
    settings.auth.argon2_memory_kib = 256;
    settings.auth.argon2_iterations = 1;
    settings
}

/// A server whose settings `tweak` adjusts first (e.g. a short grace period).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut settings = test_settings(dir.path());
    tweak(&mut settings);
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

    pub async fn seed_place(&self) -> Place {
        let store = &self.state.store;
        let community = store
            .create_community(
                &system(),
                &PlaceName::parse("幸福社区").unwrap(),
                &CommunityCode::parse("XF").unwrap(),
            )
            .await
            .unwrap();
        let estate = store
            .create_estate(
                &system(),
                community.id,
                &PlaceName::parse("阳光花园").unwrap(),
            )
            .await
            .unwrap();
        let building = store
            .create_building(&system(), estate.id, &PlaceName::parse("3号楼").unwrap())
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
        form_token_in(&page).expect("page has a form token")
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

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
