//! The SLA settings page: durations per class and category, the business
//! calendar, who may change them, and records keeping the settings in force
//! when they were filed.

use chrono::{Duration, Utc};
use pavilion::domain::record::{RecordClass, RecordSource, RecordState};
use pavilion::domain::{Actor, Role};
use pavilion::feedback::records::Filing;

use crate::helpers::*;

fn filing(place: &Place, category: &str, class: RecordClass) -> Filing {
    Filing {
        estate_id: place.estate.id,
        building_id: Some(place.building.id),
        category: category.into(),
        class,
        title: "楼道灯坏了".into(),
        title_public: false,
        description: "3号楼2单元楼道灯不亮".into(),
        location: String::new(),
        source: RecordSource::Phone,
        point: None,
    }
}

/// A freshly filed record's SLA at `at`.
async fn status(
    app: &TestApp,
    record: &pavilion::domain::record::Record,
    at: chrono::DateTime<Utc>,
) -> pavilion::feedback::sla::SlaStatus {
    let changes = [pavilion::feedback::sla::StateChange {
        at: record.created_at,
        to: RecordState::Submitted,
    }];
    app.state
        .records
        .sla_of(record, &changes, at)
        .await
        .unwrap()
}

fn staff_actor() -> Actor {
    Actor {
        id: None,
        name: "staff".into(),
    }
}

/// The five-class form with the 5431 defaults, then `extra` fields.
fn settings_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("minutes_urgent", "5"),
        ("minutes_major", "240"),
        ("minutes_general", "30"),
        ("minutes_complex", "1440"),
    ];
    for (k, v) in extra {
        fields.retain(|(name, _)| name != k);
        fields.push((k, v));
    }
    fields
}

