//! Real headless Chromium through WebDriver: forms as people use them, and
//! axe-core accessibility checks (WCAG 2.2 AA) on the pages residents and staff see first.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use pavilion::domain::Role;
use serde_json::json;

use crate::helpers::*;

/// A chromedriver process, ended when dropped.
struct Driver {
    process: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser() -> (Driver, Client) {
    let driver_path =
        std::env::var("PAVILION_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let chromium =
        std::env::var("PAVILION_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&driver_path).exists() && std::path::Path::new(&chromium).exists(),
        "browser tests need chromium and chromedriver: run ./dev test, which installs them"
    );
    let port = free_port();
    let process = Command::new(&driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { process, port };
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": { "intl.accept_languages": "zh-CN,zh" }
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    let mut last_error = None;
    for _ in 0..50 {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => {
                last_error = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("cannot reach chromedriver: {last_error:?}");
}

/// Logs in through the real form and waits for the page a person of that role lands on.
async fn log_in(page: &Client, app: &TestApp, username: &str, lands_on: &str) {
    page.goto(&app.url("/login")).await.unwrap();
    page.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    page.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    page.find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_url(url::Url::parse(&app.url(lands_on)).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_admin_creates_a_building_through_the_real_form() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let (_driver, page) = browser().await;

    log_in(&page, &app, "admin", "/console").await;
    page.goto(&app.url(&format!("/console/estates/{}", place.estate.id)))
        .await
        .unwrap();
    page.find(Locator::Id("building-name"))
        .await
        .unwrap()
        .send_keys("5号楼")
        .await
        .unwrap();
    let form = page
        .form(Locator::Css(&format!(
            "form[action='/console/estates/{}/buildings']",
            place.estate.id
        )))
        .await
        .unwrap();
    form.submit().await.unwrap();

    // The form redirects to the new building's page; wait for it before reading.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !page
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/console/buildings/")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no redirect to the new building"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let heading = page.wait().for_element(Locator::Css("h1")).await.unwrap();
    assert_eq!(heading.text().await.unwrap(), "5号楼");
    let flash = page
        .find(Locator::Css("[role=status]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(flash, "已创建。");
    let buildings = app
        .state
        .store
        .list_buildings(place.estate.id)
        .await
        .unwrap();
    assert!(buildings.iter().any(|b| b.name == "5号楼"));
    assert_eq!(
        app.audit("building.create")
            .await
            .iter()
            .filter(|e| e.actor_name == "admin")
            .count(),
        1
    );
    page.close().await.unwrap();
}

async fn axe_violations(page: &Client) -> Vec<serde_json::Value> {
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/node_modules/axe-core/axe.min.js"
    ))
    .expect("axe-core is installed by ./dev test (npm ci)");
    page.execute(&axe, vec![]).await.unwrap();
    let result = page
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
                  .then(r => done(r.violations.map(v => ({ id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')) }))))
                  .catch(e => done([{ id: 'axe-error', help: String(e) }]));"#,
            vec![],
        )
        .await
        .unwrap();
    result.as_array().cloned().unwrap_or_default()
}

async fn body_font_px(page: &Client) -> f64 {
    page.execute(
        "return parseFloat(getComputedStyle(document.body).fontSize);",
        vec![],
    )
    .await
    .unwrap()
    .as_f64()
    .unwrap()
}

#[tokio::test]
async fn pages_pass_axe_and_suit_elderly_readers() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    app.create_account(Role::Resident, Some(&place)).await;
    let (_driver, page) = browser().await;

    for path in ["/login", "/register", "/", "/disclosure"] {
        page.goto(&app.url(path)).await.unwrap();
        let violations = axe_violations(&page).await;
        assert!(violations.is_empty(), "{path}: {violations:#?}");
        assert!(
            body_font_px(&page).await >= 18.0,
            "{path}: body text under 18px"
        );
    }

    // Keyboard: the first Tab reaches the skip link, and it leads to the content.
    page.goto(&app.url("/login")).await.unwrap();
    page.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = page
        .execute(
            "return document.activeElement.getAttribute('href');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, json!("#main"));

    // A resident's own page, and a sent-back form with its error message.
    page.goto(&app.url("/login")).await.unwrap();
    page.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("resident")
        .await
        .unwrap();
    page.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("wrong password")
        .await
        .unwrap();
    page.find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Id("form-error"))
        .await
        .unwrap();
    let violations = axe_violations(&page).await;
    assert!(violations.is_empty(), "login with error: {violations:#?}");

    log_in(&page, &app, "resident", "/me").await;
    for path in ["/me", "/report", "/me/records"] {
        page.goto(&app.url(path)).await.unwrap();
        let violations = axe_violations(&page).await;
        assert!(violations.is_empty(), "{path}: {violations:#?}");
        assert!(
            body_font_px(&page).await >= 18.0,
            "{path}: body text under 18px"
        );
    }
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

    log_in(&page, &app, "admin", "/console").await;
    for path in [
        "/console".to_owned(),
        format!("/console/buildings/{}/codes", place.building.id),
        "/console/accounts".to_owned(),
    ] {
        page.goto(&app.url(&path)).await.unwrap();
        let violations = axe_violations(&page).await;
        assert!(violations.is_empty(), "{path}: {violations:#?}");
    }

    // A phone-sized screen: the console still fits without sideways scrolling.
    page.set_window_size(390, 844).await.unwrap();
    page.goto(&app.url("/console")).await.unwrap();
    let overflow = page
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_f64().unwrap() <= 1.0,
        "console scrolls sideways on a phone: {overflow}"
    );
    page.close().await.unwrap();
}
