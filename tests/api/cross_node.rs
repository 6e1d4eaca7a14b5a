//! Two nodes on one PostgreSQL database (a throwaway cluster), each a whole
//! server on its own port, no load balancer: what is done through one node
//! reaches the sockets, screens and sessions the other holds, through
//! PostgreSQL's LISTEN/NOTIFY (see `store::signals`).

use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use pavilion::domain::notice::{NoticeCategory, NoticeDraft, Validity};
use pavilion::domain::Role;
use pavilion::signage::notices::Intent;
use pavilion::store::postgres::scratch::ScratchCluster;
use serde_json::json;

use crate::helpers::*;
use crate::signage::pair_screen;

fn cluster() -> &'static ScratchCluster {
    static CLUSTER: OnceLock<ScratchCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| ScratchCluster::start().expect("a scratch PostgreSQL cluster"))
}

/// Two servers on one new database.
async fn two_nodes() -> (TestApp, TestApp) {
    let url = cluster()
        .create_database()
        .await
        .expect("a scratch database");
    let a = spawn_app_with(|s| s.database.url = url.clone()).await;
    let b = spawn_app_with(|s| s.database.url = url.clone()).await;
    (a, b)
}

#[tokio::test]
async fn chat_through_one_node_reaches_the_sockets_of_the_other() {
    let (a, b) = two_nodes().await;
    let place = a.seed_place().await;
    let secretary = a.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = a
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    let id = broadcast.id;
    a.add_resident(&place, "laozhang", "3号楼老张").await;
    a.add_staff(Role::Moderator, "shenhe", Some(place.community.id))
        .await;
    let asker = a.browser_of("laozhang").await;
    let moderator = b.browser_of("shenhe").await;

    // The asker is on node A; a viewer and the moderator on node B.
    let mut on_a = a.live_socket(id, Some(&asker), None).await;
    let mut viewer_b = b.live_socket(id, None, None).await;
    let mut moderator_b = b.live_socket(id, Some(&moderator), None).await;
    for socket in [&mut on_a, &mut viewer_b, &mut moderator_b] {
        socket.expect("snapshot").await;
    }

    // A question asked on node A waits in the queue node B's moderator sees.
    on_a.send(
        json!({"type": "post", "client_id": "q-1", "kind": "question",
                     "text": "东门路灯什么时候修？", "anonymous": false}),
    )
    .await;
    let ack = on_a.expect("ack").await;
    assert_eq!(ack["state"], "held", "{ack}");
    let question = ack["comment"]["id"].as_i64().unwrap();
    let queued = moderator_b
        .expect_where("queue", |f| f["op"] == "add")
        .await;
    assert_eq!(queued["item"]["id"], question);

    // Approved through node B's console: node A's asker sees the event and
    // is told; node B's viewer sees the same event.
    let response = b
        .post_form(
            &moderator.http,
            &format!("/console/broadcasts/{id}/moderate"),
            &[("comment", &question.to_string()), ("action", "approve")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let seen_b = viewer_b.expect("event").await;
    let seen_a = on_a.expect("event").await;
    assert_eq!(seen_a["seq"], seen_b["seq"]);
    assert_eq!(seen_a["event"]["comment"]["id"], question);
    let me = on_a.expect_where("me", |f| f["notice"].is_object()).await;
    assert!(
        me["me"]["mine"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == question && c["state"] == "approved"),
        "{me}"
    );

    // A chat message on node A reaches node B's viewer once.
    on_a.send(json!({"type": "post", "client_id": "c-1", "kind": "chat",
                     "text": "谢谢物业", "anonymous": false}))
        .await;
    let message = viewer_b
        .expect_where("event", |f| f["event"]["comment"]["kind"] == "chat")
        .await;
    assert!(message["seq"].as_i64() > seen_b["seq"].as_i64());
    let more = viewer_b.drain("event", Duration::from_millis(400)).await;
    assert!(
        more.iter().all(|f| f["seq"] != message["seq"]),
        "nothing twice: {more:?}"
    );
}

#[tokio::test]
async fn a_password_changed_through_one_node_ends_the_sockets_rights_on_the_other() {
    let (a, b) = two_nodes().await;
    let place = a.seed_place().await;
    let secretary = a.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = a
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    let shenhe = a
        .add_staff(Role::Moderator, "shenhe", Some(place.community.id))
        .await;
    let moderator = b.browser_of("shenhe").await;
    let mut socket = b.live_socket(broadcast.id, Some(&moderator), None).await;
    socket.expect("snapshot").await;

    a.state
        .store
        .set_password(&system(), shenhe.id, "another hash")
        .await
        .unwrap();
    let revoked = socket.expect_where("queue", |f| f["op"] == "revoked").await;
    assert_eq!(revoked["op"], "revoked");
    socket.expect("signed_out").await;
}

#[tokio::test]
async fn an_emergency_published_through_one_node_is_pushed_to_a_screen_on_the_other() {
    let (a, b) = two_nodes().await;
    let place = a.seed_place().await;
    a.create_account(Role::Admin, None).await;
    let secretary = a.create_account(Role::Secretary, Some(&place)).await;
    let token = pair_screen(&a, &place, "3号楼大堂").await;

    // The screen's push stream is held by node B.
    let response = reqwest::Client::new()
        .get(b.url("/kiosk/api/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: playlist") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the stream starts")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // Published through node A.
    let draft = NoticeDraft::new(
        place.community.id,
        "燃气泄漏，请勿使用明火",
        "请立即开窗通风。",
        NoticeCategory::Outage,
        true,
        Validity::new(chrono::Utc::now() - chrono::Duration::minutes(1), None).unwrap(),
        vec![],
        vec![],
        15,
        9,
        vec![],
        None,
    )
    .unwrap();
    a.state
        .signage
        .create_notice(&secretary, &draft, Intent::Publish)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(2), events.next())
            .await
            .expect("pushed within 2 s")
            .unwrap()
            .unwrap();
        if String::from_utf8_lossy(&chunk).contains("event: playlist") {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // Node B serves the emergency, not the playlist it had cached.
    let playlist: serde_json::Value = reqwest::Client::new()
        .get(b.url("/kiosk/api/playlist"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(playlist["items"][0]["emergency"], true, "{playlist}");
}

#[tokio::test]
async fn a_question_made_a_record_on_two_nodes_at_once_leaves_one_open_record() {
    use pavilion::chat::QuestionToRecord;
    use pavilion::domain::record::{RecordSource, RecordState};
    use pavilion::store::RecordFilter;

    use crate::chat_service::{approved_question, resident, staff};

    let (a, b) = two_nodes().await;
    let place = a.seed_place().await;
    let secretary = a.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = a
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    let community = Some(place.community.id);
    let on_a = staff(&a, Role::Moderator, "shenhe", community).await;
    let on_b = staff(&b, Role::Moderator, "shenhe2", community).await;
    let form = || QuestionToRecord {
        category: "elevator".into(),
        class: None,
        estate_id: None,
    };
    let mut seen = std::collections::HashSet::new();
    for round in 0..6 {
        // A neighbour each round: one resident asking again and again
        // would be held back by the flood guard.
        let asker = resident(&a, &place, &format!("zhang{round}"), "老张").await;
        let text = format!("3号楼电梯又坏了（第{round}次）");
        let q = approved_question(&a, &asker, &on_a, &broadcast, &text).await;
        let (first, second) = tokio::join!(
            a.state.chat.to_record(&on_a, q.id, form()),
            b.state.chat.to_record(&on_b, q.id, form()),
        );
        let linked = match (first, second) {
            (Ok(id), Err(pavilion::chat::ChatError::AlreadyRecorded { record }))
            | (Err(pavilion::chat::ChatError::AlreadyRecorded { record }), Ok(id)) => {
                assert_eq!(id, record);
                id
            }
            other => panic!("one record per question: {other:?}"),
        };
        assert_eq!(
            a.state.store.comment(q.id).await.unwrap().record_id,
            Some(linked)
        );
        // Whatever the other node filed in the same instant is closed as a
        // duplicate of the linked one, never left open with its deadline.
        let made: Vec<_> = a
            .state
            .store
            .list_records(&RecordFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.source == RecordSource::LiveQuestion && seen.insert(r.id))
            .collect();
        let open: Vec<_> = made.iter().filter(|r| r.state.is_open()).collect();
        assert_eq!(open.len(), 1, "{made:?}");
        assert_eq!(open[0].id, linked);
        for twin in made.iter().filter(|r| r.id != linked) {
            assert_eq!(twin.state, RecordState::Duplicate, "{twin:?}");
        }
    }
}

/// Two servers on one SQLite file tell each other nothing (their signal
/// buses are separate): exactly what a change looks like when the node
/// that made it died before it could send its signal. The notices marker,
/// checked every two seconds, still brings the change to the screens.
#[tokio::test]
async fn a_notice_change_no_node_announced_still_reaches_the_screens_of_another() {
    let a = spawn_app_on(Backend::Sqlite, |_| {}).await;
    let url = a.database_url.clone();
    let b = spawn_app_on(Backend::Sqlite, |s| s.database.url = url).await;
    let place = a.seed_place().await;
    a.create_account(Role::Admin, None).await;
    let secretary = a.create_account(Role::Secretary, Some(&place)).await;
    let token = pair_screen(&a, &place, "3号楼大堂").await;
    let playlist = |app: &TestApp| {
        let request = reqwest::Client::new()
            .get(app.url("/kiosk/api/playlist"))
            .bearer_auth(&token);
        async move {
            let response = request.send().await.unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    // Node B has the screen's notices cached.
    let before = playlist(&b).await;
    assert!(before["items"].as_array().unwrap().is_empty(), "{before}");
    let response = reqwest::Client::new()
        .get(b.url("/kiosk/api/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut events = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: playlist") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the stream starts")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let draft = NoticeDraft::new(
        place.community.id,
        "燃气泄漏，请勿使用明火",
        "请立即开窗通风。",
        NoticeCategory::Outage,
        true,
        Validity::new(chrono::Utc::now() - chrono::Duration::minutes(1), None).unwrap(),
        vec![],
        vec![],
        15,
        9,
        vec![],
        None,
    )
    .unwrap();
    a.state
        .signage
        .create_notice(&secretary, &draft, Intent::Publish)
        .await
        .unwrap();
    // Within a check or two (2 s each), B's screen is woken.
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(6), events.next())
            .await
            .expect("woken by the marker check")
            .unwrap()
            .unwrap();
        if String::from_utf8_lossy(&chunk).contains("event: playlist") {
            break;
        }
    }
    let after = playlist(&b).await;
    assert_eq!(after["items"][0]["emergency"], true, "{after}");
}
