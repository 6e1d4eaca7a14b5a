//! The live Q&A service (`pavilion::chat::Chat`) against a real server and
//! database: posting and the filters, moderation races, votes, sanctions,
//! resuming viewers, answering, and records made from questions.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pavilion::chat::{
    Chat, ChatError, ChatSettings, CommentKind, HoldReason, NewPost, Posted, PublicEvent,
    QuestionOrder, QuestionStatus, QuestionToRecord, Subscription,
};
use pavilion::domain::broadcast::{Broadcast, BroadcastDetails, BroadcastState, Renditions};
use pavilion::domain::chat::CommentState;
use pavilion::domain::record::RecordSource;
use pavilion::domain::*;
use pavilion::store::{Moderation, StoreError};
use serde_json::Value;

use crate::helpers::{spawn_app, system, Place, TestApp};

// ---------------------------------------------------------------- helpers

fn chat(app: &TestApp) -> &Chat {
    &app.state.chat
}

/// Another resident of the place (a resident needs no password here).
pub(crate) async fn resident(
    app: &TestApp,
    place: &Place,
    username: &str,
    nickname: &str,
) -> Account {
    app.state
        .store
        .register_resident(
            &place.code.code,
            Username::parse(username).unwrap(),
            DisplayName::parse(nickname).unwrap(),
            "not-a-password-hash".into(),
        )
        .await
        .unwrap()
}

pub(crate) async fn staff(
    app: &TestApp,
    role: Role,
    username: &str,
    community: Option<CommunityId>,
) -> Account {
    app.state
        .store
        .create_account(
            &system(),
            NewAccount {
                username: Username::parse(username).unwrap(),
                display_name: DisplayName::parse(&format!("{username}-名")).unwrap(),
                password_hash: "not-a-password-hash".into(),
                role,
                community_id: community,
                estate_id: None,
                unit_id: None,
            },
        )
        .await
        .unwrap()
}

async fn broadcast(app: &TestApp, place: &Place, owner: &Account) -> Broadcast {
    let details = BroadcastDetails::new(
        place.community.id,
        "书记直播间",
        "",
        Utc::now(),
        vec![],
        Renditions::default(),
    )
    .unwrap();
    let key = format!("key-{}", Utc::now().timestamp_nanos_opt().unwrap());
    app.state
        .store
        .create_broadcast(&system(), owner.id, &details, &key)
        .await
        .unwrap()
}

/// Puts the broadcast on air as if it went live `ago` before now.
async fn go_live(app: &TestApp, broadcast: &Broadcast, ago: chrono::Duration) -> Broadcast {
    app.state
        .store
        .set_broadcast_state(
            &system(),
            broadcast.id,
            &[BroadcastState::Scheduled],
            BroadcastState::Live,
            Utc::now() - ago,
        )
        .await
        .unwrap()
}

fn post(client_id: &str, kind: CommentKind, text: &str) -> NewPost {
    NewPost {
        client_id: client_id.into(),
        kind,
        text: text.into(),
        anonymous: false,
    }
}

fn question(client_id: &str, text: &str) -> NewPost {
    post(client_id, CommentKind::Question, text)
}

/// A question by `author`, approved by `moderator`.
pub(crate) async fn approved_question(
    app: &TestApp,
    author: &Account,
    moderator: &Account,
    b: &Broadcast,
    text: &str,
) -> pavilion::chat::Comment {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let client_id = format!("q-{n}");
    let posted = chat(app)
        .post(author, b.id, question(&client_id, text))
        .await
        .unwrap();
    chat(app)
        .approve(moderator, posted.comment().id)
        .await
        .unwrap()
}

/// The next public event, parsed; fails after five seconds.
async fn next_event(subscription: &mut Subscription) -> (Arc<PublicEvent>, Value) {
    let event = tokio::time::timeout(Duration::from_secs(5), subscription.receiver.recv())
        .await
        .expect("an event within 5 s")
        .expect("the channel is open");
    let json: Value = serde_json::from_str(&event.body).unwrap();
    assert_eq!(json["seq"], event.seq);
    (event, json)
}

/// The next private notice for `account` (others' are skipped).
async fn next_notice(subscription: &mut Subscription, account: AccountId) -> Value {
    loop {
        let notice = tokio::time::timeout(Duration::from_secs(5), subscription.private.recv())
            .await
            .expect("a notice within 5 s")
            .expect("the channel is open");
        if notice.account == account {
            return serde_json::from_str(&notice.body).unwrap();
        }
    }
}

fn no_public_event(subscription: &mut Subscription) {
    assert!(
        subscription.receiver.try_recv().is_err(),
        "no public event expected"
    );
}

struct Setup {
    app: TestApp,
    place: Place,
    moderator: Account,
    secretary: Account,
    broadcast: Broadcast,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = staff(&app, Role::Secretary, "secretary", None).await;
    let moderator = staff(&app, Role::Moderator, "moderator", None).await;
    let broadcast = broadcast(&app, &place, &secretary).await;
    let broadcast = go_live(&app, &broadcast, chrono::Duration::seconds(5)).await;
    Setup {
        app,
        place,
        moderator,
        secretary,
        broadcast,
    }
}

// ---------------------------------------------------------------- posting and moderation

