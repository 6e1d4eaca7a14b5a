use pavilion::domain::Role;

use crate::helpers::*;

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once() {
    let app = spawn_app().await;
    let token = app
        .state
        .accounts
        .setup_token_if_needed()
        .await
        .unwrap()
        .expect("no admin yet, so a token");
    let browser = client();
    let page = browser
        .get(app.url(&format!("/setup/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    let fields = [
        ("username", "chief"),
        ("display_name", "社区管理员"),
        ("password", "a long secret"),
        ("password_again", "a long secret"),
    ];
    let response = app
        .post_form(&browser, &format!("/setup/{token}"), &fields)
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/console");
    let console = browser.get(app.url("/console")).send().await.unwrap();
    assert_eq!(console.status(), 200, "the new admin is logged in");
    assert_eq!(app.audit("setup.first_admin").await.len(), 1);

    // The link is spent, and no new one is made while an admin exists.
    let again = app
        .post_form(&client(), &format!("/setup/{token}"), &fields)
        .await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("初始化链接无效"));
    assert!(app
        .state
        .accounts
        .setup_token_if_needed()
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_forged_setup_link_is_refused() {
    let app = spawn_app().await;
    app.state.accounts.setup_token_if_needed().await.unwrap();
    let response = client()
        .get(app.url("/setup/forged-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn only_the_newest_setup_link_works() {
    let app = spawn_app().await;
    let old = app
        .state
        .accounts
        .setup_token_if_needed()
        .await
        .unwrap()
        .unwrap();
    let new = app
        .state
        .accounts
        .setup_token_if_needed()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        client()
            .get(app.url(&format!("/setup/{old}")))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        client()
            .get(app.url(&format!("/setup/{new}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn login_and_logout() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    assert_eq!(
        browser
            .get(app.url("/console"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let response = app.post_form(&browser, "/logout", &[]).await;
    assert_eq!(response.status(), 303);
    let after = browser.get(app.url("/console")).send().await.unwrap();
    assert_eq!(after.status(), 303);
    assert!(location(&after).starts_with("/login?next="));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_lax() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = client();
    let response = app
        .post_form(
            &browser,
            "/login",
            &[("username", "admin"), ("password", PASSWORD)],
        )
        .await;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("pavilion_session="))
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain-http deployments must still log in: {cookie}"
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_a_message() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = client();
    let response = app
        .post_form(
            &browser,
            "/login",
            &[("username", "admin"), ("password", "wrong one")],
        )
        .await;
    assert_eq!(response.status(), 401);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("登录名或密码不正确"));
    // Unknown names get the same answer.
    let response = app
        .post_form(
            &browser,
            "/login",
            &[("username", "nobody"), ("password", "x")],
        )
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        browser
            .get(app.url("/console"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let browser = client();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let response = app
            .post_form(
                &browser,
                "/login",
                &[("username", "admin"), ("password", "guess")],
            )
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert_eq!(&statuses[5..], &[429; 2]);
    // Even the right password waits now.
    let response = app
        .post_form(
            &browser,
            "/login",
            &[("username", "admin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.text().await.unwrap().contains("尝试次数过多"));
}

#[tokio::test]
async fn a_forged_session_cookie_counts_as_logged_out() {
    let app = spawn_app().await;
    let response = client()
        .get(app.url("/console"))
        .header("Cookie", "pavilion_session=forged-session-value")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login"));
}

#[tokio::test]
async fn an_expired_session_counts_as_logged_out() {
    let app = spawn_app().await;
    let admin = app.create_account(Role::Admin, None).await;
    let token = "expired-session-token";
    let session = pavilion::store::Session {
        account_id: admin.id,
        csrf_token: "t".repeat(43),
        expires_at: chrono::Utc::now() - chrono::Duration::minutes(1),
    };
    app.state
        .store
        .create_session(&pavilion::accounts::tokens::fingerprint(token), &session)
        .await
        .unwrap();
    let response = client()
        .get(app.url("/console"))
        .header("Cookie", format!("pavilion_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn a_disabled_account_is_logged_out_and_cannot_log_in() {
    let app = spawn_app().await;
    let admin = app.create_account(Role::Admin, None).await;
    let moderator = app.create_account(Role::Moderator, None).await;
    let moderator_browser = app.login("moderator").await;
    let admin_browser = app.login("admin").await;
    let fields = [
        ("display_name", "moderator name"),
        ("role", "moderator"),
        ("place", ""),
        ("disabled", "on"),
    ];
    let response = app
        .post_form(
            &admin_browser,
            &format!("/console/accounts/{}", moderator.id),
            &fields,
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        moderator_browser
            .get(app.url("/console"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let again = app
        .post_form(
            &client(),
            "/login",
            &[("username", "moderator"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(again.status(), 401);
    assert_ne!(admin.id, moderator.id);
}

#[tokio::test]
async fn login_returns_only_to_local_pages() {
    let app = spawn_app().await;
    app.create_account(Role::Admin, None).await;
    let fields = [
        ("username", "admin"),
        ("password", PASSWORD),
        ("next", "https://evil.example/"),
    ];
    let response = app.post_form(&client(), "/login", &fields).await;
    assert_eq!(location(&response), "/console");
    let fields = [
        ("username", "admin"),
        ("password", PASSWORD),
        ("next", "/console/audit"),
    ];
    let response = app.post_form(&client(), "/login", &fields).await;
    assert_eq!(location(&response), "/console/audit");
}
