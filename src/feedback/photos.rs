//! Photos on feedback records: up to [`MAX_PHOTOS`] with a resident's filing
//! and with each staff note or action (before and after pictures).
//!
//! A photo is checked by its content and encoded again, which strips its
//! metadata (a phone photo of a home interior carries the GPS position of the
//! home), and gets a thumbnail for the timeline. Its files are written under
//! the data directory, named by the SHA-256 of the stored bytes, *before* its
//! row; the rows go into the transaction of the record or event they come
//! with, and the files this filing wrote are removed again if that
//! transaction fails. A refused photo stores nothing.
//!
//! A photo belongs to the event it was posted with and is public exactly when
//! that event is ([`may_see`]): the reporter and the tracking link see the
//! photos of public events, staff and observers who may see the record see
//! all of them.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::domain::record::Record;
use crate::domain::{Account, Actor, Role};
use crate::files::Access;
use crate::media::picture::{DecodeSlots, PreparedImage};
use crate::media::upload::MediaUploadError;
use crate::store::{NewRecordPhoto, RecordPhoto};

use super::records::{Filing, RecordError, Records, Request};

/// At most this many photos come with one filing, note or action.
pub const MAX_PHOTOS: usize = 6;
/// Thumbnails fit in a square this many pixels wide.
pub const THUMBNAIL_SIDE: u32 = 480;

/// Why photos were not taken. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("more than {MAX_PHOTOS} photos")]
    TooMany,
    #[error("photo {name:?} refused: {error}")]
    Refused {
        /// The file name as the browser sent it.
        name: String,
        error: MediaUploadError,
    },
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot write photo files: {0}")]
    Files(io::Error),
}

impl From<crate::store::StoreError> for PhotoError {
    fn from(e: crate::store::StoreError) -> Self {
        PhotoError::Record(e.into())
    }
}

