//! Breaches: alerts to the estate's leads, escalation to the category's
//! target (joint meeting or a department), manual escalation, the joint
//! meeting's printable agenda and "discussed at the meeting".

use chrono::{Duration, Utc};
use pavilion::domain::record::{Record, RecordAction, RecordClass, RecordSource, RecordState};
use pavilion::domain::{Actor, Role};
use pavilion::feedback::records::{Filing, Request, Sweep};

use crate::helpers::*;

fn filing(place: &Place, category: &str, title: &str) -> Filing {
    Filing {
        estate_id: place.estate.id,
        building_id: Some(place.building.id),
        category: category.into(),
        class: RecordClass::General,
        title: title.into(),
        title_public: false,
        description: "请尽快处理".into(),
        location: String::new(),
        source: RecordSource::Phone,
        point: None,
    }
}

fn phone() -> Actor {
    Actor {
        id: None,
        name: "staff".into(),
    }
}

async fn file(app: &TestApp, place: &Place, category: &str, title: &str) -> Record {
    app.state
        .records
        .file(&phone(), None, filing(place, category, title), Utc::now())
        .await
        .unwrap()
        .0
}

fn settings_form<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("minutes_urgent", "5"),
        ("minutes_major", "240"),
        ("minutes_general", "30"),
        ("minutes_complex", "1440"),
    ];
    fields.extend_from_slice(extra);
    fields
}

async fn add_department(app: &TestApp, admin: &reqwest::Client, place: &Place, name: &str) -> i64 {
    let path = format!("/console/communities/{}/departments", place.community.id);
    let response = app.post_form(admin, &path, &[("name", name)]).await;
    assert_eq!(response.status(), 303);
    app.state
        .store
        .departments(place.community.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.name == name)
        .expect("department stored")
        .id
}

fn badge(page: &str) -> Option<String> {
    text_of(page, ".console-nav .count-badge")
}

