//! The lobby screens' store: media, notices and their workflow, screen
//! groups, pairing, heartbeats and plays.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};

use super::on_both_backends;
use crate::domain::account::NewAccount;
use crate::domain::notice::{
    DayPart, MediaKind, MediaState, NoticeCategory, NoticeDraft, NoticeState, Target, Validity,
    Weekdays,
};
use crate::domain::screen::{Heartbeat, Orientation, Play};
use crate::domain::*;
use crate::store::{
    AccountStore, DirectoryStore, MediaOutcome, NewMedia, NoticeFilter, NoticeTransition,
    PairingStatus, PlayFilter, ScreenSetup, SignageStore, StoreError,
};

/// A community with one estate, one building and a staff account.
pub(super) struct Place {
    pub community: CommunityId,
    pub estate: EstateId,
    pub building: BuildingId,
    pub staff: AccountId,
}

pub(super) fn admin() -> Actor {
    Actor {
        id: None,
        name: "admin".into(),
    }
}

pub(super) fn name(text: &str) -> PlaceName {
    PlaceName::parse(text).unwrap()
}

/// A whole second, so that it reads back exactly.
pub(super) fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 8, minute, 0).unwrap()
}

/// A pairing's expiry: `create_pairing` clears codes expired by the wall clock.
pub(super) fn far_ahead() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap()
}

fn long_ago() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()
}

/// Domain types compare by what they show.
pub(super) fn assert_same<T: serde::Serialize>(got: &T, want: &T) {
    assert_eq!(
        serde_json::to_value(got).unwrap(),
        serde_json::to_value(want).unwrap()
    );
}

/// A new community (`code`: 2–6 letters) with an estate, a building and a staff member.
pub(super) async fn place<S: DirectoryStore + AccountStore>(store: &S, code: &str) -> Place {
    let actor = admin();
    let community = store
        .create_community(
            &actor,
            &name(&format!("Community {code}")),
            &CommunityCode::parse(code).unwrap(),
        )
        .await
        .unwrap();
    let estate = store
        .create_estate(&actor, community.id, &name("East"))
        .await
        .unwrap();
    let building = store
        .create_building(&actor, estate.id, &name("Block 1"))
        .await
        .unwrap();
    let staff = store
        .create_account(
            &actor,
            NewAccount {
                username: Username::parse(&format!("staff{}", code.to_lowercase())).unwrap(),
                display_name: DisplayName::parse(&format!("Staff {code}")).unwrap(),
                password_hash: "not a hash".into(),
                role: Role::Staff,
                community_id: Some(community.id),
                estate_id: None,
                unit_id: None,
            },
        )
        .await
        .unwrap();
    Place {
        community: community.id,
        estate: estate.id,
        building: building.id,
        staff: staff.id,
    }
}

fn staff(place: &Place) -> Actor {
    Actor {
        id: Some(place.staff),
        name: "staff".into(),
    }
}

pub(super) fn draft(place: &Place, title: &str) -> NoticeDraft {
    NoticeDraft {
        community_id: place.community,
        title: title.into(),
        body: "Water is off from 9 to 11.".into(),
        category: NoticeCategory::Outage,
        emergency: false,
        validity: Validity::new(at(0), None).unwrap(),
        day_parts: Vec::new(),
        targets: vec![Target::Community(place.community)],
        display_seconds: 15,
        priority: 5,
        images: Vec::new(),
        video: None,
    }
}

fn media(place: &Place, kind: MediaKind, state: MediaState) -> NewMedia {
    NewMedia {
        community_id: place.community,
        kind,
        state,
        original_name: "poster.png".into(),
        content_type: "image/png".into(),
        size_bytes: 1234,
        width: Some(800),
        height: Some(600),
        duration_millis: None,
        uploaded_by: place.staff,
    }
}

fn setup(place: &Place, screen_name: &str) -> ScreenSetup {
    ScreenSetup {
        name: screen_name.into(),
        building_id: place.building,
        group_id: None,
        orientation: Orientation::Landscape,
    }
}

