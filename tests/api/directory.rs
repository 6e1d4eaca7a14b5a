use pavilion::domain::Role;

use crate::helpers::*;

#[tokio::test]
async fn an_admin_builds_the_directory_through_the_forms() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;

    let response = app
        .post_form(
            &browser,
            "/console/communities",
            &[("name", "红星社区"), ("code", "hx")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let community = &app.state.store.list_communities().await.unwrap()[0];
    assert_eq!(community.code, "HX");

    let response = app
        .post_form(
            &browser,
            &format!("/console/communities/{}/estates", community.id),
            &[("name", "东区")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let estate = &app.state.store.list_estates(community.id).await.unwrap()[0];

    // Full-width digits fold to ordinary ones.
    let response = app
        .post_form(
            &browser,
            &format!("/console/estates/{}/buildings", estate.id),
            &[("name", "１２号楼")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let building = &app.state.store.list_buildings(estate.id).await.unwrap()[0];
    assert_eq!(building.name, "12号楼");

    let response = app
        .post_form(
            &browser,
            &format!("/console/buildings/{}/units", building.id),
            &[("labels", "101，102、201\n202 101")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let units = app.state.store.list_units(building.id).await.unwrap();
    let labels: Vec<_> = units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(labels, ["101", "102", "201", "202"]);

    let response = app
        .post_form(
            &browser,
            &format!("/console/buildings/{}/codes", building.id),
            &[],
        )
        .await;
    assert_eq!(response.status(), 303);
    let codes = app
        .state
        .store
        .codes_for_building(building.id)
        .await
        .unwrap();
    assert!(codes.iter().all(|(_, c)| c.is_some()));

    let page = app
        .text(&browser, &format!("/console/buildings/{}", building.id))
        .await;
    assert!(page.contains("12号楼") && page.contains("202"));
}

#[tokio::test]
async fn bad_names_are_sent_back_with_a_message_and_change_nothing() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    let long = "很".repeat(41);
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("name", ""), ("code", "AB")], "不能为空"),
        (&[("name", &long), ("code", "AB")], "不能超过 40 个字"),
        (&[("name", "社区\u{0000}"), ("code", "AB")], "不可见字符"),
        (&[("name", "好社区"), ("code", "A1")], "不允许的字符"),
        (&[("code", "AB")], "不能为空"),
    ];
    for (fields, message) in cases {
        let response = app
            .post_form(&browser, "/console/communities", fields)
            .await;
        assert_eq!(response.status(), 400, "{fields:?}");
        assert!(
            response.text().await.unwrap().contains(message),
            "{fields:?} should say {message}"
        );
    }
    assert!(app.state.store.list_communities().await.unwrap().is_empty());

    let huge = "x".repeat(200_000);
    let response = app
        .post_form(
            &browser,
            "/console/communities",
            &[("name", &huge), ("code", "AB")],
        )
        .await;
    assert!(
        response.status() == 400 || response.status() == 413,
        "{}",
        response.status()
    );
    assert!(app.state.store.list_communities().await.unwrap().is_empty());
}

#[tokio::test]
async fn english_messages_for_english_admins() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    app.post_form(&browser, "/lang", &[("lang", "en")]).await;
    let response = app
        .post_form(
            &browser,
            "/console/communities",
            &[("name", "x"), ("code", "TOOLONGX")],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Community code: must be at most 6 characters."));
}

#[tokio::test]
async fn missing_places_are_404() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    assert_eq!(
        browser
            .get(app.url("/console/estates/999"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.post_form(
            &browser,
            "/console/estates/999/buildings",
            &[("name", "1号楼")]
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        browser
            .get(app.url("/console/estates/not-a-number"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn admins_create_staff_accounts_with_roles() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    let place_value = format!("e:{}", place.estate.id);
    let fields = [
        ("username", "zhou"),
        ("display_name", "监督员老周"),
        ("role", "observer"),
        ("place", place_value.as_str()),
        ("password", "observer password"),
    ];
    let response = app.post_form(&browser, "/console/accounts", &fields).await;
    assert_eq!(response.status(), 303);
    let (account, _) = app
        .state
        .store
        .credentials(&pavilion::domain::Username::parse("zhou").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.role, Role::Observer);
    assert_eq!(account.estate_id, Some(place.estate.id));
    assert_eq!(account.community_id, Some(place.community.id));
    assert_eq!(
        app.audit("account.create")
            .await
            .iter()
            .filter(|e| e.actor_name == "admin")
            .count(),
        1
    );

    // Residents only come through registration codes.
    let resident = [
        ("username", "fake"),
        ("display_name", "假住户"),
        ("role", "resident"),
        ("place", ""),
        ("password", "abcdefgh"),
    ];
    let response = app
        .post_form(&browser, "/console/accounts", &resident)
        .await;
    assert_eq!(response.status(), 400);

    // An admin cannot lock themselves out.
    let me = app
        .state
        .store
        .credentials(&pavilion::domain::Username::parse("admin").unwrap())
        .await
        .unwrap()
        .unwrap()
        .0;
    let fields = [
        ("display_name", "admin"),
        ("role", "admin"),
        ("place", ""),
        ("disabled", "on"),
    ];
    let response = app
        .post_form(&browser, &format!("/console/accounts/{}", me.id), &fields)
        .await;
    assert_eq!(response.status(), 400);
}
