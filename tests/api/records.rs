//! Feedback records through the records service and the real store.

use chrono::{Duration, Utc};
use pavilion::domain::record::{RecordAction, RecordClass, RecordSource, RecordState};
use pavilion::domain::{Account, Actor, Role};
use pavilion::feedback::records::{Filing, RecordError, Request};

use crate::helpers::*;

fn filing(place: &Place) -> Filing {
    Filing {
        estate_id: place.estate.id,
        building_id: Some(place.building.id),
        category: "电梯".into(),
        class: RecordClass::General,
        title: "3号楼电梯停在5楼不动".into(),
        title_public: false,
        description: "从早上开始电梯就不动了，\n老人上下楼很困难。".into(),
        location: "3号楼2单元".into(),
        source: RecordSource::Web,
        point: None,
    }
}

fn act(version: i64, action: RecordAction) -> Request {
    Request {
        expected_version: version,
        action: Some(action),
        note: String::new(),
        public: true,
        published: false,
        assignee: None,
        rating: None,
    }
}

/// Takes `record` through `actions`, one after the other, by `who` at `at`.
async fn walk(
    records: &pavilion::feedback::records::Records,
    who: &Account,
    mut record: pavilion::domain::record::Record,
    actions: &[RecordAction],
    at: chrono::DateTime<Utc>,
) -> pavilion::domain::record::Record {
    for action in actions {
        record = records
            .change(who, &record, act(record.version, *action), at)
            .await
            .unwrap();
    }
    record
}

fn actor(account: &Account) -> Actor {
    Actor {
        id: Some(account.id),
        name: account.display_name.clone(),
    }
}

#[tokio::test]
async fn a_filed_record_gets_a_number_a_first_event_and_a_private_link() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let records = &app.state.records;
    let (record, token) = records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();
    let year = Utc::now()
        .with_timezone(&app.state.settings.time_zone)
        .format("%Y")
        .to_string();
    assert_eq!(record.number, format!("XF-{year}-000001"));
    assert_eq!(record.state, RecordState::Submitted);
    assert_eq!(record.version, 1);
    let (second, _) = records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(second.number, format!("XF-{year}-000002"));

    assert_eq!(
        records.by_tracking_token(&token).await.unwrap().id,
        record.id
    );
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    assert!(records.by_tracking_token(&tampered).await.is_err());

    let events = app.state.store.record_events(record.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].to_state, Some(RecordState::Submitted));
}

#[tokio::test]
async fn staff_work_a_record_to_resolution_and_the_resident_closes_it() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let staff = app.create_account(Role::Staff, None).await;
    let records = &app.state.records;
    let (mut record, _) = records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();
    record = walk(
        records,
        &staff,
        record,
        &[
            RecordAction::Accept,
            RecordAction::Dispatch,
            RecordAction::ArriveOnSite,
            RecordAction::Resolve,
        ],
        Utc::now(),
    )
    .await;
    assert_eq!(record.state, RecordState::Resolved);
    record = records
        .change(
            &resident,
            &record,
            act(record.version, RecordAction::Close),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(record.state, RecordState::Closed);
    let events = app.state.store.record_events(record.id).await.unwrap();
    let states: Vec<_> = events.iter().filter_map(|e| e.to_state).collect();
    assert_eq!(
        states,
        [
            RecordState::Submitted,
            RecordState::Accepted,
            RecordState::Dispatched,
            RecordState::OnSite,
            RecordState::Resolved,
            RecordState::Closed
        ]
    );
    assert_eq!(events[4].actor_name, "staff name");
}

