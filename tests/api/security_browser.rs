//! What a hostile page, a hostile notice or a curious stranger can do to a
//! browser that visits us (issue 14): the Content-Security-Policy and its
//! companions on every response, a sandboxed notice preview, form tokens
//! masked afresh in every response (BREACH), read marks that only a POST
//! with the token can set, and a public disclosure page that is worked out
//! once per change of its facts, not once per visitor.

use std::time::Duration;

use fantoccini::{Client, Locator};
use pavilion::domain::record::Record;
use pavilion::domain::{Account, Role};
use pavilion::store::RecordFilter;
use serde_json::json;

use crate::browser::{browser, csp_violations, log_in, wait_for_value};
use crate::helpers::*;

/// The policy of every page of a server whose public URL is the default
/// `http://127.0.0.1:8080`.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; connect-src 'self' ws://127.0.0.1:8080; \
     form-action 'self'; frame-ancestors 'none'";

const PREVIEW_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'none'; \
     object-src 'none'; base-uri 'none'; connect-src 'self'; form-action 'none'; \
     frame-ancestors 'self'; sandbox allow-scripts";

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

// ------------------------------------------------------------ headers

#[tokio::test]
async fn every_response_tells_browsers_what_to_refuse() {
    let app = spawn_app().await;
    app.seed_place().await;
    let visitor = client();
    let css = {
        let home = app.text(&visitor, "/").await;
        let at = home.find("/static/css/app.").expect("the stylesheet link");
        home[at..].split('"').next().unwrap().to_owned()
    };
    for path in [
        "/",
        "/login",
        "/disclosure",
        "/live",
        "/kiosk/",
        "/healthz",
        "/no/such/page",
        css.as_str(),
    ] {
        let response = visitor.get(app.url(path)).send().await.unwrap();
        let status = response.status();
        assert_eq!(
            header(&response, "content-security-policy").as_deref(),
            Some(PAGE_POLICY),
            "{path} ({status})"
        );
        assert_eq!(
            header(&response, "x-frame-options").as_deref(),
            Some("DENY"),
            "{path}"
        );
        assert_eq!(
            header(&response, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(
            header(&response, "referrer-policy").as_deref(),
            Some("same-origin")
        );
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "no HSTS over plain http: {path}"
        );
    }
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_public_url_is_https() {
    let app = spawn_app_with(|s| s.server.public_url = "https://yi.example.org".into()).await;
    for path in ["/", "/login", "/healthz"] {
        let response = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(
            header(&response, "strict-transport-security").as_deref(),
            Some("max-age=31536000"),
            "{path}"
        );
        let policy = header(&response, "content-security-policy").unwrap();
        assert!(
            policy.contains("connect-src 'self' wss://yi.example.org;"),
            "the chat socket over wss: {policy}"
        );
    }
}

/// The fields of a new notice saved as a draft in the one community.
fn notice_fields<'a>(title: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("body", body),
        ("category", "outage"),
        ("starts_at", "2020-01-01T00:00"),
        ("ends_at", ""),
        ("display_seconds", "15"),
        ("priority", "5"),
        ("video", ""),
        ("intent", "save"),
        ("community", "1"),
    ]
}

