//! Who holds a broadcast's encoder: claims, heartbeats and takeovers.

use chrono::{Duration, Utc};

use crate::domain::BroadcastId;
use crate::store::ingest::{Claimed, IngestClaim, IngestPhase, IngestStore};

use super::on_both_backends;

fn claim<'a>(node: &'a str, incarnation: &'a str, phase: IngestPhase) -> IngestClaim<'a> {
    let now = Utc::now();
    IngestClaim {
        node,
        incarnation,
        internal_url: "http://127.0.0.1:1",
        phase,
        now,
        stale_before: now - Duration::seconds(5),
    }
}

async fn a_fresh_holder_keeps_its_broadcast_and_a_stale_one_loses_it<S: IngestStore>(store: &S) {
    let id = BroadcastId(7);
    let first = store
        .claim_ingest(id, &claim("a", "a-1", IngestPhase::Publishing))
        .await
        .unwrap();
    assert_eq!(first, Claimed::Taken { previous: None });
    let refused = store
        .claim_ingest(id, &claim("b", "b-1", IngestPhase::Publishing))
        .await
        .unwrap();
    let Claimed::Held(holder) = refused else {
        panic!("a fresh publishing holder was displaced: {refused:?}");
    };
    assert_eq!(
        (holder.node.as_str(), holder.phase),
        ("a", IngestPhase::Publishing)
    );

    // Renewed, a's row stays; ten seconds without a heartbeat, b takes it.
    let renewed = store.renew_ingest("a-1", Utc::now()).await.unwrap();
    assert_eq!(renewed, vec![(id, IngestPhase::Publishing)]);
    let later = claim("b", "b-1", IngestPhase::Publishing);
    let later = IngestClaim {
        now: later.now + Duration::seconds(10),
        stale_before: later.now + Duration::seconds(5),
        ..later
    };
    assert_eq!(
        store.stale_ingests(later.stale_before).await.unwrap().len(),
        1
    );
    let Claimed::Taken { previous } = store.claim_ingest(id, &later).await.unwrap() else {
        panic!("a stale holder was not displaced");
    };
    assert_eq!(previous.unwrap().incarnation, "a-1");
    // a learns that it lost the broadcast, and can no longer change or drop it.
    assert!(store
        .renew_ingest("a-1", Utc::now())
        .await
        .unwrap()
        .is_empty());
    assert!(!store
        .set_ingest_phase(id, "a-1", IngestPhase::Waiting, Utc::now())
        .await
        .unwrap());
    assert!(!store.release_ingest(id, "a-1").await.unwrap());
    assert_eq!(store.ingest_holder(id).await.unwrap().unwrap().node, "b");
    assert!(store.release_ingest(id, "b-1").await.unwrap());
    assert_eq!(store.ingest_holder(id).await.unwrap(), None);
}

async fn an_encoder_takes_over_from_a_waiting_holder_but_not_from_one_finalizing<S: IngestStore>(
    store: &S,
) {
    let id = BroadcastId(8);
    store
        .claim_ingest(id, &claim("a", "a-1", IngestPhase::Publishing))
        .await
        .unwrap();
    assert!(store
        .set_ingest_phase(id, "a-1", IngestPhase::Waiting, Utc::now())
        .await
        .unwrap());
    // Making the replay needs a dead or absent holder, whatever its phase.
    let finalizing = store
        .claim_ingest(id, &claim("c", "c-1", IngestPhase::Finalizing))
        .await
        .unwrap();
    assert!(matches!(finalizing, Claimed::Held(_)), "{finalizing:?}");
    // An encoder may continue the broadcast elsewhere at once.
    let taken = store
        .claim_ingest(id, &claim("b", "b-1", IngestPhase::Publishing))
        .await
        .unwrap();
    assert!(
        matches!(taken, Claimed::Taken { previous: Some(_) }),
        "{taken:?}"
    );
    store
        .set_ingest_phase(id, "b-1", IngestPhase::Finalizing, Utc::now())
        .await
        .unwrap();
    let refused = store
        .claim_ingest(id, &claim("a", "a-2", IngestPhase::Publishing))
        .await
        .unwrap();
    assert!(matches!(refused, Claimed::Held(_)), "{refused:?}");
    // The same node name restarted takes its row back at once.
    let back = store
        .claim_ingest(id, &claim("b", "b-2", IngestPhase::Publishing))
        .await
        .unwrap();
    assert!(matches!(back, Claimed::Taken { .. }), "{back:?}");
}

async fn of_many_claims_for_a_stale_row_exactly_one_wins<S: IngestStore>(store: &S) {
    let id = BroadcastId(9);
    let old = Utc::now() - Duration::seconds(60);
    store
        .claim_ingest(
            id,
            &IngestClaim {
                now: old,
                stale_before: old - Duration::seconds(5),
                ..claim("dead", "dead-1", IngestPhase::Publishing)
            },
        )
        .await
        .unwrap();
    let names: Vec<String> = (0..8).map(|n| format!("node-{n}")).collect();
    let claims = names.iter().map(|name| async move {
        store
            .claim_ingest(id, &claim(name, name, IngestPhase::Finalizing))
            .await
    });
    let results = futures_util::future::join_all(claims).await;
    let won = results
        .iter()
        .filter(|r| matches!(r, Ok(Claimed::Taken { .. })))
        .count();
    assert_eq!(won, 1, "{results:?}");
}

on_both_backends!(
    a_fresh_holder_keeps_its_broadcast_and_a_stale_one_loses_it,
    an_encoder_takes_over_from_a_waiting_holder_but_not_from_one_finalizing,
    of_many_claims_for_a_stale_row_exactly_one_wins,
);
