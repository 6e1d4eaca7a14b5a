//! Broadcasts: scheduling, targeting, the life cycle and replays, and
//! transitions raced from two nodes.

use chrono::{Duration, Utc};
use futures_util::future::join_all;

use super::{on_both_backends, on_two_nodes};
use crate::domain::broadcast::{
    Broadcast, BroadcastDetails, BroadcastState, IngestProblem, Renditions, ReplayState,
};
use crate::domain::*;
use crate::store::{
    AccountStore, AuditStore, BroadcastFilter, BroadcastStore, DirectoryStore, StoreError,
};

on_both_backends!(
    broadcasts_are_scheduled_targeted_and_listed,
    the_life_cycle_moves_only_from_the_states_named,
    replays_take_only_their_own_steps,
    stream_keys_rotate_and_stay_unique,
);

on_two_nodes!(
    racing_nodes_take_a_transition_once,
    racing_replay_steps_leave_one_winner,
);

pub(super) fn staff_actor(account: &Account) -> Actor {
    Actor {
        id: Some(account.id),
        name: account.display_name.clone(),
    }
}

pub(super) fn admin() -> Actor {
    Actor {
        id: None,
        name: "管理员".into(),
    }
}

/// A community with an estate, a building of units, a secretary who runs
/// broadcasts and `residents` residents living in the units.
pub(super) struct Stage {
    pub community: Community,
    pub estate: Estate,
    pub secretary: Account,
    pub residents: Vec<Account>,
}

pub(super) async fn stage<S: DirectoryStore + AccountStore>(
    store: &S,
    code: &str,
    residents: usize,
) -> Stage {
    let name = |raw: &str| PlaceName::parse(raw).unwrap();
    let community = store
        .create_community(
            &admin(),
            &name(&format!("{code}社区")),
            &CommunityCode::parse(code).unwrap(),
        )
        .await
        .unwrap();
    let estate = store
        .create_estate(&admin(), community.id, &name("花园小区"))
        .await
        .unwrap();
    let building = store
        .create_building(&admin(), estate.id, &name("3号楼"))
        .await
        .unwrap();
    let labels: Vec<String> = (1..=residents.max(1)).map(|n| format!("{n}01")).collect();
    store
        .add_units(
            &admin(),
            building.id,
            &UnitLabel::parse_list(&labels.join(",")).unwrap(),
        )
        .await
        .unwrap();
    let units = store.list_units(building.id).await.unwrap();
    let account = |username: String, role: Role, unit: Option<UnitId>| NewAccount {
        display_name: DisplayName::parse(&username).unwrap(),
        username: Username::parse(&username).unwrap(),
        password_hash: format!("hash of {username}"),
        role,
        community_id: Some(community.id),
        estate_id: None,
        unit_id: unit,
    };
    let secretary = store
        .create_account(
            &admin(),
            account(format!("{code}-sec"), Role::Secretary, None),
        )
        .await
        .unwrap();
    let mut people = Vec::with_capacity(residents);
    for n in 0..residents {
        let unit = units[n % units.len()].id;
        people.push(
            store
                .create_account(
                    &admin(),
                    account(format!("{code}-r{n:02}"), Role::Resident, Some(unit)),
                )
                .await
                .unwrap(),
        );
    }
    Stage {
        community,
        estate,
        secretary,
        residents: people,
    }
}

pub(super) fn details(stage: &Stage, title: &str) -> BroadcastDetails {
    BroadcastDetails {
        community_id: stage.community.id,
        title: title.into(),
        description: "物业费说明会".into(),
        starts_at: Utc::now() + Duration::hours(1),
        estates: vec![stage.estate.id],
        renditions: Renditions {
            low: true,
            audio_only: false,
        },
    }
}

