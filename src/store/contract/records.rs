//! Feedback records on both backends: filing with numbers, events moving the
//! head, version conflicts, the queues and facts kept by triggers, photos,
//! read marks, the disclosure's facts, a person's data; and what several
//! writers at once must get.

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_util::future::join_all;

use super::on_both_backends;
use crate::domain::geo::LatLon;
use crate::domain::record::{NewRecord, Record, RecordClass, RecordSource, RecordState};
use crate::domain::*;
use crate::store::{
    AccountStore, AssigneeFilter, DirectoryStore, DisclosureStore, NewRecordEvent, NewRecordPhoto,
    PersonalDataStore, RecordFilter, RecordPhotoStore, RecordReadStore, RecordStore, Session,
    StoreError,
};

on_both_backends!(
    filing_gives_numbers_per_community_and_year,
    events_move_the_head_and_stale_versions_conflict,
    queues_and_filters_follow_the_heads,
    photos_are_public_exactly_when_their_event_is,
    the_unread_badge_counts_news_from_others,
    disclosure_facts_and_their_version_follow_events,
    personal_data_is_exported_and_erased,
    concurrent_filings_get_distinct_consecutive_numbers,
    two_staff_changing_one_record_at_once_give_one_conflict,
);

fn admin() -> Actor {
    Actor {
        id: None,
        name: "admin".into(),
    }
}

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, day, hour, minute, 0)
        .unwrap()
}

/// A community with one estate.
async fn place<S: DirectoryStore>(store: &S, code: &str) -> (CommunityId, EstateId) {
    let community = store
        .create_community(
            &admin(),
            &PlaceName::parse(&format!("社区{code}")).unwrap(),
            &CommunityCode::parse(code).unwrap(),
        )
        .await
        .unwrap();
    let estate = store
        .create_estate(
            &admin(),
            community.id,
            &PlaceName::parse("一号小区").unwrap(),
        )
        .await
        .unwrap();
    (community.id, estate.id)
}

async fn account<S: AccountStore>(
    store: &S,
    username: &str,
    role: Role,
    community: Option<CommunityId>,
    unit: Option<UnitId>,
) -> Account {
    store
        .create_account(
            &admin(),
            NewAccount {
                username: Username::parse(username).unwrap(),
                display_name: DisplayName::parse(&format!("{username} 显示名")).unwrap(),
                password_hash: "x".into(),
                role,
                community_id: community,
                estate_id: None,
                unit_id: unit,
            },
        )
        .await
        .unwrap()
}

/// A resident living in a building of their own in `estate`.
async fn resident<S: DirectoryStore + AccountStore>(
    store: &S,
    community: CommunityId,
    estate: EstateId,
    username: &str,
) -> Account {
    let building = store
        .create_building(
            &admin(),
            estate,
            &PlaceName::parse(&format!("{username}楼")).unwrap(),
        )
        .await
        .unwrap();
    store
        .add_units(&admin(), building.id, &[UnitLabel::parse("101").unwrap()])
        .await
        .unwrap();
    let unit = store.list_units(building.id).await.unwrap()[0].id;
    account(store, username, Role::Resident, Some(community), Some(unit)).await
}

fn filing(estate: EstateId, tracking: &str, reporter: Option<AccountId>) -> NewRecord {
    NewRecord {
        estate_id: estate,
        building_id: None,
        category: "repairs".into(),
        class: RecordClass::General,
        title: "楼道灯不亮".into(),
        title_public: true,
        description: "三楼".into(),
        location: "3F".into(),
        source: RecordSource::Web,
        reporter_id: reporter,
        tracking_hash: tracking.into(),
        filed_year: 2026,
        point: None,
    }
}

fn staff_event(actor: &Actor, to: Option<RecordState>, public: bool) -> NewRecordEvent {
    NewRecordEvent {
        actor: actor.clone(),
        action: to.map_or("note", |s| s.as_str()).into(),
        from_state: None,
        to_state: to,
        note: "处理中".into(),
        public,
        published: false,
        assignee: None,
        rating: None,
    }
}

fn all_of(estate: EstateId) -> RecordFilter {
    RecordFilter {
        estate: Some(estate),
        limit: 1_000,
        ..RecordFilter::default()
    }
}

