//! The secretary's side: the questions in order, the one being answered
//! now, answers and their place in the recording (replay chapters), and
//! questions turned into feedback records.

use chrono::Utc;

use crate::domain::broadcast::Broadcast;
use crate::domain::chat::{CommentState, ANSWER_MAX};
use crate::domain::record::{Record, RecordClass, RecordSource};
use crate::domain::text::clean_paragraphs;
use crate::domain::{Account, BroadcastId, EstateId, Permission, RecordId, TextError};
use crate::feedback::records::Filing;
use crate::i18n::Lang;
use crate::store::{AnswerStep, CommentFilter, CommentOrder};

use super::{
    actor, may, Chapter, Chat, ChatError, Comment, CommentId, CommentKind, QuestionOrder,
    QuestionStatus,
};

/// What staff choose when turning a question into a record. The record's
/// title is "直播提问：" and the start of the question; its description is
/// the question as shown.
#[derive(Debug, Clone, Default)]
pub struct QuestionToRecord {
    /// One of `crate::feedback::CATEGORIES`.
    pub category: String,
    /// The category's default class when not given.
    pub class: Option<RecordClass>,
    /// The author's estate when not given.
    pub estate_id: Option<EstateId>,
}

/// Longest part of the question quoted in a record's default title.
const TITLE_QUOTE: usize = 24;

fn default_title(question: &str) -> String {
    let line: String = question.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut quote: String = line.chars().take(TITLE_QUOTE).collect();
    if line.chars().count() > TITLE_QUOTE {
        quote.push('…');
    }
    Lang::Zh.tf("chat.record.title", &[("text", &quote)])
}

impl Chat {
    /// The comment, if `staff` may answer questions in its community.
    async fn answerable(&self, staff: &Account, id: CommentId) -> Result<Comment, ChatError> {
        let comment = self.store().comment(id).await?;
        if !may(staff, Permission::AnswerQuestions, comment.community_id) {
            return Err(ChatError::Forbidden);
        }
        if comment.kind != CommentKind::Question {
            return Err(ChatError::NotAQuestion);
        }
        if !comment.is_open_question() {
            return Err(ChatError::WrongState);
        }
        Ok(comment)
    }

    /// Where the recording is now: the live hub's recorded length while an
    /// encoder publishes; otherwise, for a broadcast on air, the wall clock
    /// since it went live (reconnect gaps then count too); `None` before it
    /// went live.
    fn recording_offset(&self, broadcast: &Broadcast) -> Option<i64> {
        if let Some(millis) = self.inner.live.recording_position(broadcast.id) {
            return Some(millis);
        }
        if !broadcast.state.is_on_air() {
            return None;
        }
        broadcast
            .went_live_at
            .map(|at| (Utc::now() - at).num_milliseconds().max(0))
    }

    async fn step(
        &self,
        staff: &Account,
        comment: &Comment,
        step: AnswerStep<'_>,
    ) -> Result<Comment, ChatError> {
        let who = actor(staff);
        let id = comment.id;
        let change = self
            .change_answer(comment.broadcast_id, comment.author_id, || {
                self.store().answer_question(&who, id, step, Utc::now())
            })
            .await?;
        change
            .comments
            .iter()
            .map(|(_, after)| after)
            .find(|c| c.id == id)
            .cloned()
            .ok_or(ChatError::NotFound)
    }

    async fn change_answer<F, Fut>(
        &self,
        broadcast: BroadcastId,
        author: crate::domain::AccountId,
        write: F,
    ) -> Result<crate::store::ChatChange, ChatError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<
            Output = Result<crate::store::ChatChange, crate::store::StoreError>,
        >,
    {
        let authors = self.authors(&[author]).await?;
        let room = self.room(broadcast);
        let _writing = room.write.lock().await;
        let change = write().await?;
        self.publish(&room, change.events.clone());
        self.notify(&room, &change, &authors);
        Ok(change)
    }