#[tokio::test]
async fn illegal_transitions_and_strangers_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let staff = app.create_account(Role::Staff, None).await;
    let observer = app.create_account(Role::Observer, None).await;
    let records = &app.state.records;
    let (record, _) = records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();

    let illegal = records
        .change(&staff, &record, act(1, RecordAction::Close), Utc::now())
        .await;
    assert!(
        matches!(illegal, Err(RecordError::Illegal(_))),
        "{illegal:?}"
    );
    let resident_staff_action = records
        .change(&resident, &record, act(1, RecordAction::Accept), Utc::now())
        .await;
    assert!(matches!(resident_staff_action, Err(RecordError::Forbidden)));
    let observer_action = records
        .change(&observer, &record, act(1, RecordAction::Accept), Utc::now())
        .await;
    assert!(
        matches!(observer_action, Err(RecordError::Forbidden)),
        "observers only read"
    );
    assert_eq!(
        app.state
            .store
            .record_events(record.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_resident_cannot_touch_anothers_record() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let owner = app.create_account(Role::Resident, Some(&place)).await;
    let records = &app.state.records;
    let (record, _) = records
        .file(&actor(&owner), Some(&owner), filing(&place), Utc::now())
        .await
        .unwrap();
    // A second household registers with the other unit's code.
    let codes = app
        .state
        .store
        .codes_for_building(place.building.id)
        .await
        .unwrap();
    let other_code = codes
        .iter()
        .find(|(u, _)| u.id != place.unit.id)
        .unwrap()
        .1
        .clone()
        .unwrap();
    let hash = app
        .state
        .accounts
        .hash(&pavilion::domain::Password::parse(PASSWORD.into()).unwrap())
        .await
        .unwrap();
    let neighbour = app
        .state
        .store
        .register_resident(
            &other_code.code,
            pavilion::domain::Username::parse("neighbour").unwrap(),
            pavilion::domain::DisplayName::parse("邻居").unwrap(),
            hash,
        )
        .await
        .unwrap();
    assert!(!pavilion::feedback::records::Records::can_see(
        &neighbour, &record
    ));
    let attempt = records
        .change(
            &neighbour,
            &record,
            act(1, RecordAction::Withdraw),
            Utc::now(),
        )
        .await;
    assert!(matches!(attempt, Err(RecordError::Forbidden)));
    let note = Request {
        expected_version: 1,
        action: None,
        note: "我也是".into(),
        public: true,
        published: false,
        assignee: None,
        rating: None,
    };
    assert!(matches!(
        records.change(&neighbour, &record, note, Utc::now()).await,
        Err(RecordError::Forbidden)
    ));
}

#[tokio::test]
async fn two_staff_changing_one_record_at_once_lose_nothing() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let staff = app.create_account(Role::Staff, None).await;
    let secretary = app.create_account(Role::Secretary, None).await;
    let records = &app.state.records;
    let (record, _) = records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();
    // Both opened the record at version 1.
    let (first, second) = tokio::join!(
        records.change(&staff, &record, act(1, RecordAction::Accept), Utc::now()),
        records.change(
            &secretary,
            &record,
            act(1, RecordAction::MarkNotResponsible),
            Utc::now()
        ),
    );
    let outcomes = [first.is_ok(), second.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly one wins: {first:?} {second:?}"
    );
    let loser = if first.is_err() { first } else { second };
    assert!(matches!(loser, Err(RecordError::ChangedMeanwhile)));
    assert_eq!(
        app.state
            .store
            .record_events(record.id)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_resident_reopens_within_seven_days_but_not_after() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let staff = app.create_account(Role::Staff, None).await;
    let records = &app.state.records;
    let resolved_at = Utc::now() - Duration::days(8);
    let (mut record, _) = records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            resolved_at,
        )
        .await
        .unwrap();
    record = walk(
        records,
        &staff,
        record,
        &[RecordAction::Accept, RecordAction::Resolve],
        resolved_at,
    )
    .await;
    let late = records
        .change(
            &resident,
            &record,
            act(record.version, RecordAction::Reopen),
            Utc::now(),
        )
        .await;
    assert!(matches!(late, Err(RecordError::ReopenWindowPassed)));
    let in_time = records
        .change(
            &resident,
            &record,
            act(record.version, RecordAction::Reopen),
            resolved_at + Duration::days(6),
        )
        .await;
    assert_eq!(in_time.unwrap().state, RecordState::Accepted);
}

#[tokio::test]
async fn waiting_on_the_resident_resumes_where_work_stopped() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let staff = app.create_account(Role::Staff, None).await;
    let records = &app.state.records;
    let (mut record, _) = records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();
    record = walk(
        records,
        &staff,
        record,
        &[
            RecordAction::Accept,
            RecordAction::ArriveOnSite,
            RecordAction::WaitForResident,
            RecordAction::Resume,
        ],
        Utc::now(),
    )
    .await;
    assert_eq!(record.state, RecordState::OnSite);
}

#[tokio::test]
async fn records_and_their_events_are_never_edited_or_deleted() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    app.state
        .records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();
    let mut db = app.raw_db().await;
    for statement in [
        "UPDATE records SET title = 'changed'",
        "DELETE FROM records",
        "UPDATE record_events SET note = 'changed'",
        "DELETE FROM record_events",
    ] {
        assert!(
            db.execute(statement).await.is_err(),
            "{statement} must fail"
        );
    }
}