async fn filing_gives_numbers_per_community_and_year<S>(store: &S)
where
    S: DirectoryStore + RecordStore,
{
    let (a, estate_a) = place(store, "AA").await;
    let (_, estate_b) = place(store, "BB").await;
    let filed = at(1, 9, 0);
    let mut numbers = Vec::new();
    for i in 0..3 {
        let record = store
            .create_record(&admin(), &filing(estate_a, &format!("a{i}"), None), filed)
            .await
            .unwrap();
        numbers.push(record.number);
    }
    let b = store
        .create_record(&admin(), &filing(estate_b, "b0", None), filed)
        .await
        .unwrap();
    let next_year = store
        .create_record(
            &admin(),
            &NewRecord {
                filed_year: 2027,
                point: LatLon::from_e6(39_902_000, -116_392_500),
                ..filing(estate_a, "a-2027", None)
            },
            filed,
        )
        .await
        .unwrap();
    assert_eq!(
        numbers,
        ["AA-2026-000001", "AA-2026-000002", "AA-2026-000003"]
    );
    assert_eq!(b.number, "BB-2026-000001");
    assert_eq!(next_year.number, "AA-2027-000001");
    // Where it was reported comes back to the millionth of a degree.
    assert_eq!(
        store.record(next_year.id).await.unwrap().point,
        LatLon::from_e6(39_902_000, -116_392_500)
    );
    assert_eq!(b.point, None);

    let record = store.record_by_tracking("a1").await.unwrap();
    assert_eq!(record.number, "AA-2026-000002");
    assert_eq!(record.community_id, a);
    assert_eq!(record.estate_id, estate_a);
    assert_eq!(record.state, RecordState::Submitted);
    assert_eq!(record.version, 1);
    assert_eq!(record.created_at, filed);
    assert_eq!(record.class, RecordClass::General);
    assert_eq!(record.source, RecordSource::Web);
    assert!(record.title_public);
    assert_eq!(record.assignee, None);
    assert_eq!(store.record(record.id).await.unwrap().number, record.number);

    let events = store.record_events(record.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].action, "submit");
    assert_eq!(events[0].to_state, Some(RecordState::Submitted));
    assert!(events[0].public);
    assert_eq!(events[0].at, filed);

    // The same tracking link twice is a conflict; a filing that fails takes
    // no number.
    assert!(matches!(
        store
            .create_record(&admin(), &filing(estate_a, "a1", None), filed)
            .await,
        Err(StoreError::Conflict)
    ));
    let after = store
        .create_record(&admin(), &filing(estate_a, "a3", None), filed)
        .await
        .unwrap();
    assert_eq!(after.number, "AA-2026-000004");
    assert!(matches!(
        store.record(RecordId(999_999)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.record_by_tracking("nobody").await,
        Err(StoreError::NotFound)
    ));
}