#[tokio::test]
async fn a_question_is_held_then_approved_and_every_viewer_gets_it_once() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let mut other_viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();

    let posted = chat(&s.app)
        .post(&zhang, s.broadcast.id, question("c1", "电梯什么时候修？"))
        .await
        .unwrap();
    let Posted::Held(held) = posted else {
        panic!("questions are pre-moderated by default");
    };
    assert_eq!(held.hold_reasons, [HoldReason::Review]);
    no_public_event(&mut viewer);
    let notice = next_notice(&mut viewer, zhang.id).await;
    assert_eq!(notice["type"], "mine");
    assert_eq!(notice["comment"]["state"], "held");

    // The author sees it as waiting ("待审核"); the public does not see it.
    let snapshot = chat(&s.app)
        .snapshot(s.broadcast.id, Some(&zhang))
        .await
        .unwrap();
    assert!(snapshot.questions.is_empty());
    let me = snapshot.me.unwrap();
    assert_eq!(me.mine.len(), 1);
    assert_eq!(me.mine[0].state, CommentState::Held);
    let queue = chat(&s.app)
        .queue(&s.moderator, s.broadcast.id)
        .await
        .unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].author_name, "老张");

    let approved = chat(&s.app).approve(&s.moderator, held.id).await.unwrap();
    assert_eq!(approved.state, CommentState::Approved);
    for subscription in [&mut viewer, &mut other_viewer] {
        let (event, json) = next_event(subscription).await;
        assert_eq!(json["event"]["kind"], "comment");
        assert_eq!(json["event"]["comment"]["id"], held.id.0);
        assert_eq!(json["event"]["comment"]["body"], "电梯什么时候修？");
        assert_eq!(event.seq, 1);
        no_public_event(subscription);
    }
    let notice = next_notice(&mut viewer, zhang.id).await;
    assert_eq!(notice["comment"]["state"], "approved");
    assert!(chat(&s.app)
        .queue(&s.moderator, s.broadcast.id)
        .await
        .unwrap()
        .is_empty());
    let audit = s.app.audit("chat.approve").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entity_id.as_deref(), Some(&*held.id.to_string()));
}

#[tokio::test]
async fn a_rejection_reason_reaches_the_author_and_nobody_else() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let held = chat(&s.app)
        .post(&zhang, s.broadcast.id, question("c1", "和直播无关的问题"))
        .await
        .unwrap();
    next_notice(&mut viewer, zhang.id).await;
    let rejected = chat(&s.app)
        .reject(&s.moderator, held.comment().id, "与本次直播主题无关")
        .await
        .unwrap();
    assert_eq!(rejected.state, CommentState::Rejected);
    let notice = next_notice(&mut viewer, zhang.id).await;
    assert_eq!(notice["comment"]["state"], "rejected");
    assert_eq!(notice["comment"]["reject_reason"], "与本次直播主题无关");
    no_public_event(&mut viewer);
    // A reconnecting author gets it again in the snapshot.
    let me = chat(&s.app)
        .snapshot(s.broadcast.id, Some(&zhang))
        .await
        .unwrap()
        .me
        .unwrap();
    assert_eq!(
        me.mine[0].reject_reason.as_deref(),
        Some("与本次直播主题无关")
    );
    let public = chat(&s.app).snapshot(s.broadcast.id, None).await.unwrap();
    assert!(public.comments.is_empty() && public.questions.is_empty());
    assert!(!serde_json::to_string(&public)
        .unwrap()
        .contains("与本次直播主题无关"));
    // Decided is decided.
    assert!(matches!(
        chat(&s.app).approve(&s.moderator, held.comment().id).await,
        Err(ChatError::AlreadyHandled { .. })
    ));
}

#[tokio::test]
async fn a_resend_with_the_same_client_id_stores_and_shows_one_comment() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let first = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("same", CommentKind::Chat, "大家好"),
        )
        .await
        .unwrap();
    assert!(matches!(first, Posted::Shown(_)), "chat is post-moderated");
    // The client did not hear back and sends again, twice at once.
    let (again, again_too) = tokio::join!(
        chat(&s.app).post(
            &zhang,
            s.broadcast.id,
            post("same", CommentKind::Chat, "大家好")
        ),
        chat(&s.app).post(
            &zhang,
            s.broadcast.id,
            post("same", CommentKind::Chat, "大家好")
        ),
    );
    assert_eq!(again.unwrap().comment().id, first.comment().id);
    assert_eq!(again_too.unwrap().comment().id, first.comment().id);
    let (_, json) = next_event(&mut viewer).await;
    assert_eq!(json["event"]["kind"], "comment");
    no_public_event(&mut viewer);
    let mine = chat(&s.app)
        .my_comments(&zhang, s.broadcast.id)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    // Resends do not count against slow mode or the flood guard.
    let next = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("next", CommentKind::Chat, "第二条"),
        )
        .await;
    assert!(next.is_ok(), "{next:?}");
}

#[tokio::test]
async fn a_post_arriving_while_the_database_is_busy_waits_and_is_stored_once() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    // Another process holds the write lock for a second.
    let mut other = s.app.raw_db().await;
    other.hold_writes().await;
    let service = chat(&s.app).clone();
    let b = s.broadcast.id;
    let author = zhang.clone();
    let posting = tokio::spawn(async move {
        service
            .post(
                &author,
                b,
                post("busy", CommentKind::Chat, "数据库忙的时候发的"),
            )
            .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!posting.is_finished(), "the write waits for the lock");
    other.release().await;
    let posted = posting.await.unwrap().unwrap();
    assert!(matches!(posted, Posted::Shown(_)));
    // The client, unsure, sends it again: still one comment, shown once.
    let again = chat(&s.app)
        .post(
            &zhang,
            b,
            post("busy", CommentKind::Chat, "数据库忙的时候发的"),
        )
        .await
        .unwrap();
    assert_eq!(again.comment().id, posted.comment().id);
    let (_, json) = next_event(&mut viewer).await;
    assert_eq!(json["event"]["comment"]["id"], posted.comment().id.0);
    no_public_event(&mut viewer);
}