pub(super) async fn scheduled<S: BroadcastStore>(store: &S, stage: &Stage, key: &str) -> Broadcast {
    store
        .create_broadcast(
            &staff_actor(&stage.secretary),
            stage.secretary.id,
            &details(stage, "业主大会直播"),
            key,
        )
        .await
        .unwrap()
}

/// Broadcasts have no `PartialEq`; their debug forms show every field.
fn same(a: &Broadcast, b: &Broadcast) {
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

async fn audit_count<S: AuditStore>(store: &S, action: &str) -> usize {
    store
        .audit_log(&AuditFilter {
            action: Some(action.into()),
            limit: 500,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .len()
}

async fn broadcasts_are_scheduled_targeted_and_listed<
    S: DirectoryStore + AccountStore + BroadcastStore + AuditStore,
>(
    store: &S,
) {
    let stage = stage(store, "BCA", 0).await;
    let other = stage_other_estate(store).await;
    let actor = staff_actor(&stage.secretary);

    let created = scheduled(store, &stage, "key-one").await;
    assert_eq!(created.state, BroadcastState::Scheduled);
    assert_eq!(created.replay, ReplayState::None);
    assert_eq!(created.estates, vec![stage.estate.id]);
    assert!(created.renditions.low && !created.renditions.audio_only);
    assert_eq!(created.went_live_at, None);
    same(&store.broadcast(created.id).await.unwrap(), &created);
    same(
        &store.broadcast_by_key("key-one").await.unwrap().unwrap(),
        &created,
    );
    assert!(store.broadcast_by_key("nope").await.unwrap().is_none());
    assert!(matches!(
        store.broadcast(BroadcastId(9999)).await,
        Err(StoreError::NotFound)
    ));

    // Two estates, then none; an estate of another community is refused
    // and changes nothing.
    let second = store
        .create_estate(
            &admin(),
            stage.community.id,
            &PlaceName::parse("南苑").unwrap(),
        )
        .await
        .unwrap();
    let mut changed = details(&stage, "改期后的直播");
    changed.estates = vec![second.id, stage.estate.id];
    changed.renditions.audio_only = true;
    let updated = store
        .update_broadcast(&actor, created.id, &changed)
        .await
        .unwrap();
    let mut both = vec![stage.estate.id, second.id];
    both.sort();
    let mut got = updated.estates.clone();
    got.sort();
    assert_eq!(got, both);
    assert_eq!(updated.title, "改期后的直播");
    assert!(updated.renditions.audio_only);
    changed.estates = vec![other];
    assert!(matches!(
        store.update_broadcast(&actor, created.id, &changed).await,
        Err(StoreError::Rejected("estate of another community"))
    ));
    same(&store.broadcast(created.id).await.unwrap(), &updated);
    changed.estates = Vec::new();
    let everyone = store
        .update_broadcast(&actor, created.id, &changed)
        .await
        .unwrap();
    assert!(everyone.estates.is_empty());
    assert_eq!(audit_count(store, "broadcast.create").await, 1);
    assert_eq!(audit_count(store, "broadcast.update").await, 2);

    // Listing: by community, state and replay, in either order.
    let mut later = details(&stage, "第二场");
    later.starts_at = Utc::now() + Duration::days(2);
    let later = store
        .create_broadcast(&actor, stage.secretary.id, &later, "key-two")
        .await
        .unwrap();
    let filter = |upcoming_first| BroadcastFilter {
        community: Some(stage.community.id),
        states: Vec::new(),
        replays: Vec::new(),
        upcoming_first,
        limit: 10,
    };
    let ids = |list: Vec<Broadcast>| list.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_broadcasts(&filter(true)).await.unwrap()),
        vec![created.id, later.id]
    );
    assert_eq!(
        ids(store.list_broadcasts(&filter(false)).await.unwrap()),
        vec![later.id, created.id]
    );
    store
        .set_broadcast_state(
            &Actor::system(),
            later.id,
            &[BroadcastState::Scheduled],
            BroadcastState::Live,
            Utc::now(),
        )
        .await
        .unwrap();
    let live = BroadcastFilter {
        states: vec![BroadcastState::Live, BroadcastState::Reconnecting],
        ..filter(true)
    };
    assert_eq!(
        ids(store.list_broadcasts(&live).await.unwrap()),
        vec![later.id]
    );
    let replays = BroadcastFilter {
        replays: vec![ReplayState::Published],
        ..filter(true)
    };
    assert!(store.list_broadcasts(&replays).await.unwrap().is_empty());
    let elsewhere = BroadcastFilter {
        community: Some(CommunityId(9999)),
        ..filter(true)
    };
    assert!(store.list_broadcasts(&elsewhere).await.unwrap().is_empty());
    let one = BroadcastFilter {
        limit: 1,
        ..filter(true)
    };
    assert_eq!(store.list_broadcasts(&one).await.unwrap().len(), 1);
}

/// An estate of a second community.
async fn stage_other_estate<S: DirectoryStore>(store: &S) -> EstateId {
    let community = store
        .create_community(
            &admin(),
            &PlaceName::parse("别的社区").unwrap(),
            &CommunityCode::parse("OTHER").unwrap(),
        )
        .await
        .unwrap();
    store
        .create_estate(&admin(), community.id, &PlaceName::parse("北苑").unwrap())
        .await
        .unwrap()
        .id
}

async fn the_life_cycle_moves_only_from_the_states_named<
    S: DirectoryStore + AccountStore + BroadcastStore + AuditStore,
>(
    store: &S,
) {
    use BroadcastState::*;
    let stage = stage(store, "BCB", 0).await;
    let b = scheduled(store, &stage, "key-life").await;
    let system = Actor::system();
    let t0 = Utc::now();

    assert!(matches!(
        store
            .set_broadcast_state(&system, b.id, &[Live], Ended, t0)
            .await,
        Err(StoreError::Rejected(_))
    ));
    assert!(matches!(
        store
            .set_broadcast_state(&system, BroadcastId(9999), &[Scheduled], Live, t0)
            .await,
        Err(StoreError::NotFound)
    ));
    let live = store
        .set_broadcast_state(&system, b.id, &[Scheduled], Live, t0)
        .await
        .unwrap();
    assert_eq!(live.state, Live);
    assert_eq!(
        live.went_live_at.map(|t| t.timestamp_micros()),
        Some(t0.timestamp_micros())
    );
    assert_eq!(live.ended_at, None);

    // A reconnect keeps the first time it went live.
    let t1 = t0 + Duration::seconds(30);
    let again = store
        .set_broadcast_state(&system, b.id, &[Live], Reconnecting, t1)
        .await
        .unwrap();
    assert_eq!(again.state, Reconnecting);
    let back = store
        .set_broadcast_state(&system, b.id, &[Reconnecting], Live, t1)
        .await
        .unwrap();
    assert_eq!(back.went_live_at, live.went_live_at);

    let t2 = t0 + Duration::minutes(50);
    let ended = store
        .set_broadcast_state(&system, b.id, &[Live, Reconnecting], Ended, t2)
        .await
        .unwrap();
    assert_eq!(ended.state, Ended);
    assert_eq!(
        ended.ended_at.map(|t| t.timestamp_micros()),
        Some(t2.timestamp_micros())
    );
    assert!(matches!(
        store
            .set_broadcast_state(&system, b.id, &[Live, Reconnecting], Ended, t2)
            .await,
        Err(StoreError::Rejected(_))
    ));
    assert_eq!(audit_count(store, "broadcast.live").await, 2);
    assert_eq!(audit_count(store, "broadcast.reconnecting").await, 1);
    assert_eq!(audit_count(store, "broadcast.end").await, 1);

    let failed = store.set_recording_error(b.id, "disk full").await.unwrap();
    assert_eq!(failed.recording_error.as_deref(), Some("disk full"));
    assert!(matches!(
        store.set_recording_error(BroadcastId(9999), "x").await,
        Err(StoreError::NotFound)
    ));

    let hevc = IngestProblem::video_codec("HEVC (H.265)");
    store
        .set_ingest_problem(b.id, Some(&hevc), t2)
        .await
        .unwrap();
    let refused = store.broadcast(b.id).await.unwrap();
    assert_eq!(refused.ingest_problem, Some(hevc));
    assert_eq!(
        refused.ingest_problem_at.map(|at| at.timestamp_micros()),
        Some(t2.timestamp_micros())
    );
    store.set_ingest_problem(b.id, None, t2).await.unwrap();
    let cleared = store.broadcast(b.id).await.unwrap();
    assert_eq!(
        (cleared.ingest_problem, cleared.ingest_problem_at),
        (None, None)
    );
    assert!(matches!(
        store.set_ingest_problem(BroadcastId(9999), None, t2).await,
        Err(StoreError::NotFound)
    ));
}

async fn replays_take_only_their_own_steps<
    S: DirectoryStore + AccountStore + BroadcastStore + AuditStore,
>(
    store: &S,
) {
    use ReplayState::{Deleted, Processing, Published, Unpublished};
    let stage = stage(store, "BCC", 0).await;
    let b = scheduled(store, &stage, "key-replay").await;
    let system = Actor::system();
    let staff = staff_actor(&stage.secretary);

    // Nothing to unpublish or delete yet.
    for to in [Unpublished, Deleted] {
        assert!(matches!(
            store.set_replay(&staff, b.id, to, None).await,
            Err(StoreError::Rejected(_))
        ));
    }
    let processing = store
        .set_replay(&system, b.id, Processing, Some(90_000))
        .await
        .unwrap();
    assert_eq!(processing.replay, Processing);
    assert_eq!(processing.replay_millis, Some(90_000));
    // Publishing without a length keeps the one known.
    let published = store
        .set_replay(&system, b.id, Published, None)
        .await
        .unwrap();
    assert_eq!(published.replay, Published);
    assert_eq!(published.replay_millis, Some(90_000));
    assert!(matches!(
        store.set_replay(&staff, b.id, Published, None).await,
        Err(StoreError::Rejected(_))
    ));
    assert_eq!(
        store
            .set_replay(&staff, b.id, Unpublished, None)
            .await
            .unwrap()
            .replay,
        Unpublished
    );
    assert_eq!(
        store
            .set_replay(&staff, b.id, Published, None)
            .await
            .unwrap()
            .replay,
        Published
    );
    assert_eq!(
        store
            .set_replay(&staff, b.id, Deleted, None)
            .await
            .unwrap()
            .replay,
        Deleted
    );
    // A deleted replay is never published again.
    for to in [Published, Unpublished, Deleted] {
        assert!(matches!(
            store.set_replay(&staff, b.id, to, None).await,
            Err(StoreError::Rejected(_))
        ));
    }
    assert!(matches!(
        store
            .set_replay(&staff, BroadcastId(9999), Published, None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(audit_count(store, "replay.publish").await, 2);
    assert_eq!(audit_count(store, "replay.delete").await, 1);
}

async fn stream_keys_rotate_and_stay_unique<
    S: DirectoryStore + AccountStore + BroadcastStore + AuditStore,
>(
    store: &S,
) {
    let stage = stage(store, "BCD", 0).await;
    let actor = staff_actor(&stage.secretary);
    let first = scheduled(store, &stage, "key-a").await;
    let second = scheduled(store, &stage, "key-b").await;
    assert!(matches!(
        store
            .create_broadcast(&actor, stage.secretary.id, &details(&stage, "x"), "key-a")
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store.rotate_stream_key(&actor, second.id, "key-a").await,
        Err(StoreError::Conflict)
    ));
    let rotated = store
        .rotate_stream_key(&actor, first.id, "key-c")
        .await
        .unwrap();
    assert_eq!(rotated.stream_key, "key-c");
    assert!(store.broadcast_by_key("key-a").await.unwrap().is_none());
    assert_eq!(
        store.broadcast_by_key("key-c").await.unwrap().map(|b| b.id),
        Some(first.id)
    );
    assert!(matches!(
        store
            .rotate_stream_key(&actor, BroadcastId(9999), "key-d")
            .await,
        Err(StoreError::NotFound)
    ));
    // The key itself is never audited.
    let entries = store
        .audit_log(&AuditFilter {
            action: Some("broadcast.rotate_key".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert!(!format!("{entries:?}").contains("key-c"));
}

/// Ten tries on each node at once: one takes the step, the rest are refused.
async fn racing_nodes_take_a_transition_once<
    S: DirectoryStore + AccountStore + BroadcastStore + AuditStore,
>(
    a: &S,
    b: &S,
) {
    use BroadcastState::*;
    let stage = stage(a, "BCE", 0).await;
    let broadcast = scheduled(a, &stage, "key-race").await;
    let system = Actor::system();
    let race = |from: &'static [BroadcastState], to: BroadcastState| {
        let system = &system;
        join_all((0..20).map(move |n| async move {
            let node = if n % 2 == 0 { a } else { b };
            node.set_broadcast_state(system, broadcast.id, from, to, Utc::now())
                .await
        }))
    };
    for (from, to) in [
        (&[Scheduled][..], Live),
        (&[Live][..], Reconnecting),
        (&[Reconnecting][..], Live),
        (&[Live, Reconnecting][..], Ended),
    ] {
        let results = race(from, to).await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Rejected(_))))
            .count();
        assert_eq!((won, refused), (1, 19), "{to:?}: {results:?}");
        assert_eq!(b.broadcast(broadcast.id).await.unwrap().state, to);
    }
    assert_eq!(audit_count(a, "broadcast.live").await, 2);
    assert_eq!(audit_count(b, "broadcast.end").await, 1);
}

async fn racing_replay_steps_leave_one_winner<
    S: DirectoryStore + AccountStore + BroadcastStore + AuditStore,
>(
    a: &S,
    b: &S,
) {
    use ReplayState::{Deleted, Processing, Published, Unpublished};
    let stage = stage(a, "BCF", 0).await;
    let broadcast = scheduled(a, &stage, "key-replay-race").await;
    let staff = staff_actor(&stage.secretary);
    a.set_replay(&staff, broadcast.id, Processing, Some(1000))
        .await
        .unwrap();
    a.set_replay(&staff, broadcast.id, Published, None)
        .await
        .unwrap();
    // Staff on two nodes: half unpublish, half delete, at once. The first
    // step wins; after a delete nothing else happens, after an unpublish
    // only a delete may follow.
    let results = join_all((0..20).map(|n| {
        let staff = &staff;
        async move {
            let (node, to) = if n % 2 == 0 {
                (a, Deleted)
            } else {
                (b, Unpublished)
            };
            (to, node.set_replay(staff, broadcast.id, to, None).await)
        }
    }))
    .await;
    let won = |step: ReplayState| {
        results
            .iter()
            .filter(|(to, r)| *to == step && r.is_ok())
            .count()
    };
    let (deleted, unpublished) = (won(Deleted), won(Unpublished));
    assert!(deleted <= 1 && unpublished <= 1 && deleted + unpublished >= 1);
    assert!(results
        .iter()
        .all(|(_, r)| r.is_ok() || matches!(r, Err(StoreError::Rejected(_)))));
    let last = a.broadcast(broadcast.id).await.unwrap().replay;
    assert_eq!(last, if deleted == 1 { Deleted } else { Unpublished });
    assert_eq!(audit_count(b, "replay.delete").await, deleted);
    assert_eq!(audit_count(b, "replay.unpublish").await, unpublished);
}