impl PhotoError {
    /// Catalogue key of the message for the person who sent the photos.
    pub fn message_key(&self) -> &'static str {
        match self {
            PhotoError::TooMany => "record_photos.error.too_many",
            PhotoError::Refused { error, .. } => match error {
                MediaUploadError::TooLarge { .. } => "record_photos.error.too_large",
                MediaUploadError::ImageTooLarge { .. } => "record_photos.error.too_many_pixels",
                MediaUploadError::TypeMismatch { .. } => "record_photos.error.type_mismatch",
                MediaUploadError::UnsupportedFormat { .. } => "record_photos.error.unsupported",
                MediaUploadError::Corrupt(_) => "record_photos.error.corrupt",
                MediaUploadError::Busy => "record_photos.error.busy",
                MediaUploadError::Transcode(_)
                | MediaUploadError::Cancelled
                | MediaUploadError::Io(_) => "record_photos.error.failed",
                _ => "record_photos.error.not_a_photo",
            },
            PhotoError::Record(e) => e.message_key(),
            PhotoError::Files(_) => "record_photos.error.failed",
        }
    }

    /// The number the message mentions as `%{n}`: how many photos, how many
    /// MB, how many megapixels.
    pub fn limit(&self) -> Option<u64> {
        match self {
            PhotoError::TooMany => Some(MAX_PHOTOS as u64),
            PhotoError::Refused { error, .. } => error.limit(),
            _ => None,
        }
    }

    /// The file the message is about, if it is about one.
    pub fn file_name(&self) -> Option<&str> {
        match self {
            PhotoError::Refused { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// A photo ready to store: encoded again without metadata, with its thumbnail.
#[derive(Debug, Clone)]
pub struct PreparedPhoto {
    image: PreparedImage,
    thumbnail: PreparedImage,
    sha256: String,
}

impl PreparedPhoto {
    /// Checks and encodes one uploaded photo. `claimed_type` and `file_name`
    /// are what the browser said it is; the content must agree. CPU work,
    /// done on the blocking pool.
    pub async fn prepare(
        file_name: &str,
        claimed_type: &str,
        bytes: Vec<u8>,
        slots: &DecodeSlots,
    ) -> Result<PreparedPhoto, PhotoError> {
        let claimed = format!("{claimed_type} {file_name}");
        let (image, thumbnail) = slots
            .prepare_image_with_thumbnail(bytes, claimed, THUMBNAIL_SIDE)
            .await
            .map_err(|error| PhotoError::Refused {
                name: file_name.to_owned(),
                error,
            })?;
        let sha256 = image.sha256_hex();
        Ok(PreparedPhoto {
            image,
            thumbnail,
            sha256,
        })
    }

    /// The refusal for a photo larger than any we take, found while it arrives.
    pub fn too_large(file_name: &str) -> PhotoError {
        PhotoError::Refused {
            name: file_name.to_owned(),
            error: MediaUploadError::TooLarge {
                max_bytes: crate::media::picture::MAX_IMAGE_BYTES,
            },
        }
    }

    fn row(&self, uploaded_by: &Account) -> NewRecordPhoto {
        NewRecordPhoto {
            sha256: self.sha256.clone(),
            mime: self.image.content_type.to_owned(),
            width: self.image.width,
            height: self.image.height,
            size_bytes: self.image.bytes.len() as u64,
            uploaded_by: uploaded_by.id,
        }
    }
}

/// Full size or thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoSize {
    Full,
    Thumbnail,
}

/// Who asks to see a record's photos.
#[derive(Debug, Clone, Copy)]
pub enum PhotoViewer<'a> {
    /// A signed-in account.
    Account(&'a Account),
    /// Whoever holds the record's private tracking link.
    TrackingLink,
}

/// May `viewer` see a photo of `record` that is `public` or not? The tracking
/// link and the reporter see public photos; staff and observers who may see
/// the record see every photo; nobody else sees any.
pub fn may_see(viewer: PhotoViewer<'_>, record: &Record, public: bool) -> bool {
    match viewer {
        PhotoViewer::TrackingLink => public,
        PhotoViewer::Account(account) => {
            Records::can_see(account, record) && (public || account.role != Role::Resident)
        }
    }
}

/// Photos on records: storing them with their filing or event, and finding
/// the ones a viewer may see. Made by [`Records::photos`].
pub struct RecordPhotos<'a> {
    records: &'a Records,
    /// `<data dir>/media/records`.
    dir: PathBuf,
}

impl Records {
    /// The photos of records, with their files under `data_dir`.
    pub fn photos(&self, data_dir: &Path) -> RecordPhotos<'_> {
        RecordPhotos {
            records: self,
            dir: data_dir.join("media").join("records"),
        }
    }
}

