//! Posting: who may, how fast, what the filters find, and whether the
//! comment is shown at once or held for a moderator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::domain::broadcast::BroadcastState;
use crate::domain::chat::{CommentState, HoldReason, SanctionKind, CLIENT_ID_MAX};
use crate::domain::{Account, AccountId, Permission};
use crate::store::NewComment;

use super::filter::{self, BlockedWords, TextProblem};
use super::rate::{self, Refusal};
use super::{names, Chat, ChatError, NewPost, Posted};

/// The same author repeating themselves within this is a duplicate.
const SAME_AUTHOR_WINDOW: chrono::Duration = chrono::Duration::minutes(10);
/// This many different people posting the same text within a minute is a flood.
const SAME_TEXT_AUTHORS: usize = 3;
const SAME_TEXT_WINDOW: chrono::Duration = chrono::Duration::minutes(1);

/// A post after the filters: what to store and what they found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Screened {
    /// Shown text: personal data masked.
    pub body: String,
    /// The cleaned text as typed, when masking changed it.
    pub original: Option<String>,
    pub dup_key: String,
    /// What the filters found (not yet duplicates: that needs the store).
    pub reasons: Vec<HoldReason>,
}

/// Every call into the filters, in the order the design fixes: clean
/// (refusing empty or overlong text), mask personal data, then blocked
/// words and links.
pub(crate) fn screen(raw: &str, blocked: &BlockedWords) -> Result<Screened, ChatError> {
    let cleaned = filter::clean(raw).map_err(|problem| match problem {
        TextProblem::Empty => ChatError::Empty,
        TextProblem::TooLong { max } => ChatError::TooLong { max },
    })?;
    let masked = filter::mask_personal_data(&cleaned);
    let mut reasons = Vec::new();
    if !masked.kinds.is_empty() {
        reasons.push(HoldReason::PersonalData);
    }
    if !blocked.find(&cleaned).is_empty() {
        reasons.push(HoldReason::BlockedWord);
    }
    if filter::has_link(&cleaned) {
        reasons.push(HoldReason::Link);
    }
    Ok(Screened {
        original: (masked.text != cleaned).then(|| cleaned.clone()),
        dup_key: filter::duplicate_key(&cleaned),
        body: masked.text,
        reasons,
    })
}

/// 1–64 visible ASCII characters.
fn checked_client_id(raw: &str) -> Result<String, ChatError> {
    let ok =
        !raw.is_empty() && raw.len() <= CLIENT_ID_MAX && raw.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| raw.to_owned()).ok_or(ChatError::BadClientId)
}

/// Whether the comment is held, and why.
fn decide(reasons: &[HoldReason], premoderated: bool) -> (CommentState, Vec<HoldReason>) {
    let mut reasons = reasons.to_vec();
    let filtered = reasons.iter().any(|r| r.holds());
    if !filtered && premoderated {
        reasons.insert(0, HoldReason::Review);
    }
    let state = if filtered || premoderated {
        CommentState::Held
    } else {
        CommentState::Approved
    };
    (state, reasons)
}

