use pavilion::domain::Role;

use crate::helpers::*;

#[tokio::test]
async fn staff_changes_are_audited_with_before_and_after() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    let response = app
        .post_form(
            &browser,
            &format!("/console/buildings/{}/rename", place.building.id),
            &[("name", "三号楼")],
        )
        .await;
    assert_eq!(response.status(), 303);

    let entries = app.audit("building.rename").await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.actor_id, Some(admin.id));
    assert_eq!(entry.actor_name, "admin");
    assert_eq!(entry.entity, "building");
    assert_eq!(
        entry.entity_id.as_deref(),
        Some(place.building.id.to_string().as_str())
    );
    assert_eq!(entry.before.as_ref().unwrap()["name"], "3号楼");
    assert_eq!(entry.after.as_ref().unwrap()["name"], "三号楼");
}

#[tokio::test]
async fn the_audit_log_cannot_be_edited_or_deleted() {
    let app = spawn_app().await;
    app.seed_place().await;
    // Even with a connection of one's own, past the store.
    let mut db = app.raw_db().await;
    let before = db.count("SELECT COUNT(*) FROM audit_log").await;
    assert!(before > 0);
    assert!(db
        .execute("UPDATE audit_log SET actor_name = 'someone else'")
        .await
        .is_err());
    assert!(db.execute("DELETE FROM audit_log").await.is_err());
    let after = db.count("SELECT COUNT(*) FROM audit_log").await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn admins_browse_and_filter_the_audit_log() {
    let app = spawn_app().await;
    app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    app.post_form(
        &browser,
        "/console/communities",
        &[("name", "红星社区"), ("code", "HX")],
    )
    .await;

    let all = app.text(&browser, "/console/audit").await;
    assert!(all.contains("community.create") && all.contains("building.create"));

    let filtered = app
        .text(
            &browser,
            "/console/audit?actor=admin&action=community.create",
        )
        .await;
    assert!(filtered.contains("红星社区"));
    assert!(
        !filtered.contains("幸福社区"),
        "entries by other actors are filtered out"
    );

    let today = chrono::Utc::now()
        .with_timezone(&app.state.settings.time_zone)
        .date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let future = app
        .text(&browser, &format!("/console/audit?from={tomorrow}"))
        .await;
    assert!(future.contains("没有符合条件的记录"));
    let bad_date = browser
        .get(app.url("/console/audit?from=21.11.2026"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_date.status(), 400);
}

#[tokio::test]
async fn a_refused_change_writes_no_audit_entry() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let browser = app.login("admin").await;
    let before = app.audit("building.create").await.len();
    // Same name as an existing building in the estate.
    let response = app
        .post_form(
            &browser,
            &format!("/console/estates/{}/buildings", place.estate.id),
            &[("name", "3号楼")],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("这个名称已经被使用了"));
    assert_eq!(app.audit("building.create").await.len(), before);
}