#[tokio::test]
async fn hostile_text_is_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let records = &app.state.records;
    let mut bad = filing(&place);
    bad.title = "电梯\u{202E}坏了".into();
    assert!(matches!(
        records
            .file(&actor(&resident), Some(&resident), bad, Utc::now())
            .await,
        Err(RecordError::BadText { .. })
    ));
    let mut long = filing(&place);
    long.description = "很".repeat(2001);
    assert!(records
        .file(&actor(&resident), Some(&resident), long, Utc::now())
        .await
        .is_err());
    let listed = app
        .state
        .store
        .list_records(&pavilion::store::RecordFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn staff_work_the_queue_through_the_console() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    app.create_account(Role::Staff, None).await;
    let (record, _) = app
        .state
        .records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();
    let staff = app.login("staff").await;

    let queue = app.text(&staff, "/console/records").await;
    assert!(queue.contains(&record.number) && queue.contains("3号楼电梯停在5楼不动"));
    assert!(queue.contains("还剩"), "time left is shown");

    let path = format!("/console/records/{}/act", record.id);
    let accept = [
        ("version", "1"),
        ("action", "accept"),
        ("note", "已联系电梯维保"),
        ("public", "on"),
        ("assignee", "维修班老李"),
    ];
    let response = app.post_form(&staff, &path, &accept).await;
    assert_eq!(response.status(), 303);
    let page = app
        .text(&staff, &format!("/console/records/{}", record.id))
        .await;
    assert!(
        page.contains("已联系电梯维保") && page.contains("维修班老李") && page.contains("已受理")
    );

    // A stale form (still at version 1) is refused and changes nothing.
    let stale = app
        .post_form(&staff, &path, &[("version", "1"), ("action", "resolve")])
        .await;
    assert_eq!(stale.status(), 409);
    assert!(stale.text().await.unwrap().contains("刚刚被别人修改过"));
    // An illegal step is refused with a message.
    let illegal = app
        .post_form(&staff, &path, &[("version", "2"), ("action", "close")])
        .await;
    assert_eq!(illegal.status(), 400);
    assert!(illegal.text().await.unwrap().contains("不能这样操作"));
    assert_eq!(app.state.store.record(record.id).await.unwrap().version, 2);
}

