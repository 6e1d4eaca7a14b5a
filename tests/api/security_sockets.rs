//! Issue 14, items 8 and 13, through the real server:
//! - a chat socket keeps no rights its session lost (logout, password
//!   change or reset, disabling, demotion, a move to another community, a
//!   session ended by another server): no more moderation queue, no posts;
//! - residents filing together all succeed; a database that stays busy sends
//!   the report form back with what was typed;
//! - a replay whose files cannot be removed is deleted all the same, and its
//!   files go at the next start.

use std::time::Duration;

use pavilion::domain::broadcast::{Broadcast, BroadcastState, ReplayState};
use pavilion::domain::{Account, BroadcastId, CommunityCode, DisplayName, PlaceName, Role};
use pavilion::store::RecordFilter;
use serde_json::{json, Value};

use crate::helpers::*;

/// A broadcast, a resident who asks, a neighbour, a moderator of the
/// community, and an admin.
struct Scene {
    app: TestApp,
    place: Place,
    broadcast: Broadcast,
    resident: Account,
    moderator_account: Account,
    asker: Browser,
    neighbour: Browser,
    moderator: Browser,
    admin: Browser,
}

async fn scene() -> Scene {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    let resident = app.add_resident(&place, "laozhang", "3号楼老张").await;
    app.add_resident(&place, "laoli", "爱跑步的老李").await;
    let moderator_account = app
        .add_staff(Role::Moderator, "shenhe", Some(place.community.id))
        .await;
    app.create_account(Role::Admin, None).await;
    let asker = app.browser_of("laozhang").await;
    let neighbour = app.browser_of("laoli").await;
    let moderator = app.browser_of("shenhe").await;
    let admin = app.browser_of("admin").await;
    Scene {
        app,
        place,
        broadcast,
        resident,
        moderator_account,
        asker,
        neighbour,
        moderator,
        admin,
    }
}

fn post(client_id: &str, kind: &str, text: &str) -> Value {
    json!({ "type": "post", "client_id": client_id, "kind": kind, "text": text, "anonymous": false })
}

const QUIET: Duration = Duration::from_millis(400);

/// How a moderator's session or rights end while their socket is open.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Revocation {
    /// An admin makes them property staff (no moderation).
    Demoted,
    Disabled,
    LoggedOut,
    /// They change their own password (every session ends).
    ChangedPassword,
    /// An admin sets a new password for them.
    PasswordReset,
    /// Another server of the same database (or the CLI) ended the session:
    /// nothing in this process tells the socket.
    EndedElsewhere,
}

impl Scene {
    /// A question over the asker's socket; held for moderation. Its id.
    async fn ask(&self, socket: &mut LiveSocket, client_id: &str, text: &str) -> i64 {
        socket.send(post(client_id, "question", text)).await;
        let ack = socket
            .expect_where("ack", |f| f["client_id"] == client_id)
            .await;
        assert_eq!(ack["state"], "held", "{ack}");
        ack["comment"]["id"].as_i64().unwrap()
    }

    /// The admin's account form for the moderator, as the console sends it.
    async fn change_moderator(&self, role: &str, place: &str, disabled: bool) {
        let mut fields = vec![
            ("display_name", "审核员小王"),
            ("role", role),
            ("place", place),
        ];
        if disabled {
            fields.push(("disabled", "on"));
        }
        let response = self
            .app
            .post_form(
                &self.admin.http,
                &format!("/console/accounts/{}", self.moderator_account.id),
                &fields,
            )
            .await;
        assert_eq!(response.status(), 303, "the admin's change is taken");
    }