#[tokio::test]
async fn slow_mode_refuses_with_the_seconds_left_and_stores_nothing() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    chat(&s.app)
        .update_settings(
            &s.moderator,
            s.broadcast.id,
            ChatSettings {
                slow_mode_seconds: 2,
                ..ChatSettings::default()
            },
        )
        .await
        .unwrap();
    chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("a", CommentKind::Chat, "第一条"),
        )
        .await
        .unwrap();
    let refused = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("b", CommentKind::Chat, "第二条"),
        )
        .await
        .unwrap_err();
    let ChatError::SlowMode { retry_after } = refused else {
        panic!("{refused:?}");
    };
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.status(), 429);
    assert_eq!(
        chat(&s.app)
            .my_comments(&zhang, s.broadcast.id)
            .await
            .unwrap()
            .len(),
        1
    );
    // Someone else is not slowed by Zhang's message; staff are never slowed.
    let li = resident(&s.app, &s.place, "li", "小李").await;
    assert!(chat(&s.app)
        .post(
            &li,
            s.broadcast.id,
            post("c", CommentKind::Chat, "我也来了")
        )
        .await
        .is_ok());
    for i in 0..2 {
        assert!(chat(&s.app)
            .post(
                &s.moderator,
                s.broadcast.id,
                post(&format!("m{i}"), CommentKind::Chat, &format!("公告{i}"))
            )
            .await
            .is_ok());
    }
    tokio::time::sleep(Duration::from_secs(u64::from(retry_after))).await;
    assert!(chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("b", CommentKind::Chat, "第二条")
        )
        .await
        .is_ok());
    // Out of range settings are refused.
    assert!(matches!(
        chat(&s.app)
            .update_settings(
                &s.moderator,
                s.broadcast.id,
                ChatSettings {
                    slow_mode_seconds: 301,
                    ..ChatSettings::default()
                }
            )
            .await,
        Err(ChatError::BadSettings)
    ));
}

#[tokio::test]
async fn a_hundred_posts_at_once_are_refused_clearly_and_nothing_is_shown_twice() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let posts = (0..100).map(|i| {
        let zhang = zhang.clone();
        let chat = chat(&s.app).clone();
        let b = s.broadcast.id;
        async move {
            chat.post(
                &zhang,
                b,
                post(
                    &format!("flood-{i}"),
                    CommentKind::Chat,
                    &format!("刷屏第{i}条"),
                ),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(posts).await;
    let shown: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(shown.len(), 5, "five in ten seconds, then refused");
    for refusal in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(refusal, ChatError::Flood { retry_after } if *retry_after >= 1),
            "{refusal:?}"
        );
        assert_eq!(refusal.status(), 429);
        assert_eq!(refusal.message_key(), "chat.error.flood");
    }
    let mut ids = Vec::new();
    for expected_seq in 1..=5 {
        let (event, json) = next_event(&mut viewer).await;
        assert_eq!(event.seq, expected_seq);
        ids.push(json["event"]["comment"]["id"].as_i64().unwrap());
    }
    no_public_event(&mut viewer);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    let snapshot = chat(&s.app).snapshot(s.broadcast.id, None).await.unwrap();
    assert_eq!(snapshot.comments.len(), 5);
    assert_eq!(snapshot.seq, 5);
}

#[tokio::test]
async fn many_writers_at_once_reach_viewers_in_strict_sequence() {
    let s = setup().await;
    let mut people = Vec::new();
    for i in 0..5 {
        people.push(resident(&s.app, &s.place, &format!("r{i}"), &format!("邻居{i}")).await);
    }
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let service = chat(&s.app).clone();
    let b = s.broadcast.id;
    let writes = people.iter().flat_map(|person| {
        let service = service.clone();
        (0..4).map(move |n| {
            let chat = service.clone();
            async move {
                chat.post(
                    person,
                    b,
                    post(
                        &format!("{}-{n}", person.id),
                        CommentKind::Chat,
                        &format!("{}说第{n}句", person.display_name),
                    ),
                )
                .await
            }
        })
    });
    for result in futures_util::future::join_all(writes).await {
        result.unwrap();
    }
    for expected_seq in 1..=20 {
        let (event, _) = next_event(&mut viewer).await;
        assert_eq!(event.seq, expected_seq, "strictly in order, no gaps");
    }
    no_public_event(&mut viewer);
}

#[tokio::test]
async fn filters_hold_what_they_find_and_mask_personal_data() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let words = chat(&s.app)
        .set_blocked_words(&s.moderator, s.place.community.id, "骗子\n\n傻瓜\n骗 子")
        .await
        .unwrap();
    assert_eq!(words, ["骗子", "傻瓜"]);
    assert_eq!(s.app.audit("chat.blocked_words").await.len(), 1);

    let blocked = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("w", CommentKind::Chat, "物业是 骗-子"),
        )
        .await
        .unwrap();
    let Posted::Held(blocked) = blocked else {
        panic!("blocked words are held even in post-moderated chat");
    };
    assert_eq!(blocked.hold_reasons, [HoldReason::BlockedWord]);

    let link = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("l", CommentKind::Chat, "看这里 www.example.com"),
        )
        .await
        .unwrap();
    assert!(link.comment().hold_reasons.contains(&HoldReason::Link));

    let phone = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("p", CommentKind::Chat, "有事打我电话 138 1234 5678"),
        )
        .await
        .unwrap();
    let Posted::Shown(phone) = phone else {
        panic!("masked personal data alone does not hold chat");
    };
    assert!(!phone.body.contains("1234"), "{}", phone.body);
    assert!(phone
        .original_body
        .as_deref()
        .unwrap()
        .contains("138 1234 5678"));
    assert_eq!(phone.hold_reasons, [HoldReason::PersonalData]);

    // Scripts and HTML stay text; the view escapes them.
    let html = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("h", CommentKind::Chat, "<script>alert(1)</script>\u{200B}"),
        )
        .await
        .unwrap();
    assert_eq!(html.comment().body, "<script>alert(1)</script>");
    assert!(matches!(
        chat(&s.app)
            .post(
                &zhang,
                s.broadcast.id,
                post("big", CommentKind::Chat, &"长".repeat(10_000))
            )
            .await,
        Err(ChatError::TooLong { max: 500 })
    ));
    assert!(matches!(
        chat(&s.app)
            .post(
                &zhang,
                s.broadcast.id,
                post("e", CommentKind::Chat, " \u{200B}\u{202E} ")
            )
            .await,
        Err(ChatError::Empty)
    ));
}