#[tokio::test]
async fn a_breach_alerts_the_estate_lead_and_goes_to_the_categorys_target() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let lead = app.create_account(Role::Staff, None).await;
    let admin = app.login("admin").await;
    let department = add_department(&app, &admin, &place, "街道城管科").await;
    let target = format!("department:{department}");
    let settings = format!("/console/communities/{}/sla", place.community.id);
    let response = app
        .post_form(
            &admin,
            &settings,
            &settings_form(&[("escalate_parking", &target)]),
        )
        .await;
    assert_eq!(response.status(), 303);
    let leads = format!("/console/communities/{}/leads", place.community.id);
    let estate = place.estate.id.to_string();
    let account = lead.id.to_string();
    let response = app
        .post_form(
            &admin,
            &leads,
            &[("estate", &estate), ("account", &account), ("lead", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.audit("estate.lead_add").await.len(), 1);
    assert_eq!(app.audit("department.create").await.len(), 1);

    let parking = file(&app, &place, "parking", "消防通道被私家车占用").await;
    let repairs = file(&app, &place, "repairs", "单元门禁坏了").await;
    let records = &app.state.records;
    let later = Utc::now() + Duration::hours(1);
    let sweep = records.sweep(later).await.unwrap();
    assert_eq!(
        sweep,
        Sweep {
            escalated: 2,
            alerts: 2,
            closed: 0
        }
    );
    let escalations = app
        .state
        .store
        .escalations(&[parking.id, repairs.id])
        .await
        .unwrap();
    assert_eq!(escalations[&parking.id][0].target, target);
    assert_eq!(escalations[&repairs.id][0].target, "meeting");
    assert_eq!(escalations[&repairs.id][0].reason, "breach");
    assert!(escalations[&repairs.id][0].overdue_minutes.unwrap() >= 29);
    let events = app.state.store.record_events(parking.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.to_state),
        ("escalate", Some(RecordState::Escalated))
    );
    assert!(last.note.is_empty(), "no untranslated text for residents");

    // The record's history says where it went, why, and that the system did it.
    let lead_browser = app.login("staff").await;
    let page = app
        .text(&lead_browser, &format!("/console/records/{}", parking.id))
        .await;
    assert!(page.contains("已自动上报：部门：街道城管科"), "{page}");
    assert!(page.contains("超时") && page.contains("<strong>系统</strong>"));

    // The lead sees a badge, the alerts on the dashboard and in the inbox; the admin sees none.
    let staff = app.login("staff").await;
    let dashboard = app.text(&staff, "/console").await;
    assert_eq!(badge(&dashboard).as_deref(), Some("2"));
    assert!(dashboard.contains("您有 2 条未读的超时提醒"));
    assert!(dashboard.contains(&parking.number) && dashboard.contains(&repairs.number));
    let inbox = app.text(&staff, "/console/alerts").await;
    assert!(inbox.contains(&parking.number) && inbox.contains(&repairs.number));
    assert_eq!(badge(&app.text(&admin, "/console").await), None);
    let response = app.post_form(&staff, "/console/alerts/seen", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(badge(&app.text(&staff, "/console").await), None);

    // Nothing more on the next pass, nor once work resumes on the escalated record.
    assert_eq!(records.sweep(later).await.unwrap(), Sweep::default());
    let current = app.state.store.record(repairs.id).await.unwrap();
    records
        .change(
            &lead,
            &current,
            Request {
                expected_version: current.version,
                action: Some(RecordAction::Dispatch),
                note: String::new(),
                public: true,
                published: false,
                assignee: Some("李师傅".into()),
                rating: None,
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        records
            .sweep(later + Duration::hours(1))
            .await
            .unwrap()
            .escalated,
        0,
        "escalated once per promise"
    );
}

#[tokio::test]
async fn without_leads_the_admin_and_secretary_hear_of_it() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let secretary = app.create_account(Role::Secretary, None).await;
    let staff = app.create_account(Role::Staff, None).await;
    file(&app, &place, "repairs", "楼道灯坏了").await;
    let sweep = app
        .state
        .records
        .sweep(Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((sweep.escalated, sweep.alerts), (1, 2));
    let store = &app.state.store;
    assert_eq!(store.unseen_alert_count(admin.id).await.unwrap(), 1);
    assert_eq!(store.unseen_alert_count(secretary.id).await.unwrap(), 1);
    assert_eq!(store.unseen_alert_count(staff.id).await.unwrap(), 0);
}

#[tokio::test]
async fn the_sweep_reaches_every_open_record_oldest_first() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let records = &app.state.records;
    let start = Utc::now() - Duration::days(2);
    let mut oldest = None;
    // More than the old 1,000-record window, and more than one page.
    for i in 0..1_050 {
        let (record, _) = records
            .file(
                &phone(),
                None,
                filing(&place, "repairs", "楼道灯坏了"),
                start + Duration::seconds(i),
            )
            .await
            .unwrap();
        oldest.get_or_insert(record);
    }
    let sweep = records.sweep(Utc::now()).await.unwrap();
    assert_eq!(sweep.escalated, 1_050);
    let oldest = app.state.store.record(oldest.unwrap().id).await.unwrap();
    assert_eq!(oldest.state, RecordState::Escalated);
}

#[tokio::test]
async fn a_reopened_record_is_escalated_when_its_new_promise_breaks() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let staff = app.create_account(Role::Staff, None).await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let records = &app.state.records;
    let filed = Utc::now() - Duration::hours(3);
    let (mut record, _) = records
        .file(
            &phone(),
            Some(&resident),
            filing(&place, "repairs", "水管漏水"),
            filed,
        )
        .await
        .unwrap();
    for (who, action, at) in [
        (&staff, RecordAction::Accept, filed + Duration::minutes(5)),
        (&staff, RecordAction::Resolve, filed + Duration::minutes(20)),
        (&resident, RecordAction::Reopen, filed + Duration::hours(1)),
    ] {
        record = records
            .change(
                who,
                &record,
                Request {
                    expected_version: record.version,
                    action: Some(action),
                    note: String::new(),
                    public: true,
                    published: false,
                    assignee: None,
                    rating: None,
                },
                at,
            )
            .await
            .unwrap();
    }
    let reopened = filed + Duration::hours(1);
    let sweep = records
        .sweep(reopened + Duration::minutes(20))
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 0, "the new promise still runs");
    let sweep = records
        .sweep(reopened + Duration::minutes(31))
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 1, "and it can break");
}