    async fn revoke(&self, how: Revocation) {
        let community = format!("c:{}", self.place.community.id);
        match how {
            Revocation::Demoted => self.change_moderator("staff", &community, false).await,
            Revocation::Disabled => self.change_moderator("moderator", &community, true).await,
            Revocation::LoggedOut => {
                let out = self
                    .app
                    .post_form(&self.moderator.http, "/logout", &[])
                    .await;
                assert_eq!(out.status(), 303);
            }
            Revocation::ChangedPassword => {
                let response = self
                    .app
                    .post_form(
                        &self.moderator.http,
                        "/me/password",
                        &[
                            ("current", PASSWORD),
                            ("password", "a-new-password-2"),
                            ("password_again", "a-new-password-2"),
                        ],
                    )
                    .await;
                assert_eq!(response.status(), 303);
                assert!(location(&response).starts_with("/login"));
            }
            Revocation::PasswordReset => {
                let response = self
                    .app
                    .post_form(
                        &self.admin.http,
                        &format!("/console/accounts/{}/password", self.moderator_account.id),
                        &[("password", "a-new-password-2")],
                    )
                    .await;
                assert_eq!(response.status(), 303);
            }
            Revocation::EndedElsewhere => {
                let mut other_server = self.app.raw_db().await;
                let ended = other_server
                    .execute(&format!(
                        "DELETE FROM sessions WHERE account_id = {}",
                        self.moderator_account.id.0
                    ))
                    .await
                    .unwrap();
                assert!(ended > 0);
                other_server.close().await;
            }
        }
    }
}

/// The moderator's socket sees the queue; once `how` happens it gets no
/// further item, and what it sends is refused as a guest's.
async fn a_moderator_socket_loses_the_queue_when(how: Revocation) {
    let s = scene().await;
    let id = s.broadcast.id;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    let mut moderator = s.app.live_socket(id, Some(&s.moderator), None).await;
    asker.expect("snapshot").await;
    moderator.expect("snapshot").await;

    let before = s.ask(&mut asker, "q-before", "东门路灯什么时候修？").await;
    let queued = moderator
        .expect_where("queue", |f| f["op"] == "add" && f["item"]["id"] == before)
        .await;
    assert_eq!(queued["item"]["author_name"], "3号楼老张", "{how:?}");

    s.revoke(how).await;
    if how != Revocation::EndedElsewhere {
        // Told at once, without waiting for anything else to happen.
        moderator.expect("signed_out").await;
    }

    // A question that goes to the queue now: the socket must not carry it,
    // nor accept a post.
    let after = s
        .ask(&mut asker, "q-after", "三号楼302室的物业费明细")
        .await;
    moderator
        .send(post("m-after", "chat", "我还在审核吗？"))
        .await;
    let refused = moderator
        .expect_where("error", |f| f["client_id"] == "m-after")
        .await;
    assert_eq!(refused["error"], "chat_ui.error.login_to_post", "{how:?}");
    if how == Revocation::EndedElsewhere {
        // Found out when checking before the post (or the queue item).
        moderator.expect("signed_out").await;
    }
    let queue = moderator.drain("queue", QUIET).await;
    assert!(
        queue.iter().all(|f| f["item"]["id"] != after),
        "{how:?}: the held question reached a socket without rights: {queue:#?}"
    );
    assert!(
        queue.iter().all(|f| f["op"] == "revoked"),
        "{how:?}: {queue:#?}"
    );
    let stored = s
        .app
        .state
        .chat
        .my_comments(&s.moderator_account, id)
        .await
        .unwrap();
    assert!(stored.is_empty(), "{how:?}: nothing was posted: {stored:?}");
}

#[tokio::test]
async fn a_demoted_moderator_socket_gets_no_more_queue_and_cannot_post() {
    a_moderator_socket_loses_the_queue_when(Revocation::Demoted).await;
}

#[tokio::test]
async fn a_disabled_moderator_socket_gets_no_more_queue_and_cannot_post() {
    a_moderator_socket_loses_the_queue_when(Revocation::Disabled).await;
}

#[tokio::test]
async fn a_logged_out_moderator_socket_gets_no_more_queue_and_cannot_post() {
    a_moderator_socket_loses_the_queue_when(Revocation::LoggedOut).await;
}

#[tokio::test]
async fn a_moderator_socket_after_a_password_change_gets_no_more_queue() {
    a_moderator_socket_loses_the_queue_when(Revocation::ChangedPassword).await;
}

#[tokio::test]
async fn a_moderator_socket_after_an_admin_password_reset_gets_no_more_queue() {
    a_moderator_socket_loses_the_queue_when(Revocation::PasswordReset).await;
}

