use pavilion::domain::Role;

use crate::helpers::*;

async fn community_count(app: &TestApp) -> usize {
    app.state.store.list_communities().await.unwrap().len()
}

#[tokio::test]
async fn a_form_without_its_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let response = admin
        .post(app.url("/console/communities"))
        .form(&[("name", "伪造社区"), ("code", "WZ")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("表单已过期或来源不明"));
    assert_eq!(community_count(&app).await, 0);
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let response = admin
        .post(app.url("/console/communities"))
        .form(&[
            ("csrf_token", "not-the-token"),
            ("name", "伪造社区"),
            ("code", "WZ"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(community_count(&app).await, 0);
}

#[tokio::test]
async fn another_sites_form_is_refused_even_with_a_token() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let token = app.form_token(&admin).await;
    let response = admin
        .post(app.url("/console/communities"))
        .header("Origin", "https://evil.example")
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "伪造社区"),
            ("code", "WZ"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(community_count(&app).await, 0);
    // The same form from this site works.
    let response = admin
        .post(app.url("/console/communities"))
        .header("Origin", app.address.clone())
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "真社区"),
            ("code", "ZS"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(community_count(&app).await, 1);
}

#[tokio::test]
async fn the_login_form_needs_its_token_too() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let response = client()
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_token_from_another_session_does_not_work() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let first = app.login("admin").await;
    let second = app.login("admin").await;
    let first_token = app.form_token(&first).await;
    let response = second
        .post(app.url("/console/communities"))
        .form(&[
            ("csrf_token", first_token.as_str()),
            ("name", "伪造社区"),
            ("code", "WZ"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}
