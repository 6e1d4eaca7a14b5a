//! Attacks on logging in and on the logs (issue 14): password spraying,
//! floods of password hashes, forged forwarding headers, open redirects after
//! login, and secrets in request logs.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pavilion::domain::Role;
use pavilion::settings::Settings;

use crate::helpers::*;

/// A server behind a reverse proxy on this machine, with one hashing slot
/// that a hash waits 50 ms for.
async fn behind_local_proxy_with_one_hashing_slot() -> TestApp {
    spawn_app_with(|s: &mut Settings| {
        s.server.trust_proxy = true;
        s.auth.password_hash_concurrency = 1;
        s.auth.password_hash_wait_millis = 50;
    })
    .await
}

/// A login form posted by `browser` as the client at `address`, as our proxy
/// reports it in `X-Forwarded-For`.
async fn login_from(
    app: &TestApp,
    browser: &reqwest::Client,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let token = app.form_token(browser).await;
    browser
        .post(app.url("/login"))
        .header("X-Forwarded-For", forwarded_for)
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn spraying_sixty_names_from_one_address_is_throttled_before_any_hash() {
    let app = behind_local_proxy_with_one_hashing_slot().await;
    let place = app.seed_place().await;
    app.add_resident(&place, "laozhang", "3号楼老张").await;
    // The server's only hashing slot is taken, as by a slow hash: every
    // attempt that reaches the hash waits for it and is refused with 503.
    let slot = app.state.accounts.occupy_hashing_slot().await.unwrap();

    let sprayer = client();
    let mut statuses = Vec::new();
    for i in 0..60 {
        let response = login_from(
            &app,
            &sprayer,
            "203.0.113.7",
            &format!("user{i}"),
            "Spring2026!",
        )
        .await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            assert_eq!(
                response.headers()["retry-after"],
                "60",
                "a throttled login says when to come back"
            );
            let page = response.text().await.unwrap();
            assert!(page.contains("尝试次数过多"));
            assert!(page.contains(&format!(r#"value="user{i}""#)));
        }
    }
    // The first twenty reached the hash (and found it busy); the other forty
    // were refused at once, without asking for a hashing slot.
    assert_eq!(&statuses[..20], &[503; 20]);
    assert_eq!(&statuses[20..], &[429; 40]);
    drop(slot);

    // The sprayer stays throttled even with a real resident's password.
    let response = login_from(&app, &sprayer, "203.0.113.7", "laozhang", PASSWORD).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("set-cookie").is_none());
    let me = sprayer.get(app.url("/me")).send().await.unwrap();
    assert_eq!(me.status(), 303, "no session was started");

    // The resident, at home behind another address, logs in as usual.
    let resident = client();
    let response = login_from(&app, &resident, "198.51.100.20", "laozhang", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/me");
}

#[tokio::test]
async fn a_flood_of_password_hashes_is_refused_with_503_and_the_forms_keep_what_was_typed() {
    let app = behind_local_proxy_with_one_hashing_slot().await;
    let place = app.seed_place().await;
    app.add_resident(&place, "laozhang", "3号楼老张").await;
    let signed_in = app.login("laozhang").await;
    let setup_token = app
        .state
        .accounts
        .setup_token_if_needed()
        .await
        .unwrap()
        .expect("no admin yet");
    let slot = app.state.accounts.occupy_hashing_slot().await.unwrap();

    let busy = |response: &reqwest::Response| {
        assert_eq!(response.status(), 503, "{}", response.url());
        assert_eq!(response.headers()["retry-after"], "5");
    };

    // Login: the name is kept.
    let browser = client();
    let response = login_from(&app, &browser, "198.51.100.20", "laozhang", PASSWORD).await;
    busy(&response);
    let page = response.text().await.unwrap();
    assert!(page.contains("服务器正忙"));
    assert!(page.contains(r#"value="laozhang""#));

    // Registration: the code and the nickname are kept; nobody is registered.
    let response = app
        .post_form(
            &client(),
            "/register",
            &[
                ("code", place.code.code.as_str()),
                ("nickname", "新邻居"),
                ("password", "a long password"),
                ("password_again", "a long password"),
            ],
        )
        .await;
    busy(&response);
    let page = response.text().await.unwrap();
    assert!(page.contains(&format!(r#"value="{}""#, place.code.code)));
    assert!(page.contains(r#"value="新邻居""#));
    let newcomer = pavilion::domain::Username::parse("新邻居").unwrap();
    assert!(app
        .state
        .store
        .credentials(&newcomer)
        .await
        .unwrap()
        .is_none());

    // Password change, in English this time: refused, the old password stays.
    let token = app.form_token(&signed_in).await;
    let response = signed_in
        .post(app.url("/me/password"))
        .header("Accept-Language", "en")
        .form(&[
            ("csrf_token", token.as_str()),
            ("current", PASSWORD),
            ("password", "a brand new password"),
            ("password_again", "a brand new password"),
        ])
        .send()
        .await
        .unwrap();
    busy(&response);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("The server is busy"));

    // First-admin setup: the names are kept, the link still works.
    let response = app
        .post_form(
            &client(),
            &format!("/setup/{setup_token}"),
            &[
                ("username", "chief"),
                ("display_name", "社区管理员"),
                ("password", "a long secret"),
                ("password_again", "a long secret"),
            ],
        )
        .await;
    busy(&response);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"value="chief""#) && page.contains(r#"value="社区管理员""#));
    assert!(app
        .state
        .accounts
        .setup_token_valid(&setup_token)
        .await
        .unwrap());

    // Once a slot is free, the same resident logs in with the old password.
    drop(slot);
    let response = login_from(&app, &client(), "198.51.100.20", "laozhang", PASSWORD).await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn forged_forwarding_headers_from_a_direct_client_do_not_escape_the_address_limit() {
    // No proxy is trusted: every header below is the client's own invention.
    let app = spawn_app().await;
    let sprayer = client();
    let mut statuses = Vec::new();
    for i in 0..25 {
        let token = app.form_token(&sprayer).await;
        let response = sprayer
            .post(app.url("/login"))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .header("X-Real-IP", format!("198.51.100.{i}"))
            .header("Forwarded", format!("for=192.0.2.{i}"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("username", &format!("user{i}")),
                ("password", "Spring2026!"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..20], &[401; 20]);
    assert_eq!(&statuses[20..], &[429; 5]);
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_forged_x_forwarded_for_prefix_is_ignored() {
    let app = spawn_app_with(|s: &mut Settings| {
        s.server.trusted_proxies = vec![
            pavilion::settings::ProxyNetwork::parse("127.0.0.0/8").unwrap(),
            pavilion::settings::ProxyNetwork::parse("::1").unwrap(),
        ];
    })
    .await;
    app.create_account(Role::Admin, None).await;
    let sprayer = client();
    let mut statuses = Vec::new();
    for i in 0..25 {
        // The client wrote the left part; our proxy appended what it saw.
        let forwarded = format!("10.1.2.{i}, 198.51.100.{i}, 203.0.113.7");
        let response = login_from(&app, &sprayer, &forwarded, &format!("user{i}"), "x").await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..20], &[401; 20]);
    assert_eq!(&statuses[20..], &[429; 5]);

    // Someone else behind the same proxy is not held back.
    let response = login_from(&app, &client(), "192.0.2.44", "admin", PASSWORD).await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn login_next_with_tabs_newlines_or_backslashes_cannot_leave_the_site() {
    let app = spawn_app_with(|s: &mut Settings| s.auth.login_attempts_per_minute = 100).await;
    app.create_account(Role::Admin, None).await;
    let here = url::Url::parse(&app.url("/login")).unwrap();
    let attacks = [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "\t//evil.example",
        " //evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "/.//evil.example",
        "https:evil.example",
        "https://evil.example/",
        "//evil.example@pavilion",
    ];
    for next in attacks {
        let fields = [
            ("username", "admin"),
            ("password", PASSWORD),
            ("next", next),
        ];
        let response = app.post_form(&client(), "/login", &fields).await;
        assert_eq!(response.status(), 303, "{next:?}");
        let target = location(&response);
        assert!(
            target.starts_with('/') && !target.starts_with("//"),
            "{next:?} -> {target:?}"
        );
        let resolved = here.join(&target).unwrap();
        assert_eq!(
            resolved.origin(),
            here.origin(),
            "{next:?} -> {target:?} leaves the site"
        );
    }
    // A real local page with a tab in it is normalised, not taken raw.
    let fields = [
        ("username", "admin"),
        ("password", PASSWORD),
        ("next", "/console/\taudit"),
    ];
    let response = app.post_form(&client(), "/login", &fields).await;
    assert_eq!(location(&response), "/console/audit");
}

// ------------------------------------------------------------------ logs

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn secret_links_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let stdout_path = dir.path().join("stdout.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_pavilion"))
        .arg("serve")
        .current_dir(dir.path())
        .env("PAVILION__DATA_DIR", dir.path())
        .env(
            "PAVILION__DATABASE__URL",
            test_database_url(dir.path()).await,
        )
        .env("PAVILION__SERVER__PORT", port.to_string())
        .env("PAVILION__SERVER__PUBLIC_URL", &base)
        .env("PAVILION__LIVE__RTMP_PORT", "0")
        // Several servers on one machine: each its own WebRTC port.
        .env("PAVILION__LIVE__WEBRTC_UDP_PORT", "0")
        .env("PAVILION__LIVE__WEBRTC_IPS", "127.0.0.1")
        .env("PAVILION__AUTH__ARGON2_MEMORY_KIB", "256")
        .env("PAVILION__AUTH__ARGON2_ITERATIONS", "1")
        // Every request leaves a line (DEBUG), one JSON object each.
        .env("RUST_LOG", "info,pavilion=debug")
        .env("PAVILION_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let http = client();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let setup_token = loop {
        let output = std::fs::read_to_string(&stdout_path).unwrap();
        let link = output
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{base}/setup/")))
            .map(str::to_owned);
        if let Some(token) = link {
            break token;
        }
        assert!(Instant::now() < deadline, "no setup link shown: {output}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let fake = "Zq3x8k2LrY0pW4mN6vB1cD5fG7hJ9kLmN0pQ2rS4tUv";
    let secrets = [setup_token.as_str(), fake, "open311-key-never-logged"];
    // A form from another site on the setup page (a WARN with its path),
    // the setup page itself, tracking links and their photos, a mistyped
    // tracking link, a screen's pairing poll, and an Open311 key in a query.
    let setup = format!("{base}/setup/{setup_token}");
    let refused = http
        .post(&setup)
        .header("Origin", "https://evil.example")
        .form(&[("username", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    for path in [
        format!("/setup/{setup_token}"),
        format!("/track/{fake}"),
        format!("/track/{fake}/photos/1/thumb"),
        format!("/track/{fake}/"),
        format!("/kiosk/api/pairings/{fake}"),
        "/open311/v2/requests.json?api_key=open311-key-never-logged&service_code=1".to_owned(),
    ] {
        http.get(format!("{base}{path}")).send().await.unwrap();
    }
    http.post(format!(
        "{base}/open311/v2/requests.json?api_key=open311-key-never-logged"
    ))
    .send()
    .await
    .unwrap();
    // Every request finished is logged; wait for the last one's line.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let output = std::fs::read_to_string(&stdout_path).unwrap();
        let log: Vec<String> = output
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(str::to_owned)
            .collect();
        let finished = log
            .iter()
            .filter(|l| l.contains("request finished"))
            .count();
        if finished >= 9 || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server.kill().unwrap();
    server.wait().unwrap();
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    assert!(
        log.iter().any(|l| l.contains("no admin account yet")),
        "the operator is told that a setup link was printed"
    );
    for expected in [
        "/setup/[redacted]",
        "/track/[redacted]/photos/1/thumb",
        "/track/[redacted]/",
        "/kiosk/api/pairings/[redacted]",
        "api_key=[redacted]",
        "cross-origin form refused",
    ] {
        assert!(
            log.iter().any(|l| l.contains(expected)),
            "no log line shows {expected:?}:\n{}",
            log.join("\n")
        );
    }
    for line in log
        .iter()
        .chain(stderr.lines().map(str::to_owned).collect::<Vec<_>>().iter())
    {
        for secret in secrets {
            assert!(!line.contains(secret), "a secret in the log: {line}");
        }
    }
}