#[tokio::test]
async fn a_session_ended_by_another_server_is_found_before_the_next_queue_item_or_post() {
    a_moderator_socket_loses_the_queue_when(Revocation::EndedElsewhere).await;
}

#[tokio::test]
async fn a_moderator_moved_to_another_community_keeps_watching_but_loses_the_queue() {
    let s = scene().await;
    let id = s.broadcast.id;
    let other = s
        .app
        .state
        .store
        .create_community(
            &system(),
            &PlaceName::parse("和平社区").unwrap(),
            &CommunityCode::parse("HP").unwrap(),
        )
        .await
        .unwrap();
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    let mut moderator = s.app.live_socket(id, Some(&s.moderator), None).await;
    asker.expect("snapshot").await;
    moderator.expect("snapshot").await;
    let before = s.ask(&mut asker, "q-before", "垃圾站什么时候搬？").await;
    moderator
        .expect_where("queue", |f| f["op"] == "add" && f["item"]["id"] == before)
        .await;

    s.change_moderator("moderator", &format!("c:{}", other.id), false)
        .await;
    moderator
        .expect_where("queue", |f| f["op"] == "revoked")
        .await;
    let after = s.ask(&mut asker, "q-after", "二号楼电梯又停了").await;
    let queue = moderator.drain("queue", QUIET).await;
    assert!(queue.iter().all(|f| f["item"]["id"] != after), "{queue:#?}");
    assert!(
        moderator
            .drain("signed_out", Duration::ZERO)
            .await
            .is_empty(),
        "still signed in, only not a moderator here"
    );
}

