//! SLA settings and escalations: policy versions, the figures switch,
//! departments, estate leads, joint meetings, escalations and staff alerts.

use chrono::{Duration, NaiveDate};

use super::on_both_backends;
use super::signage::{admin, at, place};
use crate::domain::record::{NewRecord, Record, RecordClass, RecordSource, RecordState};
use crate::domain::*;
use crate::store::{
    AccountStore, DirectoryStore, EscalationStore, NewEscalation, NewRecordEvent, RecordStore,
    SlaSettingsStore, StoreError,
};

async fn sla_policies_are_kept_as_versions<S: SlaSettingsStore + DirectoryStore + AccountStore>(
    store: &S,
) {
    let other = place(store, "SLB").await;
    let place = place(store, "SLA").await;
    assert!(store
        .sla_policies(place.community)
        .await
        .unwrap()
        .is_empty());
    let first = serde_json::json!({ "urgent_minutes": 5, "major_minutes": 240 });
    let second = serde_json::json!({ "urgent_minutes": 10, "major_minutes": 240 });
    let saved = store
        .add_sla_policy(&admin(), place.community, &first, at(1))
        .await
        .unwrap();
    assert_eq!(saved.settings, first);
    assert_eq!(saved.created_at, at(1));
    assert_eq!(saved.created_by_name, "admin");
    store
        .add_sla_policy(&admin(), place.community, &second, at(2))
        .await
        .unwrap();
    let versions = store.sla_policies(place.community).await.unwrap();
    let settings: Vec<&serde_json::Value> = versions.iter().map(|v| &v.settings).collect();
    assert_eq!(settings, vec![&first, &second], "oldest first");
    assert_eq!(versions[0].id, saved.id);
    assert!(store
        .sla_policies(other.community)
        .await
        .unwrap()
        .is_empty());

    // Saves from several nodes at once: every version is kept.
    let saves = (0..6).map(|i| {
        let settings = serde_json::json!({ "urgent_minutes": 20 + i });
        async move {
            store
                .add_sla_policy(&admin(), place.community, &settings, at(3 + i))
                .await
        }
    });
    for result in futures_util::future::join_all(saves).await {
        result.unwrap();
    }
    assert_eq!(store.sla_policies(place.community).await.unwrap().len(), 8);
}

async fn figures_on_screens_can_be_switched_off<
    S: SlaSettingsStore + DirectoryStore + AccountStore,
>(
    store: &S,
) {
    let other = place(store, "FIH").await;
    let place = place(store, "FIG").await;
    assert!(store.figures_on_screens(place.community).await.unwrap());
    store
        .set_figures_on_screens(&admin(), place.community, false, at(1))
        .await
        .unwrap();
    assert!(!store.figures_on_screens(place.community).await.unwrap());
    assert!(store.figures_on_screens(other.community).await.unwrap());
    store
        .set_figures_on_screens(&admin(), place.community, true, at(2))
        .await
        .unwrap();
    assert!(store.figures_on_screens(place.community).await.unwrap());
    // Switched at once from two nodes: one of them stands.
    let actor = admin();
    let (a, b) = tokio::join!(
        store.set_figures_on_screens(&actor, place.community, false, at(3)),
        store.set_figures_on_screens(&actor, place.community, false, at(3)),
    );
    a.unwrap();
    b.unwrap();
    assert!(!store.figures_on_screens(place.community).await.unwrap());
}

async fn departments_are_named_retired_and_restored<
    S: EscalationStore + DirectoryStore + AccountStore,
>(
    store: &S,
) {
    let other = place(store, "DEQ").await;
    let place = place(store, "DEP").await;
    let works = store
        .add_department(&admin(), place.community, "Works", at(1))
        .await
        .unwrap();
    assert!(!works.retired);
    let housing = store
        .add_department(&admin(), place.community, "Housing", at(1))
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_department(&admin(), place.community, "Works", at(2))
            .await,
        Err(StoreError::Conflict)
    ));
    store
        .add_department(&admin(), other.community, "Works", at(2))
        .await
        .unwrap();
    let renamed = store
        .rename_department(&admin(), place.community, works.id, "Public works")
        .await
        .unwrap();
    assert_eq!(renamed.name, "Public works");
    assert!(matches!(
        store
            .rename_department(&admin(), place.community, housing.id, "Public works")
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .rename_department(&admin(), other.community, works.id, "Stolen")
            .await,
        Err(StoreError::NotFound)
    ));
    let retired = store
        .set_department_retired(&admin(), place.community, housing.id, true, at(3))
        .await
        .unwrap();
    assert!(retired.retired);
    assert!(matches!(
        store
            .set_department_retired(&admin(), other.community, housing.id, false, at(3))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.departments(place.community).await.unwrap(),
        vec![renamed, retired.clone()]
    );
    let restored = store
        .set_department_retired(&admin(), place.community, housing.id, false, at(4))
        .await
        .unwrap();
    assert!(!restored.retired);
    assert!(!store.departments(place.community).await.unwrap()[1].retired);
}

async fn estate_leads_and_joint_meetings_are_kept_once<
    S: EscalationStore + DirectoryStore + AccountStore,