#[tokio::test]
async fn an_admin_changes_durations_and_only_records_filed_afterwards_follow() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let path = format!("/console/communities/{}/sla", place.community.id);
    let page = app.text(&admin, &path).await;
    assert!(page.contains("尚未保存过设置"), "defaults announced");
    assert!(page.contains(r#"name="minutes_general""#) && page.contains(r#"value="30""#));

    let records = &app.state.records;
    let (before, _) = records
        .file(
            &staff_actor(),
            None,
            filing(&place, "repairs", RecordClass::General),
            Utc::now(),
        )
        .await
        .unwrap();
    let response = app
        .post_form(
            &admin,
            &path,
            &settings_form(&[
                ("minutes_general", "60"),
                ("class_elevator", "urgent"),
                ("minutes_elevator", "10"),
            ]),
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{path}?done=updated"));
    let audit = app.audit("sla.save").await;
    assert_eq!(audit.len(), 1, "the change is audited");
    assert_eq!(audit[0].after.as_ref().unwrap()["general_minutes"], 60);

    let filed = Utc::now();
    let (after, _) = records
        .file(
            &staff_actor(),
            None,
            filing(&place, "repairs", RecordClass::General),
            filed,
        )
        .await
        .unwrap();
    // The elevator's built-in class is major; the community made it urgent.
    let (elevator, _) = records
        .file(
            &staff_actor(),
            None,
            filing(&place, "elevator", RecordClass::Major),
            filed,
        )
        .await
        .unwrap();
    assert_eq!(elevator.class, RecordClass::Urgent);
    // A class chosen on purpose is kept.
    let (chosen, _) = records
        .file(
            &staff_actor(),
            None,
            filing(&place, "elevator", RecordClass::Complex),
            filed,
        )
        .await
        .unwrap();
    assert_eq!(chosen.class, RecordClass::Complex);

    let at = filed + Duration::minutes(45);
    assert!(
        status(&app, &before, at).await.breached,
        "filed under the 30-minute rule"
    );
    assert!(
        !status(&app, &after, at).await.breached,
        "filed under the 60-minute rule"
    );
    assert_eq!(
        status(&app, &elevator, at).await.limit,
        Duration::minutes(10)
    );

    let page = app.text(&admin, &path).await;
    assert!(
        page.contains(r#"value="60""#),
        "the page shows what was saved"
    );
    assert!(page.contains("当前设置由"));
}

#[tokio::test]
async fn bad_settings_are_refused_with_a_message_and_change_nothing() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let path = format!("/console/communities/{}/sla", place.community.id);
    for (fields, message) in [
        (
            settings_form(&[("minutes_urgent", "0")]),
            "时限须为 1 分钟到 30 天之间",
        ),
        (
            settings_form(&[("minutes_major", "四小时")]),
            "时限须为 1 分钟到 30 天之间",
        ),
        (
            settings_form(&[("calendar", "on"), ("zone", "Mars/Olympus")]),
            "不认识这个时区",
        ),
        (
            settings_form(&[
                ("calendar", "on"),
                ("zone", "Asia/Shanghai"),
                ("open_0", "18:00"),
                ("close_0", "09:00"),
            ]),
            "上班时间须早于下班时间",
        ),
        (
            settings_form(&[
                ("calendar", "on"),
                ("zone", "Asia/Shanghai"),
                ("holidays", "国庆节"),
            ]),
            "节假日的日期格式",
        ),
        (
            settings_form(&[("escalate_parking", "department:99")]),
            "没有这个上报对象",
        ),
    ] {
        let response = app.post_form(&admin, &path, &fields).await;
        assert_eq!(response.status(), 400, "{fields:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{message} in the page");
    }
    assert!(app.audit("sla.save").await.is_empty());
    assert!(app
        .state
        .store
        .sla_policies(place.community.id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn only_the_communitys_admin_or_secretary_may_configure_it() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let other = app
        .state
        .store
        .create_community(
            &system(),
            &pavilion::domain::PlaceName::parse("和平社区").unwrap(),
            &pavilion::domain::CommunityCode::parse("HP").unwrap(),
        )
        .await
        .unwrap();
    let secretary = app.create_account(Role::Secretary, None).await;
    let change = pavilion::store::AccountChange {
        display_name: pavilion::domain::DisplayName::parse("王书记").unwrap(),
        role: Role::Secretary,
        community_id: Some(other.id),
        estate_id: None,
        disabled: false,
    };
    app.state
        .store
        .update_account(&system(), secretary.id, &change)
        .await
        .unwrap();
    app.create_account(Role::Staff, None).await;
    let secretary = app.login("secretary").await;
    let staff = app.login("staff").await;
    let path = format!("/console/communities/{}/sla", place.community.id);
    // Another community's settings do not exist for its secretary; staff
    // may configure none.
    for (client, refusal) in [(&secretary, 404), (&staff, 403)] {
        let page = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), refusal);
        let post = app
            .post_form(client, &path, &settings_form(&[("minutes_general", "90")]))
            .await;
        assert_eq!(post.status(), refusal);
    }
    // The secretary's own community is one click away.
    let own = secretary.get(app.url("/console/sla")).send().await.unwrap();
    assert_eq!(
        location(&own),
        format!("/console/communities/{}/sla", other.id)
    );
    assert!(app.audit("sla.save").await.is_empty());
}

#[tokio::test]
async fn the_sweep_honours_the_business_calendar() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let records = &app.state.records;
    let (around_the_clock, _) = records
        .file(
            &staff_actor(),
            None,
            filing(&place, "repairs", RecordClass::General),
            Utc::now(),
        )
        .await
        .unwrap();
    // Office open one minute a day: a 30-minute promise takes about a month of days.
    let mut fields = settings_form(&[("calendar", "on"), ("zone", "Asia/Shanghai")]);
    let days: Vec<(String, String)> = (0..7)
        .map(|d| (format!("open_{d}"), format!("close_{d}")))
        .collect();
    for (open, close) in &days {
        fields.push((open.as_str(), "00:00"));
        fields.push((close.as_str(), "00:01"));
    }
    let path = format!("/console/communities/{}/sla", place.community.id);
    assert_eq!(app.post_form(&admin, &path, &fields).await.status(), 303);
    let (office_hours, _) = records
        .file(
            &staff_actor(),
            None,
            filing(&place, "repairs", RecordClass::General),
            Utc::now(),
        )
        .await
        .unwrap();

    let sweep = records
        .sweep(Utc::now() + Duration::days(10))
        .await
        .unwrap();
    assert_eq!(
        sweep.escalated, 1,
        "only the 24×7 record is late after 10 days"
    );
    let store = &app.state.store;
    let state = |id| async move { store.record(id).await.unwrap().state };
    assert_eq!(state(around_the_clock.id).await, RecordState::Escalated);
    assert_eq!(state(office_hours.id).await, RecordState::Submitted);
    let sweep = records
        .sweep(Utc::now() + Duration::days(40))
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 1, "40 office minutes later it is late too");
    assert_eq!(state(office_hours.id).await, RecordState::Escalated);
}