async fn save_notice(app: &TestApp, secretary: &reqwest::Client, title: &str) -> i64 {
    let response = app
        .post_form(
            secretary,
            "/console/notices",
            &notice_fields(title, "周二停水。"),
        )
        .await;
    assert_eq!(response.status(), 303);
    location(&response)
        .trim_start_matches("/console/notices/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_notice_preview_is_sandboxed_by_its_frame_and_by_its_own_policy() {
    let app = spawn_app().await;
    app.seed_place().await;
    app.create_account(Role::Secretary, None).await;
    let secretary = app.login("secretary").await;
    let id = save_notice(&app, &secretary, "停水通知").await;

    let page = app
        .text(&secretary, &format!("/console/notices/{id}"))
        .await;
    let html = scraper::Html::parse_document(&page);
    let frames = scraper::Selector::parse(".preview-screen iframe").unwrap();
    let sandboxes: Vec<_> = html
        .select(&frames)
        .map(|f| f.value().attr("sandbox").map(str::to_owned))
        .collect();
    assert_eq!(
        sandboxes,
        [
            Some("allow-scripts".to_owned()),
            Some("allow-scripts".to_owned())
        ],
        "both frames run the kiosk in an origin of their own"
    );

    let preview = secretary
        .get(app.url(&format!("/kiosk/preview/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    assert_eq!(
        header(&preview, "content-security-policy").as_deref(),
        Some(PREVIEW_POLICY)
    );
    assert_eq!(
        header(&preview, "x-frame-options").as_deref(),
        Some("SAMEORIGIN")
    );
}

// ------------------------------------------------------------ in Chromium

/// Every violation Chromium reported, after first draining older ones.
async fn visit_and_collect(page: &Client, app: &TestApp, paths: &[&str]) -> Vec<String> {
    let mut refused = Vec::new();
    for path in paths {
        page.goto(&app.url(path)).await.unwrap();
        // The page has loaded and run its deferred scripts; what they start
        // (sockets, the Service Worker, the kiosk's first drawing) is
        // reported by the next page's load at the latest.
        wait_for_value(
            page,
            "return document.readyState;",
            Duration::from_secs(10),
            "the page loads",
            |v| v == "complete",
        )
        .await;
        refused.extend(
            csp_violations(page)
                .await
                .into_iter()
                .map(|m| format!("{path}: {m}")),
        );
    }
    refused
}

#[tokio::test]
async fn an_injected_inline_script_and_handler_are_blocked_in_chromium() {
    let app = spawn_app().await;
    app.seed_place().await;
    let (_driver, page) = browser().await;
    page.goto(&app.url("/login")).await.unwrap();
    // What a successful injection into the page would add.
    page.execute(
        "window.refused = [];
         document.addEventListener('securitypolicyviolation', e => window.refused.push(e.effectiveDirective));
         const script = document.createElement('script');
         script.textContent = 'window.injected = true;';
         document.body.appendChild(script);
         const button = document.createElement('button');
         button.setAttribute('onclick', 'window.clicked = true;');
         document.body.appendChild(button);
         button.click();
         const styled = document.createElement('p');
         styled.setAttribute('style', 'color: red');
         document.body.appendChild(styled);",
        vec![],
    )
    .await
    .unwrap();
    let outcome = wait_for_value(
        &page,
        "return { refused: window.refused, injected: window.injected === true, clicked: window.clicked === true };",
        Duration::from_secs(5),
        "the browser reports what it refused",
        |v| v["refused"].as_array().is_some_and(|r| r.len() >= 3),
    )
    .await;
    assert_eq!(outcome["injected"], false, "the inline script did not run");
    assert_eq!(
        outcome["clicked"], false,
        "the onclick= handler did not run"
    );
    let mut refused: Vec<_> = outcome["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        ["script-src-attr", "script-src-elem", "style-src-attr"]
    );
    // Chromium's console says so too: what the test of the main pages reads.
    let logged = csp_violations(&page).await;
    assert_eq!(logged.len(), 3, "{logged:#?}");
}

#[tokio::test]
async fn the_main_pages_raise_no_csp_violation_in_chromium() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Resident, Some(&place)).await;
    app.create_account(Role::Secretary, None).await;
    let secretary = app.login("secretary").await;
    let notice = save_notice(&app, &secretary, "停水通知").await;
    let (_driver, page) = browser().await;

    let mut refused = visit_and_collect(
        &page,
        &app,
        &[
            "/",
            "/login",
            "/register",
            "/disclosure",
            "/live",
            "/kiosk/",
            "/",
        ],
    )
    .await;

    log_in(&page, &app, "resident", "/me").await;
    refused.extend(
        visit_and_collect(
            &page,
            &app,
            &["/me", "/me/records", "/me/notifications", "/report", "/"],
        )
        .await,
    );
    page.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_url(url::Url::parse(&app.url("/")).unwrap())
        .await
        .unwrap();

    log_in(&page, &app, "secretary", "/console").await;
    let notice_page = format!("/console/notices/{notice}");
    refused.extend(
        visit_and_collect(
            &page,
            &app,
            &[
                "/console",
                "/console/notices",
                notice_page.as_str(),
                "/console/records",
                "/console/agenda",
                "/console/broadcasts",
                "/console",
            ],
        )
        .await,
    );
    // The preview frames drew their notice inside the sandbox.
    page.goto(&app.url(&notice_page)).await.unwrap();
    let frames = page
        .find_all(Locator::Css(".preview-screen iframe"))
        .await
        .unwrap();
    assert_eq!(frames.len(), 2);
    let frame = page
        .find(Locator::Css(".preview-screen iframe"))
        .await
        .unwrap();
    frame.enter_frame().await.unwrap();
    wait_for_value(
        &page,
        "return document.body ? document.body.innerText : '';",
        Duration::from_secs(10),
        "the preview shows the notice",
        |v| v.as_str().is_some_and(|t| t.contains("停水通知")),
    )
    .await;
    page.enter_parent_frame().await.unwrap();
    // The agenda's print button is wired by its script file.
    page.goto(&app.url("/console/agenda")).await.unwrap();
    let print = wait_for_value(
        &page,
        "const b = document.querySelector('button[data-print]'); return b && !b.hidden;",
        Duration::from_secs(5),
        "the print button is shown",
        |v| v == &json!(true),
    )
    .await;
    assert_eq!(print, json!(true));
    refused.extend(csp_violations(&page).await);
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

// ------------------------------------------------------------ masked tokens

async fn community_count(app: &TestApp) -> usize {
    app.state.store.list_communities().await.unwrap().len()
}

#[tokio::test]
async fn every_page_carries_a_fresh_mask_of_the_form_token_and_each_one_works() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.browser_of("admin").await;
    let first = form_token_in(&app.text(&admin.http, "/console/communities").await).unwrap();
    let second = form_token_in(&app.text(&admin.http, "/console/communities").await).unwrap();
    assert_ne!(first, second, "two renderings, two strings");
    // Within one page, every form has its own string too.
    let page = app.text(&admin.http, "/console/communities").await;
    let html = scraper::Html::parse_document(&page);
    let fields = scraper::Selector::parse(r#"input[name="csrf_token"]"#).unwrap();
    let tokens: std::collections::HashSet<_> = html
        .select(&fields)
        .filter_map(|f| f.value().attr("value"))
        .collect();
    assert!(tokens.len() >= 2, "{tokens:?}");
    // The secret itself never appears in a page.
    let cookies = admin.cookie_header(&app).unwrap();
    let session = cookies
        .split("; ")
        .find_map(|c| c.strip_prefix("pavilion_session="))
        .unwrap();
    let (session, _) = app.state.accounts.session(session).await.unwrap().unwrap();
    assert!(!page.contains(&session.csrf_token));

    let create = |token: String, name: &'static str, code: &'static str| {
        let admin = admin.http.clone();
        let url = app.url("/console/communities");
        async move {
            admin
                .post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("name", name),
                    ("code", code),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // A tampered mask, and the bare secret, are refused and change nothing.
    let mut tampered = first.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let refused = create(String::from_utf8(tampered).unwrap(), "伪造社区", "WZ").await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("表单已过期或来源不明"));
    let refused = create(session.csrf_token.clone(), "伪造社区", "WZ").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(community_count(&app).await, 0);
    // Both masks of the real token work.
    assert_eq!(create(first, "幸福社区", "XF").await.status(), 303);
    assert_eq!(create(second, "和谐社区", "HX").await.status(), 303);
    assert_eq!(community_count(&app).await, 2);
}

// ------------------------------------------------------------ read marks

struct Scene {
    app: TestApp,
    resident_account: Account,
    resident: reqwest::Client,
    staff: reqwest::Client,
}

impl Scene {
    async fn new() -> Scene {
        let app = spawn_app().await;
        let place = app.seed_place().await;
        let resident_account = app.create_account(Role::Resident, Some(&place)).await;
        app.create_account(Role::Staff, None).await;
        let resident = app.login("resident").await;
        let staff = app.login("staff").await;
        Scene {
            app,
            resident_account,
            resident,
            staff,
        }
    }

    /// The resident files a record; returns it and its tracking link.
    async fn file(&self, title: &str) -> (Record, String) {
        let fields = [
            ("category", "repairs"),
            ("title", title),
            ("description", "楼道灯坏了，晚上看不见台阶。"),
            ("location", "3号楼2单元"),
        ];
        let response = self.app.post_form(&self.resident, "/report", &fields).await;
        assert_eq!(response.status(), 303);
        let link = location(&response).split('?').next().unwrap().to_owned();
        let record = self
            .app
            .state
            .store
            .list_records(&RecordFilter {
                reporter: Some(self.resident_account.id),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .remove(0);
        (record, link)
    }

    async fn staff_act(&self, record: &Record, action: &str) {
        let version = self
            .app
            .state
            .store
            .record(record.id)
            .await
            .unwrap()
            .version;
        let version = version.to_string();
        let fields = [
            ("version", version.as_str()),
            ("action", action),
            ("note", ""),
            ("public", "on"),
        ];
        let path = format!("/console/records/{}/act", record.id);
        let response = self.app.post_form(&self.staff, &path, &fields).await;
        assert_eq!(response.status(), 303, "staff {action}");
    }

    async fn badge(&self) -> Option<i64> {
        let page = self.app.text(&self.resident, "/").await;
        text_of(&page, ".site-header .count-badge").map(|n| n.trim().parse().unwrap())
    }
}

#[tokio::test]
async fn a_cross_site_get_with_the_session_cookie_leaves_the_badge_unchanged() {
    let scene = Scene::new().await;
    let (record, tracking) = scene.file("楼道灯坏了").await;
    scene.staff_act(&record, "accept").await;
    assert_eq!(scene.badge().await, Some(1));

    // What another site's <img src=…> would make the resident's browser ask:
    // plain GETs with the session cookie and no token.
    let news = format!("/me/notifications/{}", record.id);
    let page = format!("/me/records/{}", record.id);
    for path in [news.as_str(), page.as_str(), tracking.as_str()] {
        let response = scene
            .resident
            .get(scene.app.url(path))
            .header("Referer", "https://evil.example/")
            .header("Sec-Fetch-Site", "cross-site")
            .header("Sec-Fetch-Dest", "image")
            .send()
            .await
            .unwrap();
        assert!(
            [200, 303].contains(&response.status().as_u16()),
            "{path}: {}",
            response.status()
        );
        assert_eq!(scene.badge().await, Some(1), "after GET {path}");
    }
    // The record page says what is new and offers to mark it read.
    let shown = scene.app.text(&scene.resident, &page).await;
    assert_eq!(
        text_of(&shown, ".record-news h2").as_deref(),
        Some("这件诉求有新进展")
    );
    assert!(text_of(&shown, ".record-news").unwrap().contains("已受理"));
    // A forged POST, without the token, is refused and changes nothing.
    let forged = scene
        .resident
        .post(scene.app.url(&news))
        .form(&[("seq", "99")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(scene.badge().await, Some(1));
    // The resident's own press of "标为已读" clears it and opens the record.
    let html = scraper::Html::parse_document(&shown);
    let seq_field = scraper::Selector::parse(".record-news input[name=seq]").unwrap();
    let seq = html
        .select(&seq_field)
        .next()
        .and_then(|f| f.value().attr("value"))
        .unwrap()
        .to_owned();
    let pressed = scene
        .resident
        .post(scene.app.url(&news))
        .form(&[
            ("csrf_token", form_token_in(&shown).unwrap().as_str()),
            ("seq", seq.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 303);
    assert_eq!(location(&pressed), page);
    assert_eq!(scene.badge().await, None);
    let read = scene.app.text(&scene.resident, &page).await;
    assert!(text_of(&read, ".record-news").is_none());
}

// ------------------------------------------------------------ disclosure

async fn computed_so_far(app: &TestApp) -> u64 {
    let metrics = app.text(&client(), "/metrics").await;
    series_value(&metrics, "pavilion_disclosure_computed_total")
        .expect("the counter is exported")
        .parse()
        .unwrap()
}

/// The figures of the page: received, solved, and the rest as shown.
fn figures(page: &str) -> Vec<String> {
    let html = scraper::Html::parse_document(page);
    let figure = scraper::Selector::parse("ul.figures .figure").unwrap();
    html.select(&figure)
        .map(|f| f.text().collect::<String>().trim().to_owned())
        .collect()
}

#[tokio::test]
async fn the_disclosure_is_worked_out_once_until_its_facts_change() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let (record, _) = scene.file("楼道灯坏了").await;
    scene.file("电梯按钮失灵").await;
    let visitor = client();

    // The page shows twelve months (the trends): each is worked out once.
    let before = computed_so_far(app).await;
    let first = app.text(&visitor, "/disclosure").await;
    assert_eq!(computed_so_far(app).await, before + 12);
    // What a resident sees: two received, none solved yet.
    assert_eq!(figures(&first)[..2], ["2", "0"]);
    let second = app.text(&visitor, "/disclosure").await;
    assert_eq!(
        computed_so_far(app).await,
        before + 12,
        "served from the cache"
    );
    assert_eq!(figures(&second), figures(&first));
    // Another visitor: the same cached figures.
    let other = app.text(&client(), "/disclosure").await;
    assert_eq!(figures(&other)[..2], ["2", "0"]);
    assert_eq!(computed_so_far(app).await, before + 12);

    // A new event of the estate's month: that month alone is worked out
    // again, and it shows.
    scene.staff_act(&record, "accept").await;
    scene.staff_act(&record, "resolve").await;
    let after = app.text(&visitor, "/disclosure").await;
    assert_eq!(computed_so_far(app).await, before + 13);
    assert_eq!(figures(&after)[..2], ["2", "1"]);
    // The figures agree with the records' own computation, done afresh.
    let fresh = pavilion::feedback::records::Records::new(
        app.state.store.clone(),
        app.state.settings.time_zone,
    );
    let now = chrono::Utc::now();
    let month = pavilion::feedback::disclosure::Month::of(now, app.state.settings.time_zone);
    let estate = app
        .state
        .store
        .list_records(&RecordFilter::default())
        .await
        .unwrap()[0]
        .estate_id;
    let direct = fresh
        .disclosure(estate, month, app.state.settings.time_zone, now)
        .await
        .unwrap();
    assert_eq!((direct.received, direct.solved), (2, 1));
}

#[tokio::test]
async fn asking_again_for_an_unchanged_disclosure_costs_a_304() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let (record, _) = scene.file("楼道灯坏了").await;
    // A lobby screen's browser: it keeps its cookies, so its frame is stable.
    let screen = client();
    app.text(&screen, "/disclosure").await;
    let response = screen.get(app.url("/disclosure")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let tag = header(&response, "etag").expect("an ETag");
    assert!(header(&response, "last-modified").is_some());
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("private, no-cache")
    );

    let again = screen
        .get(app.url("/disclosure"))
        .header("If-None-Match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.text().await.unwrap().is_empty());

    // A state change: the old tag no longer matches, the page is sent.
    scene.staff_act(&record, "accept").await;
    let changed = screen
        .get(app.url("/disclosure"))
        .header("If-None-Match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(header(&changed, "etag").unwrap(), tag);
    // Another viewer's tag (another header, another token) is not this one's.
    let stranger = client()
        .get(app.url("/disclosure"))
        .header("If-None-Match", header(&changed, "etag").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 200);
}
