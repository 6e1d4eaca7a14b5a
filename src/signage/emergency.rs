//! Emergency notices seen from outside: a screen's word that it painted one
//! (and which screens owe that word), and the CAP messages an emergency's
//! life makes: an alert when first published, an update on each publishing
//! after an edit, a cancel once it left the screens.

use chrono::{DateTime, Duration, Utc};

use crate::domain::notice::{Notice, NoticeState};
use crate::domain::screen::Screen;
use crate::domain::NoticeId;
use crate::store::emergency::{EmergencyAck, NoticeStep, PUBLISHING_ACTIONS, UNPUBLISHING_ACTIONS};

use super::{playlist, Signage, SignageError};

/// How far ahead of the server a screen's corrected clock may be before its
/// `shown_at` is taken for nonsense (and replaced by the time it arrived).
pub const ACK_AHEAD_SLACK: Duration = Duration::seconds(60);

/// What a screen says it showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenAck {
    pub notice_id: NoticeId,
    pub revision: i64,
    pub shown_at: DateTime<Utc>,
}

/// When the screen showed it, as far as the server believes: a time after
/// its arrival, or before the notice existed, is the screen's clock gone
/// wrong, and the arrival is the best that is known.
pub fn believable_shown_at(
    shown_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    notice_created_at: DateTime<Utc>,
) -> DateTime<Utc> {
    if shown_at > received_at + ACK_AHEAD_SLACK || shown_at < notice_created_at - ACK_AHEAD_SLACK {
        received_at
    } else {
        shown_at.min(received_at)
    }
}

/// A targeted screen and its newest acknowledgement, if any.
#[derive(Debug, Clone)]
pub struct ScreenConfirmation {
    pub screen: Screen,
    pub ack: Option<EmergencyAck>,
}

impl ScreenConfirmation {
    /// Whether the screen confirmed what the notice says now: while it is
    /// published, the revision screens are given; afterwards, any.
    pub fn confirms(&self, notice: &Notice) -> bool {
        self.ack.as_ref().is_some_and(|ack| {
            notice.state != NoticeState::Published || ack.revision >= notice.revision
        })
    }
}

impl Signage {
    /// Keeps a screen's acknowledgement of an emergency notice. A notice of
    /// another community is unknown to it (`NotFound`); one of its own that
    /// is not an emergency aimed at it is `Forbidden`; a revision the notice
    /// never had is `UnknownRevision`. Nothing is stored in those cases.
    pub async fn acknowledge_emergency(
        &self,
        screen: &Screen,
        ack: ScreenAck,
    ) -> Result<EmergencyAck, SignageError> {
        let notice = self.store.notice(ack.notice_id).await?;
        if notice.community_id != screen.place.community_id {
            return Err(SignageError::NotFound);
        }
        if !notice.emergency || !playlist::aimed_at(&notice, &screen.place) {
            return Err(SignageError::Forbidden);
        }
        if !(1..=notice.revision).contains(&ack.revision) {
            return Err(SignageError::UnknownRevision);
        }
        let received_at = Utc::now();
        let kept = EmergencyAck {
            notice_id: notice.id,
            screen_id: screen.id,
            revision: ack.revision,
            shown_at: believable_shown_at(ack.shown_at, received_at, notice.created_at),
            received_at,
        };
        self.store.record_emergency_ack(&kept).await?;
        Ok(kept)
    }

    /// The community's unrevoked screens the notice is aimed at, by name,
    /// each with its acknowledgement.
    pub async fn confirmations(
        &self,
        notice: &Notice,
    ) -> Result<Vec<ScreenConfirmation>, SignageError> {
        let mut acks = self.store.emergency_acks(notice.id).await?;
        let mut screens: Vec<Screen> = self
            .store
            .list_screens(Some(notice.community_id))
            .await?
            .into_iter()
            .filter(|s| s.revoked_at.is_none() && playlist::aimed_at(notice, &s.place))
            .collect();
        screens.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(screens
            .into_iter()
            .map(|screen| {
                let ack = acks
                    .iter()
                    .position(|a| a.screen_id == screen.id)
                    .map(|i| acks.swap_remove(i));
                ScreenConfirmation { screen, ack }
            })
            .collect())
    }
}

// ------------------------------------------------------------ CAP messages

/// The CAP `msgType` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapKind {
    Alert,
    Update,
    Cancel,
}

impl CapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "Alert",
            Self::Update => "Update",
            Self::Cancel => "Cancel",
        }
    }
}

/// One message of a notice's CAP life. `publication` numbers the times it
/// was put on the screens (1 for the first): an alert or update is the
/// message of that publication, a cancel ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapMessage {
    pub kind: CapKind,
    pub publication: usize,
    pub sent: DateTime<Utc>,
}

impl CapMessage {
    /// Stable for the notice and its publication: the same message is the
    /// same identifier in every feed read.
    pub fn identifier(&self, notice: NoticeId) -> String {
        match self.kind {
            CapKind::Cancel => format!("notice-{notice}-{}-cancel", self.publication),
            _ => format!("notice-{notice}-{}", self.publication),
        }
    }
}

