//! Every console route × every role, from the same route table the server uses.

use pavilion::domain::Role;
use pavilion::web::console::console_routes;

use crate::helpers::*;

#[tokio::test]
async fn every_console_route_checks_the_role_on_the_server() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let filing = pavilion::feedback::records::Filing {
        estate_id: place.estate.id,
        building_id: None,
        category: "repairs".into(),
        class: pavilion::domain::record::RecordClass::General,
        title: "楼道灯坏了".into(),
        title_public: false,
        description: "3号楼2楼楼道灯不亮".into(),
        location: String::new(),
        source: pavilion::domain::record::RecordSource::Phone,
        point: None,
    };
    let (record, _) = app
        .state
        .records
        .file(&system(), None, filing, chrono::Utc::now())
        .await
        .unwrap();
    let mut browsers = Vec::new();
    let mut other_account = None;
    let mut secretary = None;
    for role in Role::ALL {
        let account = app.create_account(role, Some(&place)).await;
        if role == Role::Secretary {
            secretary = Some(account.clone());
        }
        if role == Role::Observer {
            other_account = Some(account.id);
            // Observers read the records of their own estate.
            let change = pavilion::store::AccountChange {
                display_name: pavilion::domain::DisplayName::parse("监督员").unwrap(),
                role,
                community_id: Some(place.community.id),
                estate_id: Some(place.estate.id),
                disabled: false,
            };
            app.state
                .store
                .update_account(&system(), account.id, &change)
                .await
                .unwrap();
        }
        browsers.push((Some(role), app.login(account.username.as_str()).await));
    }
    browsers.push((None, client()));
    let broadcast = app
        .schedule_broadcast(&place, &secretary.unwrap(), Default::default())
        .await;
    let ids = [
        ("/console/broadcasts/{id}", broadcast.id.0),
        ("/console/communities/{id}", place.community.id.0),
        ("/console/estates/{id}", place.estate.id.0),
        ("/console/buildings/{id}", place.building.id.0),
        ("/console/units/{id}", place.unit.id.0),
        ("/console/codes/{id}", place.code.id.0),
        ("/console/accounts/{id}", other_account.unwrap().0),
        ("/console/records/{id}", record.id.0),
        ("/console/api-keys/{id}", 1),
        ("/console/screens/{id}", 1),
        ("/console/notices/{id}", 1),
    ];

    let routes = console_routes();
    assert!(routes.len() >= 15, "the table lists the console");
    let mut checked = 0;
    for route in &routes {
        let path = ids
            .iter()
            .find(|(prefix, _)| route.path.starts_with(prefix))
            .map_or_else(
                || route.path.to_owned(),
                |(_, id)| route.path.replace("{id}", &id.to_string()),
            )
            // A second id in the path (a department of the community).
            .replace("{department}", "1");
        assert!(!path.contains('{'), "no id for {}", route.path);
        for method in &route.methods {
            for (role, browser) in &browsers {
                let response = if method == "GET" {
                    browser.get(app.url(&path)).send().await.unwrap()
                } else {
                    // A valid form token, so that only the role decides.
                    app.post_form(browser, &path, &[]).await
                };
                let status = response.status().as_u16();
                let target = location(&response);
                match role {
                    None => {
                        assert_eq!(status, 303, "anonymous {method} {path}");
                        assert!(
                            target.starts_with("/login?next="),
                            "anonymous {method} {path} → {target}"
                        );
                    }
                    Some(role) if !role.can(route.permission) => {
                        assert_eq!(status, 403, "{role:?} {method} {path} must be forbidden");
                    }
                    Some(role) => {
                        assert_ne!(status, 403, "{role:?} {method} {path} must be allowed");
                        assert!(
                            !target.starts_with("/login"),
                            "{role:?} {method} {path} sent to login"
                        );
                        assert!(
                            status < 500,
                            "{role:?} {method} {path} failed with {status}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= routes.len() * 7);
}

#[tokio::test]
async fn a_resident_gets_403_and_a_stranger_is_sent_to_log_in() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Resident, Some(&place)).await;
    let resident = app.login("resident").await;
    let response = resident
        .get(app.url("/console/accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("没有权限"));
    let response = client()
        .get(app.url("/console/accounts?role=admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "/login?next=%2Fconsole%2Faccounts%3Frole%3Dadmin"
    );
}
