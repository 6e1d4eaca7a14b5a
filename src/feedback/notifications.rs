//! Telling residents in the site that something happened to a record they
//! filed (issue 7), so that nobody has to open every record to find out.
//!
//! The rule: a record is unread for its reporter when its latest event that
//! *notifies* them — public, and by someone other than the reporter — has a
//! higher seq than the one they have seen. A record they never opened counts
//! as seen up to its filing event; their own confirmations, reopenings and
//! notes never notify them, and internal staff notes never reach them at all.
//! The store answers the same rule in SQL (`RecordReadStore`); the functions
//! here state it for one record's events and decide who is tracked at all.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::domain::record::{Record, RecordEvent};
use crate::domain::{Account, AccountId, RecordId, Role};
use crate::store::{RecordUpdate, Store, StoreResult, FILING_SEQ};

/// How many updates the notifications page lists at most.
pub const PAGE_LIMIT: i64 = 100;

/// Does this event tell the record's reporter something they did not know?
pub fn notifies(event: &RecordEvent, reporter: AccountId) -> bool {
    event.public && event.actor_id != Some(reporter)
}

/// The latest event of `events` the reporter has not seen yet, if any:
/// `seen_seq` is how far they have read (`None`: never opened the record).
pub fn unseen_news(
    events: &[RecordEvent],
    reporter: AccountId,
    seen_seq: Option<i64>,
) -> Option<&RecordEvent> {
    let seen = seen_seq.unwrap_or(FILING_SEQ);
    events
        .iter()
        .filter(|e| notifies(e, reporter))
        .max_by_key(|e| e.seq)
        .filter(|e| e.seq > seen)
}

/// Is the record unread for its reporter?
pub fn is_unread(events: &[RecordEvent], reporter: AccountId, seen_seq: Option<i64>) -> bool {
    unseen_news(events, reporter, seen_seq).is_some()
}

/// Only residents follow their records here; staff and observers work
/// records in the console, where alerts tell them what needs doing.
pub fn is_tracked(viewer: &Account) -> bool {
    viewer.role == Role::Resident
}

/// The number on the "我的诉求" badge: 0, without asking the store, for
/// anyone who is not a resident. A failure only hides the badge (the page
/// must still render); it is logged.
pub async fn badge_count(store: &dyn Store, viewer: &Account) -> i64 {
    if !is_tracked(viewer) {
        return 0;
    }
    store
        .unread_record_count(viewer.id)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(account = viewer.id.0, %error, "unread records not counted");
            0
        })
}

/// The resident's records with news, the newest news first.
pub async fn updates(store: &dyn Store, resident: &Account) -> StoreResult<Vec<RecordUpdate>> {
    if !is_tracked(resident) {
        return Ok(Vec::new());
    }
    store.unread_records(resident.id, PAGE_LIMIT).await
}

/// Which of the resident's records are unread, for marking them in a list.
pub async fn unread_ids(store: &dyn Store, resident: &Account) -> StoreResult<HashSet<RecordId>> {
    if !is_tracked(resident) {
        return Ok(HashSet::new());
    }
    Ok(store
        .unread_records(resident.id, 1_000)
        .await?
        .into_iter()
        .map(|u| u.record_id)
        .collect())
}

/// `reader` says they have read `record` up to event `seq` (what their page
/// showed; at most the record's latest). Nothing happens unless `reader`
/// filed the record. Only ever called for a POST: reading alone marks nothing.
pub async fn mark_seen(
    store: &dyn Store,
    reader: AccountId,
    record: &Record,
    seq: i64,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    if record.reporter_id != Some(reader) {
        return Ok(());
    }
    store
        .mark_record_seen(reader, record.id, seq.min(record.version), at)
        .await
}

/// "全部标为已读": every record of the resident is read up to now. Returns
/// how many were unread.
pub async fn mark_all_seen(
    store: &dyn Store,
    resident: &Account,
    at: DateTime<Utc>,
) -> StoreResult<u64> {
    if !is_tracked(resident) {
        return Ok(0);
    }
    store.mark_all_records_seen(resident.id, at).await
}

