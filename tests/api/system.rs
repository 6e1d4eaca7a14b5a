use crate::helpers::*;

#[tokio::test]
async fn health_answers_ok() {
    let app = spawn_app().await;
    let response = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "status": "ok",
            "node": app.state.settings.node.name,
            "database": "ok",
        })
    );
}

#[tokio::test]
async fn health_says_when_the_database_is_gone() {
    let app = spawn_app_with(|s| s.node.name = "node-b".into()).await;
    app.lose_database().await;
    let started = std::time::Instant::now();
    let response = client().get(app.url("/healthz")).send().await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the check is bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["x-pavilion-node"], "node-b");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "status": "unavailable",
            "node": "node-b",
            "database": "unreachable",
        })
    );
}

#[tokio::test]
async fn two_nodes_on_one_postgresql_database_name_themselves_and_share_it() {
    // The first goes by its default name: the host name and its port.
    let a = spawn_app_on_postgres().await;
    let a_name = a.state.settings.node.name.clone();
    let port = a.address.rsplit(':').next().unwrap();
    assert!(a_name.ends_with(&format!(":{port}")), "{a_name}");
    let b = spawn_app_on_postgres_with(|s| {
        s.node.name = "node-b".into();
        s.database.url = a.database_url.clone();
    })
    .await;
    assert!(a.database_url.starts_with("postgres://"));
    assert_eq!(b.database_url, a.database_url);
    for (app, name) in [(&a, a_name.as_str()), (&b, "node-b")] {
        let response = client().get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-pavilion-node"], name);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["node"], name);
        assert_eq!(body["database"], "ok");
    }
    // A place made through one node is listed by the other.
    a.seed_place().await;
    let listed = b.text(&client(), "/api/v1/directory").await;
    assert!(listed.contains("阳光花园"), "{listed}");
}

#[tokio::test]
async fn every_response_and_every_series_names_the_node() {
    let app = spawn_app_with(|s| s.node.name = "node-a.district".into()).await;
    let page = app.text(&client(), "/login").await;
    let css = page
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.ends_with(".css")))
        .unwrap()
        .to_owned();
    for path in [
        "/healthz",
        "/login",
        "/",
        "/no/such/page",
        "/api/v1/directory",
        &css,
    ] {
        let response = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("x-pavilion-node")
                .map(|v| v.to_str().unwrap()),
            Some("node-a.district"),
            "{path} ({})",
            response.status()
        );
    }
    let metrics = app.text(&client(), "/metrics").await;
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(series.len() > 5, "{metrics}");
    for line in series {
        assert!(line.contains(r#"node="node-a.district""#), "{line}");
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_by_route() {
    let app = spawn_app().await;
    client().get(app.url("/healthz")).send().await.unwrap();
    let response = client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let body = response.text().await.unwrap();
    assert!(
        body.contains(
            &format!(
                r#"pavilion_http_requests_total{{method="GET",route="/healthz",status="200",node="{}"}} 1"#,
                app.state.settings.node.name
            )
        ),
        "{body}"
    );
}

#[tokio::test]
async fn openapi_describes_the_json_api_as_3_1() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app.json(&client(), "/api/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/healthz",
        "/api/v1/me",
        "/api/v1/directory",
        "/live/{id}/comments",
        "/live/{id}/comments/{cid}/vote",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn static_assets_have_hashed_names_and_long_cache() {
    let app = spawn_app().await;
    let page = app.text(&client(), "/login").await;
    let css = page
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.ends_with(".css")))
        .unwrap();
    assert!(css.starts_with("/static/css/app."), "{css}");
    let response = client().get(app.url(css)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let missing = client()
        .get(app.url("/static/nothing.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn unknown_routes_get_a_translated_404() {
    let app = spawn_app().await;
    let zh = client().get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(zh.status(), 404);
    assert!(zh.text().await.unwrap().contains("找不到这个页面"));
    let en = client()
        .get(app.url("/no/such/page"))
        .header("Accept-Language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(en.status(), 404);
    assert!(en
        .text()
        .await
        .unwrap()
        .contains("This page does not exist"));
    let api = client()
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"], "error.not_found");
}

#[tokio::test]
async fn wrong_method_is_405_and_changes_nothing() {
    let app = spawn_app().await;
    let response = client().delete(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn the_directory_api_lists_places_without_people() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(pavilion::domain::Role::Resident, Some(&place))
        .await;
    let body = app.text(&client(), "/api/v1/directory").await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json[0]["name"], "幸福社区");
    assert_eq!(json[0]["estates"][0]["buildings"][0]["name"], "3号楼");
    assert!(
        !body.contains("\"301\"") && !body.contains("units") && !body.contains("老张"),
        "units or people leaked: {body}"
    );
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let response = client().get(app.url("/healthz")).send().await.unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = client().get(app.url("/healthz")).send().await.unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
}

#[tokio::test]
async fn api_paths_answer_a_wrong_method_or_a_bad_query_in_json() {
    let app = spawn_app().await;
    let response = client()
        .delete(app.url("/kiosk/api/playlist"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "error.method_not_allowed");

    let response = client()
        .get(app.url("/api/v1/broadcasts?community=many"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "error.bad_request");

    let response = client()
        .post(app.url("/kiosk/api/heartbeat"))
        .bearer_auth("whatever")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        415,
        "a body that does not say it is JSON"
    );
    assert!(response.json::<serde_json::Value>().await.is_ok());
}
