//! The JSON API as others would build on it: Schemathesis (PyPI), a client
//! we did not write, reads `/api/openapi.json` and throws generated and
//! hostile requests at every documented operation of a demo server, signed
//! in as the demo resident and as a paired lobby screen.

use std::sync::Arc;

use pavilion::domain::screen::Orientation;
use pavilion::store::ScreenSetup;
use reqwest::cookie::CookieStore;
use reqwest::redirect::Policy;

use crate::helpers::{form_token_in, python, spawn_app};
use crate::signage::pair_screen_as;

/// What must hold for every response (`ignored_auth`: an operation that
/// declares a credential refuses a request without it). Left out: the checks that a
/// schema-valid request is accepted and an invalid one refused, since the
/// API rightly refuses valid-looking requests for reasons a schema cannot
/// say (rate limits, a pairing secret that does not exist, a comment on a
/// broadcast that has ended).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,\
                      missing_required_header,unsupported_method,allow_header_conformance,\
                      ignored_auth";

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_nothing_against_the_schema() {
    let app = spawn_app().await;
    pavilion::demo::seed(&*app.state.store, &app.state.accounts)
        .await
        .unwrap();
    let live = pavilion::demo::live_broadcast(&*app.state.store)
        .await
        .unwrap();

    // The demo resident's session and form token, as a browser holds them.
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let resident = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .build()
        .unwrap();
    let login = resident.get(app.url("/login")).send().await.unwrap();
    let token = form_token_in(&login.text().await.unwrap()).unwrap();
    let signed_in = resident
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "resident"),
            ("password", pavilion::demo::DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "the demo resident signs in");
    let page = resident.get(app.url("/me")).send().await.unwrap();
    let form_token = form_token_in(&page.text().await.unwrap()).unwrap();
    let cookies = jar
        .cookies(&app.url("/").parse().unwrap())
        .expect("signed in");

    // A lobby screen of the demo community.
    let building = {
        let community = app.state.store.list_communities().await.unwrap()[0].id;
        let estate = app.state.store.list_estates(community).await.unwrap()[0].id;
        app.state.store.list_buildings(estate).await.unwrap()[0].id
    };
    let screen = pair_screen_as(
        &app,
        ScreenSetup {
            name: "大堂屏".into(),
            building_id: building,
            group_id: None,
            orientation: Orientation::Landscape,
        },
    )
    .await;

    // The demo broadcast for `{id}`: generated ids only ever find nothing.
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        // `{code}`: the demo community's, so the feeds answer with documents too.
        format!(
            "hooks = {:?}\n[parameters]\n\"path.id\" = {}\n\"path.code\" = \"XF\"\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis_hooks.py"),
            live.id.0
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new(python())
        .current_dir(work.path())
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args(["run", &app.url("/api/openapi.json")])
        .args([
            "--checks",
            CHECKS,
            "--max-examples",
            "25",
            "--seed",
            "20261207",
        ])
        // An endless push stream: a request to it never ends by design.
        .args(["--exclude-path", "/kiosk/api/events"])
        .args(["--request-timeout", "10", "--no-color"])
        .arg("--header")
        .arg(format!("Cookie: {}", cookies.to_str().unwrap()))
        .arg("--header")
        .arg(format!("X-CSRF-Token: {form_token}"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {screen}"))
        .output()
        .await
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It did test every operation but the push stream.
    let doc: serde_json::Value = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert!(operations >= 12, "{doc}");
    assert!(
        report.contains(&format!("Tested: {}", operations - 1)),
        "{report}"
    );
}