#[tokio::test]
async fn staff_escalate_to_a_department_and_the_meeting_records_its_decision() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    app.create_account(Role::Staff, None).await;
    let admin = app.login("admin").await;
    let staff = app.login("staff").await;
    let department = add_department(&app, &admin, &place, "区住建局").await;
    let meeting = (Utc::now()
        .with_timezone(&app.state.settings.time_zone)
        .date_naive()
        + Duration::days(9))
    .format("%Y-%m-%d")
    .to_string();
    let path = format!("/console/communities/{}/meetings", place.community.id);
    let response = app
        .post_form(&admin, &path, &[("meets_on", &meeting)])
        .await;
    assert_eq!(response.status(), 303);
    let response = app
        .post_form(&admin, &path, &[("meets_on", "2001-01-01")])
        .await;
    assert_eq!(response.status(), 400, "a past date is refused");

    let to_department = file(&app, &place, "renovation", "楼顶违建").await;
    let to_meeting = file(&app, &place, "fees", "物业费收支不透明").await;
    let quiet = file(&app, &place, "repairs", "信箱坏了").await;

    // The record page offers the targets.
    let page = app
        .text(&staff, &format!("/console/records/{}", to_department.id))
        .await;
    let department_key = format!("department:{department}");
    assert!(page.contains(&format!(r#"value="{department_key}""#)));

    let act = |id| format!("/console/records/{id}/act");
    // An unknown department is refused and nothing is written.
    let response = app
        .post_form(
            &staff,
            &act(to_department.id),
            &[
                ("version", "1"),
                ("action", "escalate"),
                ("escalate_to", "department:999"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        app.state
            .store
            .record(to_department.id)
            .await
            .unwrap()
            .version,
        1
    );
    for (record, target, note) in [
        (&to_department, department_key.as_str(), "需要住建局认定"),
        (&to_meeting, "meeting", "请联席会议协调"),
    ] {
        let response = app
            .post_form(
                &staff,
                &act(record.id),
                &[
                    ("version", "1"),
                    ("action", "escalate"),
                    ("escalate_to", target),
                    ("note", note),
                    ("public", "on"),
                ],
            )
            .await;
        assert_eq!(response.status(), 303);
        let escalations = app.state.store.escalations(&[record.id]).await.unwrap();
        assert_eq!(escalations[&record.id][0].target, target);
        assert_eq!(escalations[&record.id][0].reason, "manual");
    }

    let page = app
        .text(&staff, &format!("/console/records/{}", to_department.id))
        .await;
    assert!(page.contains("已上报：部门：区住建局"));
    let agenda = app.text(&staff, "/console/agenda").await;
    assert!(agenda.contains(&format!("下次联席会议：{meeting}")));
    assert!(agenda.contains("部门：区住建局"));
    assert!(agenda.contains("工作人员上报") && agenda.contains("需要住建局认定"));
    assert!(agenda.contains(&to_department.number) && agenda.contains(&to_meeting.number));
    assert!(!agenda.contains(&quiet.number));
    // The print button is wired by a script file: the CSP allows no onclick=.
    assert!(agenda.contains("data-print") && agenda.contains("/static/js/print."));
    assert!(!agenda.contains("onclick"));
    // The joint meeting comes before the departments.
    let meeting_at = agenda.find(&to_meeting.number).unwrap();
    let department_at = agenda.find(&to_department.number).unwrap();
    assert!(meeting_at < department_at);

    // "Discussed at the meeting" is a new event; a record never escalated cannot have one.
    let discussed = |id| format!("/console/records/{id}/discussed");
    let response = app
        .post_form(
            &staff,
            &discussed(to_meeting.id),
            &[
                ("version", "2"),
                ("meeting", &meeting),
                ("decision", "由物业与业委会共同公示收支"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let events = app.state.store.record_events(to_meeting.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.action, "discussed");
    assert!(last.note.contains(&meeting) && last.note.contains("由物业与业委会共同公示收支"));
    assert_eq!(events.len(), 3);
    let response = app
        .post_form(
            &staff,
            &discussed(quiet.id),
            &[("version", "1"), ("meeting", &meeting)],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        app.state.store.record_events(quiet.id).await.unwrap().len(),
        1
    );
    let agenda = app.text(&staff, "/console/agenda").await;
    assert!(agenda.contains("已在会上讨论"));
}

#[tokio::test]
async fn departments_are_renamed_and_retired_but_never_lost() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    app.create_account(Role::Staff, None).await;
    let admin = app.login("admin").await;
    let staff = app.login("staff").await;
    let department = add_department(&app, &admin, &place, "街道城管科").await;
    let other = add_department(&app, &admin, &place, "区住建局").await;
    let key = format!("department:{department}");
    let settings = format!("/console/communities/{}/sla", place.community.id);
    let response = app
        .post_form(
            &admin,
            &settings,
            &settings_form(&[("escalate_parking", &key)]),
        )
        .await;
    assert_eq!(response.status(), 303);
    let change = |id: i64| {
        format!(
            "/console/communities/{}/departments/{id}",
            place.community.id
        )
    };

    // Sent there by hand while it is in service.
    let sent = file(&app, &place, "renovation", "楼顶违建").await;
    let response = app
        .post_form(
            &staff,
            &format!("/console/records/{}/act", sent.id),
            &[
                ("version", "1"),
                ("action", "escalate"),
                ("escalate_to", &key),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);

    // Renamed: the agenda shows the new name; a name already taken is refused.
    let response = app
        .post_form(
            &admin,
            &change(department),
            &[("action", "rename"), ("name", "街道综合执法队")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let agenda = app.text(&staff, "/console/agenda").await;
    assert!(agenda.contains("部门：街道综合执法队") && agenda.contains(&sent.number));
    let response = app
        .post_form(
            &admin,
            &change(department),
            &[("action", "rename"), ("name", "区住建局")],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("已经有同名的部门"));
    assert_eq!(app.audit("department.rename").await.len(), 1);

    // Retired: still on the agenda with its records, no longer offered, refused
    // by hand, and a breach of its category goes to the joint meeting.
    let response = app
        .post_form(&admin, &change(department), &[("action", "retire")])
        .await;
    assert_eq!(response.status(), 303);
    let agenda = app.text(&staff, "/console/agenda").await;
    assert!(agenda.contains("部门：街道综合执法队") && agenda.contains(&sent.number));
    let parked = file(&app, &place, "parking", "消防通道被占").await;
    let page = app
        .text(&staff, &format!("/console/records/{}", parked.id))
        .await;
    assert!(!page.contains(&format!(r#"value="{key}""#)));
    assert!(page.contains(&format!(r#"value="department:{other}""#)));
    let settings_page = app.text(&admin, &settings).await;
    assert!(settings_page.contains("已停用") && settings_page.contains("恢复使用"));
    let response = app
        .post_form(
            &staff,
            &format!("/console/records/{}/act", parked.id),
            &[
                ("version", "1"),
                ("action", "escalate"),
                ("escalate_to", &key),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    let sweep = app
        .state
        .records
        .sweep(Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(sweep.escalated, 1);
    let escalations = app.state.store.escalations(&[parked.id]).await.unwrap();
    assert_eq!(escalations[&parked.id][0].target, "meeting");

    // Brought back; an unknown action or department is refused.
    let response = app
        .post_form(&admin, &change(department), &[("action", "restore")])
        .await;
    assert_eq!(response.status(), 303);
    let departments = app
        .state
        .store
        .departments(place.community.id)
        .await
        .unwrap();
    let mine = departments.iter().find(|d| d.id == department).unwrap();
    assert_eq!(
        (mine.name.as_str(), mine.retired),
        ("街道综合执法队", false)
    );
    assert_eq!(app.audit("department.retire").await.len(), 1);
    assert_eq!(app.audit("department.restore").await.len(), 1);
    let response = app
        .post_form(&admin, &change(department), &[("action", "delete")])
        .await;
    assert_eq!(response.status(), 400);
    let response = app
        .post_form(&admin, &change(9999), &[("action", "retire")])
        .await;
    assert_eq!(response.status(), 404);
}