impl RecordPhotos<'_> {
    /// [`Records::file`] by a signed-in resident, with their photos on the
    /// first event. Returns the record and its tracking token.
    pub async fn file(
        &self,
        reporter: &Account,
        filing: Filing,
        photos: &[PreparedPhoto],
        now: DateTime<Utc>,
    ) -> Result<(Record, String), PhotoError> {
        check_count(photos)?;
        let by = Actor {
            id: Some(reporter.id),
            name: reporter.display_name.clone(),
        };
        let (new, token) = self
            .records
            .checked_filing(Some(reporter), filing, now)
            .await?;
        let files = self.write(photos).await?;
        let rows = rows(photos, reporter);
        let record = self
            .records
            .store
            .create_record_with_photos(&by, &new, &rows, now)
            .await?;
        files.keep();
        Ok((record, token))
    }

    /// [`Records::change`], with photos on the new event.
    pub async fn change(
        &self,
        who: &Account,
        record: &Record,
        request: Request,
        photos: &[PreparedPhoto],
        now: DateTime<Utc>,
    ) -> Result<Record, PhotoError> {
        check_count(photos)?;
        let event = self
            .records
            .checked_change(who, record, &request, now)
            .await?;
        let files = self.write(photos).await?;
        let changed = self
            .records
            .store
            .append_record_event_with_photos(
                record.id,
                request.expected_version,
                &event,
                &rows(photos, who),
                now,
            )
            .await
            .map_err(RecordError::from)?;
        files.keep();
        Ok(changed)
    }

    /// Adds photos to event `seq` of the record, already written by `who`
    /// (an escalation, which writes its event with its target).
    pub async fn add_to_event(
        &self,
        who: &Account,
        record: &Record,
        seq: i64,
        photos: &[PreparedPhoto],
        now: DateTime<Utc>,
    ) -> Result<(), PhotoError> {
        check_count(photos)?;
        if photos.is_empty() {
            return Ok(());
        }
        let events = self.records.store.record_events(record.id).await?;
        if !events
            .iter()
            .any(|e| e.seq == seq && e.actor_id == Some(who.id))
        {
            return Err(RecordError::Forbidden.into());
        }
        let files = self.write(photos).await?;
        self.records
            .store
            .add_record_photos(record.id, seq, &rows(photos, who), now)
            .await?;
        files.keep();
        Ok(())
    }

    /// The record's photos `viewer` may see, in event order.
    pub async fn visible(
        &self,
        viewer: PhotoViewer<'_>,
        record: &Record,
    ) -> Result<Vec<RecordPhoto>, RecordError> {
        let photos = self.records.store.record_photos(record.id).await?;
        Ok(photos
            .into_iter()
            .filter(|p| may_see(viewer, record, p.public))
            .collect())
    }

    /// One photo of the record and the file to send, if `viewer` may see it;
    /// `None` for a photo that does not exist, is another record's, or is not
    /// for this viewer: all look the same from outside.
    pub async fn file_of(
        &self,
        viewer: PhotoViewer<'_>,
        record: &Record,
        photo: i64,
        size: PhotoSize,
    ) -> Result<Option<(RecordPhoto, PathBuf)>, RecordError> {
        let photo = match self.records.store.record_photo(record.id, photo).await {
            Ok(photo) => photo,
            Err(crate::store::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !may_see(viewer, record, photo.public) {
            return Ok(None);
        }
        let path = self.path(&photo.sha256, &photo.mime, size);
        Ok(Some((photo, path)))
    }

    /// The stored file of `photo` as posted (re-encoded, without metadata),
    /// for the copy of a resident's data; the caller has chosen the photo.
    pub fn original_path(&self, photo: &RecordPhoto) -> PathBuf {
        self.path(&photo.sha256, &photo.mime, PhotoSize::Full)
    }

    /// `<sha256>.jpg` and `<sha256>.thumb.jpg` (or `.png`).
    fn path(&self, sha256: &str, mime: &str, size: PhotoSize) -> PathBuf {
        let extension = if mime == "image/png" { "png" } else { "jpg" };
        let name = match size {
            PhotoSize::Full => format!("{sha256}.{extension}"),
            PhotoSize::Thumbnail => format!("{sha256}.thumb.{extension}"),
        };
        self.dir.join(name)
    }

    /// Writes the photos' files that are not there yet. What it wrote is
    /// removed again unless the caller keeps it.
    async fn write(&self, photos: &[PreparedPhoto]) -> Result<WrittenFiles, PhotoError> {
        let mut files = Vec::new();
        for photo in photos {
            files.push((
                self.path(&photo.sha256, photo.image.content_type, PhotoSize::Full),
                photo.image.bytes.clone(),
            ));
            files.push((
                self.path(
                    &photo.sha256,
                    photo.image.content_type,
                    PhotoSize::Thumbnail,
                ),
                photo.thumbnail.bytes.clone(),
            ));
        }
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let mut written = WrittenFiles::default();
            for (path, bytes) in files {
                if crate::files::write_new(&path, &bytes, Access::OwnerOnly)? {
                    written.paths.push(path);
                }
            }
            Ok(written)
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
        .map_err(PhotoError::Files)
    }
}

fn check_count(photos: &[PreparedPhoto]) -> Result<(), PhotoError> {
    if photos.len() > MAX_PHOTOS {
        return Err(PhotoError::TooMany);
    }
    Ok(())
}

fn rows(photos: &[PreparedPhoto], uploaded_by: &Account) -> Vec<NewRecordPhoto> {
    photos.iter().map(|p| p.row(uploaded_by)).collect()
}

/// Files written for photos whose rows are not committed yet: removed when
/// dropped (a failed transaction, a request given up half-way) unless kept.
#[derive(Default)]
struct WrittenFiles {
    paths: Vec<PathBuf>,
}

impl WrittenFiles {
    /// The rows are committed: the files stay.
    fn keep(mut self) {
        self.paths.clear();
    }
}

impl Drop for WrittenFiles {
    fn drop(&mut self) {
        for path in &self.paths {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove an unused photo file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::record::{RecordClass, RecordSource, RecordState};
    use crate::domain::{AccountId, CommunityId, EstateId, RecordId};

    fn account(id: i64, role: Role, estate: i64) -> Account {
        Account {
            id: AccountId(id),
            username: format!("user{id}"),
            display_name: format!("user {id}"),
            role,
            community_id: Some(CommunityId(1)),
            estate_id: Some(EstateId(estate)),
            unit_id: None,
            locale: None,
            disabled: false,
            created_at: Utc::now(),
        }
    }

    fn record(reporter: i64) -> Record {
        Record {
            id: RecordId(7),
            number: "XF-2026-000007".into(),
            community_id: CommunityId(1),
            estate_id: EstateId(1),
            building_id: None,
            category: "repairs".into(),
            class: RecordClass::General,
            title: "楼道灯坏了".into(),
            title_public: false,
            description: "三楼楼道灯不亮".into(),
            location: String::new(),
            source: RecordSource::Web,
            reporter_id: Some(AccountId(reporter)),
            created_at: Utc::now(),
            state: RecordState::Submitted,
            version: 1,
            assignee: None,
            point: None,
        }
    }

    #[test]
    fn residents_and_tracking_links_see_only_public_photos_of_their_record() {
        let record = record(1);
        let reporter = account(1, Role::Resident, 1);
        let neighbour = account(2, Role::Resident, 1);
        for (public, seen) in [(true, true), (false, false)] {
            assert_eq!(
                may_see(PhotoViewer::Account(&reporter), &record, public),
                seen
            );
            assert_eq!(may_see(PhotoViewer::TrackingLink, &record, public), seen);
            assert!(!may_see(PhotoViewer::Account(&neighbour), &record, public));
        }
    }

    #[test]
    fn staff_and_the_estates_observers_see_every_photo() {
        let record = record(1);
        let staff = account(3, Role::Staff, 1);
        let observer = account(4, Role::Observer, 1);
        let other_estates_observer = account(5, Role::Observer, 2);
        let mut other_community = account(6, Role::Staff, 1);
        other_community.community_id = Some(CommunityId(2));
        for public in [true, false] {
            assert!(may_see(PhotoViewer::Account(&staff), &record, public));
            assert!(may_see(PhotoViewer::Account(&observer), &record, public));
            assert!(!may_see(
                PhotoViewer::Account(&other_estates_observer),
                &record,
                public
            ));
            assert!(!may_see(
                PhotoViewer::Account(&other_community),
                &record,
                public
            ));
        }
    }

    #[test]
    fn refusals_name_their_file_and_limit() {
        let refused = PreparedPhoto::too_large("阳台.jpg");
        assert_eq!(refused.message_key(), "record_photos.error.too_large");
        assert_eq!(refused.file_name(), Some("阳台.jpg"));
        assert_eq!(refused.limit(), Some(10));
        assert_eq!(PhotoError::TooMany.limit(), Some(MAX_PHOTOS as u64));
        let not_a_photo = PhotoError::Refused {
            name: "notes.jpg".into(),
            error: MediaUploadError::NotAnImage,
        };
        assert_eq!(not_a_photo.message_key(), "record_photos.error.not_a_photo");
    }

    #[tokio::test]
    async fn files_not_kept_are_removed_and_files_already_there_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("existing.jpg");
        std::fs::write(&existing, b"before").unwrap();
        let new = dir.path().join("new.jpg");
        assert!(!crate::files::write_new(&existing, b"again", Access::OwnerOnly).unwrap());
        assert!(crate::files::write_new(&new, b"photo", Access::OwnerOnly).unwrap());
        drop(WrittenFiles {
            paths: vec![new.clone()],
        });
        assert!(!new.exists(), "an uncommitted file is removed");
        assert_eq!(std::fs::read(&existing).unwrap(), b"before");

        assert!(crate::files::write_new(&new, b"photo", Access::OwnerOnly).unwrap());
        WrittenFiles {
            paths: vec![new.clone()],
        }
        .keep();
        assert!(new.exists(), "a committed file stays");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary files left behind");
    }
}