#[tokio::test]
async fn repeats_are_held_as_duplicates_or_floods() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let first = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("a", CommentKind::Chat, "什么时候修电梯"),
        )
        .await
        .unwrap();
    assert!(matches!(first, Posted::Shown(_)));
    let again = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("b", CommentKind::Chat, "什么时候 修电梯！！"),
        )
        .await
        .unwrap();
    assert_eq!(again.comment().hold_reasons, [HoldReason::Duplicate]);

    // Three different people with the same text within a minute.
    let li = resident(&s.app, &s.place, "li", "小李").await;
    let wang = resident(&s.app, &s.place, "wang", "老王").await;
    for (who, id) in [(&zhang, "x1"), (&li, "x2")] {
        let posted = chat(&s.app)
            .post(who, s.broadcast.id, post(id, CommentKind::Chat, "退物业费"))
            .await
            .unwrap();
        assert!(matches!(posted, Posted::Shown(_)), "{posted:?}");
    }
    let third = chat(&s.app)
        .post(
            &wang,
            s.broadcast.id,
            post("x3", CommentKind::Chat, "退物业费"),
        )
        .await
        .unwrap();
    assert_eq!(third.comment().hold_reasons, [HoldReason::Flood]);
}

#[tokio::test]
async fn of_two_moderators_racing_on_one_comment_exactly_one_wins() {
    let s = setup().await;
    let other = staff(&s.app, Role::Moderator, "moderator2", None).await;
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    for round in 0..8 {
        // A new author each round, so the flood guard stays out of it.
        let author = resident(
            &s.app,
            &s.place,
            &format!("r{round}"),
            &format!("邻居{round}"),
        )
        .await;
        let held = chat(&s.app)
            .post(
                &author,
                s.broadcast.id,
                question(&format!("race-{round}"), &format!("第{round}个问题")),
            )
            .await
            .unwrap();
        let id = held.comment().id;
        let (a, b) = if round % 2 == 0 {
            tokio::join!(
                chat(&s.app).approve(&s.moderator, id),
                chat(&s.app).approve(&other, id)
            )
        } else {
            tokio::join!(
                chat(&s.app).approve(&s.moderator, id),
                chat(&s.app).reject(&other, id, "重复")
            )
        };
        let (winner, loser) = match (&a, &b) {
            (Ok(_), Err(e)) => (&s.moderator, e),
            (Err(e), Ok(_)) => (&other, e),
            _ => panic!("exactly one must win: {a:?} / {b:?}"),
        };
        let ChatError::AlreadyHandled { by } = loser else {
            panic!("{loser:?}");
        };
        assert_eq!(by.as_deref(), Some(winner.display_name.as_str()));
        assert_eq!(loser.status(), 409);
        let stored = chat(&s.app).comment(id).await.unwrap();
        assert_eq!(stored.decided_by, Some(winner.id));
        if stored.state == CommentState::Approved {
            let (_, json) = next_event(&mut viewer).await;
            assert_eq!(json["event"]["comment"]["id"], id.0);
        }
        no_public_event(&mut viewer);
    }
    let decisions =
        s.app.audit("chat.approve").await.len() + s.app.audit("chat.reject").await.len();
    assert_eq!(decisions, 8, "one audited decision per comment");

    // The store's own guard, without the service's lock: a conditional
    // update lets exactly one of two writers through.
    let author = resident(&s.app, &s.place, "direct", "直达").await;
    let held = chat(&s.app)
        .post(
            &author,
            s.broadcast.id,
            question("direct", "直接写库的问题"),
        )
        .await
        .unwrap();
    let id = held.comment().id;
    let actor = |who: &Account| Actor {
        id: Some(who.id),
        name: who.display_name.clone(),
    };
    let (first, second) = (actor(&s.moderator), actor(&other));
    let store = &s.app.state.store;
    let (a, b) = tokio::join!(
        store.moderate_comment(&first, id, Moderation::Approve, Utc::now()),
        store.moderate_comment(&second, id, Moderation::Reject { reason: None }, Utc::now()),
    );
    assert!(
        matches!(
            (&a, &b),
            (Ok(_), Err(StoreError::Conflict)) | (Err(StoreError::Conflict), Ok(_))
        ),
        "{a:?} / {b:?}"
    );
}

#[tokio::test]
async fn merging_combines_voters_without_counting_anyone_twice() {
    let s = setup().await;
    let mut r = Vec::new();
    for i in 0..5 {
        r.push(resident(&s.app, &s.place, &format!("r{i}"), &format!("邻居{i}")).await);
    }
    let kept = approved_question(
        &s.app,
        &r[0],
        &s.moderator,
        &s.broadcast,
        "东门充电桩什么时候装？",
    )
    .await;
    let dup = approved_question(&s.app, &r[1], &s.moderator, &s.broadcast, "充电桩啥时候装").await;
    for voter in [&r[2], &r[3]] {
        chat(&s.app).vote(voter, kept.id, true).await.unwrap();
    }
    // r2 voted for both; r0 (the kept question's author) voted for the duplicate.
    for voter in [&r[2], &r[4], &r[0]] {
        chat(&s.app).vote(voter, dup.id, true).await.unwrap();
    }
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let merged = chat(&s.app)
        .merge(&s.moderator, dup.id, kept.id)
        .await
        .unwrap();
    assert_eq!(merged.id, kept.id);
    assert_eq!(merged.votes, 3, "r2, r3, r4: each once, not the author");
    let (_, removed) = next_event(&mut viewer).await;
    assert_eq!(removed["event"]["kind"], "remove");
    assert_eq!(removed["event"]["id"], dup.id.0);
    let (_, updated) = next_event(&mut viewer).await;
    assert_eq!(updated["event"]["kind"], "update");
    assert_eq!(updated["event"]["comment"]["votes"], 3);
    let questions = chat(&s.app)
        .questions(s.broadcast.id, QuestionOrder::Votes, true)
        .await
        .unwrap();
    assert_eq!(questions.len(), 1);
    let dup_now = chat(&s.app).comment(dup.id).await.unwrap();
    assert_eq!(dup_now.merged_into, Some(kept.id));
    assert_eq!(dup_now.state, CommentState::Hidden);
    // The merged voters are voters of the kept question now.
    assert!(matches!(
        chat(&s.app).vote(&r[4], kept.id, true).await,
        Ok(3)
    ));
    assert_eq!(chat(&s.app).vote(&r[1], kept.id, true).await.unwrap(), 4);
    assert_eq!(s.app.audit("chat.merge").await.len(), 1);
    // Merging again is refused, not doubled.
    assert!(chat(&s.app)
        .merge(&s.moderator, dup.id, kept.id)
        .await
        .is_err());
}

