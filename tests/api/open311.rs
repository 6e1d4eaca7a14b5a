//! Open311 GeoReport v2 as a client would use it: JSON and XML parsed for real.

use pavilion::domain::{Role, Scope};

use crate::helpers::*;

fn xml_items(body: &str, item: &str) -> Vec<std::collections::HashMap<String, String>> {
    let doc = roxmltree::Document::parse(body).expect("well-formed XML");
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name(item))
        .map(|n| {
            n.children()
                .filter(|c| c.is_element())
                .map(|c| {
                    (
                        c.tag_name().name().to_owned(),
                        c.text().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

/// An admin issues a key through the console; the page shows it once.
async fn issue_key(app: &TestApp) -> String {
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    app.issue_open311_key(&admin, "市民热线平台").await
}

#[tokio::test]
async fn discovery_and_services_in_json_and_xml() {
    let app = spawn_app().await;
    let discovery: serde_json::Value = app.json(&client(), "/open311/v2/discovery.json").await;
    assert!(discovery["endpoints"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/open311/v2"));

    let services: serde_json::Value = app.json(&client(), "/open311/v2/services.json").await;
    let codes: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"elevator") && codes.contains(&"rubbish"));
    assert_eq!(services[0]["metadata"], false);

    let xml = client()
        .get(app.url("/open311/v2/services.xml"))
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap();
    assert!(xml.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let items = xml_items(&xml.text().await.unwrap(), "service");
    let elevator = items
        .iter()
        .find(|s| s["service_code"] == "elevator")
        .unwrap();
    assert_eq!(elevator["service_name"], "Elevator");

    let definition: serde_json::Value = app
        .json(&client(), "/open311/v2/services/elevator.json")
        .await;
    assert_eq!(definition["service_code"], "elevator");
    let missing = client()
        .get(app.url("/open311/v2/services/nothing.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let errors = xml_items(&missing.text().await.unwrap(), "error");
    assert_eq!(errors[0]["code"], "404");
}

#[tokio::test]
async fn filing_needs_a_valid_api_key() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let estate = place.estate.id.to_string();
    let fields = |key: &str| {
        vec![
            ("api_key", key.to_owned()),
            ("service_code", "elevator".to_owned()),
            ("description", "3号楼电梯异响".to_owned()),
            ("address_id", estate.clone()),
            ("first_name", "张".to_owned()),
            ("phone", "13800000000".to_owned()),
        ]
    };
    let none = client()
        .post(app.url("/open311/v2/requests.json"))
        .form(&fields(""))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 403);
    let body: serde_json::Value = none.json().await.unwrap();
    assert_eq!(body[0]["code"], 403);
    let wrong = client()
        .post(app.url("/open311/v2/requests.xml"))
        .form(&fields("forged-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(
        xml_items(&wrong.text().await.unwrap(), "error")[0]["code"],
        "403"
    );
    let listed = app
        .state
        .store
        .list_records(&pavilion::store::RecordFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.is_empty(), "nothing filed without a key");

    let key = issue_key(&app).await;
    let created = client()
        .post(app.url("/open311/v2/requests.json"))
        .form(&fields(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    let number = body[0]["service_request_id"].as_str().unwrap().to_owned();
    assert!(number.starts_with("XF-"));

    let bad_code = client()
        .post(app.url("/open311/v2/requests.json"))
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "teleport"),
            ("description", "x y"),
            ("address_id", &estate),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_code.status(), 400);
    let no_place = client()
        .post(app.url("/open311/v2/requests.json"))
        .form(&[
            ("api_key", key.as_str()),
            ("service_code", "elevator"),
            ("description", "电梯坏了"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(no_place.status(), 400);

    // A revoked key stops working.
    let admin = app.login("admin").await;
    let key_id = app
        .state
        .store
        .list_api_keys(Scope::Installation)
        .await
        .unwrap()[0]
        .id;
    app.post_form(&admin, &format!("/console/api-keys/{key_id}/revoke"), &[])
        .await;
    let revoked = client()
        .post(app.url("/open311/v2/requests.json"))
        .form(&fields(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 403);
    assert_eq!(app.audit("api_key.revoke").await.len(), 1);
}

#[tokio::test]
async fn requests_are_listed_filtered_and_read_one_by_one() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let key = issue_key(&app).await;
    let estate = place.estate.id.to_string();
    let mut numbers = Vec::new();
    for (code, text) in [("elevator", "电梯异响"), ("rubbish", "垃圾没清")] {
        let response = client()
            .post(app.url("/open311/v2/requests.json"))
            .form(&[
                ("api_key", key.as_str()),
                ("service_code", code),
                ("description", text),
                ("address_id", &estate),
            ])
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        numbers.push(body[0]["service_request_id"].as_str().unwrap().to_owned());
    }
    // Staff close the rubbish one.
    let staff = app.create_account(Role::Staff, None).await;
    let records = app
        .state
        .store
        .list_records(&pavilion::store::RecordFilter {
            numbers: vec![numbers[1].clone()],
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut record = records[0].clone();
    for action in [
        pavilion::domain::record::RecordAction::Accept,
        pavilion::domain::record::RecordAction::MarkNotResponsible,
    ] {
        let request = pavilion::feedback::records::Request {
            expected_version: record.version,
            action: Some(action),
            note: "由市政环卫负责".into(),
            public: true,
            published: true,
            assignee: None,
            rating: None,
        };
        record = app
            .state
            .records
            .change(&staff, &record, request, chrono::Utc::now())
            .await
            .unwrap();
    }

    let all: serde_json::Value = app.json(&client(), "/open311/v2/requests.json").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let open: serde_json::Value = app
        .json(&client(), "/open311/v2/requests.json?status=open")
        .await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["service_request_id"], numbers[0].as_str());
    // An open record is expected by the deadline of its promise (an elevator
    // fault is major: 4 hours to resolve under the 5431 rule); a closed one is not.
    let expected =
        chrono::DateTime::parse_from_rfc3339(open[0]["expected_datetime"].as_str().unwrap())
            .unwrap();
    let requested =
        chrono::DateTime::parse_from_rfc3339(open[0]["requested_datetime"].as_str().unwrap())
            .unwrap();
    assert_eq!(expected - requested, chrono::Duration::hours(4));
    let by_code: serde_json::Value = app
        .json(&client(), "/open311/v2/requests.json?service_code=rubbish")
        .await;
    assert_eq!(by_code[0]["status"], "closed");
    // The state in words, and the staff reply written for publication.
    assert_eq!(by_code[0]["status_notes"], "非物业职责：由市政环卫负责");
    assert!(by_code[0]["expected_datetime"].is_null());
    assert!(by_code[0]["description"]
        .as_str()
        .unwrap()
        .contains("垃圾没清"));
    assert!(
        !by_code.to_string().contains("13800000000"),
        "no personal data in public listings"
    );

    let one = client()
        .get(app.url(&format!("/open311/v2/requests/{}.xml", numbers[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let items = xml_items(&one.text().await.unwrap(), "request");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["service_request_id"], numbers[0]);
    assert_eq!(items[0]["status"], "open");
    assert!(items[0]["address"].contains("阳光花园"));

    let unknown = client()
        .get(app.url("/open311/v2/requests/XF-1999-000001.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    for bad in [
        "?start_date=yesterday",
        "?status=maybe",
        "?start_date=2026-11-21&end_date=2026-11-01",
        "?service_code=%3Cscript%3E",
    ] {
        let response = client()
            .get(app.url(&format!("/open311/v2/requests.json{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    let future = client()
        .get(app.url("/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        future
            .json::<serde_json::Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