async fn events_move_the_head_and_stale_versions_conflict<S>(store: &S)
where
    S: DirectoryStore + RecordStore,
{
    let (_, estate) = place(store, "EV").await;
    let staff = Actor {
        id: None,
        name: "王主任".into(),
    };
    let record = store
        .create_record(&admin(), &filing(estate, "t", None), at(1, 9, 0))
        .await
        .unwrap();

    let accepted = store
        .append_record_event(
            record.id,
            1,
            &NewRecordEvent {
                from_state: Some(RecordState::Submitted),
                assignee: Some("李师傅".into()),
                ..staff_event(&staff, Some(RecordState::Accepted), true)
            },
            at(1, 9, 5),
        )
        .await
        .unwrap();
    assert_eq!(accepted.state, RecordState::Accepted);
    assert_eq!(accepted.version, 2);
    assert_eq!(accepted.assignee.as_deref(), Some("李师傅"));

    // A note moves the version, not the state or the assignee.
    let noted = store
        .append_record_event(record.id, 2, &staff_event(&staff, None, false), at(1, 9, 6))
        .await
        .unwrap();
    assert_eq!(noted.state, RecordState::Accepted);
    assert_eq!(noted.version, 3);
    assert_eq!(noted.assignee.as_deref(), Some("李师傅"));

    // Someone who saw version 2 is too late.
    assert!(matches!(
        store
            .append_record_event(record.id, 2, &staff_event(&staff, None, false), at(1, 9, 7))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .append_record_event(
                RecordId(999_999),
                1,
                &staff_event(&staff, None, false),
                at(1, 9, 7)
            )
            .await,
        Err(StoreError::NotFound)
    ));

    // Unassigning stores an empty name: the head has "", the event none.
    let unassigned = store
        .append_record_event(
            record.id,
            3,
            &NewRecordEvent {
                assignee: Some(String::new()),
                rating: Some(4),
                ..staff_event(&staff, Some(RecordState::Resolved), true)
            },
            at(1, 10, 0),
        )
        .await
        .unwrap();
    assert_eq!(unassigned.version, 4);
    assert_eq!(unassigned.state, RecordState::Resolved);

    let events = store.record_events(record.id).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(events[1].from_state, Some(RecordState::Submitted));
    assert_eq!(events[1].to_state, Some(RecordState::Accepted));
    assert_eq!(events[1].assignee.as_deref(), Some("李师傅"));
    assert_eq!(events[1].actor_name, "王主任");
    assert!(!events[2].public);
    assert_eq!(events[2].to_state, None);
    assert_eq!(events[3].assignee, None);
    assert_eq!(events[3].rating, Some(4));
    assert_eq!(events[3].at, at(1, 10, 0));
}