#[tokio::test]
async fn one_vote_per_account_on_shown_questions_only() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let li = resident(&s.app, &s.place, "li", "小李").await;
    let q = approved_question(
        &s.app,
        &zhang,
        &s.moderator,
        &s.broadcast,
        "停车位怎么分配？",
    )
    .await;
    assert_eq!(chat(&s.app).vote(&li, q.id, true).await.unwrap(), 1);
    assert_eq!(chat(&s.app).vote(&li, q.id, true).await.unwrap(), 1);
    let (a, b) = tokio::join!(
        chat(&s.app).vote(&s.moderator, q.id, true),
        chat(&s.app).vote(&s.moderator, q.id, true)
    );
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(chat(&s.app).comment(q.id).await.unwrap().votes, 2);
    assert_eq!(chat(&s.app).vote(&li, q.id, false).await.unwrap(), 1);
    assert!(matches!(
        chat(&s.app).vote(&zhang, q.id, true).await,
        Err(ChatError::OwnQuestion)
    ));
    let held = chat(&s.app)
        .post(&zhang, s.broadcast.id, question("h", "还没审核的问题"))
        .await
        .unwrap();
    assert!(matches!(
        chat(&s.app).vote(&li, held.comment().id, true).await,
        Err(ChatError::NotVotable)
    ));
    let chat_message = chat(&s.app)
        .post(&zhang, s.broadcast.id, post("c", CommentKind::Chat, "聊天"))
        .await
        .unwrap();
    assert!(matches!(
        chat(&s.app)
            .vote(&li, chat_message.comment().id, true)
            .await,
        Err(ChatError::NotVotable)
    ));
    let me = chat(&s.app)
        .snapshot(s.broadcast.id, Some(&s.moderator))
        .await
        .unwrap()
        .me
        .unwrap();
    assert_eq!(me.voted, [q.id]);
}

#[tokio::test]
async fn a_resuming_viewer_gets_exactly_the_events_it_missed_in_order() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let li = resident(&s.app, &s.place, "li", "小李").await;
    chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("before", CommentKind::Chat, "开始前"),
        )
        .await
        .unwrap();
    let mut live = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let seen = chat(&s.app)
        .snapshot(s.broadcast.id, None)
        .await
        .unwrap()
        .seq;
    assert_eq!(seen, 1);
    // The viewer drops off; life goes on.
    let q = approved_question(&s.app, &zhang, &s.moderator, &s.broadcast, "垃圾站能挪走吗").await;
    chat(&s.app).vote(&li, q.id, true).await.unwrap();
    chat(&s.app)
        .post(&li, s.broadcast.id, post("x", CommentKind::Chat, "同问"))
        .await
        .unwrap();
    chat(&s.app).answer_now(&s.secretary, q.id).await.unwrap();

    let missed = chat(&s.app)
        .events_after(s.broadcast.id, seen, 500)
        .await
        .unwrap();
    let seqs: Vec<i64> = missed.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (seen + 1..=seen + seqs.len() as i64).collect::<Vec<_>>()
    );
    let kinds: Vec<String> = missed
        .iter()
        .map(|e| {
            let json: Value = serde_json::from_str(&e.body).unwrap();
            json["event"]["kind"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        ["comment", "update", "comment", "update", "answering"]
    );
    // What was published live is exactly what is stored.
    for stored in &missed {
        let (event, _) = next_event(&mut live).await;
        assert_eq!(event.seq, stored.seq);
        assert_eq!(event.body, stored.body);
    }
    no_public_event(&mut live);
    // From the middle: the rest; at the end: nothing.
    let rest = chat(&s.app)
        .events_after(s.broadcast.id, seen + 2, 500)
        .await
        .unwrap();
    assert_eq!(rest.first().map(|e| e.seq), Some(seen + 3));
    assert_eq!(rest.len(), 3);
    let last = *seqs.last().unwrap();
    assert!(chat(&s.app)
        .events_after(s.broadcast.id, last, 500)
        .await
        .unwrap()
        .is_empty());
    let limited = chat(&s.app)
        .events_after(s.broadcast.id, 0, 2)
        .await
        .unwrap();
    assert_eq!(limited.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    let snapshot = chat(&s.app).snapshot(s.broadcast.id, None).await.unwrap();
    assert_eq!(snapshot.seq, last);
    assert_eq!(snapshot.answering, Some(q.id));
}

// ---------------------------------------------------------------- sanctions

#[tokio::test]
async fn time_outs_and_bans_keep_a_resident_from_posting_even_after_reconnecting() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    for bad in [9, 86_401] {
        assert!(matches!(
            chat(&s.app)
                .timeout(&s.moderator, zhang.id, s.broadcast.id, bad, "")
                .await,
            Err(ChatError::BadTimeout)
        ));
    }
    chat(&s.app)
        .timeout(&s.moderator, zhang.id, s.broadcast.id, 600, "刷屏")
        .await
        .unwrap();
    let notice = next_notice(&mut viewer, zhang.id).await;
    assert_eq!(notice["type"], "sanction");
    assert_eq!(notice["kind"], "timeout");
    let refused = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("t", CommentKind::Chat, "我还能说话吗"),
        )
        .await
        .unwrap_err();
    let until = refused.until().expect("a time-out says until when");
    let left = until - Utc::now();
    assert!(left > chrono::Duration::seconds(590) && left <= chrono::Duration::seconds(600));
    assert_eq!(refused.status(), 403);
    chat(&s.app)
        .lift(&s.moderator, zhang.id, s.broadcast.id)
        .await
        .unwrap();
    assert!(chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            post("t", CommentKind::Chat, "我还能说话吗")
        )
        .await
        .is_ok());

    chat(&s.app)
        .ban(&s.moderator, zhang.id, s.broadcast.id, "多次辱骂")
        .await
        .unwrap();
    // Reconnecting: a new socket, a new snapshot — still banned, in every
    // broadcast of the community.
    drop(viewer);
    let _again = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let me = chat(&s.app)
        .snapshot(s.broadcast.id, Some(&zhang))
        .await
        .unwrap()
        .me
        .unwrap();
    assert!(!me.can_post);
    assert_eq!(me.why_not, Some("chat.error.banned"));
    assert!(matches!(
        chat(&s.app)
            .post(
                &zhang,
                s.broadcast.id,
                post("b", CommentKind::Chat, "换个号说")
            )
            .await,
        Err(ChatError::Banned)
    ));
    let next_week = broadcast(&s.app, &s.place, &s.secretary).await;
    assert!(matches!(
        chat(&s.app)
            .post(&zhang, next_week.id, question("n", "下周的问题"))
            .await,
        Err(ChatError::Banned)
    ));
    assert_eq!(s.app.audit("chat.timeout").await.len(), 1);
    assert_eq!(s.app.audit("chat.ban").await.len(), 1);
    // Moderators cannot be sanctioned, nor sanction themselves.
    assert!(matches!(
        chat(&s.app)
            .ban(&s.moderator, s.secretary.id, s.broadcast.id, "")
            .await,
        Err(ChatError::Forbidden)
    ));
}

