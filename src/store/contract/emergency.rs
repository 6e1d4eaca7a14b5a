//! The emergency store: screens' acknowledgements and a notice's steps.

use chrono::Duration;

use super::on_both_backends;
use super::signage::{admin, at, far_ahead, place};
use crate::domain::notice::{NoticeCategory, NoticeDraft, NoticeState, Target, Validity};
use crate::domain::screen::Orientation;
use crate::domain::*;
use crate::store::emergency::{EmergencyAck, EmergencyStore};
use crate::store::{AccountStore, DirectoryStore, NoticeTransition, ScreenSetup, SignageStore};

async fn acks_keep_the_newest_revision_at_its_first_showing<
    S: SignageStore + DirectoryStore + AccountStore + EmergencyStore,
>(
    store: &S,
) {
    let place = place(store, "ACK").await;
    let actor = Actor {
        id: Some(place.staff),
        name: "staff".into(),
    };
    let draft = NoticeDraft {
        community_id: place.community,
        title: "Gas leak".into(),
        body: "Leave by the east stairs.".into(),
        category: NoticeCategory::Announcement,
        emergency: true,
        validity: Validity::new(at(0), None).unwrap(),
        day_parts: Vec::new(),
        targets: vec![Target::Community(place.community)],
        display_seconds: 15,
        priority: 9,
        images: Vec::new(),
        video: None,
    };
    let notice = store
        .create_notice(&actor, place.staff, &draft, NoticeState::Draft)
        .await
        .unwrap();
    let mut screens = Vec::new();
    for (code, name) in [("ACK001", "Hall"), ("ACK002", "Lift")] {
        store
            .create_pairing(code, &format!("secret-{code}"), far_ahead())
            .await
            .unwrap();
        let setup = ScreenSetup {
            name: name.into(),
            building_id: place.building,
            group_id: None,
            orientation: Orientation::Landscape,
        };
        screens.push(
            store
                .claim_pairing(&admin(), code, &setup, &format!("token-{code}"), at(1))
                .await
                .unwrap(),
        );
    }
    assert!(store.emergency_acks(notice.id).await.unwrap().is_empty());
    let ack = |screen: usize, revision: i64, minute: u32| EmergencyAck {
        notice_id: notice.id,
        screen_id: screens[screen].id,
        revision,
        shown_at: at(minute),
        received_at: at(minute) + Duration::seconds(2),
    };
    store.record_emergency_ack(&ack(0, 2, 10)).await.unwrap();
    // A repeat later, and an older revision arriving late: no change.
    store.record_emergency_ack(&ack(0, 2, 12)).await.unwrap();
    store.record_emergency_ack(&ack(0, 1, 5)).await.unwrap();
    // The same revision shown earlier (a queued ack after a newer one).
    store.record_emergency_ack(&ack(1, 2, 11)).await.unwrap();
    store.record_emergency_ack(&ack(1, 2, 9)).await.unwrap();
    assert_eq!(
        store.emergency_acks(notice.id).await.unwrap(),
        vec![ack(0, 2, 10), ack(1, 2, 9)]
    );
    // A newer revision replaces the older one, even shown later.
    store.record_emergency_ack(&ack(0, 3, 20)).await.unwrap();
    assert_eq!(
        store.emergency_acks(notice.id).await.unwrap()[0],
        ack(0, 3, 20)
    );
    // A screen or notice that does not exist is refused by the database.
    let mut stray = ack(0, 3, 20);
    stray.notice_id = NoticeId(999_999);
    assert!(store.record_emergency_ack(&stray).await.is_err());

    // The steps: created, published, withdrawn; creation is not a step.
    assert!(store.notice_steps(notice.id).await.unwrap().is_empty());
    let step = |from: &'static [NoticeState], to, action| NoticeTransition {
        from,
        to,
        revision: None,
        reason: None,
        action,
    };
    store
        .transition_notice(
            &actor,
            notice.id,
            &step(
                &[NoticeState::Draft],
                NoticeState::Published,
                "notice.publish_emergency",
            ),
        )
        .await
        .unwrap();
    store
        .transition_notice(
            &actor,
            notice.id,
            &step(
                &[NoticeState::Published],
                NoticeState::Withdrawn,
                "notice.withdraw",
            ),
        )
        .await
        .unwrap();
    let steps = store.notice_steps(notice.id).await.unwrap();
    let actions: Vec<&str> = steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, ["notice.publish_emergency", "notice.withdraw"]);
    assert!(steps[0].at <= steps[1].at);
}

on_both_backends!(acks_keep_the_newest_revision_at_its_first_showing);
