//! What both backends share of a person's data: the login name a closed
//! account keeps, the part of an export the store's traits answer, and the
//! rows of the rest. (How a closed account's name is hidden:
//! `accounts::shown_actor_name`.)

use sqlx::FromRow;

use super::chat::CommentRow;
use super::Ts;
use crate::domain::chat::Comment;
use crate::domain::record::Record;
use crate::domain::{Account, AccountId, BroadcastId, CommentId, RecordId};
use crate::store::personal_data::{PersonalRecord, PersonalVote, ReadMark, SessionFacts};
use crate::store::{
    AccountStore, DirectoryStore, RecordFilter, RecordPhotoStore, RecordStore, StoreResult,
};

/// The login name a closed account keeps: unique, and impossible to type at
/// the login form (`Username::parse` refuses '@'), so nobody can sign in as it.
pub(crate) fn closed_username(id: AccountId) -> String {
    format!("@closed-{}", id.0)
}

/// The account, its home (community, estate, building, unit) and its records
/// with what the person may see of them: the part of an export that the
/// store's own traits answer, the same on both backends.
pub(crate) async fn account_home_and_records<S>(
    store: &S,
    id: AccountId,
) -> StoreResult<(Account, Option<[String; 4]>, Vec<PersonalRecord>)>
where
    S: AccountStore + DirectoryStore + RecordStore + RecordPhotoStore,
{
    let account = store.account(id).await?;
    let home = match account.unit_id {
        Some(unit_id) => {
            let unit = store.unit(unit_id).await?;
            let building = store.building(unit.building_id).await?;
            let estate = store.estate(building.estate_id).await?;
            let community = store.community(estate.community_id).await?;
            Some([community.name, estate.name, building.name, unit.label])
        }
        None => None,
    };

    let mut records = Vec::new();
    let mine: Vec<Record> = store
        .list_records(&RecordFilter {
            reporter: Some(id),
            oldest_first: true,
            limit: 100_000,
            ..RecordFilter::default()
        })
        .await?;
    for record in mine {
        let events = store
            .record_events(record.id)
            .await?
            .into_iter()
            .filter(|e| e.public)
            .collect();
        let photos = store
            .record_photos(record.id)
            .await?
            .into_iter()
            .filter(|p| p.public)
            .collect();
        records.push(PersonalRecord {
            record,
            events,
            photos,
        });
    }
    Ok((account, home, records))
}

/// One of the person's comments with its broadcast's title, from
/// `({COMMENT} …) c JOIN broadcasts b`.
#[derive(FromRow)]
pub(crate) struct CommentRowWithTitle {
    #[sqlx(flatten)]
    comment: CommentRow,
    broadcast_title: String,
}

impl TryFrom<CommentRowWithTitle> for (Comment, String) {
    type Error = crate::store::StoreError;

    fn try_from(r: CommentRowWithTitle) -> StoreResult<Self> {
        Ok((Comment::try_from(r.comment)?, r.broadcast_title))
    }
}

/// A vote, from `comment_votes v JOIN comments c JOIN broadcasts b`.
#[derive(FromRow)]
pub(crate) struct VoteRow {
    comment_id: i64,
    broadcast_id: i64,
    broadcast_title: String,
    at: Ts,
}

impl From<VoteRow> for PersonalVote {
    fn from(r: VoteRow) -> Self {
        PersonalVote {
            comment_id: CommentId(r.comment_id),
            broadcast_id: BroadcastId(r.broadcast_id),
            broadcast_title: r.broadcast_title,
            at: r.at.0,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct ReadMarkRow {
    record_id: i64,
    seen_seq: i64,
    seen_at: Ts,
}

impl From<ReadMarkRow> for ReadMark {
    fn from(r: ReadMarkRow) -> Self {
        ReadMark {
            record_id: RecordId(r.record_id),
            seen_seq: r.seen_seq,
            seen_at: r.seen_at.0,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct SessionRow {
    created_at: Ts,
    expires_at: Ts,
}

impl From<SessionRow> for SessionFacts {
    fn from(r: SessionRow) -> Self {
        SessionFacts {
            created_at: r.created_at.0,
            expires_at: r.expires_at.0,
        }
    }
}
