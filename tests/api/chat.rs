//! Live Q&A through the real server: residents and viewers on real
//! WebSockets (`/live/{id}/ws`), moderators and the secretary through the
//! console's forms, as their browsers would send them.

use std::time::Duration;

use pavilion::domain::broadcast::Broadcast;
use pavilion::domain::{Account, Role};
use serde_json::{json, Value};

use crate::helpers::*;

/// A broadcast with a resident who posts, a second resident, and a moderator.
struct Scene {
    app: TestApp,
    place: Place,
    broadcast: Broadcast,
    resident: Account,
    asker: Browser,
    neighbour: Browser,
    moderator: Browser,
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
    app.add_staff(Role::Moderator, "shenhe", Some(place.community.id))
        .await;
    let asker = app.browser_of("laozhang").await;
    let neighbour = app.browser_of("laoli").await;
    let moderator = app.browser_of("shenhe").await;
    Scene {
        app,
        place,
        broadcast,
        resident,
        asker,
        neighbour,
        moderator,
    }
}

fn post(client_id: &str, kind: &str, text: &str, anonymous: bool) -> Value {
    json!({ "type": "post", "client_id": client_id, "kind": kind, "text": text, "anonymous": anonymous })
}

const QUIET: Duration = Duration::from_millis(400);

impl Scene {
    fn moderate_path(&self) -> String {
        format!("/console/broadcasts/{}/moderate", self.broadcast.id)
    }

    /// A moderator's decision through the queue's form.
    async fn moderate(
        &self,
        who: &Browser,
        comment: i64,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let id = comment.to_string();
        let mut form = vec![("comment", id.as_str())];
        form.extend_from_slice(fields);
        self.app
            .post_form(&who.http, &self.moderate_path(), &form)
            .await
    }

    async fn approve(&self, comment: i64) {
        let response = self
            .moderate(&self.moderator, comment, &[("action", "approve")])
            .await;
        assert_eq!(response.status(), 303, "approving {comment}");
    }

    /// Posts over the socket and returns the ack.
    async fn ask(
        &self,
        socket: &mut LiveSocket,
        client_id: &str,
        kind: &str,
        text: &str,
        anonymous: bool,
    ) -> Value {
        socket.send(post(client_id, kind, text, anonymous)).await;
        socket
            .expect_where("ack", |f| f["client_id"] == client_id)
            .await
    }

    async fn set_settings(&self, fields: &[(&str, &str)]) {
        let response = self
            .app
            .post_form(
                &self.moderator.http,
                &format!("{}/settings", self.moderate_path()),
                fields,
            )
            .await;
        assert_eq!(response.status(), 303);
    }
}

fn comment_id(ack: &Value) -> i64 {
    ack["comment"]["id"]
        .as_i64()
        .expect("the ack names the comment")
}