/// The catalogue key saying, in the resident's words, what an event did:
/// "已受理", "已派人到现场", "已办结，请确认"…
pub fn what_happened_key(event: &RecordEvent) -> &'static str {
    match event.action.as_str() {
        "submit" => "notifications.what.submit",
        "note" => "notifications.what.note",
        "accept" => "notifications.what.accept",
        "dispatch" => "notifications.what.dispatch",
        "arrive_on_site" => "notifications.what.arrive_on_site",
        "attach_plan" => "notifications.what.attach_plan",
        "wait_for_resident" => "notifications.what.wait_for_resident",
        "resume" => "notifications.what.resume",
        "escalate" => "notifications.what.escalate",
        "resolve" => "notifications.what.resolve",
        "close" => "notifications.what.close",
        "reopen" => "notifications.what.reopen",
        "mark_duplicate" => "notifications.what.mark_duplicate",
        "mark_not_responsible" => "notifications.what.mark_not_responsible",
        "withdraw" => "notifications.what.withdraw",
        crate::feedback::escalation::DISCUSSED => "notifications.what.discussed",
        _ => "notifications.what.other",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::record::{RecordAction, RecordState};

    const RESIDENT: AccountId = AccountId(7);
    const STAFF: AccountId = AccountId(2);

    fn event(seq: i64, actor: Option<AccountId>, action: &str, public: bool) -> RecordEvent {
        RecordEvent {
            seq,
            at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, seq as u32).unwrap(),
            actor_name: "someone".into(),
            actor_id: actor,
            action: action.into(),
            from_state: None,
            to_state: None,
            note: String::new(),
            public,
            published: false,
            rating: None,
            assignee: None,
        }
    }

    fn filed() -> Vec<RecordEvent> {
        vec![event(1, Some(RESIDENT), "submit", true)]
    }

    #[test]
    fn filing_alone_is_never_news() {
        assert!(!is_unread(&filed(), RESIDENT, None));
        // Filed by staff for the resident (a phone call, a live question).
        let by_staff = [event(1, Some(STAFF), "submit", true)];
        assert!(!is_unread(&by_staff, RESIDENT, None));
    }

    #[test]
    fn a_public_staff_step_is_news_until_seen() {
        let mut events = filed();
        events.push(event(2, Some(STAFF), "accept", true));
        assert!(is_unread(&events, RESIDENT, None));
        assert!(is_unread(&events, RESIDENT, Some(1)));
        assert!(!is_unread(&events, RESIDENT, Some(2)));
        assert_eq!(unseen_news(&events, RESIDENT, None).map(|e| e.seq), Some(2));
    }

    #[test]
    fn internal_notes_never_notify() {
        let mut events = filed();
        events.push(event(2, Some(STAFF), "note", false));
        assert!(!is_unread(&events, RESIDENT, None));
    }

    #[test]
    fn the_residents_own_steps_do_not_notify_them() {
        let mut events = filed();
        events.push(event(2, Some(STAFF), "resolve", true));
        events.push(event(3, Some(RESIDENT), "reopen", true));
        events.push(event(4, Some(RESIDENT), "note", true));
        // Seen up to the resolution: the reopening and note are their own.
        assert!(!is_unread(&events, RESIDENT, Some(2)));
        // Not seen the resolution yet: that is the news, not their reopening.
        assert_eq!(
            unseen_news(&events, RESIDENT, Some(1)).map(|e| e.action.as_str()),
            Some("resolve")
        );
    }

    #[test]
    fn the_systems_steps_notify() {
        let mut events = filed();
        events.push(event(2, None, "close", true));
        assert!(is_unread(&events, RESIDENT, Some(1)));
    }

    #[test]
    fn the_latest_news_is_shown_even_after_an_internal_note() {
        let mut events = filed();
        events.push(event(2, Some(STAFF), "accept", true));
        events.push(event(3, Some(STAFF), "dispatch", true));
        events.push(event(4, Some(STAFF), "note", false));
        let news = unseen_news(&events, RESIDENT, Some(2)).unwrap();
        assert_eq!((news.seq, news.action.as_str()), (3, "dispatch"));
    }

    #[test]
    fn only_residents_are_tracked() {
        for role in Role::ALL {
            let account = Account {
                id: RESIDENT,
                username: "someone".into(),
                display_name: "3号楼老张".into(),
                role,
                community_id: None,
                estate_id: None,
                unit_id: None,
                locale: None,
                disabled: false,
                created_at: Utc::now(),
            };
            assert_eq!(is_tracked(&account), role == Role::Resident, "{role:?}");
        }
    }

    #[test]
    fn every_event_says_what_happened_in_both_languages() {
        let catalogue: serde_yaml_ng::Mapping =
            serde_yaml_ng::from_str(include_str!("../../assets/i18n/app.yml"))
                .expect("catalogue parses");
        let actions = RecordAction::ALL.iter().map(|a| a.as_str()).chain([
            "submit",
            "note",
            crate::feedback::escalation::DISCUSSED,
            "?",
        ]);
        for action in actions {
            let key = what_happened_key(&event(2, Some(STAFF), action, true));
            let entry = catalogue
                .get(key)
                .unwrap_or_else(|| panic!("{key} missing"));
            for lang in ["zh-CN", "en"] {
                assert!(entry.get(lang).is_some(), "{key} has no {lang}");
            }
        }
        let resolved = RecordEvent {
            to_state: Some(RecordState::Resolved),
            ..event(5, Some(STAFF), "resolve", true)
        };
        assert_eq!(what_happened_key(&resolved), "notifications.what.resolve");
    }
}