async fn media_is_stored_finished_and_listed<S: SignageStore + DirectoryStore + AccountStore>(
    store: &S,
) {
    let place = place(store, "MED").await;
    let actor = staff(&place);
    let image = store
        .create_media(&actor, &media(&place, MediaKind::Image, MediaState::Ready))
        .await
        .unwrap();
    assert_eq!(image.kind, MediaKind::Image);
    assert_eq!((image.width, image.height), (Some(800), Some(600)));
    assert_same(&store.media(image.id).await.unwrap(), &image);
    let video = store
        .create_media(
            &actor,
            &media(&place, MediaKind::Video, MediaState::Processing),
        )
        .await
        .unwrap();
    let unfinished: Vec<MediaId> = store
        .unfinished_media()
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(unfinished, vec![video.id]);

    let done = store
        .finish_media(
            video.id,
            &MediaOutcome {
                state: MediaState::Ready,
                content_type: "video/mp4".into(),
                size_bytes: 99_000,
                width: Some(1920),
                height: Some(1080),
                duration_millis: Some(12_500),
                error: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.state, MediaState::Ready);
    assert_eq!(done.duration_millis, Some(12_500));
    assert!(store.unfinished_media().await.unwrap().is_empty());
    let listed: Vec<MediaId> = store
        .list_media(place.community, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(listed, vec![video.id, image.id], "newest first");
    assert!(matches!(
        store.media(MediaId(999_999)).await,
        Err(StoreError::NotFound)
    ));
}

async fn notices_go_from_draft_through_review_to_screens<
    S: SignageStore + DirectoryStore + AccountStore,
>(
    store: &S,
) {
    let place = place(store, "NOT").await;
    let actor = staff(&place);
    let image = store
        .create_media(&actor, &media(&place, MediaKind::Image, MediaState::Ready))
        .await
        .unwrap();
    let group = store
        .create_screen_group(&actor, place.community, &name("Lobbies"))
        .await
        .unwrap();
    let morning = DayPart::new(
        Weekdays::from_iso(&[1, 2, 3, 4, 5]).unwrap(),
        NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
        NaiveTime::from_hms_opt(9, 30, 0).unwrap(),
    )
    .unwrap();
    let mut first = draft(&place, "Water off");
    first.day_parts = vec![morning];
    first.targets = vec![
        Target::Building(place.building),
        Target::Estate(place.estate),
        Target::Group(group.id),
    ];
    first.images = vec![image.id];
    first.validity = Validity::new(at(0), Some(at(50))).unwrap();
    let marker = store.notices_marker().await.unwrap();
    let notice = store
        .create_notice(&actor, place.staff, &first, NoticeState::Draft)
        .await
        .unwrap();
    assert_eq!(notice.state, NoticeState::Draft);
    assert_eq!(notice.revision, 1);
    let created = store.notices_marker().await.unwrap();
    assert_ne!(created, marker);
    assert_eq!(notice.day_parts, vec![morning]);
    let mut targets = first.targets.clone();
    targets.sort();
    assert_eq!(notice.targets, targets);
    assert_eq!(notice.images, vec![image.id]);
    assert_eq!(notice.validity, first.validity);
    assert_same(&store.notice(notice.id).await.unwrap(), &notice);

    // Submitted for review with new content.
    let mut second = first.clone();
    second.title = "Water off on Monday".into();
    second.targets = vec![Target::Community(place.community)];
    let pending = store
        .update_notice(&actor, notice.id, 1, &second, NoticeState::Pending)
        .await
        .unwrap();
    assert_eq!(pending.state, NoticeState::Pending);
    assert_eq!(pending.revision, 2);
    assert_ne!(store.notices_marker().await.unwrap(), created);
    assert_eq!(pending.title, "Water off on Monday");
    assert_eq!(pending.targets, vec![Target::Community(place.community)]);
    assert!(matches!(
        store
            .update_notice(&actor, notice.id, 1, &second, NoticeState::Pending)
            .await,
        Err(StoreError::Conflict)
    ));

    // Approved and published.
    let approver = admin();
    let approve = NoticeTransition {
        from: &[NoticeState::Pending],
        to: NoticeState::Published,
        revision: Some(2),
        reason: None,
        action: "notice.approve",
    };
    let published = store
        .transition_notice(&approver, notice.id, &approve)
        .await
        .unwrap();
    assert_eq!(published.state, NoticeState::Published);
    assert_eq!(published.revision, 3);
    assert!(published.published_at.is_some());
    // Approving again: the revision moved on.
    assert!(matches!(
        store
            .transition_notice(&approver, notice.id, &approve)
            .await,
        Err(StoreError::Conflict)
    ));
    // Without a revision: the notice is no longer pending.
    let approve_any = NoticeTransition {
        revision: None,
        ..approve.clone()
    };
    assert!(matches!(
        store
            .transition_notice(&approver, notice.id, &approve_any)
            .await,
        Err(StoreError::Rejected(_))
    ));
    let shown: Vec<NoticeId> = store
        .current_notices(place.community, at(10))
        .await
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(shown, vec![notice.id]);
    assert!(store
        .current_notices(place.community, at(50))
        .await
        .unwrap()
        .is_empty());

    // Withdrawn.
    let withdrawn = store
        .transition_notice(
            &actor,
            notice.id,
            &NoticeTransition {
                from: &[NoticeState::Published],
                to: NoticeState::Withdrawn,
                revision: None,
                reason: Some("fixed early"),
                action: "notice.withdraw",
            },
        )
        .await
        .unwrap();
    assert_eq!(withdrawn.state, NoticeState::Withdrawn);
    assert_eq!(withdrawn.rejection_reason.as_deref(), Some("fixed early"));
    assert!(store
        .current_notices(place.community, at(10))
        .await
        .unwrap()
        .is_empty());

    let listed = store
        .list_notices(&NoticeFilter {
            community: Some(place.community),
            states: vec![NoticeState::Withdrawn, NoticeState::Draft],
            ids: Vec::new(),
            limit: 10,
        })
        .await
        .unwrap();
    assert_same(&listed, &vec![withdrawn]);
    assert!(store
        .list_notices(&NoticeFilter {
            community: Some(place.community),
            states: vec![NoticeState::Pending],
            ids: Vec::new(),
            limit: 10,
        })
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.notice(NoticeId(999_999)).await,
        Err(StoreError::NotFound)
    ));
}

async fn of_two_approvals_at_once_one_wins<S: SignageStore + DirectoryStore + AccountStore>(
    store: &S,
) {
    let place = place(store, "TWO").await;
    let notice = store
        .create_notice(
            &staff(&place),
            place.staff,
            &draft(&place, "Lift service"),
            NoticeState::Pending,
        )
        .await
        .unwrap();
    for round in 0..5 {
        let approve = NoticeTransition {
            from: &[NoticeState::Pending],
            to: NoticeState::Published,
            revision: Some(notice.revision + 2 * round),
            reason: None,
            action: "notice.approve",
        };
        let actor = admin();
        let (a, b) = tokio::join!(
            store.transition_notice(&actor, notice.id, &approve),
            store.transition_notice(&actor, notice.id, &approve),
        );
        let results = [a, b];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::Conflict))),
            "{results:?}"
        );
        // Back to review for the next round.
        let current = store.notice(notice.id).await.unwrap();
        store
            .update_notice(
                &admin(),
                notice.id,
                current.revision,
                &draft(&place, "Lift service"),
                NoticeState::Pending,
            )
            .await
            .unwrap();
    }
}