/// The messages of an emergency notice, oldest first: one per publishing
/// step, and a cancel at the end if it is off the screens now (withdrawn,
/// sent back to draft by an edit, or past its validity). Empty for a notice
/// never published, and for one that is not an emergency.
pub fn cap_messages(notice: &Notice, steps: &[NoticeStep], now: DateTime<Utc>) -> Vec<CapMessage> {
    if !notice.emergency {
        return Vec::new();
    }
    let mut messages = Vec::new();
    let mut on_screens = false;
    let mut taken_off = None;
    for step in steps {
        if PUBLISHING_ACTIONS.contains(&step.action.as_str()) {
            let publication = messages.len() + 1;
            messages.push(CapMessage {
                kind: if publication == 1 {
                    CapKind::Alert
                } else {
                    CapKind::Update
                },
                publication,
                sent: step.at,
            });
            on_screens = true;
            taken_off = None;
        } else if on_screens && UNPUBLISHING_ACTIONS.contains(&step.action.as_str()) {
            on_screens = false;
            taken_off = Some(step.at);
        }
    }
    // Published without a step on record (older data): its publishing time.
    if messages.is_empty() && notice.state == NoticeState::Published {
        messages.push(CapMessage {
            kind: CapKind::Alert,
            publication: 1,
            sent: notice.published_at.unwrap_or(notice.updated_at),
        });
    }
    let Some(last) = messages.last().copied() else {
        return messages;
    };
    let ended = if notice.state != NoticeState::Published {
        Some(taken_off.unwrap_or(notice.updated_at))
    } else if notice.is_expired(now) {
        notice.validity.ends_at()
    } else {
        None
    };
    if let Some(at) = ended {
        messages.push(CapMessage {
            kind: CapKind::Cancel,
            publication: last.publication,
            sent: at.max(last.sent),
        });
    }
    messages
}

/// CAP severity from a notice's priority (1–9); every emergency is at least
/// moderate.
pub fn cap_severity(priority: u8) -> &'static str {
    match priority {
        7.. => "Extreme",
        4..=6 => "Severe",
        _ => "Moderate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notice::{NoticeCategory, Validity};
    use crate::domain::{AccountId, CommunityId};

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minute)
    }

    fn notice(state: NoticeState, ends: Option<DateTime<Utc>>) -> Notice {
        Notice {
            id: NoticeId(7),
            community_id: CommunityId(1),
            title: "停水".into(),
            body: "".into(),
            category: NoticeCategory::Outage,
            emergency: true,
            validity: Validity::new(at(0), ends).unwrap(),
            day_parts: vec![],
            targets: vec![],
            display_seconds: 10,
            priority: 5,
            images: vec![],
            video: None,
            state,
            rejection_reason: None,
            author_id: AccountId(1),
            approved_by: None,
            revision: 4,
            published_at: Some(at(1)),
            created_at: at(0),
            updated_at: at(9),
        }
    }

    fn step(action: &str, minute: i64) -> NoticeStep {
        NoticeStep {
            action: action.into(),
            at: at(minute),
        }
    }

    fn kinds(m: &[CapMessage]) -> Vec<(&'static str, usize)> {
        m.iter().map(|m| (m.kind.as_str(), m.publication)).collect()
    }

    #[test]
    fn an_alert_then_updates_then_a_cancel() {
        let steps = [
            step("notice.update", 0),
            step("notice.publish_emergency", 1),
            step("notice.update", 2),
            step("notice.publish", 3),
        ];
        let live = notice(NoticeState::Published, None);
        let m = cap_messages(&live, &steps, at(5));
        assert_eq!(kinds(&m), [("Alert", 1), ("Update", 2)]);
        assert_eq!(m[1].identifier(live.id), "notice-7-2");

        let mut steps = steps.to_vec();
        steps.push(step("notice.withdraw", 4));
        let gone = notice(NoticeState::Withdrawn, None);
        let m = cap_messages(&gone, &steps, at(5));
        assert_eq!(kinds(&m), [("Alert", 1), ("Update", 2), ("Cancel", 2)]);
        assert_eq!(m[2].sent, at(4));
        assert_eq!(m[2].identifier(gone.id), "notice-7-2-cancel");
    }

    #[test]
    fn an_expired_emergency_is_cancelled_when_it_ends_and_drafts_make_nothing() {
        let steps = [step("notice.approve", 1)];
        let ended = notice(NoticeState::Published, Some(at(30)));
        let m = cap_messages(&ended, &steps, at(31));
        assert_eq!(kinds(&m), [("Alert", 1), ("Cancel", 1)]);
        assert_eq!(m[1].sent, at(30));
        assert_eq!(kinds(&cap_messages(&ended, &steps, at(29))), [("Alert", 1)]);

        let draft = notice(NoticeState::Draft, None);
        assert!(cap_messages(&draft, &[step("notice.update", 1)], at(2)).is_empty());
        let mut ordinary = notice(NoticeState::Published, None);
        ordinary.emergency = false;
        assert!(cap_messages(&ordinary, &steps, at(2)).is_empty());
    }

    #[test]
    fn absurd_shown_at_times_become_the_arrival() {
        let created = at(0);
        let received = at(10);
        assert_eq!(believable_shown_at(at(9), received, created), at(9));
        assert_eq!(believable_shown_at(at(60), received, created), received);
        assert_eq!(believable_shown_at(at(-600), received, created), received);
        // A few seconds ahead: the clocks disagree a little; not later than arrival.
        assert_eq!(
            believable_shown_at(received + Duration::seconds(5), received, created),
            received
        );
    }
}