async fn queues_and_filters_follow_the_heads<S>(store: &S)
where
    S: DirectoryStore + RecordStore,
{
    let (community, estate) = place(store, "QU").await;
    let (_, elsewhere) = place(store, "QV").await;
    let staff = admin();
    let mut ids = Vec::new();
    for i in 0..4 {
        let record = store
            .create_record(
                &admin(),
                &NewRecord {
                    class: if i == 0 {
                        RecordClass::Urgent
                    } else {
                        RecordClass::General
                    },
                    category: if i == 1 { "noise" } else { "repairs" }.into(),
                    ..filing(estate, &format!("q{i}"), None)
                },
                at(2 + i, 9, 0),
            )
            .await
            .unwrap();
        ids.push(record.id);
    }
    store
        .create_record(&admin(), &filing(elsewhere, "other", None), at(2, 9, 0))
        .await
        .unwrap();
    // Record 0 is assigned and closed, record 1 is assigned and open.
    store
        .append_record_event(
            ids[0],
            1,
            &NewRecordEvent {
                assignee: Some("张".into()),
                ..staff_event(&staff, Some(RecordState::Accepted), true)
            },
            at(6, 9, 0),
        )
        .await
        .unwrap();
    store
        .append_record_event(
            ids[0],
            2,
            &NewRecordEvent {
                rating: Some(2),
                ..staff_event(&staff, Some(RecordState::Closed), true)
            },
            at(6, 10, 0),
        )
        .await
        .unwrap();
    store
        .append_record_event(
            ids[0],
            3,
            &NewRecordEvent {
                rating: Some(5),
                ..staff_event(&staff, None, true)
            },
            at(6, 11, 0),
        )
        .await
        .unwrap();
    store
        .append_record_event(
            ids[1],
            1,
            &NewRecordEvent {
                assignee: Some("李".into()),
                ..staff_event(&staff, Some(RecordState::Dispatched), true)
            },
            at(6, 9, 0),
        )
        .await
        .unwrap();

    let numbers =
        |records: Vec<Record>| -> Vec<RecordId> { records.iter().map(|r| r.id).collect() };

    // Everything, newest first; oldest first; a page before an id; a limit.
    let all = store.list_records(&all_of(estate)).await.unwrap();
    assert_eq!(numbers(all), [ids[3], ids[2], ids[1], ids[0]]);
    let oldest = store
        .list_records(&RecordFilter {
            oldest_first: true,
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(oldest), ids);
    let page = store
        .list_records(&RecordFilter {
            before: Some(ids[2]),
            limit: 1,
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(page), [ids[1]]);

    // Open states only: answered from open_records, kept by triggers.
    let open: Vec<RecordState> = RecordState::ALL
        .iter()
        .copied()
        .filter(|s| s.is_open())
        .collect();
    let queue = store
        .list_records(&RecordFilter {
            states: open.clone(),
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(queue), [ids[3], ids[2], ids[1]]);
    let by_community = store
        .list_records(&RecordFilter {
            community: Some(community),
            states: open.clone(),
            limit: 1_000,
            ..RecordFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_community.len(), 3);
    // Some of the open states, not all of them: still filtered by state.
    let not_dispatched = store
        .list_records(&RecordFilter {
            states: open
                .iter()
                .copied()
                .filter(|s| *s != RecordState::Dispatched)
                .collect(),
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(not_dispatched), [ids[3], ids[2]]);
    let dispatched = store
        .list_records(&RecordFilter {
            states: vec![RecordState::Dispatched],
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(dispatched), [ids[1]]);
    let closed = store
        .list_records(&RecordFilter {
            states: vec![RecordState::Closed],
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(closed), [ids[0]]);
    assert_eq!(closed_state(store, ids[0]).await, RecordState::Closed);

    // Class, category, numbers, a period, assignees.
    let urgent = store
        .list_records(&RecordFilter {
            class: Some(RecordClass::Urgent),
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(urgent), [ids[0]]);
    let noise = store
        .list_records(&RecordFilter {
            category: Some("noise".into()),
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(noise), [ids[1]]);
    let by_number = store
        .list_records(&RecordFilter {
            numbers: vec!["QU-2026-000002".into(), "QU-2026-000004".into()],
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(by_number), [ids[3], ids[1]]);
    let period = store
        .list_records(&RecordFilter {
            since: Some(at(3, 0, 0)),
            until: Some(at(5, 0, 0)),
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(period), [ids[2], ids[1]]);
    let named = store
        .list_records(&RecordFilter {
            assignee: Some(AssigneeFilter::Named("李".into())),
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(named), [ids[1]]);
    let nobody = store
        .list_records(&RecordFilter {
            assignee: Some(AssigneeFilter::Nobody),
            ..all_of(estate)
        })
        .await
        .unwrap();
    assert_eq!(numbers(nobody), [ids[3], ids[2]]);
    // Only open records' assignees count.
    assert_eq!(
        store.open_record_assignees(&all_of(estate)).await.unwrap(),
        ["李"]
    );

    // Several records at once: state changes, latest ratings, events.
    let changes = store.state_changes(&ids).await.unwrap();
    let states: Vec<RecordState> = changes[&ids[0]].iter().map(|c| c.to).collect();
    assert_eq!(
        states,
        [
            RecordState::Submitted,
            RecordState::Accepted,
            RecordState::Closed
        ]
    );
    assert_eq!(changes[&ids[0]][2].at, at(6, 10, 0));
    assert_eq!(changes[&ids[3]].len(), 1);
    let ratings = store.ratings(&ids).await.unwrap();
    assert_eq!(ratings.len(), 1);
    assert_eq!(ratings[&ids[0]], 5);
    let events = store.events_of(&[ids[1], ids[0]]).await.unwrap();
    let order: Vec<(RecordId, i64)> = events.iter().map(|(id, e)| (*id, e.seq)).collect();
    assert_eq!(
        order,
        [
            (ids[0], 1),
            (ids[0], 2),
            (ids[0], 3),
            (ids[0], 4),
            (ids[1], 1),
            (ids[1], 2)
        ]
    );
    assert!(store.state_changes(&[]).await.unwrap().is_empty());
}

async fn closed_state<S: RecordStore>(store: &S, id: RecordId) -> RecordState {
    store.record(id).await.unwrap().state
}

fn photo(uploader: AccountId, n: u8) -> NewRecordPhoto {
    NewRecordPhoto {
        sha256: format!("{n:02x}").repeat(32),
        mime: "image/jpeg".into(),
        width: 1_600,
        height: 1_200,
        size_bytes: 300_000 + u64::from(n),
        uploaded_by: uploader,
    }
}

async fn photos_are_public_exactly_when_their_event_is<S>(store: &S)
where
    S: DirectoryStore + AccountStore + RecordStore + RecordPhotoStore,
{
    let (community, estate) = place(store, "PH").await;
    let resident = resident(store, community, estate, "resident").await;
    let staff = account(store, "staff", Role::Staff, Some(community), None).await;
    let record = store
        .create_record_with_photos(
            &admin(),
            &filing(estate, "p", Some(resident.id)),
            &[photo(resident.id, 1), photo(resident.id, 2)],
            at(1, 9, 0),
        )
        .await
        .unwrap();
    assert_eq!(record.version, 1);
    let staff_actor = Actor {
        id: Some(staff.id),
        name: "staff".into(),
    };
    let internal = store
        .append_record_event_with_photos(
            record.id,
            1,
            &staff_event(&staff_actor, None, false),
            &[photo(staff.id, 3)],
            at(1, 9, 30),
        )
        .await
        .unwrap();
    assert_eq!(internal.version, 2);
    store
        .add_record_photos(record.id, 1, &[photo(resident.id, 4)], at(1, 9, 40))
        .await
        .unwrap();

    let photos = store.record_photos(record.id).await.unwrap();
    let seen: Vec<(i64, bool, u64)> = photos
        .iter()
        .map(|p| (p.seq, p.public, p.size_bytes))
        .collect();
    assert_eq!(
        seen,
        [
            (1, true, 300_001),
            (1, true, 300_002),
            (1, true, 300_004),
            (2, false, 300_003)
        ]
    );
    let first = &photos[0];
    assert_eq!(first.record_id, record.id);
    assert_eq!(first.sha256, "01".repeat(32));
    assert_eq!((first.width, first.height), (1_600, 1_200));
    assert_eq!(first.uploaded_by, resident.id);
    assert_eq!(first.created_at, at(1, 9, 0));
    assert_eq!(
        store.record_photo(record.id, photos[3].id).await.unwrap(),
        photos[3]
    );

    // No such event; another record's photo; a stale version writes nothing.
    assert!(matches!(
        store
            .add_record_photos(record.id, 9, &[photo(staff.id, 5)], at(1, 10, 0))
            .await,
        Err(StoreError::NotFound)
    ));
    let other = store
        .create_record(&admin(), &filing(estate, "p2", None), at(1, 9, 0))
        .await
        .unwrap();
    assert!(matches!(
        store.record_photo(other.id, photos[0].id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .append_record_event_with_photos(
                record.id,
                1,
                &staff_event(&staff_actor, None, true),
                &[photo(staff.id, 6)],
                at(1, 10, 0),
            )
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.record_photos(record.id).await.unwrap().len(), 4);
    assert!(store.record_photos(other.id).await.unwrap().is_empty());
}

async fn the_unread_badge_counts_news_from_others<S>(store: &S)
where
    S: DirectoryStore + AccountStore + RecordStore + RecordReadStore,
{
    let (community, estate) = place(store, "RD").await;
    let neighbour = resident(store, community, estate, "neighbour").await;
    let resident = resident(store, community, estate, "resident").await;
    let me = Actor {
        id: Some(resident.id),
        name: "resident".into(),
    };
    let staff = Actor {
        id: None,
        name: "物业".into(),
    };
    let mine = store
        .create_record(&me, &filing(estate, "m1", Some(resident.id)), at(1, 9, 0))
        .await
        .unwrap();
    let second = store
        .create_record(&me, &filing(estate, "m2", Some(resident.id)), at(1, 9, 1))
        .await
        .unwrap();
    store
        .create_record(
            &admin(),
            &filing(estate, "n1", Some(neighbour.id)),
            at(1, 9, 2),
        )
        .await
        .unwrap();
    // Filing never notifies.
    assert_eq!(store.unread_record_count(resident.id).await.unwrap(), 0);

    // An internal note and the resident's own public event are not news.
    store
        .append_record_event(mine.id, 1, &staff_event(&staff, None, false), at(1, 10, 0))
        .await
        .unwrap();
    store
        .append_record_event(mine.id, 2, &staff_event(&me, None, true), at(1, 10, 1))
        .await
        .unwrap();
    assert_eq!(store.unread_record_count(resident.id).await.unwrap(), 0);
    assert!(store
        .unread_records(resident.id, 10)
        .await
        .unwrap()
        .is_empty());

    // A public reply from the office is.
    store
        .append_record_event(
            mine.id,
            3,
            &staff_event(&staff, Some(RecordState::Accepted), true),
            at(1, 11, 0),
        )
        .await
        .unwrap();
    store
        .append_record_event(
            second.id,
            1,
            &staff_event(&staff, Some(RecordState::Accepted), true),
            at(1, 12, 0),
        )
        .await
        .unwrap();
    assert_eq!(store.unread_record_count(resident.id).await.unwrap(), 2);
    assert_eq!(store.unread_record_count(neighbour.id).await.unwrap(), 0);
    let news = store.unread_records(resident.id, 10).await.unwrap();
    let seen: Vec<(RecordId, i64)> = news.iter().map(|u| (u.record_id, u.latest.seq)).collect();
    assert_eq!(seen, [(second.id, 2), (mine.id, 4)]);
    assert_eq!(news[1].state, RecordState::Accepted);
    assert_eq!(news[1].number, mine.number);
    assert_eq!(news[1].latest.actor_name, "物业");
    assert_eq!(news[1].latest.at, at(1, 11, 0));
    assert_eq!(store.unread_records(resident.id, 1).await.unwrap().len(), 1);

    // Someone else's mark writes nothing; the reporter's does, capped at
    // the latest event, and never moves backwards.
    store
        .mark_record_seen(neighbour.id, mine.id, 99, at(1, 13, 0))
        .await
        .unwrap();
    assert_eq!(store.unread_record_count(resident.id).await.unwrap(), 2);
    store
        .mark_record_seen(resident.id, mine.id, 99, at(1, 13, 0))
        .await
        .unwrap();
    assert_eq!(store.unread_record_count(resident.id).await.unwrap(), 1);
    store
        .mark_record_seen(resident.id, mine.id, 1, at(1, 13, 1))
        .await
        .unwrap();
    assert_eq!(store.unread_record_count(resident.id).await.unwrap(), 1);
    // A new event past the cap is news again.
    store
        .append_record_event(mine.id, 4, &staff_event(&staff, None, true), at(1, 14, 0))
        .await
        .unwrap();
    assert_eq!(store.unread_record_count(resident.id).await.unwrap(), 2);

    assert_eq!(
        store
            .mark_all_records_seen(resident.id, at(1, 15, 0))
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.unread_record_count(resident.id).await.unwrap(), 0);
    assert_eq!(
        store
            .mark_all_records_seen(resident.id, at(1, 15, 1))
            .await
            .unwrap(),
        0
    );
}

async fn disclosure_facts_and_their_version_follow_events<S>(store: &S)
where
    S: DirectoryStore + RecordStore + DisclosureStore,
{
    let (community, estate) = place(store, "DS").await;
    let staff = admin();
    let october = (
        at(1, 0, 0),
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
    );
    let empty = store
        .facts_version(estate, october.0, october.1)
        .await
        .unwrap();
    assert_eq!(empty.rows, 0);
    assert_eq!(empty.latest, None);
    assert!(store
        .record_facts(estate, october.0, october.1)
        .await
        .unwrap()
        .is_empty());

    let first = store
        .create_record(
            &admin(),
            &NewRecord {
                class: RecordClass::Urgent,
                ..filing(estate, "d1", None)
            },
            at(2, 9, 0),
        )
        .await
        .unwrap();
    let second = store
        .create_record(&admin(), &filing(estate, "d2", None), at(3, 9, 0))
        .await
        .unwrap();
    // September's record is outside the range.
    store
        .create_record(
            &admin(),
            &filing(estate, "d0", None),
            at(1, 9, 0) - Duration::days(2),
        )
        .await
        .unwrap();
    store
        .append_record_event(
            first.id,
            1,
            &staff_event(&staff, Some(RecordState::Resolved), true),
            at(2, 10, 0),
        )
        .await
        .unwrap();
    let before = store
        .facts_version(estate, october.0, october.1)
        .await
        .unwrap();
    assert_eq!(before.rows, 3);
    assert_eq!(before.latest, Some(at(3, 9, 0)));

    // A note without state or rating is no fact; a rating is.
    store
        .append_record_event(first.id, 2, &staff_event(&staff, None, false), at(4, 9, 0))
        .await
        .unwrap();
    assert_eq!(
        store
            .facts_version(estate, october.0, october.1)
            .await
            .unwrap(),
        before
    );
    store
        .append_record_event(
            first.id,
            3,
            &NewRecordEvent {
                rating: Some(3),
                ..staff_event(&staff, Some(RecordState::Closed), true)
            },
            at(5, 9, 0),
        )
        .await
        .unwrap();
    let after = store
        .facts_version(estate, october.0, october.1)
        .await
        .unwrap();
    assert_eq!(after.rows, 4);
    assert_eq!(after.latest, Some(at(5, 9, 0)));

    let facts = store
        .record_facts(estate, october.0, october.1)
        .await
        .unwrap();
    assert_eq!(facts.len(), 2);
    assert_eq!(facts[0].id, first.id);
    assert_eq!(facts[0].community_id, community);
    assert_eq!(facts[0].class, RecordClass::Urgent);
    assert_eq!(facts[0].category, "repairs");
    assert_eq!(facts[0].created_at, at(2, 9, 0));
    let states: Vec<RecordState> = facts[0].changes.iter().map(|c| c.to).collect();
    assert_eq!(
        states,
        [
            RecordState::Submitted,
            RecordState::Resolved,
            RecordState::Closed
        ]
    );
    assert_eq!(facts[0].rating, Some(3));
    assert_eq!(facts[1].id, second.id);
    assert_eq!(facts[1].rating, None);
    assert_eq!(facts[1].changes.len(), 1);
}

async fn personal_data_is_exported_and_erased<S>(store: &S)
where
    S: DirectoryStore
        + AccountStore
        + RecordStore
        + RecordPhotoStore
        + RecordReadStore
        + PersonalDataStore,
{
    let (community, estate) = place(store, "PD").await;
    let resident = resident(store, community, estate, "resident").await;
    let staff = account(store, "staff", Role::Staff, Some(community), None).await;
    let me = Actor {
        id: Some(resident.id),
        name: resident.display_name.clone(),
    };
    let office = Actor {
        id: Some(staff.id),
        name: "物业".into(),
    };
    let record = store
        .create_record_with_photos(
            &me,
            &filing(estate, "pd", Some(resident.id)),
            &[photo(resident.id, 1)],
            at(1, 9, 0),
        )
        .await
        .unwrap();
    store
        .append_record_event_with_photos(
            record.id,
            1,
            &staff_event(&office, None, false),
            &[photo(staff.id, 2)],
            at(1, 9, 30),
        )
        .await
        .unwrap();
    store
        .append_record_event(record.id, 2, &staff_event(&me, None, true), at(1, 10, 0))
        .await
        .unwrap();
    store
        .mark_record_seen(resident.id, record.id, 3, at(1, 11, 0))
        .await
        .unwrap();
    let expires = Utc::now() + Duration::days(1);
    store
        .create_session(
            "token-hash",
            &Session {
                account_id: resident.id,
                csrf_token: "csrf".into(),
                expires_at: expires,
            },
        )
        .await
        .unwrap();

    let data = store
        .export_personal_data(&admin(), resident.id)
        .await
        .unwrap();
    assert_eq!(data.account.id, resident.id);
    assert_eq!(
        data.home,
        Some([
            "社区PD".to_owned(),
            "一号小区".to_owned(),
            "resident楼".to_owned(),
            "101".to_owned()
        ])
    );
    assert_eq!(data.records.len(), 1);
    let mine = &data.records[0];
    assert_eq!(mine.record.id, record.id);
    // The office's internal note and its photo are not the resident's data.
    let seqs: Vec<i64> = mine.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 3]);
    assert_eq!(mine.photos.len(), 1);
    assert_eq!(mine.photos[0].uploaded_by, resident.id);
    assert!(data.comments.is_empty());
    assert!(data.votes.is_empty());
    assert_eq!(data.read_marks.len(), 1);
    assert_eq!(data.read_marks[0].record_id, record.id);
    assert_eq!(data.read_marks[0].seen_seq, 3);
    assert_eq!(data.read_marks[0].seen_at, at(1, 11, 0));
    assert_eq!(data.sessions.len(), 1);
    assert_eq!(
        crate::store::ts(data.sessions[0].expires_at),
        crate::store::ts(expires)
    );

    // Closing: only a resident's own account, once.
    assert!(matches!(
        store.close_account(staff.id, "已注销用户").await,
        Err(StoreError::Rejected(_))
    ));
    store
        .close_account(resident.id, "已注销用户 1")
        .await
        .unwrap();
    assert!(matches!(
        store.close_account(resident.id, "已注销用户 1").await,
        Err(StoreError::Rejected(_))
    ));
    let closed = store.account(resident.id).await.unwrap();
    assert!(closed.disabled);
    assert_eq!(closed.display_name, "已注销用户 1");
    assert_eq!(closed.username, format!("@closed-{}", resident.id.0));
    assert_eq!(closed.unit_id, None);
    // The record and its events stay, under the label; marks and sessions go.
    let events = store.record_events(record.id).await.unwrap();
    assert_eq!(events[0].actor_name, "已注销用户 1");
    assert_eq!(events[1].actor_name, "物业");
    assert_eq!(events[2].actor_name, "已注销用户 1");
    let after = store
        .export_personal_data(&admin(), resident.id)
        .await
        .unwrap();
    assert_eq!(after.records.len(), 1);
    assert!(after.read_marks.is_empty());
    assert!(after.sessions.is_empty());
    assert_eq!(after.home, None);
    assert!(store
        .session("token-hash", Utc::now())
        .await
        .unwrap()
        .is_none());
}

async fn concurrent_filings_get_distinct_consecutive_numbers<S>(store: &S)
where
    S: DirectoryStore + RecordStore,
{
    let (_, estate) = place(store, "CC").await;
    let (_, second_estate) = place(store, "CD").await;
    const FILINGS: usize = 24;
    let filings: Vec<NewRecord> = (0..FILINGS)
        .map(|i| {
            // Two communities at once: each keeps its own sequence.
            let estate = if i % 4 == 3 { second_estate } else { estate };
            filing(estate, &format!("c{i}"), None)
        })
        .collect();
    let actor = admin();
    let filed = join_all(
        filings
            .iter()
            .map(|new| store.create_record(&actor, new, at(1, 9, 0))),
    )
    .await;
    let mut numbers: Vec<String> = filed
        .into_iter()
        .map(|r| r.expect("every filing succeeds").number)
        .collect();
    numbers.sort();
    let mut expected: Vec<String> = (1..=18).map(|n| format!("CC-2026-{n:06}")).collect();
    expected.extend((1..=6).map(|n| format!("CD-2026-{n:06}")));
    assert_eq!(numbers, expected);
    let first = store.record_by_tracking("c0").await.unwrap();
    assert_eq!(store.record_events(first.id).await.unwrap().len(), 1);
}

async fn two_staff_changing_one_record_at_once_give_one_conflict<S>(store: &S)
where
    S: DirectoryStore + RecordStore,
{
    let (_, estate) = place(store, "TW").await;
    let one = Actor {
        id: None,
        name: "甲".into(),
    };
    let two = Actor {
        id: None,
        name: "乙".into(),
    };
    for round in 0..8 {
        let record = store
            .create_record(
                &admin(),
                &filing(estate, &format!("tw{round}"), None),
                at(1, 9, 0),
            )
            .await
            .unwrap();
        let accept = staff_event(&one, Some(RecordState::Accepted), true);
        let reject = staff_event(&two, Some(RecordState::NotResponsible), true);
        let (a, b) = tokio::join!(
            store.append_record_event(record.id, 1, &accept, at(1, 9, 1)),
            store.append_record_event(record.id, 1, &reject, at(1, 9, 1)),
        );
        let (won, lost) = match (a, b) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
            (a, b) => panic!("round {round}: {a:?} and {b:?}"),
        };
        assert!(matches!(lost, StoreError::Conflict), "{lost:?}");
        assert_eq!(won.version, 2);
        let events = store.record_events(record.id).await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].to_state, Some(won.state));
        assert_eq!(store.record(record.id).await.unwrap().state, won.state);
    }
}