#[tokio::test]
async fn hiding_all_of_a_user_and_redacting_keep_the_original_for_the_audit() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let posted = chat(&s.app)
            .post(
                &zhang,
                s.broadcast.id,
                post(&format!("c{i}"), CommentKind::Chat, &format!("广告{i}号")),
            )
            .await
            .unwrap();
        ids.push(posted.comment().id);
    }
    let redacted = chat(&s.app)
        .redact(&s.moderator, ids[0], "（内容已编辑）")
        .await
        .unwrap();
    assert_eq!(redacted.body, "（内容已编辑）");
    assert_eq!(redacted.original_body.as_deref(), Some("广告0号"));
    let audit = s.app.audit("chat.redact").await;
    assert_eq!(audit[0].before.as_ref().unwrap()["body"], "广告0号");

    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let hidden = chat(&s.app)
        .hide_all_of(&s.moderator, zhang.id, s.broadcast.id)
        .await
        .unwrap();
    assert_eq!(hidden, 3);
    for id in &ids {
        let (_, json) = next_event(&mut viewer).await;
        assert_eq!(json["event"]["kind"], "remove");
        assert_eq!(json["event"]["id"], id.0);
    }
    assert!(chat(&s.app)
        .snapshot(s.broadcast.id, None)
        .await
        .unwrap()
        .comments
        .is_empty());
    assert_eq!(s.app.audit("chat.hide_all").await.len(), 1);
}

// ---------------------------------------------------------------- answering

#[tokio::test]
async fn answering_stores_offsets_and_leaves_chapters() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = staff(&app, Role::Secretary, "secretary", None).await;
    let moderator = staff(&app, Role::Moderator, "moderator", None).await;
    let zhang = resident(&app, &place, "zhang", "老张").await;
    let b = broadcast(&app, &place, &secretary).await;
    // Went live 90 s ago; no encoder here, so the offset is the time since.
    let b = go_live(&app, &b, chrono::Duration::seconds(90)).await;
    let q1 = approved_question(&app, &zhang, &moderator, &b, "第一个问题").await;
    let q2 = approved_question(&app, &zhang, &moderator, &b, "第二个问题").await;
    // Moderators may not answer; the secretary may.
    assert!(matches!(
        chat(&app).answer_now(&moderator, q1.id).await,
        Err(ChatError::Forbidden)
    ));
    let mut viewer = chat(&app).subscribe(b.id).await.unwrap();
    let answering = chat(&app).answer_now(&secretary, q1.id).await.unwrap();
    assert_eq!(answering.status, QuestionStatus::Answering);
    let offset = answering.answer_offset_ms.unwrap();
    assert!((90_000..100_000).contains(&offset), "{offset}");
    assert_eq!(chat(&app).answering(b.id).await.map(|c| c.id), Some(q1.id));
    let (_, update) = next_event(&mut viewer).await;
    assert_eq!(update["event"]["comment"]["status"], "answering");
    let (_, highlight) = next_event(&mut viewer).await;
    assert_eq!(
        highlight["event"],
        serde_json::json!({"kind": "answering", "id": q1.id.0})
    );

    // One at a time: the next one takes over without clearing first.
    chat(&app).answer_now(&secretary, q2.id).await.unwrap();
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let (_, json) = next_event(&mut viewer).await;
        kinds.push(json["event"].clone());
    }
    assert_eq!(kinds[0]["comment"]["id"], q1.id.0);
    assert_eq!(kinds[0]["comment"]["status"], "open");
    assert_eq!(
        kinds[2],
        serde_json::json!({"kind": "answering", "id": q2.id.0})
    );
    no_public_event(&mut viewer);
    assert_eq!(
        chat(&app).comment(q1.id).await.unwrap().status,
        QuestionStatus::Open
    );

    let done = chat(&app)
        .answered(&secretary, q2.id, Some("  下周一前完成维修。 "))
        .await
        .unwrap();
    assert_eq!(done.status, QuestionStatus::Answered);
    assert_eq!(done.answer.as_deref(), Some("下周一前完成维修。"));
    assert!(chat(&app).answering(b.id).await.is_none());
    let chapters = chat(&app).chapters(b.id).await.unwrap();
    assert_eq!(chapters.len(), 1);
    assert_eq!(chapters[0].comment, q2.id);
    assert!(chapters[0].offset_ms >= offset);
    assert_eq!(chapters[0].answer.as_deref(), Some("下周一前完成维修。"));
    // Answered twice is refused; restoring brings it back.
    assert!(matches!(
        chat(&app).answered(&secretary, q2.id, None).await,
        Err(ChatError::WrongState)
    ));
    let restored = chat(&app).restore(&secretary, q2.id).await.unwrap();
    assert_eq!(restored.status, QuestionStatus::Open);
    assert!(restored.answer.is_none());
    assert!(chat(&app).chapters(b.id).await.unwrap().is_empty());
    // The open list leaves answered ones out unless asked.
    chat(&app).answered(&secretary, q1.id, None).await.unwrap();
    let open = chat(&app)
        .questions(b.id, QuestionOrder::Time, false)
        .await
        .unwrap();
    assert_eq!(open.iter().map(|q| q.id).collect::<Vec<_>>(), [q2.id]);
    let chapters = chat(&app).chapters(b.id).await.unwrap();
    assert_eq!(chapters.len(), 1, "q1 answered with its earlier offset");
    assert_eq!(chapters[0].offset_ms, offset);
    for action in ["chat.answer_now", "chat.answered", "chat.restore"] {
        assert!(!app.audit(action).await.is_empty(), "{action} audited");
    }
}