impl Chat {
    /// Posts a comment or question for `author`.
    ///
    /// A resend with a client id already used by this author returns the
    /// stored comment and changes nothing. Refusals (400 bad text, 403
    /// time-out/ban/closed, 429 slow mode/flood) store nothing, so the
    /// client keeps the text; text the filters object to is stored but
    /// held, with the reasons.
    pub async fn post(
        &self,
        author: &Account,
        broadcast: crate::domain::BroadcastId,
        post: NewPost,
    ) -> Result<Posted, ChatError> {
        let client_id = checked_client_id(&post.client_id)?;
        let b = self.broadcast(broadcast).await?;
        if !super::in_community(author, b.community_id) {
            return Err(ChatError::Forbidden);
        }
        if let Some(earlier) = self
            .store()
            .comment_by_client_id(author.id, broadcast, &client_id)
            .await?
        {
            return Ok(Posted::from_comment(earlier));
        }
        if b.state == BroadcastState::Ended {
            return Err(ChatError::Ended);
        }
        let room = self.room(broadcast);
        let settings = self.room_settings(&room).await?;
        if !settings.open {
            return Err(ChatError::Closed);
        }
        let now = Utc::now();
        if let Some(sanction) = self
            .store()
            .active_sanction(b.community_id, author.id, now)
            .await?
        {
            return Err(match (sanction.kind, sanction.until) {
                (SanctionKind::Timeout, Some(until)) => ChatError::TimedOut { until },
                _ => ChatError::Banned,
            });
        }
        let blocked = self.blocked_list(b.community_id).await?;
        let screened = screen(&post.text, &blocked)?;
        // Staff running the broadcast are not slowed down; nobody escapes
        // the flood guard.
        let slow_mode = if author.role.can(Permission::ModerateChat) {
            Duration::ZERO
        } else {
            Duration::from_secs(u64::from(settings.slow_mode_seconds))
        };
        let slot = self
            .inner
            .rate
            .take(author.id, broadcast, slow_mode, Instant::now())
            .map_err(|refusal| match refusal {
                Refusal::Slow(wait) => ChatError::SlowMode {
                    retry_after: rate::seconds(wait),
                },
                Refusal::Flood(wait) => ChatError::Flood {
                    retry_after: rate::seconds(wait),
                },
            })?;
        // The slot keeps two posts through this node apart at once; the
        // store, which sees posts through every node, has the last word.
        let stored = self
            .store_post(
                author, &b, &room, client_id, &post, screened, settings, slow_mode,
            )
            .await;
        match stored {
            Ok((posted, created)) => {
                if !created {
                    self.inner.rate.release(slot);
                }
                Ok(posted)
            }
            Err(e) => {
                self.inner.rate.release(slot);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_post(
        &self,
        author: &Account,
        b: &crate::domain::broadcast::Broadcast,
        room: &Arc<super::hub::Room>,
        client_id: String,
        post: &NewPost,
        screened: Screened,
        settings: super::ChatSettings,
        slow_mode: Duration,
    ) -> Result<(Posted, bool), ChatError> {
        let now = Utc::now();
        let mut reasons = screened.reasons.clone();
        if let Some(reason) = self
            .repeated(b.id, author.id, &screened.dup_key, now)
            .await?
        {
            reasons.push(reason);
        }
        let (state, hold_reasons) = decide(&reasons, settings.premoderated(post.kind));
        let authors = self.authors(&[author.id]).await?;
        let who = authors.get(&author.id).ok_or(ChatError::NotFound)?;
        let new = NewComment {
            broadcast_id: b.id,
            community_id: b.community_id,
            author_id: author.id,
            client_id,
            kind: post.kind,
            public_name: names::for_author(who, post.anonymous),
            anonymous: post.anonymous,
            body: screened.body,
            original_body: screened.original,
            dup_key: screened.dup_key,
            hold_reasons,
            state,
            at: now,
            slow_mode: Some(slow_mode).filter(|gap| !gap.is_zero()),
        };
        let _writing = room.write.lock().await;
        let posted = self.store().post_comment(&new).await?;
        if posted.created {
            self.publish(room, posted.events.clone());
            let change = crate::store::ChatChange {
                comments: vec![(None, posted.comment.clone())],
                events: Vec::new(),
            };
            self.notify(room, &change, &authors);
        }
        Ok((Posted::from_comment(posted.comment), posted.created))
    }

    /// Whether the text repeats: the same author within ten minutes
    /// (duplicate), or several people within a minute (flood). Text with
    /// no letters or digits (an empty key) is never a repeat.
    async fn repeated(
        &self,
        broadcast: crate::domain::BroadcastId,
        author: AccountId,
        dup_key: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<Option<HoldReason>, ChatError> {
        if dup_key.is_empty() {
            return Ok(None);
        }
        let posts = self
            .store()
            .same_text_posts(broadcast, dup_key, now - SAME_AUTHOR_WINDOW)
            .await?;
        if posts.iter().any(|(who, _)| *who == author) {
            return Ok(Some(HoldReason::Duplicate));
        }
        let mut recent: Vec<AccountId> = posts
            .iter()
            .filter(|(_, at)| *at >= now - SAME_TEXT_WINDOW)
            .map(|(who, _)| *who)
            .collect();
        recent.sort();
        recent.dedup();
        // This post would be the third voice saying the same thing.
        Ok((recent.len() + 1 >= SAME_TEXT_AUTHORS).then_some(HoldReason::Flood))
    }

    /// The community's blocked words, compiled once per change.
    async fn blocked_list(
        &self,
        community: crate::domain::CommunityId,
    ) -> Result<Arc<BlockedWords>, ChatError> {
        let generation = {
            let cached = self.inner.blocked.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(list) = cached.1.get(&community) {
                return Ok(list.clone());
            }
            cached.0
        };
        let words = self.store().blocked_words(community).await?;
        let list = Arc::new(BlockedWords::new(words));
        let mut cached = self.inner.blocked.lock().unwrap_or_else(|e| e.into_inner());
        // Forgotten while it was read: it may predate another node's change.
        if cached.0 == generation {
            cached.1.insert(community, list.clone());
        }
        Ok(list)
    }

    pub(super) fn forget_blocked(&self, community: crate::domain::CommunityId) {
        let mut cached = self.inner.blocked.lock().unwrap_or_else(|e| e.into_inner());
        cached.0 += 1;
        cached.1.remove(&community);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_short_visible_ascii() {
        assert!(checked_client_id("c-1700000000-42").is_ok());
        assert!(checked_client_id("").is_err());
        assert!(checked_client_id("has space").is_err());
        assert!(checked_client_id("中文").is_err());
        assert!(checked_client_id(&"x".repeat(65)).is_err());
    }

    #[test]
    fn filtered_text_is_held_whatever_the_mode() {
        let (state, reasons) = decide(&[HoldReason::Link], false);
        assert_eq!(state, CommentState::Held);
        assert_eq!(reasons, [HoldReason::Link]);
        // Pre-moderation adds "review" only when nothing else holds it.
        let (state, reasons) = decide(&[], true);
        assert_eq!(state, CommentState::Held);
        assert_eq!(reasons, [HoldReason::Review]);
        let (_, reasons) = decide(&[HoldReason::BlockedWord], true);
        assert_eq!(reasons, [HoldReason::BlockedWord]);
    }

    #[test]
    fn masked_personal_data_alone_does_not_hold_chat() {
        let (state, reasons) = decide(&[HoldReason::PersonalData], false);
        assert_eq!(state, CommentState::Approved);
        assert_eq!(reasons, [HoldReason::PersonalData]);
        let (state, reasons) = decide(&[HoldReason::PersonalData], true);
        assert_eq!(state, CommentState::Held);
        assert_eq!(reasons, [HoldReason::Review, HoldReason::PersonalData]);
    }

    #[test]
    fn the_filters_run_on_every_post() {
        let blocked = BlockedWords::new(["骗子"]);
        let screened = screen("  物业是骗子！电话13812345678  ", &blocked).unwrap();
        assert!(screened.reasons.contains(&HoldReason::BlockedWord));
        assert!(screened.reasons.contains(&HoldReason::PersonalData));
        assert!(!screened.body.contains("13812345678"));
        assert!(screened
            .original
            .as_deref()
            .is_some_and(|o| o.contains("13812345678")));
        let plain = screen("电梯什么时候修好？", &blocked).unwrap();
        assert!(plain.reasons.is_empty());
        assert!(plain.original.is_none());
        let link = screen("看这里 http://example.com", &blocked).unwrap();
        assert!(link.reasons.contains(&HoldReason::Link));
        assert!(matches!(screen("   ", &blocked), Err(ChatError::Empty)));
        assert!(matches!(
            screen(&"长".repeat(10_000), &blocked),
            Err(ChatError::TooLong { .. })
        ));
    }
}