async fn notices_reach_only_their_own_community<S: SignageStore + DirectoryStore + AccountStore>(
    store: &S,
) {
    let ours = place(store, "OWN").await;
    let theirs = place(store, "OTH").await;
    let their_image = store
        .create_media(
            &staff(&theirs),
            &media(&theirs, MediaKind::Image, MediaState::Ready),
        )
        .await
        .unwrap();
    for target in [
        Target::Community(theirs.community),
        Target::Estate(theirs.estate),
        Target::Building(theirs.building),
    ] {
        let mut forged = draft(&ours, "Forged");
        forged.targets = vec![target];
        assert!(matches!(
            store
                .create_notice(&staff(&ours), ours.staff, &forged, NoticeState::Draft)
                .await,
            Err(StoreError::Rejected(_))
        ));
    }
    let mut forged = draft(&ours, "Forged");
    forged.images = vec![their_image.id];
    assert!(matches!(
        store
            .create_notice(&staff(&ours), ours.staff, &forged, NoticeState::Draft)
            .await,
        Err(StoreError::Rejected(_))
    ));
    assert!(store
        .list_notices(&NoticeFilter {
            community: Some(ours.community),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());
}

async fn screens_get_current_and_emergency_notices<
    S: SignageStore + DirectoryStore + AccountStore,
>(
    store: &S,
) {
    let place = place(store, "CUR").await;
    let actor = staff(&place);
    let video = store
        .create_media(
            &actor,
            &media(&place, MediaKind::Video, MediaState::Processing),
        )
        .await
        .unwrap();
    let publish = |revision| NoticeTransition {
        from: &[NoticeState::Pending],
        to: NoticeState::Published,
        revision: Some(revision),
        reason: None,
        action: "notice.approve",
    };
    let mut ids = Vec::new();
    for (title, ends, emergency, with_video) in [
        ("open-ended", None, false, false),
        ("ends later", Some(at(40)), true, true),
        ("ended", Some(at(5)), false, false),
    ] {
        let mut d = draft(&place, title);
        d.validity = Validity::new(at(0), ends).unwrap();
        d.emergency = emergency;
        d.video = with_video.then_some(video.id);
        let notice = store
            .create_notice(&actor, place.staff, &d, NoticeState::Pending)
            .await
            .unwrap();
        store
            .transition_notice(&admin(), notice.id, &publish(notice.revision))
            .await
            .unwrap();
        ids.push(notice.id);
    }
    // A draft is never shown.
    store
        .create_notice(
            &actor,
            place.staff,
            &draft(&place, "draft"),
            NoticeState::Draft,
        )
        .await
        .unwrap();

    let mut current = store
        .current_notices(place.community, at(10))
        .await
        .unwrap();
    current.sort_by_key(|n| n.id);
    let shown: Vec<NoticeId> = current.iter().map(|n| n.id).collect();
    assert_eq!(shown, vec![ids[0], ids[1]]);
    assert!(!current[0].emergency);
    assert!(current[1].emergency);
    assert_eq!(current[1].video, Some(video.id));

    // A video whose processing failed is left out.
    store
        .finish_media(
            video.id,
            &MediaOutcome {
                state: MediaState::Failed,
                content_type: "video/mp4".into(),
                size_bytes: 0,
                width: None,
                height: None,
                duration_millis: None,
                error: Some("no video stream".into()),
            },
        )
        .await
        .unwrap();
    let current = store
        .current_notices(place.community, at(10))
        .await
        .unwrap();
    let with_ends = current.iter().find(|n| n.id == ids[1]).unwrap();
    assert_eq!(with_ends.video, None);
    assert_eq!(store.notice(ids[1]).await.unwrap().video, Some(video.id));
}

async fn screen_groups_are_named_once_per_community<
    S: SignageStore + DirectoryStore + AccountStore,
>(
    store: &S,
) {
    let place = place(store, "GRP").await;
    let other = place_in_other(store).await;
    let actor = admin();
    let lobbies = store
        .create_screen_group(&actor, place.community, &name("Lobbies"))
        .await
        .unwrap();
    let lifts = store
        .create_screen_group(&actor, place.community, &name("Lifts"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_screen_group(&actor, place.community, &name("Lobbies"))
            .await,
        Err(StoreError::Conflict)
    ));
    store
        .create_screen_group(&actor, other.community, &name("Lobbies"))
        .await
        .unwrap();
    assert_same(
        &store.list_screen_groups(place.community).await.unwrap(),
        &vec![lifts, lobbies.clone()],
    );

    // A screen may join a group of its own community only.
    let code_secret = [("ABCD12", "secret-1"), ("ABCD13", "secret-2")];
    for (code, secret) in code_secret {
        store
            .create_pairing(code, secret, far_ahead())
            .await
            .unwrap();
    }
    let mut in_group = setup(&place, "Hall");
    in_group.group_id = Some(lobbies.id);
    let screen = store
        .claim_pairing(&actor, "ABCD12", &in_group, "token-1", at(1))
        .await
        .unwrap();
    assert_eq!(screen.place.group_id, Some(lobbies.id));
    let mut foreign = setup(&other, "Elsewhere");
    foreign.group_id = Some(lobbies.id);
    assert!(matches!(
        store
            .claim_pairing(&actor, "ABCD13", &foreign, "token-2", at(1))
            .await,
        Err(StoreError::Rejected(_))
    ));
}

async fn place_in_other<S: DirectoryStore + AccountStore>(store: &S) -> Place {
    place(store, "ELSE").await
}

async fn a_pairing_code_is_claimed_once_and_its_token_handed_out_once<
    S: SignageStore + DirectoryStore + AccountStore,
>(
    store: &S,
) {
    let place = place(store, "PAIR").await;
    let actor = admin();
    store
        .create_pairing("K7M2QX", "secret-a", far_ahead())
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_pairing("K7M2QX", "secret-b", far_ahead())
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.take_pairing("secret-a", at(1)).await.unwrap(),
        PairingStatus::Waiting {
            code: "K7M2QX".into()
        }
    );
    assert!(matches!(
        store
            .claim_pairing(&actor, "WRONG1", &setup(&place, "Hall"), "token-x", at(1))
            .await,
        Err(StoreError::NotFound)
    ));
    let screen = store
        .claim_pairing(&actor, "K7M2QX", &setup(&place, "Hall"), "token-a", at(1))
        .await
        .unwrap();
    assert_eq!(screen.name, "Hall");
    assert_eq!(screen.place.community_id, place.community);
    assert_eq!(screen.place.building_id, place.building);
    assert_eq!(screen.paired_at, at(1));
    assert!(matches!(
        store
            .claim_pairing(&actor, "K7M2QX", &setup(&place, "Again"), "token-b", at(2))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.take_pairing("secret-a", at(2)).await.unwrap(),
        PairingStatus::Paired {
            token: "token-a".into()
        }
    );
    assert_eq!(
        store.take_pairing("secret-a", at(3)).await.unwrap(),
        PairingStatus::Gone
    );
    let fingerprint = crate::accounts::tokens::fingerprint("token-a");
    assert_eq!(
        store
            .screen_by_token(&fingerprint)
            .await
            .unwrap()
            .unwrap()
            .id,
        screen.id
    );

    // An expired code is gone, and its code may be drawn again.
    store
        .create_pairing("EXP111", "secret-old", long_ago())
        .await
        .unwrap();
    assert_eq!(
        store.take_pairing("secret-old", at(6)).await.unwrap(),
        PairingStatus::Gone
    );
    assert!(matches!(
        store
            .claim_pairing(&actor, "EXP111", &setup(&place, "Late"), "token-c", at(6))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .create_pairing("EXP111", "secret-new", far_ahead())
        .await
        .unwrap();

    // Two admins claim one code at once: one screen, one token.
    for round in 0..5 {
        let code = format!("RACE{round:02}");
        let secret = format!("secret-race-{round}");
        store
            .create_pairing(&code, &secret, far_ahead())
            .await
            .unwrap();
        let (first, second) = (setup(&place, "One"), setup(&place, "Two"));
        let (token_one, token_two) = (format!("t-one-{round}"), format!("t-two-{round}"));
        let (one, two) = tokio::join!(
            store.claim_pairing(&actor, &code, &first, &token_one, at(1)),
            store.claim_pairing(&actor, &code, &second, &token_two, at(1)),
        );
        let results = [one, two];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::NotFound))),
            "{results:?}"
        );
        let (a, b) = tokio::join!(
            store.take_pairing(&secret, at(2)),
            store.take_pairing(&secret, at(2)),
        );
        let taken = [a.unwrap(), b.unwrap()];
        assert_eq!(
            taken
                .iter()
                .filter(|t| matches!(t, PairingStatus::Paired { .. }))
                .count(),
            1,
            "{taken:?}"
        );
        assert!(taken.contains(&PairingStatus::Gone), "{taken:?}");
    }
}