    /// Shown questions for the answering console: by votes (then age) or
    /// by age; answered ones only if asked for.
    pub async fn questions(
        &self,
        broadcast: BroadcastId,
        order: QuestionOrder,
        include_answered: bool,
    ) -> Result<Vec<Comment>, ChatError> {
        let statuses = if include_answered {
            Vec::new()
        } else {
            vec![QuestionStatus::Open, QuestionStatus::Answering]
        };
        Ok(self
            .store()
            .comments(&CommentFilter {
                states: vec![CommentState::Approved],
                kind: Some(CommentKind::Question),
                statuses,
                unmerged_only: true,
                order: match order {
                    QuestionOrder::Votes => CommentOrder::Votes,
                    QuestionOrder::Time => CommentOrder::Oldest,
                },
                limit: 1000,
                ..CommentFilter::of(broadcast)
            })
            .await?)
    }

    /// Highlights the question on every viewer's page and the lobby
    /// screens; the one highlighted before goes back to open. Stores where
    /// in the recording the answer begins.
    pub async fn answer_now(&self, staff: &Account, id: CommentId) -> Result<Comment, ChatError> {
        let question = self.answerable(staff, id).await?;
        if question.status != QuestionStatus::Open {
            return Err(ChatError::WrongState);
        }
        let broadcast = self.broadcast(question.broadcast_id).await?;
        let offset_ms = self.recording_offset(&broadcast);
        self.step(staff, &question, AnswerStep::Now { offset_ms })
            .await
    }

    /// Archives the question as answered, with an optional written answer.
    pub async fn answered(
        &self,
        staff: &Account,
        id: CommentId,
        written: Option<&str>,
    ) -> Result<Comment, ChatError> {
        let answer = match written.map(|w| clean_paragraphs(w, ANSWER_MAX)) {
            None | Some(Err(TextError::Empty)) => None,
            Some(Ok(text)) => Some(text),
            Some(Err(error)) => {
                return Err(ChatError::BadText {
                    field: "answer",
                    error,
                })
            }
        };
        let question = self.answerable(staff, id).await?;
        if question.status == QuestionStatus::Answered {
            return Err(ChatError::WrongState);
        }
        self.step(
            staff,
            &question,
            AnswerStep::Answered {
                answer: answer.as_deref(),
            },
        )
        .await
    }

    /// Brings an answered (or highlighted) question back to the open list.
    pub async fn restore(&self, staff: &Account, id: CommentId) -> Result<Comment, ChatError> {
        let question = self.answerable(staff, id).await?;
        if question.status == QuestionStatus::Open {
            return Err(ChatError::WrongState);
        }
        self.step(staff, &question, AnswerStep::Restore).await
    }

    /// The question being answered now in the broadcast (for lobby screens).
    pub async fn answering(&self, broadcast: BroadcastId) -> Option<Comment> {
        match self.store().answering_questions(&[broadcast]).await {
            Ok(mut list) => list.pop(),
            Err(e) => {
                tracing::warn!(error = %e, %broadcast, "cannot read the question being answered");
                None
            }
        }
    }

    /// Answered questions with their place in the recording, in order: the
    /// replay's chapters.
    pub async fn chapters(&self, broadcast: BroadcastId) -> Result<Vec<Chapter>, ChatError> {
        let answered = self
            .store()
            .comments(&CommentFilter {
                states: vec![CommentState::Approved],
                kind: Some(CommentKind::Question),
                statuses: vec![QuestionStatus::Answered],
                unmerged_only: true,
                limit: 1000,
                ..CommentFilter::of(broadcast)
            })
            .await?;
        let mut chapters: Vec<Chapter> = answered.iter().filter_map(Comment::chapter).collect();
        chapters.sort_by_key(|c| (c.offset_ms, c.comment));
        Ok(chapters)
    }