#[tokio::test]
async fn with_an_encoder_the_offset_is_the_position_in_the_recording() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = staff(&app, Role::Secretary, "secretary", None).await;
    let zhang = resident(&app, &place, "zhang", "老张").await;
    let b = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let q = approved_question(&app, &zhang, &secretary, &b, "录像里从哪里开始回答？").await;
    let _encoder = crate::publisher::Publisher::start(&app.ingest_url(&b.stream_key));
    app.wait_for_segments(b.id, 2).await;
    let hub = app.state.live.hub();
    let before = hub.recording_position(b.id).expect("recording");
    let answering = chat(&app).answer_now(&secretary, q.id).await.unwrap();
    let after = hub.recording_position(b.id).expect("recording");
    let offset = answering.answer_offset_ms.unwrap();
    assert!(
        before > 0 && (before..=after).contains(&offset),
        "{before} <= {offset} <= {after}"
    );
}

#[tokio::test]
async fn lobby_screens_show_the_question_being_answered() {
    let s = setup().await;
    staff(&s.app, Role::Admin, "admin", None).await;
    let token = crate::signage::pair_screen(&s.app, &s.place, "3号楼大堂").await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let q = approved_question(
        &s.app,
        &zhang,
        &s.moderator,
        &s.broadcast,
        "东门的路灯什么时候修？",
    )
    .await;
    chat(&s.app).answer_now(&s.secretary, q.id).await.unwrap();
    let live_tile = |playlist: &Value| {
        playlist["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["kind"] == "live")
            .cloned()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let playlist: Value = reqwest::Client::new()
            .get(s.app.url("/kiosk/api/playlist"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(tile) = live_tile(&playlist) {
            if tile["answering"] == "东门的路灯什么时候修？" {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the live tile never showed the question: {playlist}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    chat(&s.app)
        .answered(&s.secretary, q.id, None)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let playlist: Value = reqwest::Client::new()
            .get(s.app.url("/kiosk/api/playlist"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tile = live_tile(&playlist).expect("still on air");
        if tile.get("answering").is_none() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{tile}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

// ---------------------------------------------------------------- records

#[tokio::test]
async fn a_question_becomes_a_record_that_links_back_to_it() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let q = approved_question(
        &s.app,
        &zhang,
        &s.moderator,
        &s.broadcast,
        "3号楼电梯又坏了，困了人怎么办？",
    )
    .await;
    let form = || QuestionToRecord {
        category: "elevator".into(),
        class: None,
        estate_id: None,
    };
    assert!(matches!(
        chat(&s.app).to_record(&zhang, q.id, form()).await,
        Err(ChatError::Forbidden)
    ));
    assert!(matches!(
        chat(&s.app)
            .to_record(
                &s.moderator,
                q.id,
                QuestionToRecord {
                    category: "nonsense".into(),
                    ..form()
                }
            )
            .await,
        Err(ChatError::BadCategory)
    ));
    let (first, second) = tokio::join!(
        chat(&s.app).to_record(&s.moderator, q.id, form()),
        chat(&s.app).to_record(&s.secretary, q.id, form())
    );
    let record_id = match (first, second) {
        (Ok(id), Err(ChatError::AlreadyRecorded { record }))
        | (Err(ChatError::AlreadyRecorded { record }), Ok(id)) => {
            assert_eq!(id, record);
            id
        }
        other => panic!("one record per question: {other:?}"),
    };
    let record = s.app.state.store.record(record_id).await.unwrap();
    assert_eq!(record.source, RecordSource::LiveQuestion);
    assert_eq!(record.reporter_id, Some(zhang.id));
    assert_eq!(record.estate_id, s.place.estate.id);
    assert_eq!(record.building_id, Some(s.place.building.id));
    assert!(
        record.description.contains("电梯又坏了"),
        "{}",
        record.description
    );
    assert!(record.title.starts_with("直播提问"), "{}", record.title);

    let (linked, chapter) = chat(&s.app)
        .question_of_record(record_id)
        .await
        .unwrap()
        .expect("the record knows its question");
    assert_eq!(linked.id, q.id);
    assert_eq!(linked.record_id, Some(record_id));
    assert!(chapter.is_none(), "not answered yet");
    chat(&s.app).answer_now(&s.secretary, q.id).await.unwrap();
    chat(&s.app)
        .answered(&s.secretary, q.id, None)
        .await
        .unwrap();
    let (_, chapter) = chat(&s.app)
        .question_of_record(record_id)
        .await
        .unwrap()
        .unwrap();
    assert!(chapter.is_some_and(|c| c.comment == q.id));
    assert_eq!(s.app.audit("chat.to_record").await.len(), 1);
    assert!(chat(&s.app)
        .question_of_record(RecordId(record_id.0 + 1000))
        .await
        .unwrap()
        .is_none());
}

// ---------------------------------------------------------------- privacy and scope

#[tokio::test]
async fn anonymous_questions_never_reveal_their_author_in_public() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhangsan", "张三丰").await;
    let mut viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    let posted = chat(&s.app)
        .post(
            &zhang,
            s.broadcast.id,
            NewPost {
                anonymous: true,
                ..question("anon", "物业经理是不是收了回扣？")
            },
        )
        .await
        .unwrap();
    let id = posted.comment().id;
    chat(&s.app).approve(&s.moderator, id).await.unwrap();
    let li = resident(&s.app, &s.place, "li", "小李").await;
    chat(&s.app).vote(&li, id, true).await.unwrap();
    chat(&s.app).answer_now(&s.secretary, id).await.unwrap();
    chat(&s.app)
        .answered(&s.secretary, id, Some("会请纪检核实"))
        .await
        .unwrap();

    let mut public_text = Vec::new();
    while let Ok(event) = viewer.receiver.try_recv() {
        public_text.push(event.body.to_string());
    }
    assert!(public_text.len() >= 4, "{public_text:?}");
    let snapshot = chat(&s.app).snapshot(s.broadcast.id, None).await.unwrap();
    public_text.push(serde_json::to_string(&snapshot).unwrap());
    public_text.push(
        serde_json::to_string(&chat(&s.app).chapters(s.broadcast.id).await.unwrap()).unwrap(),
    );
    for text in &public_text {
        for secret in ["zhangsan", "张三丰", "author", "original", "unit"] {
            assert!(!text.contains(secret), "{secret:?} in {text}");
        }
    }
    assert_eq!(snapshot.questions[0].name, "匿名住户");
    assert!(snapshot.questions[0].anonymous);
    // Staff know who asked.
    let me_view = chat(&s.app).comment(id).await.unwrap();
    assert_eq!(me_view.author_id, zhang.id);
    // Named residents appear by nickname, or by building when the
    // nickname gives the unit away.
    let by_unit = resident(
        &s.app,
        &s.place,
        "wang",
        &format!("{}老王", s.place.unit.label),
    )
    .await;
    let shown = chat(&s.app)
        .post(
            &by_unit,
            s.broadcast.id,
            post("n", CommentKind::Chat, "大家好"),
        )
        .await
        .unwrap();
    assert_eq!(shown.comment().public_name, "3号楼住户");
}

#[tokio::test]
async fn staff_of_another_community_are_refused() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    let elsewhere = s
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
    let foreign_moderator =
        staff(&s.app, Role::Moderator, "hp-moderator", Some(elsewhere.id)).await;
    let foreign_secretary =
        staff(&s.app, Role::Secretary, "hp-secretary", Some(elsewhere.id)).await;
    let held = chat(&s.app)
        .post(&zhang, s.broadcast.id, question("q", "我们小区的问题"))
        .await
        .unwrap();
    let id = held.comment().id;
    assert!(matches!(
        chat(&s.app).approve(&foreign_moderator, id).await,
        Err(ChatError::Forbidden)
    ));
    assert!(matches!(
        chat(&s.app).reject(&foreign_moderator, id, "").await,
        Err(ChatError::Forbidden)
    ));
    assert!(matches!(
        chat(&s.app).queue(&foreign_moderator, s.broadcast.id).await,
        Err(ChatError::Forbidden)
    ));
    assert!(matches!(
        chat(&s.app)
            .timeout(&foreign_moderator, zhang.id, s.broadcast.id, 60, "")
            .await,
        Err(ChatError::Forbidden)
    ));
    assert!(matches!(
        chat(&s.app)
            .set_blocked_words(&foreign_moderator, s.place.community.id, "词")
            .await,
        Err(ChatError::Forbidden)
    ));
    chat(&s.app).approve(&s.moderator, id).await.unwrap();
    assert!(matches!(
        chat(&s.app).answer_now(&foreign_secretary, id).await,
        Err(ChatError::Forbidden)
    ));
    assert!(matches!(
        chat(&s.app)
            .post(
                &foreign_moderator,
                s.broadcast.id,
                post("x", CommentKind::Chat, "路过")
            )
            .await,
        Err(ChatError::Forbidden)
    ));
    let comment = chat(&s.app).comment(id).await.unwrap();
    assert_eq!(comment.decided_by, Some(s.moderator.id));
    assert_eq!(comment.status, QuestionStatus::Open);
}

#[tokio::test]
async fn an_ended_broadcast_keeps_its_comments_and_its_room_is_closed() {
    let s = setup().await;
    let zhang = resident(&s.app, &s.place, "zhang", "老张").await;
    chat(&s.app)
        .post(&zhang, s.broadcast.id, post("a", CommentKind::Chat, "再见"))
        .await
        .unwrap();
    let viewer = chat(&s.app).subscribe(s.broadcast.id).await.unwrap();
    s.app
        .state
        .store
        .set_broadcast_state(
            &system(),
            s.broadcast.id,
            &[BroadcastState::Live],
            BroadcastState::Ended,
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(matches!(
        chat(&s.app)
            .post(
                &zhang,
                s.broadcast.id,
                post("b", CommentKind::Chat, "还在吗")
            )
            .await,
        Err(ChatError::Ended)
    ));
    let snapshot = chat(&s.app)
        .snapshot(s.broadcast.id, Some(&zhang))
        .await
        .unwrap();
    assert_eq!(snapshot.comments.len(), 1, "readable beside the replay");
    assert_eq!(snapshot.me.unwrap().why_not, Some("chat.error.ended"));
    // Someone still listens: the room stays.
    assert_eq!(chat(&s.app).drop_idle_rooms().await, 0);
    assert_eq!(chat(&s.app).open_rooms(), 1);
    drop(viewer);
    chat(&s.app).drop_idle_rooms().await;
    assert_eq!(chat(&s.app).open_rooms(), 0);
}

#[tokio::test]
async fn the_demo_broadcast_has_questions_with_votes_and_one_held() {
    let app = spawn_app().await;
    pavilion::demo::seed(&*app.state.store, &app.state.accounts)
        .await
        .unwrap();
    let b = pavilion::demo::live_broadcast(&*app.state.store)
        .await
        .unwrap();
    let questions = chat(&app)
        .questions(b.id, QuestionOrder::Votes, true)
        .await
        .unwrap();
    assert_eq!(
        questions.iter().map(|q| q.votes).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert!(questions.iter().any(|q| q.anonymous));
    let moderator = app
        .state
        .store
        .credentials(&Username::parse("moderator").unwrap())
        .await
        .unwrap()
        .unwrap()
        .0;
    let queue = chat(&app).queue(&moderator, b.id).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert!(!queue[0].body.contains("13812345678"));
    assert!(queue[0].hold_reasons.contains(&HoldReason::PersonalData));
    let snapshot = chat(&app).snapshot(b.id, None).await.unwrap();
    assert_eq!(snapshot.comments.len(), 4);
}
