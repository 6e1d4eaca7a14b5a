use pavilion::domain::Role;

use crate::helpers::*;

#[tokio::test]
async fn chinese_is_the_default_and_english_follows_accept_language() {
    let app = spawn_app().await;
    let zh = app.text(&client(), "/login").await;
    assert!(zh.contains(r#"<html lang="zh-CN">"#));
    assert_eq!(text_of(&zh, "h1").unwrap(), "登录");
    let en = client()
        .get(app.url("/login"))
        .header("Accept-Language", "en-US,en;q=0.9,zh;q=0.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains(r#"<html lang="en">"#));
    assert_eq!(text_of(&en, "h1").unwrap(), "Log in");
}

#[tokio::test]
async fn the_switch_remembers_the_language_for_visitors() {
    let app = spawn_app().await;
    let browser = client();
    let response = app
        .post_form(&browser, "/lang", &[("lang", "en"), ("next", "/register")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/register");
    let page = app.text(&browser, "/register").await;
    assert_eq!(text_of(&page, "h1").unwrap(), "Resident registration");
}

#[tokio::test]
async fn a_logged_in_persons_choice_follows_the_account() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    app.post_form(&browser, "/lang", &[("lang", "en"), ("next", "/console")])
        .await;
    // A new device, with a Chinese browser: the account's choice wins.
    let other_device = app.login("admin").await;
    let page = other_device
        .get(app.url("/console"))
        .header("Accept-Language", "zh-CN")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text_of(&page, "h1").unwrap(), "Console overview");
}

#[tokio::test]
async fn every_console_page_renders_in_both_languages() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    let pages = [
        "/console".to_owned(),
        "/console/communities".to_owned(),
        format!("/console/communities/{}", place.community.id),
        format!("/console/estates/{}", place.estate.id),
        format!("/console/buildings/{}", place.building.id),
        "/console/codes".to_owned(),
        format!("/console/buildings/{}/codes", place.building.id),
        format!("/console/buildings/{}/codes/sheet", place.building.id),
        "/console/accounts".to_owned(),
        "/console/audit".to_owned(),
        "/me".to_owned(),
    ];
    for (lang, marker, other) in [
        ("zh-CN", "社区议事厅", "Pavilion"),
        ("en", "Pavilion", "社区议事厅"),
    ] {
        app.post_form(&browser, "/lang", &[("lang", lang)]).await;
        for path in &pages {
            let response = browser.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{lang} {path}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains(&format!(r#"<html lang="{lang}">"#)),
                "{lang} {path}"
            );
            let title = text_of(&page, "title").unwrap();
            assert!(
                title.ends_with(marker) && !title.contains(other),
                "{lang} {path}: {title}"
            );
            // No raw catalogue keys leak into a page.
            for prefix in [
                "error.",
                "field.",
                "nav.",
                "action.",
                "codes.",
                "audit.",
                "accounts.",
            ] {
                assert!(
                    !page.contains(&format!(">{prefix}")),
                    "{lang} {path} shows a raw key {prefix}…"
                );
            }
        }
    }
}