#[tokio::test]
async fn staff_file_a_phone_call_and_bad_input_is_sent_back() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Staff, None).await;
    let staff = app.login("staff").await;
    let estate = place.estate.id.to_string();
    let building = place.building.id.to_string();
    let form = app.text(&staff, "/console/records/new").await;
    assert!(form.contains(&format!(r#"<option value="{building}">"#)));
    let fields = [
        ("estate", estate.as_str()),
        ("category", "safety"),
        ("class", ""),
        ("title", "地下车库有燃气味"),
        ("description", "住户来电：地下车库B区有燃气味"),
        ("location", "地下车库B区"),
        ("building", building.as_str()),
    ];
    let response = app.post_form(&staff, "/console/records/new", &fields).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    // The caller's tracking link is shown once, to read out or text them.
    let filed = response.text().await.unwrap();
    let link = scraper::Html::parse_document(&filed)
        .select(&scraper::Selector::parse("input.tracking-link").unwrap())
        .next()
        .and_then(|i| i.value().attr("value").map(str::to_owned))
        .expect("the tracking link");
    let public_url = app.state.settings.server.public_url.trim_end_matches('/');
    let path = link
        .strip_prefix(public_url)
        .expect("an address on the public site")
        .to_owned();
    assert!(path.starts_with("/track/"));
    let tracked = app.text(&client(), &path).await;
    assert!(tracked.contains("地下车库有燃气味"));
    let listed = app
        .state
        .store
        .list_records(&pavilion::store::RecordFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].class,
        RecordClass::Urgent,
        "safety defaults to urgent"
    );
    assert_eq!(listed[0].source, RecordSource::Phone);
    assert_eq!(listed[0].building_id, Some(place.building.id));
    assert!(filed.contains(&listed[0].number));

    // A building of another estate is refused.
    let store = &app.state.store;
    let name = |n: &str| pavilion::domain::PlaceName::parse(n).unwrap();
    let estate2 = store
        .create_estate(&system(), place.community.id, &name("明月小区"))
        .await
        .unwrap();
    let other = store
        .create_building(&system(), estate2.id, &name("1号楼"))
        .await
        .unwrap()
        .id
        .to_string();
    let mut elsewhere = fields;
    elsewhere[6] = ("building", other.as_str());
    let response = app
        .post_form(&staff, "/console/records/new", &elsewhere)
        .await;
    assert_eq!(response.status(), 400);

    let mut bad = fields;
    bad[3] = ("title", "");
    let response = app.post_form(&staff, "/console/records/new", &bad).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("标题"));
    let unknown = [
        ("estate", estate.as_str()),
        ("category", "<script>"),
        ("title", "x y"),
        ("description", "abc"),
    ];
    assert_eq!(
        app.post_form(&staff, "/console/records/new", &unknown)
            .await
            .status(),
        400
    );
    assert_eq!(
        app.state
            .store
            .list_records(&pavilion::store::RecordFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn observers_see_their_estates_records_read_only() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let observer = app.create_account(Role::Observer, None).await;
    let admin = app.create_account(Role::Admin, None).await;
    let change = pavilion::store::AccountChange {
        display_name: pavilion::domain::DisplayName::parse("监督员").unwrap(),
        role: Role::Observer,
        community_id: Some(place.community.id),
        estate_id: Some(place.estate.id),
        disabled: false,
    };
    app.state
        .store
        .update_account(&actor(&admin), observer.id, &change)
        .await
        .unwrap();
    let (record, _) = app
        .state
        .records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            Utc::now(),
        )
        .await
        .unwrap();
    let browser = app.login("observer").await;
    let page = app
        .text(&browser, &format!("/console/records/{}", record.id))
        .await;
    assert!(page.contains(&record.number));
    assert!(
        !page.contains(r#"name="action""#),
        "no action form for observers"
    );
    let response = app
        .post_form(
            &browser,
            &format!("/console/records/{}/act", record.id),
            &[("version", "1"), ("action", "accept")],
        )
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_resident_reports_follows_and_confirms_with_a_rating() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Resident, Some(&place)).await;
    let staff_account = app.create_account(Role::Staff, None).await;
    let resident = app.login("resident").await;

    let form = resident
        .get(app.url(&format!("/report?building={}", place.building.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let fields = [
        ("category", "rubbish"),
        ("title", "垃圾桶满了没人清"),
        ("description", "3号楼门口的垃圾桶两天没清运了。\n有异味。"),
        ("location", ""),
        ("building", &place.building.id.to_string()),
    ];
    let response = app.post_form(&resident, "/report", &fields).await;
    assert_eq!(response.status(), 303);
    let link = location(&response);
    assert!(link.starts_with("/track/"), "{link}");

    // The private link works without logging in; a tampered one does not.
    let tracked = client().get(app.url(&link)).send().await.unwrap();
    assert_eq!(tracked.status(), 200);
    let page = tracked.text().await.unwrap();
    assert!(page.contains("垃圾桶满了没人清") && page.contains("3号楼"));
    let token = link
        .trim_start_matches("/track/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let tampered = format!("/track/{}x", &token[..token.len() - 1]);
    assert_eq!(
        client()
            .get(app.url(&tampered))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let record = app
        .state
        .store
        .list_records(&pavilion::store::RecordFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(record.source, RecordSource::ScreenQr);
    let mine = app.text(&resident, "/me/records").await;
    assert!(mine.contains(&record.number));

    // Staff resolve it; an internal note stays internal.
    let records = &app.state.records;
    let mut r = records
        .change(
            &staff_account,
            &record,
            act(1, RecordAction::Accept),
            Utc::now(),
        )
        .await
        .unwrap();
    let internal = Request {
        expected_version: r.version,
        action: None,
        note: "清运公司说车坏了".into(),
        public: false,
        published: false,
        assignee: None,
        rating: None,
    };
    r = records
        .change(&staff_account, &r, internal, Utc::now())
        .await
        .unwrap();
    records
        .change(
            &staff_account,
            &r,
            act(r.version, RecordAction::Resolve),
            Utc::now(),
        )
        .await
        .unwrap();
    let page = app
        .text(&resident, &format!("/me/records/{}", record.id))
        .await;
    assert!(
        !page.contains("清运公司说车坏了"),
        "internal notes are not shown to residents"
    );
    assert!(page.contains("确认已解决"));

    // A rating outside 1–5 is refused; a real one closes the record.
    let path = format!("/me/records/{}", record.id);
    let bad = app
        .post_form(
            &resident,
            &path,
            &[("version", "4"), ("action", "close"), ("rating", "9")],
        )
        .await;
    assert_eq!(bad.status(), 400);
    let response = app
        .post_form(
            &resident,
            &path,
            &[
                ("version", "4"),
                ("action", "close"),
                ("rating", "4"),
                ("note", "谢谢"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let events = app.state.store.record_events(record.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.to_state, last.rating, last.note.as_str()),
        (Some(RecordState::Closed), Some(4), "谢谢")
    );

    // Residents cannot take staff steps through their form.
    let forged = app
        .post_form(&resident, &path, &[("version", "5"), ("action", "accept")])
        .await;
    assert_eq!(forged.status(), 400);
}

#[tokio::test]
async fn another_resident_cannot_open_or_change_my_record() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let owner = app.create_account(Role::Resident, Some(&place)).await;
    let (record, _) = app
        .state
        .records
        .file(&actor(&owner), Some(&owner), filing(&place), Utc::now())
        .await
        .unwrap();
    let codes = app
        .state
        .store
        .codes_for_building(place.building.id)
        .await
        .unwrap();
    let other_code = codes
        .iter()
        .find(|(u, _)| u.id != place.unit.id)
        .unwrap()
        .1
        .clone()
        .unwrap();
    let fields = [
        ("code", other_code.code.as_str()),
        ("nickname", "邻居"),
        ("password", PASSWORD),
        ("password_again", PASSWORD),
    ];
    let neighbour = client();
    assert_eq!(
        app.post_form(&neighbour, "/register", &fields)
            .await
            .status(),
        303
    );
    let path = format!("/me/records/{}", record.id);
    assert_eq!(
        neighbour.get(app.url(&path)).send().await.unwrap().status(),
        404
    );
    assert_eq!(
        app.post_form(
            &neighbour,
            &path,
            &[("version", "1"), ("action", "withdraw")]
        )
        .await
        .status(),
        404
    );
    assert_eq!(app.state.store.record(record.id).await.unwrap().version, 1);
    // Staff use the console, not the resident form.
    app.create_account(Role::Staff, None).await;
    let staff = app.login("staff").await;
    assert_eq!(
        staff.get(app.url("/report")).send().await.unwrap().status(),
        403
    );
}

#[tokio::test]
async fn the_watcher_escalates_breaches_and_closes_unanswered_resolutions() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let staff_account = app.create_account(Role::Staff, None).await;
    let records = &app.state.records;
    let now = Utc::now();

    // Urgent, accepted 10 minutes ago, nobody on site: breached.
    let mut urgent = filing(&place);
    urgent.class = RecordClass::Urgent;
    let (late, _) = records
        .file(
            &actor(&resident),
            Some(&resident),
            urgent.clone(),
            now - Duration::minutes(10),
        )
        .await
        .unwrap();
    records
        .change(
            &staff_account,
            &late,
            act(1, RecordAction::Accept),
            now - Duration::minutes(9),
        )
        .await
        .unwrap();
    // Urgent, filed 2 minutes ago: still in time.
    let (fresh, _) = records
        .file(
            &actor(&resident),
            Some(&resident),
            urgent,
            now - Duration::minutes(2),
        )
        .await
        .unwrap();
    // General, resolved 8 days ago and never confirmed: closes. Resolved 2 days ago: waits.
    let mut resolved_ids = Vec::new();
    for days in [8, 2] {
        let at = now - Duration::days(days);
        let (mut r, _) = records
            .file(&actor(&resident), Some(&resident), filing(&place), at)
            .await
            .unwrap();
        r = walk(
            records,
            &staff_account,
            r,
            &[RecordAction::Accept, RecordAction::Resolve],
            at,
        )
        .await;
        resolved_ids.push(r.id);
    }

    let sweep = records.sweep(now).await.unwrap();
    assert_eq!((sweep.escalated, sweep.closed), (1, 1));
    assert_eq!(
        app.state.store.record(late.id).await.unwrap().state,
        RecordState::Escalated
    );
    assert_eq!(
        app.state.store.record(fresh.id).await.unwrap().state,
        RecordState::Submitted
    );
    assert_eq!(
        app.state.store.record(resolved_ids[0]).await.unwrap().state,
        RecordState::Closed
    );
    assert_eq!(
        app.state.store.record(resolved_ids[1]).await.unwrap().state,
        RecordState::Resolved
    );
    // A second pass changes nothing more.
    assert_eq!(
        records.sweep(now).await.unwrap(),
        pavilion::feedback::records::Sweep::default()
    );

    // The joint meeting's agenda and the dashboard show the escalated record.
    let staff = app.login("staff").await;
    let agenda = app.text(&staff, "/console/agenda").await;
    assert!(agenda.contains(&late.number) && !agenda.contains(&fresh.number));
    let dashboard = app.text(&staff, "/console").await;
    assert!(dashboard.contains("有 1 件诉求已超时"));
    let events = app.state.store.record_events(late.id).await.unwrap();
    assert_eq!(events.last().unwrap().actor_name, "system");
}

#[tokio::test]
async fn the_public_disclosure_is_computed_from_the_events() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let staff_account = app.create_account(Role::Staff, None).await;
    let records = &app.state.records;
    // October 2026, Beijing time: an urgent elevator case on site in 4 minutes and
    // solved in an hour (rated 5), and a general case solved in 45 minutes (late).
    let oct3 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 10, 3, 1, 0, 0).unwrap();
    let mut urgent = filing(&place);
    urgent.class = RecordClass::Urgent;
    let (mut r1, _) = records
        .file(&actor(&resident), Some(&resident), urgent, oct3)
        .await
        .unwrap();
    for (minutes, action) in [
        (1, RecordAction::Accept),
        (4, RecordAction::ArriveOnSite),
        (60, RecordAction::Resolve),
    ] {
        r1 = records
            .change(
                &staff_account,
                &r1,
                act(r1.version, action),
                oct3 + Duration::minutes(minutes),
            )
            .await
            .unwrap();
    }
    let mut close = act(r1.version, RecordAction::Close);
    close.rating = Some(5);
    records
        .change(&resident, &r1, close, oct3 + Duration::hours(2))
        .await
        .unwrap();
    let oct5 = oct3 + Duration::days(2);
    let mut general = filing(&place);
    general.category = "rubbish".into();
    let (mut r2, _) = records
        .file(&actor(&resident), Some(&resident), general, oct5)
        .await
        .unwrap();
    for (minutes, action) in [(5, RecordAction::Accept), (45, RecordAction::Resolve)] {
        r2 = records
            .change(
                &staff_account,
                &r2,
                act(r2.version, action),
                oct5 + Duration::minutes(minutes),
            )
            .await
            .unwrap();
    }

    let page = app
        .text(
            &client(),
            &format!("/disclosure?estate={}&month=2026-10", place.estate.id),
        )
        .await;
    let html = scraper::Html::parse_document(&page);
    let figures: Vec<String> = html
        .select(&scraper::Selector::parse(".figures .figure").unwrap())
        .map(|e| e.text().collect::<String>())
        .collect();
    // received, solved, median to on site, median to resolution (45 and 60 → 52 min), satisfaction
    assert_eq!(
        figures,
        ["2", "2", "4 分钟", "52 分钟", "5.0"],
        "{figures:?}"
    );
    let rows: Vec<String> = html
        .select(&scraper::Selector::parse("tbody tr").unwrap())
        .map(|e| e.text().collect::<Vec<_>>().join("|"))
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.starts_with("紧急") && r.ends_with("|1|1")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("一般") && r.ends_with("|1|0")),
        "{rows:?}"
    );

    // Another month is empty; a malformed month is a clear 400.
    let november = app
        .text(
            &client(),
            &format!("/disclosure?estate={}&month=2026-09", place.estate.id),
        )
        .await;
    assert!(november.contains(r#"<span class="figure">0</span>"#));
    let bad = client()
        .get(app.url("/disclosure?month=Oct-2026"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn records_and_events_export_as_csv_for_a_period() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let staff_account = app.create_account(Role::Staff, None).await;
    let records = &app.state.records;
    let oct10 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 10, 10, 2, 0, 0).unwrap();
    let mut with_comma = filing(&place);
    with_comma.title = "电梯坏了, \"急\"".into();
    let (record, _) = records
        .file(&actor(&resident), Some(&resident), with_comma, oct10)
        .await
        .unwrap();
    records
        .change(
            &staff_account,
            &record,
            Request {
                assignee: Some("维修班老李".into()),
                ..act(1, RecordAction::Accept)
            },
            oct10 + Duration::minutes(3),
        )
        .await
        .unwrap();
    records
        .file(
            &actor(&resident),
            Some(&resident),
            filing(&place),
            oct10 + Duration::days(30),
        )
        .await
        .unwrap();

    let staff = app.login("staff").await;
    let response = staff
        .get(app.url("/console/export/records.csv?from=2026-10-01&to=2026-10-31"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("records_2026-10-01_2026-10-31.csv"));
    let bytes = response.bytes().await.unwrap();
    assert_eq!(
        &bytes[..3],
        &[0xEF, 0xBB, 0xBF],
        "UTF-8 byte-order mark for spreadsheets"
    );
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "only October's record");
    assert_eq!(&rows[0][0], record.number.as_str());
    assert_eq!(&rows[0][8], "电梯坏了, \"急\"", "quotes and commas survive");

    let events = staff
        .get(app.url("/console/export/events.csv?from=2026-10-01&to=2026-10-31"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(&events[3..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let actions: Vec<&str> = rows.iter().map(|r| r.get(4).unwrap()).collect();
    assert_eq!(actions, ["submit", "accept"]);
    let header = reader.headers().unwrap().clone();
    let assignee = header.iter().position(|h| h == "assignee").unwrap();
    assert_eq!(&rows[1][assignee], "维修班老李");
    assert_eq!(&rows[0][assignee], "");

    for bad in ["?from=10/01/2026", "?from=2026-10-31&to=2026-10-01"] {
        let response = staff
            .get(app.url(&format!("/console/export/records.csv{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn a_resident_answers_a_question_withdraws_and_sees_until_when_to_reopen() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident_account = app.create_account(Role::Resident, Some(&place)).await;
    let staff_account = app.create_account(Role::Staff, None).await;
    let resident = app.login("resident").await;
    let records = &app.state.records;
    let file = || async {
        records
            .file(
                &actor(&resident_account),
                Some(&resident_account),
                filing(&place),
                Utc::now(),
            )
            .await
            .unwrap()
            .0
    };

    // Staff ask for more information: the resident's answer resumes the work.
    let asked = walk(
        records,
        &staff_account,
        file().await,
        &[RecordAction::Accept, RecordAction::WaitForResident],
        Utc::now(),
    )
    .await;
    let path = format!("/me/records/{}", asked.id);
    let page = app.text(&resident, &path).await;
    assert!(page.contains("工作人员在等您补充情况") && page.contains("提交并继续办理"));
    assert!(page.contains(r#"name="action" value="resume""#));
    let version = asked.version.to_string();
    let response = app
        .post_form(
            &resident,
            &path,
            &[
                ("version", version.as_str()),
                ("action", "resume"),
                ("note", "是2单元的电梯，不是1单元"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let resumed = app.state.store.record(asked.id).await.unwrap();
    assert_eq!(
        resumed.state,
        RecordState::Accepted,
        "back where work stopped"
    );
    let events = app.state.store.record_events(asked.id).await.unwrap();
    assert!(events.last().unwrap().note.contains("是2单元的电梯"));

    // A record can be withdrawn from its page (asking to be sure first).
    let page = app.text(&resident, &path).await;
    assert!(page.contains("撤回诉求") && page.contains(r#"name="sure""#));
    let version = resumed.version.to_string();
    let response = app
        .post_form(
            &resident,
            &path,
            &[
                ("version", version.as_str()),
                ("action", "withdraw"),
                ("note", "已经修好了"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let withdrawn = app.state.store.record(asked.id).await.unwrap();
    assert_eq!(withdrawn.state, RecordState::Withdrawn);
    let page = app.text(&resident, &path).await;
    assert!(!page.contains("撤回诉求") && !page.contains("提交并继续办理"));

    // A resolved record says until when it can be confirmed or reopened.
    let resolved = walk(
        records,
        &staff_account,
        file().await,
        &[RecordAction::Accept, RecordAction::Resolve],
        Utc::now(),
    )
    .await;
    let page = app
        .text(&resident, &format!("/me/records/{}", resolved.id))
        .await;
    let events = app.state.store.record_events(resolved.id).await.unwrap();
    let until = (events.last().unwrap().at + Duration::days(7))
        .with_timezone(&app.state.settings.time_zone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert!(page.contains(&format!("您可以在 {until} 前确认办结或重新打开")));
    assert!(
        !page.contains("撤回诉求"),
        "a resolved record is confirmed or reopened instead"
    );
}