    /// Files a feedback record from a question (or comment), with the
    /// author as reporter, and links the two. Needs `WorkRecords` in the
    /// community; a comment becomes at most one record.
    pub async fn to_record(
        &self,
        staff: &Account,
        id: CommentId,
        form: QuestionToRecord,
    ) -> Result<RecordId, ChatError> {
        let comment = self.store().comment(id).await?;
        if !may(staff, Permission::WorkRecords, comment.community_id) {
            return Err(ChatError::Forbidden);
        }
        let class = match crate::feedback::category_class(form.category.trim()) {
            Some(default) => form.class.unwrap_or(default),
            None => return Err(ChatError::BadCategory),
        };
        let authors = self.authors(&[comment.author_id]).await?;
        let author = authors.get(&comment.author_id);
        let estate = match form.estate_id.or(author.and_then(|a| a.estate_id)) {
            Some(estate) => self.store().estate(estate).await?,
            None => return Err(ChatError::EstateNeeded),
        };
        if estate.community_id != comment.community_id {
            return Err(ChatError::Forbidden);
        }
        let building_id = author
            .filter(|a| a.estate_id == Some(estate.id))
            .and_then(|a| a.building_id);
        let reporter = self.store().account(comment.author_id).await?;
        let filing = Filing {
            estate_id: estate.id,
            building_id,
            category: form.category.trim().to_owned(),
            class,
            title: default_title(&comment.body),
            // The question itself was public in the chat, but nobody told its
            // author the record's title would be: it stays neutral.
            title_public: false,
            description: comment.body.clone(),
            location: String::new(),
            source: RecordSource::LiveQuestion,
            point: None,
        };
        // One at a time per broadcast, so that two people clicking at once
        // do not file two records for one question.
        let room = self.room(comment.broadcast_id);
        let _writing = room.write.lock().await;
        let current = self.store().comment(id).await?;
        if let Some(record) = current.record_id {
            return Err(ChatError::AlreadyRecorded { record });
        }
        let who = actor(staff);
        let (record, _tracking_token): (Record, String) = self
            .inner
            .records
            .file(&who, Some(&reporter), filing, Utc::now())
            .await?;
        match self.store().link_record(&who, id, record.id).await {
            Ok(_) => Ok(record.id),
            Err(crate::store::StoreError::Conflict) => {
                // Someone on another node filed it at the same moment: the
                // one linked first stands; this one is closed as its
                // duplicate, saying so, rather than left open and counting.
                let linked = self.store().comment(id).await?.record_id;
                if let Some(winner) = linked.filter(|winner| *winner != record.id) {
                    self.close_as_duplicate(staff, &record, winner).await;
                }
                Err(ChatError::AlreadyRecorded {
                    record: linked.unwrap_or(record.id),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Marks `record` a duplicate of `winner`, with a public note naming it.
    /// Best effort: the caller reports the question as recorded either way.
    async fn close_as_duplicate(&self, staff: &Account, record: &Record, winner: RecordId) {
        let number = match self.store().record(winner).await {
            Ok(winner) => winner.number,
            Err(_) => return,
        };
        let request = crate::feedback::records::Request {
            expected_version: record.version,
            action: Some(crate::domain::record::RecordAction::MarkDuplicate),
            note: Lang::Zh.tf("chat.record.filed_twice", &[("number", &number)]),
            public: true,
            published: false,
            assignee: None,
            rating: None,
        };
        let result = self
            .inner
            .records
            .change(staff, record, request, Utc::now())
            .await;
        if let Err(e) = result {
            tracing::warn!(record = %record.id, error = %e, "could not close a record filed twice");
        }
    }

    /// The question a record was made from, and the replay chapter where it
    /// was answered (if it was).
    pub async fn question_of_record(
        &self,
        record: RecordId,
    ) -> Result<Option<(Comment, Option<Chapter>)>, ChatError> {
        Ok(self
            .store()
            .comment_of_record(record)
            .await?
            .map(|comment| {
                let chapter = comment.chapter();
                (comment, chapter)
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_titles_quote_the_start_of_the_question() {
        assert_eq!(default_title("电梯坏了"), "直播提问：电梯坏了");
        let long = "三号楼的电梯已经坏了整整两个星期了，物业什么时候能修好？老人上下楼很困难";
        let title = default_title(long);
        assert!(title.ends_with('…'));
        assert!(title.chars().count() <= 60);
        assert_eq!(default_title("第一行\n第二行"), "直播提问：第一行 第二行");
    }
}
