//! The moderators' side: the queue and decisions on it, sanctions, chat
//! settings and the community's blocked words. Every action needs
//! `ModerateChat` in the broadcast's community and is audited by the store.

use chrono::Utc;

use crate::domain::chat::{CommentState, SanctionKind, StaffComment, REASON_MAX, TIMEOUT_SECONDS};
use crate::domain::text::clean_prose_line;
use crate::domain::{Account, AccountId, BroadcastId, CommunityId, Permission};
use crate::store::{ChatChange, CommentFilter, CommentOrder, Moderation, NewSanction, StoreError};

use super::filter::{self, TextProblem};
use super::{actor, may, staff_comment, Chat, ChatError, ChatSettings, Comment, CommentId};

/// Most entries a community's blocked-word list may hold.
pub const BLOCKED_WORDS_MAX: usize = 1000;
/// Longest blocked entry, in characters.
pub const BLOCKED_WORD_CHARS: usize = 50;

/// An optional reason: empty means none; otherwise one line of at most
/// [`REASON_MAX`] characters.
fn reason(field: &'static str, raw: &str) -> Result<Option<String>, ChatError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    clean_prose_line(raw, 1, REASON_MAX)
        .map(Some)
        .map_err(|error| ChatError::BadText { field, error })
}

/// The blocked-word list as typed in the console: one entry per line,
/// blank lines dropped, entries that normalise alike kept once.
pub fn parse_blocked_words(text: &str) -> Result<Vec<String>, ChatError> {
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::new();
    for line in text.lines() {
        let word: String = line.trim().chars().filter(|c| !c.is_control()).collect();
        if word.is_empty() {
            continue;
        }
        if word.chars().count() > BLOCKED_WORD_CHARS {
            return Err(ChatError::TooManyWords {
                max: BLOCKED_WORDS_MAX,
            });
        }
        let key = filter::normalise(&word);
        if key.is_empty() || !seen.insert(key) {
            continue;
        }
        words.push(word);
    }
    if words.len() > BLOCKED_WORDS_MAX {
        return Err(ChatError::TooManyWords {
            max: BLOCKED_WORDS_MAX,
        });
    }
    Ok(words)
}

impl Chat {
    /// The comment, if `staff` may moderate its community.
    async fn moderated(&self, staff: &Account, id: CommentId) -> Result<Comment, ChatError> {
        let comment = self.store().comment(id).await?;
        if !may(staff, Permission::ModerateChat, comment.community_id) {
            return Err(ChatError::Forbidden);
        }
        Ok(comment)
    }

    /// Who got there first, for the one who lost the race.
    async fn already_handled(&self, id: CommentId) -> ChatError {
        let by = match self.store().comment(id).await {
            Ok(Comment {
                decided_by: Some(by),
                ..
            }) => self.store().account(by).await.ok().map(|a| a.display_name),
            _ => None,
        };
        ChatError::AlreadyHandled { by }
    }