#[tokio::test]
async fn a_held_question_is_approved_and_reaches_every_viewer() {
    let s = scene().await;
    let id = s.broadcast.id;
    let mut viewer = s.app.live_socket(id, None, None).await;
    let mut neighbour = s.app.live_socket(id, Some(&s.neighbour), None).await;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    let mut moderator = s.app.live_socket(id, Some(&s.moderator), None).await;
    for socket in [&mut viewer, &mut neighbour, &mut asker, &mut moderator] {
        let snapshot = socket.expect("snapshot").await;
        assert_eq!(snapshot["comments"], json!([]));
    }

    let ack = s
        .ask(
            &mut asker,
            "q-1",
            "question",
            "小区东门的路灯坏了一个月，什么时候修？",
            false,
        )
        .await;
    assert_eq!(ack["state"], "held", "{ack}");
    let question = comment_id(&ack);

    // Moderators see it in their queue with who asked; viewers see nothing yet.
    let queued = moderator.expect_where("queue", |f| f["op"] == "add").await;
    assert_eq!(queued["item"]["id"], question);
    assert_eq!(queued["item"]["author_name"], "3号楼老张");
    assert!(queued["item"]["author_place"]
        .as_str()
        .unwrap()
        .contains("301"));
    assert!(viewer.drain("event", QUIET).await.is_empty());
    let queue_page = s.app.text(&s.moderator.http, &s.moderate_path()).await;
    assert!(queue_page.contains("小区东门的路灯坏了一个月"));

    s.approve(question).await;
    let mut seqs = Vec::new();
    for socket in [&mut viewer, &mut neighbour, &mut asker] {
        let event = socket.expect("event").await;
        assert_eq!(event["event"]["kind"], "comment", "{event}");
        assert_eq!(event["event"]["comment"]["id"], question);
        assert_eq!(event["event"]["comment"]["name"], "3号楼老张");
        assert_eq!(event["event"]["comment"]["kind"], "question");
        seqs.push(event["seq"].as_i64().unwrap());
    }
    assert!(
        seqs.windows(2).all(|w| w[0] == w[1]),
        "one sequence: {seqs:?}"
    );
    // The author is told; the queue loses it.
    let me = asker.expect_where("me", |f| f["notice"].is_object()).await;
    let mine = me["me"]["mine"].as_array().unwrap();
    assert!(
        mine.iter()
            .any(|c| c["id"] == question && c["state"] == "approved"),
        "{me}"
    );
    assert!(
        me["notice"]["message"].as_str().unwrap().contains("通过"),
        "{me}"
    );
    let removed = moderator
        .expect_where("queue", |f| {
            f["op"] == "remove" && f["item"]["id"] == question
        })
        .await;
    // Other moderators' pages say who handled it.
    assert_eq!(removed["by"], "shenhe的名字", "{removed}");

    // A neighbour up-votes it once; the count reaches everyone; the author cannot.
    neighbour
        .send(json!({"type": "vote", "id": question, "up": true}))
        .await;
    let voted = neighbour.expect("ack").await;
    assert_eq!(voted["vote"]["votes"], 1, "{voted}");
    neighbour
        .send(json!({"type": "vote", "id": question, "up": true}))
        .await;
    let again = neighbour.expect("ack").await;
    assert_eq!(again["vote"]["votes"], 1, "a second vote counted: {again}");
    let update = viewer
        .expect_where("event", |f| f["event"]["kind"] == "update")
        .await;
    assert_eq!(update["event"]["comment"]["votes"], 1);
    asker
        .send(json!({"type": "vote", "id": question, "up": true}))
        .await;
    let own = asker.expect("error").await;
    assert_eq!(own["error"], "chat.error.own_question", "{own}");

    // A viewer arriving now gets it in the snapshot.
    let mut late = s.app.live_socket(id, None, None).await;
    let snapshot = late.expect("snapshot").await;
    assert_eq!(snapshot["questions"][0]["id"], question);
    assert_eq!(snapshot["questions"][0]["votes"], 1);
    assert_eq!(snapshot["seq"], update["seq"]);
    assert_eq!(s.app.audit("chat.approve").await.len(), 1);
}