>(
    store: &S,
) {
    let place = place(store, "LEAD").await;
    let estate = place.estate;
    assert!(store.estate_leads(estate).await.unwrap().is_empty());
    store
        .set_estate_lead(&admin(), estate, place.staff, true)
        .await
        .unwrap();
    // Twice, and twice at once: still one lead.
    store
        .set_estate_lead(&admin(), estate, place.staff, true)
        .await
        .unwrap();
    let actor = admin();
    let (a, b) = tokio::join!(
        store.set_estate_lead(&actor, estate, place.staff, true),
        store.set_estate_lead(&actor, estate, place.staff, true),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(store.estate_leads(estate).await.unwrap(), vec![place.staff]);
    store
        .set_estate_lead(&admin(), estate, place.staff, false)
        .await
        .unwrap();
    assert!(store.estate_leads(estate).await.unwrap().is_empty());

    let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    for on in [day(20), day(10), day(20)] {
        store
            .add_joint_meeting(&admin(), place.community, on, at(1))
            .await
            .unwrap();
    }
    assert_eq!(
        store.joint_meetings(place.community).await.unwrap(),
        vec![day(10), day(20)]
    );
}

fn new_record(estate: EstateId, tag: &str) -> NewRecord {
    NewRecord {
        estate_id: estate,
        building_id: None,
        category: "lighting".into(),
        class: RecordClass::Major,
        title: "Stair light out".into(),
        title_public: false,
        description: "Dark on floor 3".into(),
        location: String::new(),
        source: RecordSource::Web,
        reporter_id: None,
        tracking_hash: format!("tracking-{tag}"),
        filed_year: 2026,
        point: None,
    }
}

fn escalation_event(from: RecordState) -> NewRecordEvent {
    NewRecordEvent {
        actor: Actor::system(),
        action: "escalate".into(),
        from_state: Some(from),
        to_state: Some(RecordState::Escalated),
        note: "SLA breached".into(),
        public: true,
        published: false,
        assignee: None,
        rating: None,
    }
}

async fn escalations_append_an_event_a_target_and_alerts<
    S: EscalationStore + RecordStore + DirectoryStore + AccountStore,
>(
    store: &S,
) {
    let other = place(store, "ESD").await;
    let place = place(store, "ESC").await;
    let record: Record = store
        .create_record(&admin(), &new_record(place.estate, "a"), at(1))
        .await
        .unwrap();
    let calm: Record = store
        .create_record(&admin(), &new_record(other.estate, "b"), at(1))
        .await
        .unwrap();
    let event = escalation_event(record.state);
    let alert = [place.staff];
    let escalation = NewEscalation {
        event: &event,
        target: "meeting",
        reason: "breach",
        overdue_minutes: Some(90),
        alert: &alert,
    };
    let escalated = store
        .escalate_record(record.id, record.version, &escalation, at(5))
        .await
        .unwrap();
    assert_eq!(escalated.state, RecordState::Escalated);
    assert_eq!(escalated.version, record.version + 1);
    // The same version again: someone changed the record first.
    assert!(matches!(
        store
            .escalate_record(record.id, record.version, &escalation, at(6))
            .await,
        Err(StoreError::Conflict)
    ));

    let found = store.escalations(&[record.id, calm.id]).await.unwrap();
    assert_eq!(found.len(), 1);
    let rows = &found[&record.id];
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].seq, escalated.version);
    assert_eq!(rows[0].at, at(5));
    assert_eq!(rows[0].target, "meeting");
    assert_eq!(rows[0].reason, "breach");
    assert_eq!(rows[0].overdue_minutes, Some(90));
    let events = store.record_events(record.id).await.unwrap();
    assert_eq!(events.last().unwrap().seq, rows[0].seq);
    assert_eq!(
        events.last().unwrap().to_state,
        Some(RecordState::Escalated)
    );

    let ids = |records: Vec<Record>| records.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .escalated_records(Some(place.community))
            .await
            .unwrap()),
        vec![record.id]
    );
    assert!(store
        .escalated_records(Some(other.community))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(store.escalated_records(None).await.unwrap()),
        vec![record.id]
    );
    let page = store
        .records_page(&[RecordState::Escalated, calm.state], None, 10)
        .await
        .unwrap();
    assert_eq!(ids(page), vec![record.id, calm.id]);
    let next = store
        .records_page(&[RecordState::Escalated, calm.state], Some(record.id), 10)
        .await
        .unwrap();
    assert_eq!(ids(next), vec![calm.id]);

    // Escalations from two nodes at once: one event, one target.
    let second_event = escalation_event(calm.state);
    let manual = NewEscalation {
        event: &second_event,
        target: "department:1",
        reason: "manual",
        overdue_minutes: None,
        alert: &[],
    };
    let (a, b) = tokio::join!(
        store.escalate_record(calm.id, calm.version, &manual, at(7)),
        store.escalate_record(calm.id, calm.version, &manual, at(7)),
    );
    let results = [a, b];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(StoreError::Conflict))));
    assert_eq!(
        store.escalations(&[calm.id]).await.unwrap()[&calm.id].len(),
        1
    );

    // The alert went to the staff member.
    let alerts = store.staff_alerts(place.staff, 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].record_id, record.id);
    assert_eq!(alerts[0].kind, "breach");
    assert_eq!(alerts[0].created_at, at(5));
    assert_eq!(alerts[0].seen_at, None);
    assert_eq!(store.unseen_alert_count(place.staff).await.unwrap(), 1);
    assert_eq!(
        store
            .mark_alerts_seen(place.staff, at(8) + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.mark_alerts_seen(place.staff, at(9)).await.unwrap(), 0);
    assert_eq!(store.unseen_alert_count(place.staff).await.unwrap(), 0);
    assert_eq!(
        store.staff_alerts(place.staff, 10).await.unwrap()[0].seen_at,
        Some(at(8) + Duration::seconds(1))
    );
}

on_both_backends!(
    sla_policies_are_kept_as_versions,
    figures_on_screens_can_be_switched_off,
    departments_are_named_retired_and_restored,
    estate_leads_and_joint_meetings_are_kept_once,
    escalations_append_an_event_a_target_and_alerts,
);
