//! The notice workflow: who may write, submit, approve, reject and withdraw,
//! and which step each action is.

use crate::domain::notice::{Notice, NoticeDraft, NoticeState};
use crate::domain::{Account, NoticeId, Permission};
use crate::store::{NoticeTransition, StoreError};

use super::{actor, Signage, SignageError};

/// What the author asks for when saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Keep it as a draft.
    Save,
    /// Send it to the secretary for approval.
    Submit,
    /// Publish at once: for those who may approve, and for emergencies,
    /// which cannot wait for a second person (audited as such).
    Publish,
}

/// Longest rejection reason kept.
pub const REASON_MAX: usize = 200;

impl Signage {
    pub fn may_write(who: &Account, community: crate::domain::CommunityId) -> bool {
        who.may(Permission::WriteNotices, community)
    }

    pub fn may_approve(who: &Account, community: crate::domain::CommunityId) -> bool {
        who.may(Permission::ApproveNotices, community)
    }

    /// Staff who may see a community's notice media, whatever the notices'
    /// state: those who write or approve its notices.
    pub fn may_see_media(who: &Account, community: crate::domain::CommunityId) -> bool {
        Self::may_write(who, community) || Self::may_approve(who, community)
    }

    /// Whether `who` may publish the draft at once: those who approve
    /// notices, and anyone for an emergency, which cannot wait.
    pub fn may_publish(who: &Account, draft: &NoticeDraft) -> bool {
        draft.emergency || Self::may_approve(who, draft.community_id)
    }

    /// The state a save with `intent` leads to, or why it may not.
    fn target_state(
        who: &Account,
        draft: &NoticeDraft,
        intent: Intent,
    ) -> Result<NoticeState, SignageError> {
        Ok(match intent {
            Intent::Save => NoticeState::Draft,
            Intent::Submit => NoticeState::Pending,
            Intent::Publish if Self::may_publish(who, draft) => NoticeState::Published,
            Intent::Publish => return Err(SignageError::Forbidden),
        })
    }

    pub async fn create_notice(
        &self,
        who: &Account,
        draft: &NoticeDraft,
        intent: Intent,
    ) -> Result<Notice, SignageError> {
        if !Self::may_write(who, draft.community_id) {
            return Err(SignageError::Forbidden);
        }
        let state = Self::target_state(who, draft, intent)?;
        let mut notice = self
            .store
            .create_notice(&actor(who), who.id, draft, NoticeState::Draft)
            .await?;
        if state != NoticeState::Draft {
            notice = self.step(who, &notice, state).await?;
        }
        self.changed(notice.community_id);
        Ok(notice)
    }

    /// Replaces the content. Editing a published notice sends it back for
    /// approval (it leaves the screens until approved again), unless the
    /// editor may publish it directly.
    pub async fn update_notice(
        &self,
        who: &Account,
        id: NoticeId,
        revision: i64,
        draft: &NoticeDraft,
        intent: Intent,
    ) -> Result<Notice, SignageError> {
        let current = self.store.notice(id).await?;
        if !Self::may_write(who, current.community_id) || draft.community_id != current.community_id
        {
            return Err(SignageError::Forbidden);
        }
        let state = Self::target_state(who, draft, intent)?;
        let mut notice = self
            .store
            .update_notice(&actor(who), id, revision, draft, NoticeState::Draft)
            .await?;
        if state != NoticeState::Draft {
            notice = self.step(who, &notice, state).await?;
        }
        self.changed(notice.community_id);
        Ok(notice)
    }

    /// Moves a freshly saved draft on to pending or published.
    async fn step(
        &self,
        who: &Account,
        notice: &Notice,
        to: NoticeState,
    ) -> Result<Notice, SignageError> {
        let action = match to {
            NoticeState::Published
                if notice.emergency && !Self::may_approve(who, notice.community_id) =>
            {
                "notice.publish_emergency"
            }
            NoticeState::Published => "notice.publish",
            _ => "notice.submit",
        };
        Ok(self
            .store
            .transition_notice(
                &actor(who),
                notice.id,
                &NoticeTransition {
                    from: &[NoticeState::Draft],
                    to,
                    revision: Some(notice.revision),
                    reason: None,
                    action,
                },
            )
            .await?)
    }

    pub async fn submit_notice(
        &self,
        who: &Account,
        id: NoticeId,
        revision: i64,
    ) -> Result<Notice, SignageError> {
        self.transition(
            who,
            id,
            Self::may_write,
            NoticeTransition {
                from: &[
                    NoticeState::Draft,
                    NoticeState::Rejected,
                    NoticeState::Withdrawn,
                ],
                to: NoticeState::Pending,
                revision: Some(revision),
                reason: None,
                action: "notice.submit",
            },
        )
        .await
    }

    /// The secretary's yes: the notice reaches its screens at once.
    pub async fn approve_notice(
        &self,
        who: &Account,
        id: NoticeId,
        revision: i64,
    ) -> Result<Notice, SignageError> {
        self.transition(
            who,
            id,
            Self::may_approve,
            NoticeTransition {
                from: &[NoticeState::Pending],
                to: NoticeState::Published,
                revision: Some(revision),
                reason: None,
                action: "notice.approve",
            },
        )
        .await
    }

    pub async fn reject_notice(
        &self,
        who: &Account,
        id: NoticeId,
        revision: i64,
        reason: &str,
    ) -> Result<Notice, SignageError> {
        let reason = crate::domain::text::clean_prose_line(reason, 2, REASON_MAX).map_err(|e| {
            SignageError::BadText {
                field: "reason",
                error: e,
            }
        })?;
        self.transition(
            who,
            id,
            Self::may_approve,
            NoticeTransition {
                from: &[NoticeState::Pending],
                to: NoticeState::Rejected,
                revision: Some(revision),
                reason: Some(&reason),
                action: "notice.reject",
            },
        )
        .await
    }

    /// Takes a notice off the screens at once (also how an emergency is
    /// cleared). No revision check: withdrawing must never be refused
    /// because someone else was editing.
    pub async fn withdraw_notice(
        &self,
        who: &Account,
        id: NoticeId,
    ) -> Result<Notice, SignageError> {
        self.transition(
            who,
            id,
            Self::may_write,
            NoticeTransition {
                from: &[NoticeState::Published, NoticeState::Pending],
                to: NoticeState::Withdrawn,
                revision: None,
                reason: None,
                action: "notice.withdraw",
            },
        )
        .await
    }

    async fn transition(
        &self,
        who: &Account,
        id: NoticeId,
        may: fn(&Account, crate::domain::CommunityId) -> bool,
        step: NoticeTransition<'_>,
    ) -> Result<Notice, SignageError> {
        let notice = self.store.notice(id).await?;
        if !may(who, notice.community_id) {
            return Err(SignageError::Forbidden);
        }
        let notice = self
            .store
            .transition_notice(&actor(who), id, &step)
            .await
            .map_err(|e| match e {
                StoreError::Rejected(_) => SignageError::WrongState,
                e => e.into(),
            })?;
        self.changed(notice.community_id);
        Ok(notice)
    }
}