#[tokio::test]
async fn a_rejected_comment_reaches_only_its_author_with_the_reason() {
    let s = scene().await;
    let id = s.broadcast.id;
    s.set_settings(&[
        ("open", "on"),
        ("questions_premoderated", "on"),
        ("chat_premoderated", "on"),
        ("slow_mode_seconds", "0"),
    ])
    .await;
    let mut viewer = s.app.live_socket(id, None, None).await;
    viewer.expect("snapshot").await;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;

    let ack = s
        .ask(
            &mut asker,
            "c-1",
            "chat",
            "楼下那家天天吵，物业管不管？",
            false,
        )
        .await;
    assert_eq!(ack["state"], "held");
    let rejected = comment_id(&ack);
    let response = s
        .moderate(
            &s.moderator,
            rejected,
            &[
                ("action", "reject"),
                ("reason", "请文明发言，具体问题可以转给物业"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);

    let me = asker.expect_where("me", |f| f["notice"].is_object()).await;
    let mine: Vec<&Value> = me["me"]["mine"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == rejected)
        .collect();
    assert_eq!(mine[0]["state"], "rejected");
    assert_eq!(mine[0]["reason"], "请文明发言，具体问题可以转给物业");
    assert!(
        me["notice"]["message"]
            .as_str()
            .unwrap()
            .contains("请文明发言"),
        "{me}"
    );

    // A later approved comment is the next thing viewers see: the rejected one never came.
    let ack = s.ask(&mut asker, "c-2", "chat", "谢谢书记", false).await;
    s.approve(comment_id(&ack)).await;
    let event = viewer.expect("event").await;
    assert_eq!(event["event"]["comment"]["body"], "谢谢书记", "{event}");
    let mut late = s.app.live_socket(id, None, None).await;
    let snapshot = late.expect("snapshot").await;
    assert!(!snapshot.to_string().contains("天天吵"));
    // The author still sees it, with the reason, after a reload.
    let mut again = s.app.live_socket(id, Some(&s.asker), None).await;
    let snapshot = again.expect("snapshot").await;
    assert!(snapshot["me"]["mine"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == rejected && c["reason"] == "请文明发言，具体问题可以转给物业"));
}

#[tokio::test]
async fn a_duplicate_question_is_merged_and_its_votes_combine() {
    let s = scene().await;
    let id = s.broadcast.id;
    s.app.add_resident(&s.place, "laowang", "老王").await;
    s.app.add_resident(&s.place, "laozhao", "老赵").await;
    let wang = s.app.browser_of("laowang").await;
    let zhao = s.app.browser_of("laozhao").await;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    let mut neighbour = s.app.live_socket(id, Some(&s.neighbour), None).await;
    let mut wang = s.app.live_socket(id, Some(&wang), None).await;
    let mut zhao = s.app.live_socket(id, Some(&zhao), None).await;
    let mut viewer = s.app.live_socket(id, None, None).await;
    for socket in [
        &mut asker,
        &mut neighbour,
        &mut wang,
        &mut zhao,
        &mut viewer,
    ] {
        socket.expect("snapshot").await;
    }
    let vote = |id: i64| json!({"type": "vote", "id": id, "up": true});
    let kept = comment_id(
        &s.ask(
            &mut asker,
            "q-a",
            "question",
            "垃圾分类的桶能不能多放两个？",
            false,
        )
        .await,
    );
    s.approve(kept).await;
    wang.send(vote(kept)).await;
    wang.expect("ack").await;
    let duplicate = comment_id(
        &s.ask(
            &mut neighbour,
            "q-b",
            "question",
            "能不能多放几个垃圾桶",
            false,
        )
        .await,
    );
    s.approve(duplicate).await;
    // Wang backs both; Zhao only the duplicate; the kept question's own
    // author backs the duplicate too.
    for socket in [&mut wang, &mut zhao, &mut asker] {
        socket.send(vote(duplicate)).await;
        let ack = socket.expect("ack").await;
        assert!(ack["vote"].is_object(), "{ack}");
    }

    let response = s
        .moderate(
            &s.moderator,
            duplicate,
            &[("action", "merge"), ("into", &kept.to_string())],
        )
        .await;
    assert_eq!(response.status(), 303);
    let removed = viewer
        .expect_where("event", |f| f["event"]["kind"] == "remove")
        .await;
    assert_eq!(removed["event"]["id"], duplicate);
    // Wang counts once, Zhao's vote moves over, and nobody backs their own question.
    let updated = viewer
        .expect_where("event", |f| {
            f["event"]["kind"] == "update"
                && f["event"]["comment"]["id"] == kept
                && f["seq"].as_i64() > removed["seq"].as_i64()
        })
        .await;
    assert_eq!(updated["event"]["comment"]["votes"], 2, "{updated}");
    let mut late = s.app.live_socket(id, None, None).await;
    let snapshot = late.expect("snapshot").await;
    let questions = snapshot["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 1, "{snapshot}");
    assert_eq!(questions[0]["id"], kept);
    assert_eq!(questions[0]["votes"], 2);
    assert_eq!(s.app.audit("chat.merge").await.len(), 1);
}

#[tokio::test]
async fn a_timed_out_resident_cannot_post_until_the_time_is_up() {
    let s = scene().await;
    let id = s.broadcast.id;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;
    let ack = s.ask(&mut asker, "c-1", "chat", "第一条", false).await;
    assert_eq!(ack["state"], "shown");
    let response = s
        .moderate(
            &s.moderator,
            comment_id(&ack),
            &[("action", "timeout"), ("seconds", "10"), ("reason", "刷屏")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let me = asker
        .expect_where("me", |f| f["me"]["can_post"] == false)
        .await;
    assert!(me["me"]["until"].is_string());
    assert!(me["notice"]["message"].is_string());

    asker.send(post("c-2", "chat", "第二条", false)).await;
    let refused = asker.expect("error").await;
    assert_eq!(refused["error"], "chat.error.timed_out", "{refused}");
    assert_eq!(refused["client_id"], "c-2");
    assert!(refused["message"].as_str().unwrap().contains("禁言"));
    let token = s.app.form_token(&s.asker.http).await;
    let over_http = s
        .asker
        .http
        .post(s.app.url(&format!("/live/{id}/comments")))
        .header("X-CSRF-Token", token)
        .json(&post("c-3", "chat", "第三条", false))
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), 403);

    tokio::time::sleep(Duration::from_secs(11)).await;
    let ack = s
        .ask(&mut asker, "c-4", "chat", "我又能说话了", false)
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(s.app.audit("chat.timeout").await.len(), 1);
}

#[tokio::test]
async fn a_banned_resident_reconnects_and_still_cannot_post() {
    let s = scene().await;
    let id = s.broadcast.id;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;
    let ack = s
        .ask(&mut asker, "c-1", "chat", "广告：低价装修", false)
        .await;
    let response = s
        .moderate(
            &s.moderator,
            comment_id(&ack),
            &[("action", "ban"), ("reason", "发广告")],
        )
        .await;
    assert_eq!(response.status(), 303);
    asker.close().await;

    let mut again = s.app.live_socket(id, Some(&s.asker), None).await;
    let snapshot = again.expect("snapshot").await;
    assert_eq!(snapshot["me"]["can_post"], false, "{snapshot}");
    assert!(snapshot["me"]["why_not_message"]
        .as_str()
        .unwrap()
        .contains("禁止"));
    again.send(post("c-2", "chat", "换个号继续发", false)).await;
    let refused = again.expect("error").await;
    assert_eq!(refused["error"], "chat.error.banned");
    // Still watching: the socket stays and events keep coming.
    let other = s.app.live_socket(id, Some(&s.neighbour), None).await;
    let mut other = other;
    other.expect("snapshot").await;
    let ack = s.ask(&mut other, "n-1", "chat", "大家好", false).await;
    assert_eq!(ack["state"], "shown");
    let seen = again
        .expect_where("event", |f| f["event"]["kind"] == "comment")
        .await;
    assert_eq!(seen["event"]["comment"]["body"], "大家好");
    assert_eq!(s.app.audit("chat.ban").await.len(), 1);
    let _ = s.resident;
}

#[tokio::test]
async fn a_viewer_who_reconnects_misses_nothing_and_gets_nothing_twice() {
    let s = scene().await;
    let id = s.broadcast.id;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;
    let mut neighbour = s.app.live_socket(id, Some(&s.neighbour), None).await;
    neighbour.expect("snapshot").await;
    let mut viewer = s.app.live_socket(id, None, None).await;
    let snapshot = viewer.expect("snapshot").await;
    let mut last = snapshot["seq"].as_i64().unwrap();
    let mut bodies = Vec::new();

    let ack = s.ask(&mut asker, "c-0", "chat", "开始了", false).await;
    assert_eq!(ack["state"], "shown");
    let event = viewer.expect("event").await;
    assert_eq!(event["seq"].as_i64().unwrap(), last + 1);
    last = event["seq"].as_i64().unwrap();
    bodies.push(
        event["event"]["comment"]["body"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    viewer.close().await;

    // While the viewer is away: three comments (two people, slow enough for the flood guard).
    let away = ["东门的灯又坏了", "西门下雨有积水", "南门早上总堵车"];
    for (n, (text, socket)) in away.iter().zip([&mut asker, &mut neighbour]).enumerate() {
        let ack = s
            .ask(socket, &format!("c-{}", n + 1), "chat", text, false)
            .await;
        assert_eq!(ack["state"], "shown", "{ack}");
    }
    let ack = s.ask(&mut asker, "c-3", "chat", away[2], false).await;
    assert_eq!(ack["state"], "shown", "{ack}");

    let mut back = s.app.live_socket(id, None, Some(last)).await;
    // Then one more, live, after the resume.
    let ack = s
        .ask(&mut neighbour, "c-4", "chat", "北门修好了", false)
        .await;
    assert_eq!(ack["state"], "shown");
    let frames = back.drain("event", Duration::from_millis(800)).await;
    let seqs: Vec<i64> = frames.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        ((last + 1)..=(last + 4)).collect::<Vec<_>>(),
        "in order, no gap, no repeat"
    );
    bodies.extend(
        frames
            .iter()
            .map(|f| f["event"]["comment"]["body"].as_str().unwrap().to_owned()),
    );
    assert_eq!(bodies, ["开始了", away[0], away[1], away[2], "北门修好了"]);

    // A resume point the server never gave: a fresh snapshot instead.
    let mut odd = s.app.live_socket(id, None, Some(last + 1000)).await;
    let first = odd.expect("snapshot").await;
    assert_eq!(first["seq"].as_i64().unwrap(), last + 4);
    assert_eq!(first["comments"].as_array().unwrap().len(), 5);
    // Resuming at the newest point sends nothing old.
    let mut current = s.app.live_socket(id, None, Some(last + 4)).await;
    assert!(current.drain("event", QUIET).await.is_empty());
}

#[tokio::test]
async fn two_moderators_racing_on_one_item_cannot_both_win() {
    let s = scene().await;
    let id = s.broadcast.id;
    s.app
        .add_staff(Role::Moderator, "shenhe2", Some(s.place.community.id))
        .await;
    let second = s.app.browser_of("shenhe2").await;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;
    for round in 0..3 {
        let ack = s
            .ask(
                &mut asker,
                &format!("q-{round}"),
                "question",
                &format!("第{round}个问题：停车费怎么算？"),
                false,
            )
            .await;
        let question = comment_id(&ack);
        let (first, other) = tokio::join!(
            s.moderate(&s.moderator, question, &[("action", "approve")]),
            s.moderate(
                &second,
                question,
                &[("action", "reject"), ("reason", "重复")]
            ),
        );
        let statuses = [first.status().as_u16(), other.status().as_u16()];
        let mut sorted = statuses;
        sorted.sort();
        assert_eq!(sorted, [303, 409], "round {round}: {statuses:?}");
        let (loser, winner) = if statuses[0] == 409 {
            (first, "shenhe2的名字")
        } else {
            (other, "shenhe的名字")
        };
        let page = loser.text().await.unwrap();
        let message = text_of(&page, "#form-error").expect("the loser is told");
        assert_eq!(message, format!("这条留言已被 {winner} 处理"));
        let comment = s
            .app
            .state
            .chat
            .comment(pavilion::domain::CommentId(question))
            .await
            .unwrap();
        assert!(
            matches!(comment.state.as_str(), "approved" | "rejected"),
            "{:?}",
            comment.state
        );
    }
    let decisions =
        s.app.audit("chat.approve").await.len() + s.app.audit("chat.reject").await.len();
    assert_eq!(decisions, 3, "one decision per item");

    // With scripts the loser gets JSON with the same words.
    let ack = s
        .ask(&mut asker, "q-json", "question", "电梯能不能装？", false)
        .await;
    let question = comment_id(&ack);
    s.approve(question).await;
    let token = s.app.form_token(&second.http).await;
    let late = second
        .http
        .post(s.app.url(&s.moderate_path()))
        .header("Accept", "application/json")
        .form(&[
            ("csrf_token", token.as_str()),
            ("comment", &question.to_string()),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 409);
    let body: Value = late.json().await.unwrap();
    assert_eq!(body["message"], "这条留言已被 shenhe的名字 处理", "{body}");
}

#[tokio::test]
async fn forged_cross_site_sockets_and_posts_without_the_form_token_are_refused() {
    let s = scene().await;
    let id = s.broadcast.id;
    // Another site's page opening the socket with the resident's cookie.
    let refused = s
        .app
        .try_live_socket(id, Some(&s.asker), None, Some("https://evil.example"))
        .await;
    assert_eq!(refused.err(), Some(403));
    // Without a session nothing can be done in anyone's name: watching is fine.
    let mut anonymous = s
        .app
        .try_live_socket(id, None, None, Some("https://evil.example"))
        .await
        .expect("anonymous viewers may embed the socket");
    anonymous.expect("snapshot").await;

    // The HTTP twin: no token, a wrong token, another site's origin.
    let url = s.app.url(&format!("/live/{id}/comments"));
    let body = post("c-1", "chat", "伪造的留言", false);
    let none = s.asker.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 403);
    let wrong = s
        .asker
        .http
        .post(&url)
        .header("X-CSRF-Token", "nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let token = s.app.form_token(&s.asker.http).await;
    let cross = s
        .asker
        .http
        .post(&url)
        .header("X-CSRF-Token", &token)
        .header("Origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let mine = s.app.state.chat.my_comments(&s.resident, id).await.unwrap();
    assert!(mine.is_empty(), "a refused post was stored: {mine:?}");

    // With the token it works, and a vote too.
    let ok = s
        .asker
        .http
        .post(&url)
        .header("X-CSRF-Token", &token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ack: Value = ok.json().await.unwrap();
    assert_eq!(ack["type"], "ack");
    let vote = s
        .asker
        .http
        .post(
            s.app
                .url(&format!("/live/{id}/comments/{}/vote", comment_id(&ack))),
        )
        .json(&json!({"up": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(vote.status(), 403, "a vote without the token");
}

#[tokio::test]
async fn scripts_and_html_in_comments_arrive_as_text_and_are_shown_escaped() {
    let s = scene().await;
    let id = s.broadcast.id;
    let nasty = r#"<script>alert('x')</script><img src=x onerror="alert(1)"> & 书记好"#;
    let mut viewer = s.app.live_socket(id, None, None).await;
    viewer.expect("snapshot").await;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;
    let ack = s.ask(&mut asker, "c-1", "chat", nasty, false).await;
    assert_eq!(ack["state"], "shown", "{ack}");
    let event = viewer.expect("event").await;
    assert_eq!(
        event["event"]["comment"]["body"], nasty,
        "the text, unchanged, as a JSON string"
    );

    // Pages render it escaped: the moderation page, and the replay beside the recording.
    let page = s.app.text(&s.moderator.http, &s.moderate_path()).await;
    assert!(
        !page.contains("<script>alert"),
        "moderation page runs the script"
    );
    assert!(page.contains("&lt;script&gt;alert"));
    let ended = s
        .app
        .state
        .live
        .end(
            &s.app
                .state
                .store
                .account(s.broadcast.owner_id)
                .await
                .unwrap(),
            id,
        )
        .await;
    assert!(ended.is_ok());
    let replay = s.app.text(&client(), &format!("/live/{id}")).await;
    assert!(
        !replay.contains("<script>alert"),
        "replay page runs the script"
    );
    assert!(!replay.contains("<img src=x"));
    assert!(
        replay.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; 书记好"),
        "{replay}"
    );
}

#[tokio::test]
async fn a_ten_thousand_character_message_gets_a_clear_error_and_the_socket_stays() {
    let s = scene().await;
    let id = s.broadcast.id;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;

    asker
        .send(post("long", "chat", &"长".repeat(10_000), false))
        .await;
    let refused = asker.expect("error").await;
    assert_eq!(refused["client_id"], "long");
    assert_eq!(refused["error"], "chat.error.too_long", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("500"),
        "{refused}"
    );

    // A frame far past any message: refused in words, not by dropping the socket.
    asker
        .send_text(post("huge", "chat", &"x".repeat(100_000), false).to_string())
        .await;
    let refused = asker.expect("error").await;
    assert_eq!(
        refused["error"], "chat_ui.error.frame_too_large",
        "{refused}"
    );
    let ack = s
        .ask(&mut asker, "short", "chat", "短一点就好了", false)
        .await;
    assert_eq!(ack["state"], "shown", "{ack}");

    // Over HTTP the same refusal, with its status.
    let token = s.app.form_token(&s.asker.http).await;
    let response = s
        .asker
        .http
        .post(s.app.url(&format!("/live/{id}/comments")))
        .header("X-CSRF-Token", token)
        .json(&post("long-http", "chat", &"长".repeat(10_000), false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "chat.error.too_long");
}

#[tokio::test]
async fn an_anonymous_question_never_reveals_its_author_to_viewers() {
    let s = scene().await;
    let id = s.broadcast.id;
    let mut viewer = s.app.live_socket(id, Some(&s.neighbour), None).await;
    viewer.expect("snapshot").await;
    let mut moderator = s.app.live_socket(id, Some(&s.moderator), None).await;
    moderator.expect("snapshot").await;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;
    let ack = s
        .ask(
            &mut asker,
            "q-anon",
            "question",
            "物业费的账目能不能公开？",
            true,
        )
        .await;
    let question = comment_id(&ack);
    // Staff know who asked.
    let queued = moderator.expect_where("queue", |f| f["op"] == "add").await;
    assert_eq!(queued["item"]["author_name"], "3号楼老张");
    assert!(queued["item"]["author_place"]
        .as_str()
        .unwrap()
        .contains("301"));
    assert_eq!(queued["item"]["anonymous"], true);
    s.approve(question).await;

    let event = viewer.expect("event").await;
    let text = event.to_string();
    assert_eq!(event["event"]["comment"]["anonymous"], true);
    assert_eq!(event["event"]["comment"]["name"], "匿名住户");
    let comment = event["event"]["comment"].as_object().unwrap();
    let mut keys: Vec<&str> = comment.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "anonymous",
            "answer",
            "at",
            "body",
            "id",
            "kind",
            "name",
            "status",
            "votes"
        ]
    );
    for secret in ["老张", "laozhang", "author"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let mut late = s.app.live_socket(id, None, None).await;
    let snapshot = late.expect("snapshot").await.to_string();
    assert!(
        !snapshot.contains("老张") && !snapshot.contains("laozhang"),
        "{snapshot}"
    );
    let secretary = s
        .app
        .state
        .store
        .account(s.broadcast.owner_id)
        .await
        .unwrap();
    s.app.state.live.end(&secretary, id).await.unwrap();
    let replay = s.app.text(&client(), &format!("/live/{id}")).await;
    assert!(replay.contains("物业费的账目能不能公开"));
    assert!(!replay.contains("老张") && !replay.contains("laozhang"));
}

#[tokio::test]
async fn the_secretary_answers_and_a_question_becomes_a_record_with_its_chapter() {
    use pavilion::domain::broadcast::{BroadcastState, ReplayState};
    let s = scene().await;
    let id = s.broadcast.id;
    let store = &s.app.state.store;
    // On air for a minute already (the recording's clock runs from then).
    store
        .set_broadcast_state(
            &system(),
            id,
            &[BroadcastState::Scheduled],
            BroadcastState::Live,
            chrono::Utc::now() - chrono::Duration::seconds(61),
        )
        .await
        .unwrap();
    let secretary = s.app.browser_of("secretary").await;
    let mut viewer = s.app.live_socket(id, None, None).await;
    viewer.expect("snapshot").await;
    let mut asker = s.app.live_socket(id, Some(&s.asker), None).await;
    asker.expect("snapshot").await;
    let question = comment_id(
        &s.ask(
            &mut asker,
            "q-1",
            "question",
            "3号楼电梯老是停，能修吗？",
            false,
        )
        .await,
    );
    s.approve(question).await;

    let board = format!("/console/broadcasts/{id}/answer");
    let page = s.app.text(&secretary.http, &board).await;
    assert!(page.contains("3号楼电梯老是停"));
    let response = s
        .app
        .post_form(
            &secretary.http,
            &board,
            &[("comment", &question.to_string()), ("action", "answer_now")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let answering = viewer
        .expect_where("event", |f| f["event"]["kind"] == "answering")
        .await;
    assert_eq!(answering["event"]["id"], question);
    let page = s.app.text(&secretary.http, &board).await;
    assert!(text_of(&page, ".answer-now")
        .unwrap()
        .contains("3号楼电梯老是停"));
    let response = s
        .app
        .post_form(
            &secretary.http,
            &board,
            &[
                ("comment", &question.to_string()),
                ("action", "answered"),
                ("answer", "下周一维保公司来换控制板"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let cleared = viewer
        .expect_where("event", |f| f["event"]["kind"] == "answering")
        .await;
    assert_eq!(cleared["event"]["id"], Value::Null);
    let page = s.app.text(&secretary.http, &board).await;
    assert!(page.contains("下周一维保公司来换控制板"));

    // Turned into a record: the record shows the question and the chapter
    // of the replay where it was answered.
    let response = s
        .app
        .post_form(
            &secretary.http,
            &format!("/console/broadcasts/{id}/moderate/record"),
            &[
                ("comment", &question.to_string()),
                ("category", "repairs"),
                ("class", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let record_page = location(&response);
    assert!(
        record_page.starts_with("/console/records/"),
        "{record_page}"
    );
    let page = s.app.text(&secretary.http, &record_page).await;
    let card = text_of(&page, "[data-live-question]").expect("the question on the record");
    assert!(
        card.contains("3号楼电梯老是停") && card.contains("3号楼老张"),
        "{card}"
    );
    let link = scraper::Html::parse_document(&page)
        .select(&scraper::Selector::parse("[data-chapter-link]").unwrap())
        .next()
        .and_then(|a| a.value().attr("href").map(str::to_owned))
        .expect("a link to the chapter");
    let seconds: i64 = link
        .strip_prefix(&format!("/live/{id}#t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{link}"));
    assert!(
        (60..=75).contains(&seconds),
        "answered about a minute in: {link}"
    );
    // The resident who asked sees the same on their own record.
    let number = record_page
        .trim_start_matches("/console/records/")
        .split('?')
        .next()
        .unwrap();
    let own = s
        .app
        .text(&s.asker.http, &format!("/me/records/{number}"))
        .await;
    assert!(
        own.contains(&link),
        "the resident's record lacks the chapter link"
    );
    assert_eq!(s.app.audit("chat.to_record").await.len(), 1);

    // After the broadcast, the replay lists the answer as a chapter.
    let owner = store.account(s.broadcast.owner_id).await.unwrap();
    s.app.state.live.end(&owner, id).await.unwrap();
    store
        .set_replay(&system(), id, ReplayState::Published, Some(120_000))
        .await
        .unwrap();
    let replay = s.app.text(&client(), &format!("/live/{id}")).await;
    let chapter = format!("href=\"#t={seconds}\" data-chapter=\"{seconds}\"");
    assert!(replay.contains(&chapter), "no chapter {chapter}: {replay}");
    assert!(replay.contains("下周一维保公司来换控制板"));
}

#[tokio::test]
async fn a_moderator_whose_session_ran_out_is_sent_to_log_in_and_nothing_is_decided() {
    let s = scene().await;
    let mut asker = s
        .app
        .live_socket(s.broadcast.id, Some(&s.asker), None)
        .await;
    asker.expect("snapshot").await;
    let ack = s
        .ask(
            &mut asker,
            "q-expired",
            "question",
            "垃圾站什么时候搬？",
            false,
        )
        .await;
    let question = comment_id(&ack);

    // The session ends while the queue page is open (here: logged out
    // elsewhere); the form still carries a valid form token.
    let out = s.app.post_form(&s.moderator.http, "/logout", &[]).await;
    assert_eq!(out.status(), 303);
    let response = s
        .moderate(&s.moderator, question, &[("action", "approve")])
        .await;
    assert_eq!(response.status(), 303);
    assert!(
        location(&response).starts_with("/login?next="),
        "{}",
        location(&response)
    );
    let comment = s
        .app
        .state
        .chat
        .comment(pavilion::domain::CommentId(question))
        .await
        .unwrap();
    assert_eq!(comment.state.as_str(), "held", "nothing was decided");
    assert!(s.app.audit("chat.approve").await.is_empty());

    // Logged in again, the same action goes through.
    let again = s.app.browser_of("shenhe").await;
    let response = s.moderate(&again, question, &[("action", "approve")]).await;
    assert_eq!(response.status(), 303);
    assert!(!location(&response).starts_with("/login"));
    let comment = s
        .app
        .state
        .chat
        .comment(pavilion::domain::CommentId(question))
        .await
        .unwrap();
    assert_eq!(comment.state.as_str(), "approved");
}