async fn screens_are_moved_and_revoked<S: SignageStore + DirectoryStore + AccountStore>(store: &S) {
    let other = place(store, "FAR").await;
    let place = place(store, "MOV").await;
    let actor = admin();
    let second_building = store
        .create_building(&actor, place.estate, &name("Block 2"))
        .await
        .unwrap();
    store
        .create_pairing("MOVE01", "secret-m", far_ahead())
        .await
        .unwrap();
    let screen = store
        .claim_pairing(&actor, "MOVE01", &setup(&place, "Hall"), "token-m", at(1))
        .await
        .unwrap();
    let moved = store
        .update_screen(
            &actor,
            screen.id,
            &ScreenSetup {
                name: "Hall B".into(),
                building_id: second_building.id,
                group_id: None,
                orientation: Orientation::Portrait,
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.name, "Hall B");
    assert_eq!(moved.place.building_id, second_building.id);
    assert_eq!(moved.orientation, Orientation::Portrait);
    assert!(matches!(
        store
            .update_screen(&actor, screen.id, &setup(&other, "Away"))
            .await,
        Err(StoreError::Rejected(_))
    ));
    assert_same(&store.screen(screen.id).await.unwrap(), &moved);

    let revoked = store.revoke_screen(&actor, screen.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let fingerprint = crate::accounts::tokens::fingerprint("token-m");
    assert!(store.screen_by_token(&fingerprint).await.unwrap().is_none());
    let listed = store.list_screens(Some(place.community)).await.unwrap();
    assert_same(&listed, &vec![revoked]);
    assert!(store
        .list_screens(Some(other.community))
        .await
        .unwrap()
        .is_empty());
}

async fn heartbeats_keep_the_latest_report<S: SignageStore + DirectoryStore + AccountStore>(
    store: &S,
) {
    let place = place(store, "BEAT").await;
    store
        .create_pairing("BEAT01", "secret-h", far_ahead())
        .await
        .unwrap();
    let screen = store
        .claim_pairing(&admin(), "BEAT01", &setup(&place, "Hall"), "token-h", at(1))
        .await
        .unwrap();
    assert_eq!(screen.last_seen_at, None);
    let notice = store
        .create_notice(
            &staff(&place),
            place.staff,
            &draft(&place, "Showing"),
            NoticeState::Draft,
        )
        .await
        .unwrap();
    let beat = Heartbeat {
        current_notice: Some(notice.id),
        client_version: "1.4.2".into(),
        uptime_seconds: 3600,
        last_error: Some("video stalled".into()),
    };
    store
        .record_heartbeat(screen.id, &beat, at(2))
        .await
        .unwrap();
    let seen = store.screen(screen.id).await.unwrap();
    assert_eq!(seen.last_seen_at, Some(at(2)));
    assert_eq!(seen.heartbeat, beat);

    // Reports from several connections at once: each is stored whole.
    let beats: Vec<Heartbeat> = (0..8)
        .map(|i| Heartbeat {
            current_notice: None,
            client_version: format!("1.4.{i}"),
            uptime_seconds: 4000 + i,
            last_error: None,
        })
        .collect();
    let writes = beats
        .iter()
        .enumerate()
        .map(|(i, beat)| store.record_heartbeat(screen.id, beat, at(3 + i as u32)));
    for result in futures_util::future::join_all(writes).await {
        result.unwrap();
    }
    let seen = store.screen(screen.id).await.unwrap();
    let i = beats
        .iter()
        .position(|b| *b == seen.heartbeat)
        .expect("one whole report");
    assert_eq!(seen.last_seen_at, Some(at(3 + i as u32)));
}

async fn plays_are_stored_once_and_spaced<S: SignageStore + DirectoryStore + AccountStore>(
    store: &S,
) {
    let place = place(store, "PLAY").await;
    store
        .create_pairing("PLAY01", "secret-p", far_ahead())
        .await
        .unwrap();
    let screen = store
        .claim_pairing(&admin(), "PLAY01", &setup(&place, "Hall"), "token-p", at(1))
        .await
        .unwrap();
    let notice = store
        .create_notice(
            &staff(&place),
            place.staff,
            &draft(&place, "Played"),
            NoticeState::Draft,
        )
        .await
        .unwrap();
    let play = |minute: u32| Play {
        notice_id: notice.id,
        started_at: at(minute),
        ended_at: at(minute) + Duration::seconds(15),
    };
    let gap = Duration::seconds(5);
    let report = [play(10), play(10), play(11)];
    let recorded = store.record_plays(screen.id, &report, gap).await.unwrap();
    assert_eq!((recorded.added, recorded.refused), (2, 0));
    // The same report again (a retry): nothing new, nothing refused.
    let again = store.record_plays(screen.id, &report, gap).await.unwrap();
    assert_eq!((again.added, again.refused), (0, 0));
    // Too close to another play, and a notice that does not exist.
    let close = Play {
        started_at: at(11) + Duration::seconds(2),
        ..play(11)
    };
    let unknown = Play {
        notice_id: NoticeId(999_999),
        ..play(20)
    };
    let odd = store
        .record_plays(screen.id, &[close, unknown], gap)
        .await
        .unwrap();
    assert_eq!((odd.added, odd.refused), (0, 2));

    // One report sent through two nodes at once is stored once.
    let batch: Vec<Play> = (30..40).map(play).collect();
    let (a, b) = tokio::join!(
        store.record_plays(screen.id, &batch, gap),
        store.record_plays(screen.id, &batch, gap),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.added + b.added, 10, "{a:?} {b:?}");
    assert_eq!(a.refused + b.refused, 0, "{a:?} {b:?}");

    let rows = store
        .plays(&PlayFilter {
            community: Some(place.community),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[0].started_at, at(10));
    assert_eq!(rows[0].screen_name, "Hall");
    assert_eq!(rows[0].notice_title, "Played");
    let window = store
        .plays(&PlayFilter {
            screen: Some(screen.id),
            notice: Some(notice.id),
            since: Some(at(31)),
            until: Some(at(33)),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let starts: Vec<DateTime<Utc>> = window.iter().map(|p| p.started_at).collect();
    assert_eq!(starts, vec![at(31), at(32)]);
}

on_both_backends!(
    media_is_stored_finished_and_listed,
    notices_go_from_draft_through_review_to_screens,
    of_two_approvals_at_once_one_wins,
    notices_reach_only_their_own_community,
    screens_get_current_and_emergency_notices,
    screen_groups_are_named_once_per_community,
    a_pairing_code_is_claimed_once_and_its_token_handed_out_once,
    screens_are_moved_and_revoked,
    heartbeats_keep_the_latest_report,
    plays_are_stored_once_and_spaced,
);