    /// Applies a change under the room's lock, publishes its events and
    /// tells authors and moderators; a lost race becomes `AlreadyHandled`.
    async fn change<F, Fut>(
        &self,
        broadcast: BroadcastId,
        authors: &[AccountId],
        lost_race_on: CommentId,
        write: F,
    ) -> Result<ChatChange, ChatError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<ChatChange, StoreError>>,
    {
        let authors = self.authors(authors).await?;
        let room = self.room(broadcast);
        let result = {
            let _writing = room.write.lock().await;
            let result = write().await;
            if let Ok(change) = &result {
                self.publish(&room, change.events.clone());
                self.notify(&room, change, &authors);
            }
            result
        };
        match result {
            Ok(change) => Ok(change),
            Err(StoreError::Conflict) => Err(self.already_handled(lost_race_on).await),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies a decision on one comment.
    async fn decide(
        &self,
        staff: &Account,
        id: CommentId,
        step: Moderation<'_>,
    ) -> Result<Comment, ChatError> {
        let comment = self.moderated(staff, id).await?;
        // Said before trying: the store checks again, for races.
        let allowed_from: &[CommentState] = match step {
            Moderation::Approve | Moderation::Reject { .. } => &[CommentState::Held],
            Moderation::Redact { .. } => &[CommentState::Held, CommentState::Approved],
            Moderation::Hide => &[CommentState::Approved],
        };
        if !allowed_from.contains(&comment.state) {
            // Hiding a comment nobody has seen yet is a rejection.
            if matches!(step, Moderation::Hide) && comment.state == CommentState::Held {
                return Err(ChatError::WrongState);
            }
            return Err(self.already_handled(id).await);
        }
        let who = actor(staff);
        let change = self
            .change(comment.broadcast_id, &[comment.author_id], id, || {
                self.store().moderate_comment(&who, id, step, Utc::now())
            })
            .await?;
        change.comment().cloned().ok_or(ChatError::NotFound)
    }

    /// The broadcast's held comments, oldest first, with their authors.
    pub async fn queue(
        &self,
        staff: &Account,
        broadcast: BroadcastId,
    ) -> Result<Vec<StaffComment>, ChatError> {
        let b = self.broadcast(broadcast).await?;
        if !may(staff, Permission::ModerateChat, b.community_id) {
            return Err(ChatError::Forbidden);
        }
        let held = self
            .store()
            .comments(&CommentFilter {
                states: vec![CommentState::Held],
                order: CommentOrder::Oldest,
                limit: 1000,
                ..CommentFilter::of(broadcast)
            })
            .await?;
        self.with_authors(held).await
    }

    /// The newest comments shown to the public (both kinds), oldest first,
    /// with their authors: what a moderator may hide or act on.
    pub async fn recent(
        &self,
        staff: &Account,
        broadcast: BroadcastId,
        limit: usize,
    ) -> Result<Vec<StaffComment>, ChatError> {
        let b = self.broadcast(broadcast).await?;
        if !may(staff, Permission::ModerateChat, b.community_id) {
            return Err(ChatError::Forbidden);
        }
        let shown = self
            .store()
            .comments(&CommentFilter {
                states: vec![CommentState::Approved],
                unmerged_only: true,
                order: CommentOrder::Newest,
                limit: limit.clamp(1, 1000) as i64,
                ..CommentFilter::of(broadcast)
            })
            .await?;
        self.with_authors(shown).await
    }

    async fn with_authors(&self, comments: Vec<Comment>) -> Result<Vec<StaffComment>, ChatError> {
        let ids: Vec<AccountId> = comments.iter().map(|c| c.author_id).collect();
        let authors = self.authors(&ids).await?;
        Ok(comments
            .into_iter()
            .map(|c| {
                let author = authors.get(&c.author_id);
                staff_comment(c, author)
            })
            .collect())
    }

    /// Shows a held comment to everyone.
    pub async fn approve(&self, staff: &Account, id: CommentId) -> Result<Comment, ChatError> {
        self.decide(staff, id, Moderation::Approve).await
    }

    /// Refuses a held comment; the author sees the reason (may be empty).
    pub async fn reject(
        &self,
        staff: &Account,
        id: CommentId,
        reason: &str,
    ) -> Result<Comment, ChatError> {
        let reason = self::reason("reason", reason)?;
        self.decide(
            staff,
            id,
            Moderation::Reject {
                reason: reason.as_deref(),
            },
        )
        .await
    }

    /// Replaces the shown text of a held or shown comment; the text as
    /// typed is kept for staff and the audit.
    pub async fn redact(
        &self,
        staff: &Account,
        id: CommentId,
        new_body: &str,
    ) -> Result<Comment, ChatError> {
        let body = filter::clean(new_body).map_err(|problem| match problem {
            TextProblem::Empty => ChatError::Empty,
            TextProblem::TooLong { max } => ChatError::TooLong { max },
        })?;
        self.decide(staff, id, Moderation::Redact { body: &body })
            .await
    }

    /// Takes a shown comment down.
    pub async fn hide(&self, staff: &Account, id: CommentId) -> Result<Comment, ChatError> {
        self.decide(staff, id, Moderation::Hide).await
    }

    /// Merges a duplicate (held or shown) into a shown question of the same
    /// broadcast: the duplicate disappears, its voters' votes join the kept
    /// question's (each voter counted once). Returns the kept question.
    pub async fn merge(
        &self,
        staff: &Account,
        duplicate: CommentId,
        into: CommentId,
    ) -> Result<Comment, ChatError> {
        let dup = self.moderated(staff, duplicate).await?;
        let kept = self.moderated(staff, into).await?;
        if duplicate == into || dup.broadcast_id != kept.broadcast_id {
            return Err(ChatError::NotMergeable);
        }
        let who = actor(staff);
        let change = self
            .change(
                dup.broadcast_id,
                &[dup.author_id, kept.author_id],
                duplicate,
                || {
                    self.store()
                        .merge_comments(&who, duplicate, into, Utc::now())
                },
            )
            .await?;
        change
            .comments
            .iter()
            .map(|(_, after)| after)
            .find(|c| c.id == into)
            .cloned()
            .ok_or(ChatError::NotFound)
    }

    /// Hides every held or shown comment of `author` in the broadcast;
    /// returns how many.
    pub async fn hide_all_of(
        &self,
        staff: &Account,
        author: AccountId,
        broadcast: BroadcastId,
    ) -> Result<usize, ChatError> {
        let b = self.broadcast(broadcast).await?;
        if !may(staff, Permission::ModerateChat, b.community_id) {
            return Err(ChatError::Forbidden);
        }
        let who = actor(staff);
        let change = self
            .change(broadcast, &[author], CommentId(0), || {
                self.store()
                    .hide_comments_of(&who, broadcast, author, Utc::now())
            })
            .await?;
        Ok(change.comments.len())
    }

    /// The account `staff` may sanction in the broadcast's community: not
    /// themselves, not another moderator.
    async fn sanctionable(
        &self,
        staff: &Account,
        author: AccountId,
        broadcast: BroadcastId,
    ) -> Result<CommunityId, ChatError> {
        let b = self.broadcast(broadcast).await?;
        if !may(staff, Permission::ModerateChat, b.community_id) {
            return Err(ChatError::Forbidden);
        }
        let target = self.store().account(author).await?;
        if target.id == staff.id || target.role.can(Permission::ModerateChat) {
            return Err(ChatError::Forbidden);
        }
        Ok(b.community_id)
    }

    async fn sanction(
        &self,
        staff: &Account,
        author: AccountId,
        broadcast: BroadcastId,
        kind: SanctionKind,
        seconds: Option<u32>,
        reason: &str,
    ) -> Result<(), ChatError> {
        let reason = self::reason("reason", reason)?.unwrap_or_default();
        let community = self.sanctionable(staff, author, broadcast).await?;
        let at = Utc::now();
        let sanction = self
            .store()
            .add_sanction(
                &actor(staff),
                &NewSanction {
                    community_id: community,
                    account_id: author,
                    kind,
                    until: seconds.map(|s| at + chrono::Duration::seconds(i64::from(s))),
                    reason,
                    broadcast_id: Some(broadcast),
                    at,
                },
            )
            .await?;
        let room = self.room(broadcast);
        self.notify_sanction(&room, community, author, Some(&sanction));
        Ok(())
    }

    /// Keeps a resident from posting in the community's broadcasts for
    /// 10 seconds to 24 hours.
    pub async fn timeout(
        &self,
        staff: &Account,
        author: AccountId,
        broadcast: BroadcastId,
        seconds: u32,
        reason: &str,
    ) -> Result<(), ChatError> {
        if !TIMEOUT_SECONDS.contains(&seconds) {
            return Err(ChatError::BadTimeout);
        }
        self.sanction(
            staff,
            author,
            broadcast,
            SanctionKind::Timeout,
            Some(seconds),
            reason,
        )
        .await
    }

    /// Keeps a resident from posting in the community's broadcasts until lifted.
    pub async fn ban(
        &self,
        staff: &Account,
        author: AccountId,
        broadcast: BroadcastId,
        reason: &str,
    ) -> Result<(), ChatError> {
        self.sanction(staff, author, broadcast, SanctionKind::Ban, None, reason)
            .await
    }

    /// Lifts the resident's time-outs and bans in the broadcast's community.
    pub async fn lift(
        &self,
        staff: &Account,
        author: AccountId,
        broadcast: BroadcastId,
    ) -> Result<(), ChatError> {
        let community = self.sanctionable(staff, author, broadcast).await?;
        self.store()
            .lift_sanctions(&actor(staff), community, author, Utc::now())
            .await?;
        let room = self.room(broadcast);
        self.notify_sanction(&room, community, author, None);
        Ok(())
    }

    /// The sanction keeping an account from posting in the broadcast's
    /// community now, if any (for the console).
    pub async fn sanction_of(
        &self,
        staff: &Account,
        author: AccountId,
        broadcast: BroadcastId,
    ) -> Result<Option<super::Sanction>, ChatError> {
        let b = self.broadcast(broadcast).await?;
        if !may(staff, Permission::ModerateChat, b.community_id) {
            return Err(ChatError::Forbidden);
        }
        Ok(self
            .store()
            .active_sanction(b.community_id, author, Utc::now())
            .await?)
    }

    /// Changes how the broadcast's chat is moderated; viewers are told.
    pub async fn update_settings(
        &self,
        staff: &Account,
        broadcast: BroadcastId,
        settings: ChatSettings,
    ) -> Result<(), ChatError> {
        let settings = settings.checked().ok_or(ChatError::BadSettings)?;
        let b = self.broadcast(broadcast).await?;
        if !may(staff, Permission::ModerateChat, b.community_id) {
            return Err(ChatError::Forbidden);
        }
        let room = self.room(broadcast);
        let _writing = room.write.lock().await;
        let change = self
            .store()
            .set_chat_settings(&actor(staff), broadcast, &settings, Utc::now())
            .await?;
        room.keep_settings(settings);
        // Before the events: a node that learns of them must not keep a
        // snapshot with the old settings.
        self.signal(&super::signals::ChatSignal::Settings { b: broadcast });
        self.publish(&room, change.events);
        Ok(())
    }

    /// The community's blocked words, in the order entered.
    pub async fn blocked_words(&self, community: CommunityId) -> Result<Vec<String>, ChatError> {
        Ok(self.store().blocked_words(community).await?)
    }

    /// Replaces the community's blocked words with `words` (one per line);
    /// returns the list as kept.
    pub async fn set_blocked_words(
        &self,
        staff: &Account,
        community: CommunityId,
        words: &str,
    ) -> Result<Vec<String>, ChatError> {
        if !may(staff, Permission::ModerateChat, community) {
            return Err(ChatError::Forbidden);
        }
        self.store().community(community).await?;
        let words = parse_blocked_words(words)?;
        let kept = self
            .store()
            .set_blocked_words(&actor(staff), community, &words)
            .await?;
        self.forget_blocked(community);
        self.signal(&super::signals::ChatSignal::Words { community });
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_words_are_one_per_line_without_repeats() {
        let words = parse_blocked_words("骗子\n\n  ＦＵＣＫ \nfuck\n骗 子\n傻瓜\r\n").unwrap();
        assert_eq!(words, ["骗子", "ＦＵＣＫ", "傻瓜"]);
        assert!(parse_blocked_words(&"长".repeat(51)).is_err());
        let many: String = (0..1001).map(|i| format!("词{i}\n")).collect();
        assert!(matches!(
            parse_blocked_words(&many),
            Err(ChatError::TooManyWords { .. })
        ));
    }

    #[test]
    fn reasons_are_optional_single_lines() {
        assert_eq!(reason("reason", "  ").unwrap(), None);
        assert_eq!(
            reason("reason", " 含有广告 ").unwrap().as_deref(),
            Some("含有广告")
        );
        assert!(reason("reason", "a\u{202E}b").is_err());
        assert!(reason("reason", &"长".repeat(201)).is_err());
    }
}