#[tokio::test]
async fn a_resident_socket_after_logout_cannot_post_and_neighbours_carry_on() {
    let s = scene().await;
    let id = s.broadcast.id;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    let mut neighbour = s.app.live_socket(id, Some(&s.neighbour), None).await;
    asker.expect("snapshot").await;
    neighbour.expect("snapshot").await;
    asker.send(post("c-1", "chat", "大家好")).await;
    asker.expect_where("ack", |f| f["client_id"] == "c-1").await;
    let before = s
        .app
        .state
        .chat
        .my_comments(&s.resident, id)
        .await
        .unwrap()
        .len();

    let out = s.app.post_form(&s.asker.http, "/logout", &[]).await;
    assert_eq!(out.status(), 303);
    let told = asker.expect("signed_out").await;
    assert!(
        told["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{told}"
    );

    asker.send(post("c-2", "chat", "退出后还能发吗")).await;
    let refused = asker
        .expect_where("error", |f| f["client_id"] == "c-2")
        .await;
    assert_eq!(refused["error"], "chat_ui.error.login_to_post");
    let after = s
        .app
        .state
        .chat
        .my_comments(&s.resident, id)
        .await
        .unwrap()
        .len();
    assert_eq!(after, before, "nothing was stored");

    // Another resident's socket is not touched by it.
    neighbour.send(post("n-1", "chat", "我还在")).await;
    let ack = neighbour
        .expect_where("ack", |f| f["client_id"] == "n-1")
        .await;
    assert_eq!(ack["type"], "ack");
    assert!(neighbour
        .drain("signed_out", Duration::ZERO)
        .await
        .is_empty());
}

// --- item 13: busy database, replay deletion ------------------------------

fn report_fields(title: &str) -> Vec<(&'static str, String)> {
    vec![
        ("category", "rubbish".into()),
        ("title", title.into()),
        (
            "description",
            format!("{title}：门口的垃圾桶两天没清运了，有异味。"),
        ),
        ("location", "3号楼门口".into()),
    ]
}

async fn file_report(app: &TestApp, who: &reqwest::Client, title: &str) -> reqwest::Response {
    let fields = report_fields(title);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post_form(who, "/report", &fields).await
}

async fn records_titled(app: &TestApp, title: &str) -> usize {
    app.state
        .store
        .list_records(&RecordFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .filter(|r| r.title == title)
        .count()
}

#[tokio::test]
async fn fifty_residents_filing_at_once_all_get_their_record() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let names: Vec<String> = (0..50).map(|i| format!("resident{i:02}")).collect();
    for name in &names {
        app.add_resident(&place, name, &format!("住户{name}")).await;
    }
    // One after another: fifty logins at once from one address are a spray
    // to the login limiter. The filings below are what must run at once.
    let mut residents = Vec::new();
    for name in &names {
        residents.push(app.login(name).await);
    }

    let titles: Vec<String> = names.iter().map(|n| format!("{n}的垃圾桶")).collect();
    let responses = futures_util::future::join_all(
        residents
            .iter()
            .zip(&titles)
            .map(|(who, title)| file_report(&app, who, title)),
    )
    .await;
    for (response, title) in responses.into_iter().zip(&titles) {
        assert_eq!(response.status(), 303, "{title} was refused");
        assert!(location(&response).starts_with("/track/"));
    }
    for title in &titles {
        assert_eq!(records_titled(&app, title).await, 1);
    }
}

#[tokio::test]
async fn a_report_filed_while_the_database_stays_busy_comes_back_with_its_text() {
    let app = spawn_app_with(|s| s.database.busy_timeout_ms = 200).await;
    let place = app.seed_place().await;
    app.create_account(Role::Resident, Some(&place)).await;
    let resident = app.login("resident").await;

    // Another writer holds the database for longer than a change waits.
    let mut other = app.raw_db().await;
    other.hold_writes().await;
    let title = "电梯按钮坏了";
    let response = file_report(&app, &resident, title).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let page = response.text().await.unwrap();
    assert!(page.contains("请稍后"), "says to try again: {page}");
    assert!(
        page.contains(r#"value="电梯按钮坏了""#),
        "the title is kept: {page}"
    );
    assert!(
        page.contains("电梯按钮坏了：门口的垃圾桶两天没清运了，有异味。"),
        "the description is kept"
    );
    assert!(
        page.contains(r#"value="3号楼门口""#),
        "the location is kept"
    );
    other.release().await;
    other.close().await;
    assert_eq!(records_titled(&app, title).await, 0, "nothing was filed");

    // Sent again once the database is free: filed, once.
    let response = file_report(&app, &resident, title).await;
    assert_eq!(response.status(), 303);
    assert_eq!(records_titled(&app, title).await, 1);
}

/// An ended broadcast with a published replay and its files on disk.
async fn published_replay(app: &TestApp, place: &Place, owner: &Account) -> Broadcast {
    let broadcast = app
        .schedule_broadcast(place, owner, Default::default())
        .await;
    let store = &app.state.store;
    store
        .set_broadcast_state(
            &system(),
            broadcast.id,
            &[BroadcastState::Scheduled],
            BroadcastState::Ended,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let broadcast = store
        .set_replay(&system(), broadcast.id, ReplayState::Published, Some(4000))
        .await
        .unwrap();
    let dir = media_dir(app, broadcast.id);
    std::fs::create_dir_all(dir.join("720p")).unwrap();
    std::fs::write(dir.join("index.m3u8"), "#EXTM3U\n").unwrap();
    std::fs::write(dir.join("720p").join("index.m3u8"), "#EXTM3U\n").unwrap();
    broadcast
}

fn media_dir(app: &TestApp, id: BroadcastId) -> std::path::PathBuf {
    app.data_dir
        .join("media")
        .join("broadcasts")
        .join(id.to_string())
}

async fn delete_replay(
    app: &TestApp,
    admin: &reqwest::Client,
    id: BroadcastId,
) -> reqwest::Response {
    app.post_form(
        admin,
        &format!("/console/broadcasts/{id}/replay"),
        &[("action", "delete")],
    )
    .await
}

#[tokio::test]
async fn a_deleted_replay_is_gone_from_the_store_and_the_disk() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let replay = published_replay(&app, &place, &admin).await;
    let playlist = format!("/live/{}/index.m3u8", replay.id);
    assert_eq!(
        client()
            .get(app.url(&playlist))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let browser = app.login("admin").await;
    let response = delete_replay(&app, &browser, replay.id).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.broadcast(replay.id).await.replay, ReplayState::Deleted);
    assert!(!media_dir(&app, replay.id).exists());
    assert_eq!(
        client()
            .get(app.url(&playlist))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn a_replay_whose_files_cannot_be_removed_is_deleted_and_swept_at_the_next_start() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    // (One broadcast per owner: the test stream key is the owner's.)
    let kept = published_replay(&app, &place, &secretary).await;
    let replay = published_replay(&app, &place, &admin).await;
    // Removing the files fails (even as root): where the replay's directory
    // should be, there is a file.
    let dir = media_dir(&app, replay.id);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();

    let browser = app.login("admin").await;
    let response = delete_replay(&app, &browser, replay.id).await;
    assert_eq!(response.status(), 303, "the deletion itself went through");
    // The store says deleted, so nothing serves it: never a published
    // replay whose files are half gone.
    assert_eq!(app.broadcast(replay.id).await.replay, ReplayState::Deleted);
    let playlist = format!("/live/{}/index.m3u8", replay.id);
    assert_eq!(
        client()
            .get(app.url(&playlist))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert!(dir.exists(), "the files are left for the sweep");

    // Next start: the leftovers of deleted replays go, the others stay.
    std::fs::remove_file(&dir).unwrap();
    std::fs::create_dir_all(dir.join("720p")).unwrap();
    std::fs::write(dir.join("720p").join("index.m3u8"), "#EXTM3U\n").unwrap();
    let swept = app.state.live.sweep_deleted_replays().await.unwrap();
    assert_eq!(swept, 1);
    assert!(!dir.exists());
    assert!(media_dir(&app, kept.id).join("index.m3u8").exists());
    assert_eq!(app.broadcast(kept.id).await.replay, ReplayState::Published);
    let kept_playlist = format!("/live/{}/index.m3u8", kept.id);
    assert_eq!(
        client()
            .get(app.url(&kept_playlist))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

// --- the watch page, in real Chromium ---------------------------------------

/// Polls `script` in the page until `done` accepts its value.
async fn page_value(
    page: &fantoccini::Client,
    script: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let value = page.execute(script, vec![]).await.unwrap();
        if done(&value) || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn the_watch_page_of_a_disabled_resident_stops_offering_to_post_and_asks_to_sign_in() {
    use crate::browser::{browser, log_in};
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    let resident = app.add_resident(&place, "laozhang", "3号楼老张").await;
    let (_driver, page) = browser().await;
    log_in(&page, &app, "laozhang", "/me").await;
    page.goto(&app.url(&format!("/live/{}", broadcast.id)))
        .await
        .unwrap();
    let ready = page_value(
        &page,
        "return !!window.pavilionChat && window.pavilionChat.state().snapshots > 0;",
        |v| v == &json!(true),
    )
    .await;
    assert_eq!(ready, json!(true), "the chat started");
    page.execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();
    const SEND_DISABLED: &str =
        "return document.querySelector('[data-compose] button[type=submit]').disabled;";
    assert_eq!(
        page.execute(SEND_DISABLED, vec![]).await.unwrap(),
        json!(false)
    );

    // An admin disables the account while the page is open.
    app.state
        .store
        .update_account(
            &system(),
            resident.id,
            &pavilion::store::AccountChange {
                display_name: DisplayName::parse(&resident.display_name).unwrap(),
                role: Role::Resident,
                community_id: resident.community_id,
                estate_id: resident.estate_id,
                disabled: true,
            },
        )
        .await
        .unwrap();
    let note = page_value(
        &page,
        "return document.querySelector('[data-compose-note]').textContent;",
        |v| v.as_str().is_some_and(|t| t.contains("重新登录")),
    )
    .await;
    assert!(
        note.as_str().is_some_and(|t| t.contains("重新登录")),
        "the page asks to sign in again: {note}"
    );
    assert_eq!(
        page.execute(SEND_DISABLED, vec![]).await.unwrap(),
        json!(true)
    );
    assert_eq!(
        page.execute("return window.notReloaded === true;", vec![])
            .await
            .unwrap(),
        json!(true),
        "the page went on without a reload"
    );
}
