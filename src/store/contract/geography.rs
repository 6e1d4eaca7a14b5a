//! Estate places and CAP feeds: stored exactly, one node per poll and per alert.

use chrono::Duration;

use super::signage::{admin, at, draft, place};
use super::{on_both_backends, on_two_nodes};
use crate::domain::geo::{EstateGeography, LatLon, Outline};
use crate::domain::notice::NoticeState;
use crate::domain::*;
use crate::store::{
    AccountStore, AuditFilter, AuditStore, CapStore, DirectoryStore, GeographyStore, NewCapAlert,
    SignageStore, StoreError,
};

fn square() -> Outline {
    Outline::parse(
        "39.900000,116.390000\n39.904000,116.390000\n39.904000,116.394000\n39.900000,116.394000\n39.900000,116.390000",
    )
    .unwrap()
}

async fn estate_places_read_back_exactly<
    S: DirectoryStore + AccountStore + GeographyStore + AuditStore,
>(
    store: &S,
) {
    let p = place(store, "GA").await;
    assert_eq!(store.estate_geography(p.estate).await.unwrap(), None);
    let place = EstateGeography {
        location: LatLon::new(39.902123, 116.392456).unwrap(),
        outline: Some(square()),
        geocode: Some("110105".into()),
    };
    store
        .set_estate_geography(&admin(), p.estate, Some(&place))
        .await
        .unwrap();
    assert_eq!(
        store.estate_geography(p.estate).await.unwrap().as_ref(),
        Some(&place)
    );
    let all = store.estate_geographies().await.unwrap();
    assert_eq!(all, vec![(p.estate, p.community, place.clone())]);

    // Replaced, then cleared.
    let point_only = EstateGeography {
        location: LatLon::new(-33.8688, 151.2093).unwrap(),
        outline: None,
        geocode: None,
    };
    store
        .set_estate_geography(&admin(), p.estate, Some(&point_only))
        .await
        .unwrap();
    assert_eq!(
        store.estate_geography(p.estate).await.unwrap(),
        Some(point_only)
    );
    store
        .set_estate_geography(&admin(), p.estate, None)
        .await
        .unwrap();
    assert_eq!(store.estate_geography(p.estate).await.unwrap(), None);
    assert!(store.estate_geographies().await.unwrap().is_empty());
    assert!(matches!(
        store
            .set_estate_geography(&admin(), EstateId(999_999), Some(&place))
            .await,
        Err(StoreError::NotFound)
    ));
    let audit = store
        .audit_log(&AuditFilter {
            action: Some("estate.geography".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 3);

    let spot = LatLon::new(39.9011, 116.3912).unwrap();
    store
        .set_building_location(&admin(), p.building, Some(spot))
        .await
        .unwrap();
    assert_eq!(
        store.building_locations(p.estate).await.unwrap(),
        vec![(p.building, spot)]
    );
    store
        .set_building_location(&admin(), p.building, None)
        .await
        .unwrap();
    assert!(store.building_locations(p.estate).await.unwrap().is_empty());
}

async fn cap_feeds_record_each_alert_once<
    S: DirectoryStore + AccountStore + CapStore + SignageStore,
>(
    store: &S,
) {
    let p = place(store, "GB").await;
    let url = "http://alerts.example/cap.xml";
    let feed = store
        .create_cap_feed(&admin(), p.community, "市预警中心", url, p.staff, at(0))
        .await
        .unwrap();
    assert_eq!(feed.name, "市预警中心");
    assert_eq!(feed.next_poll_at, at(0));
    assert!(matches!(
        store
            .create_cap_feed(&admin(), p.community, "again", url, p.staff, at(0))
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.cap_feeds(Some(p.community)).await.unwrap().len(), 1);
    assert_eq!(store.cap_feeds(None).await.unwrap().len(), 1);

    // A due poll is claimed once.
    assert!(store.claim_cap_poll(feed.id, at(1), at(6)).await.unwrap());
    assert!(!store.claim_cap_poll(feed.id, at(2), at(7)).await.unwrap());
    store.schedule_cap_poll(feed.id, at(2)).await.unwrap();
    assert!(store.claim_cap_poll(feed.id, at(2), at(7)).await.unwrap());
    store
        .note_cap_poll(feed.id, at(2), "ok: 1 alert")
        .await
        .unwrap();
    let read = store.cap_feed(feed.id).await.unwrap();
    assert_eq!(read.last_polled_at, Some(at(2)));
    assert_eq!(read.last_outcome.as_deref(), Some("ok: 1 alert"));
    assert_eq!(read.next_poll_at, at(7));

    let alert = NewCapAlert {
        feed_id: feed.id,
        sender: "warning@example.gov.cn",
        identifier: "BJ-2026-001",
        sent: at(1),
        msg_type: "Alert",
        headline: "暴雨红色预警",
        outcome: "received",
        received_at: at(2),
    };
    let id = store.record_cap_alert(&alert).await.unwrap().unwrap();
    assert_eq!(
        store.record_cap_alert(&alert).await.unwrap(),
        None,
        "a duplicate"
    );
    assert_eq!(
        store
            .cap_alert_notice(feed.id, alert.sender, alert.identifier)
            .await
            .unwrap(),
        None
    );
    let notice = store
        .create_notice(
            &admin(),
            p.staff,
            &draft(&p, "暴雨红色预警"),
            NoticeState::Draft,
        )
        .await
        .unwrap();
    store
        .set_cap_alert_outcome(id, "published", Some(notice.id))
        .await
        .unwrap();
    store.link_cap_notice(notice.id, feed.id).await.unwrap();
    assert_eq!(
        store
            .cap_alert_notice(feed.id, alert.sender, alert.identifier)
            .await
            .unwrap(),
        Some(notice.id)
    );
    let listed = store.cap_alerts(p.community, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].outcome, "published");
    assert_eq!(listed[0].feed_name, "市预警中心");
    assert_eq!(listed[0].notice_id, Some(notice.id));

    let linked = store.cap_notice(notice.id).await.unwrap().unwrap();
    assert_eq!(linked.local_line, None);
    store
        .set_cap_local_line(&admin(), notice.id, Some("请走东侧楼梯"))
        .await
        .unwrap();
    assert_eq!(
        store
            .cap_notice(notice.id)
            .await
            .unwrap()
            .unwrap()
            .local_line
            .as_deref(),
        Some("请走东侧楼梯")
    );

    // Removed: no longer polled, and the same address may be followed again.
    store
        .remove_cap_feed(&admin(), feed.id, at(3))
        .await
        .unwrap();
    assert!(store.cap_feeds(None).await.unwrap().is_empty());
    assert!(!store
        .claim_cap_poll(feed.id, at(59), at(59) + Duration::minutes(5))
        .await
        .unwrap());
    store
        .create_cap_feed(&admin(), p.community, "again", url, p.staff, at(4))
        .await
        .unwrap();
}

/// Two nodes claim the same due poll and record the same alert: one wins each.
async fn one_node_acts_on_an_alert<S: DirectoryStore + AccountStore + CapStore>(a: &S, b: &S) {
    let p = place(a, "GC").await;
    let feed = a
        .create_cap_feed(
            &admin(),
            p.community,
            "feed",
            "http://x.example/a",
            p.staff,
            at(0),
        )
        .await
        .unwrap();
    for round in 0..5u32 {
        let now = at(1 + round * 10);
        let next = now + Duration::minutes(5);
        let (x, y) = tokio::join!(
            a.claim_cap_poll(feed.id, now, next),
            b.claim_cap_poll(feed.id, now, next)
        );
        assert!(x.unwrap() ^ y.unwrap(), "exactly one node polls");
        let identifier = format!("id-{round}");
        let alert = NewCapAlert {
            feed_id: feed.id,
            sender: "s",
            identifier: &identifier,
            sent: now,
            msg_type: "Alert",
            headline: "h",
            outcome: "received",
            received_at: now,
        };
        let (x, y) = tokio::join!(a.record_cap_alert(&alert), b.record_cap_alert(&alert));
        assert!(
            x.unwrap().is_some() ^ y.unwrap().is_some(),
            "exactly one node acts"
        );
    }
}

on_both_backends!(
    estate_places_read_back_exactly,
    cap_feeds_record_each_alert_once
);

on_two_nodes!(one_node_acts_on_an_alert);
