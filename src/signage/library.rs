//! The media library: uploads checked before anything is stored, files laid
//! out on disk, and videos made ready for the lobby boxes in the background.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Semaphore};

use crate::domain::notice::{MediaFile, MediaKind, MediaState};
use crate::domain::{Account, CommunityId, MediaId};
use crate::files;
use crate::store::{MediaOutcome, NewMedia};

use super::media::{self, MediaUploadError, VideoInfo};
use super::{actor, Signage, SignageError};

/// The served picture (JPEG or PNG, as its row says).
pub const IMAGE_FILE: &str = "image";
/// The served video: H.264/AAC MP4 within 1080p, without the upload's
/// metadata.
pub const VIDEO_FILE: &str = "video.mp4";
pub const POSTER_FILE: &str = "poster.jpg";
/// The upload as received, kept until its video and poster are made, so
/// that a restart can make them again.
const ORIGINAL_FILE: &str = "original";

pub struct Library {
    root: PathBuf,
    /// Videos being made ready: their notices show without the video meanwhile.
    processing: Mutex<HashSet<MediaId>>,
    transcodes: Arc<Semaphore>,
}

impl Library {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            processing: Mutex::new(HashSet::new()),
            transcodes: Arc::new(Semaphore::new(media::MAX_CONCURRENT_TRANSCODES)),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, id: MediaId) -> PathBuf {
        self.root.join(id.to_string())
    }

    pub fn is_processing(&self, id: MediaId) -> bool {
        self.processing
            .lock()
            .expect("processing set poisoned")
            .contains(&id)
    }
}

impl Signage {
    /// Videos a previous run left half-done (the server stopped while making
    /// them ready): start their processing again, from their original.
    pub(super) async fn resume_uploads(self: Arc<Self>) {
        let unfinished = match self.store.unfinished_media().await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list unfinished uploads");
                return;
            }
        };
        for file in unfinished
            .into_iter()
            .filter(|f| f.kind == MediaKind::Video)
        {
            tracing::info!(media = %file.id, "resuming interrupted video processing");
            self.library
                .processing
                .lock()
                .expect("processing set poisoned")
                .insert(file.id);
            tokio::spawn(self.clone().finish_video(file));
        }
    }

    /// Checks, re-encodes and stores a picture. Nothing is stored when the
    /// file is refused.
    pub async fn upload_image(
        &self,
        who: &Account,
        community: CommunityId,
        file_name: &str,
        claimed_type: &str,
        bytes: Vec<u8>,
    ) -> Result<MediaFile, SignageError> {
        if !Self::may_write(who, community) {
            return Err(SignageError::Forbidden);
        }
        let claimed = format!("{claimed_type} {file_name}");
        let prepared = self.pictures.prepare_image(bytes, claimed).await?;
        let file = self
            .store
            .create_media(
                &actor(who),
                &NewMedia {
                    community_id: community,
                    kind: MediaKind::Image,
                    state: MediaState::Processing,
                    original_name: clean_file_name(file_name),
                    content_type: prepared.content_type.to_string(),
                    size_bytes: prepared.bytes.len() as i64,
                    width: Some(prepared.width),
                    height: Some(prepared.height),
                    duration_millis: None,
                    uploaded_by: who.id,
                },
            )
            .await?;
        let dir = self.library.dir(file.id);
        let written = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            files::write_atomically(&dir.join(IMAGE_FILE), &prepared.bytes)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        let outcome = MediaOutcome {
            state: if written.is_ok() {
                MediaState::Ready
            } else {
                MediaState::Failed
            },
            content_type: file.content_type.clone(),
            size_bytes: file.size_bytes,
            width: file.width,
            height: file.height,
            duration_millis: None,
            error: written.as_ref().err().map(|e| e.to_string()),
        };
        let file = self.store.finish_media(file.id, &outcome).await?;
        written.map_err(|e| SignageError::Upload(MediaUploadError::Io(e)))?;
        Ok(file)
    }

    /// Stores a video the web layer has already written to `upload` (a
    /// temporary file it owns) and returns it `processing`: in the
    /// background, a video the lobby boxes can play is copied without its
    /// metadata and any other is transcoded. Its notices show without it
    /// until that is done.
    pub async fn upload_video(
        self: &Arc<Self>,
        who: &Account,
        community: CommunityId,
        file_name: &str,
        claimed_type: &str,
        upload: &Path,
    ) -> Result<MediaFile, SignageError> {
        if !Self::may_write(who, community) {
            return Err(SignageError::Forbidden);
        }
        let claimed = format!("{claimed_type} {file_name}");
        let path = upload.to_path_buf();
        let info =
            tokio::task::spawn_blocking(move || media::inspect_video_upload(&path, &claimed))
                .await
                .map_err(|_| MediaUploadError::Corrupt("the video could not be read".into()))??;
        let size = std::fs::metadata(upload)
            .map(|m| m.len() as i64)
            .unwrap_or(0);
        let file = self
            .store
            .create_media(
                &actor(who),
                &NewMedia {
                    community_id: community,
                    kind: MediaKind::Video,
                    state: MediaState::Processing,
                    original_name: clean_file_name(file_name),
                    content_type: "video/mp4".into(),
                    size_bytes: size,
                    width: Some(info.width),
                    height: Some(info.height),
                    duration_millis: Some(info.duration.as_millis() as i64),
                    uploaded_by: who.id,
                },
            )
            .await?;
        let moved = {
            let (upload, dir) = (upload.to_path_buf(), self.library.dir(file.id));
            tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir)?;
                files::move_into_place(&upload, &dir.join(ORIGINAL_FILE))
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
        };
        if let Err(e) = moved {
            self.fail_media(&file, &e.to_string()).await?;
            return Err(SignageError::Upload(MediaUploadError::Io(e)));
        }
        self.library
            .processing
            .lock()
            .expect("processing set poisoned")
            .insert(file.id);
        let signage = self.clone();
        let job = file.clone();
        tokio::spawn(async move { signage.finish_video(job).await });
        Ok(file)
    }

    /// Makes the served video and its poster on a dedicated thread, stopped
    /// if it takes longer than [`media::processing_time_limit`], then marks
    /// the file ready or failed.
    async fn finish_video(self: Arc<Self>, file: MediaFile) {
        let permit = self.library.transcodes.clone().acquire_owned().await;
        let dir = self.library.dir(file.id);
        let cancel = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("media-{}", file.id))
            .spawn({
                let cancel = cancel.clone();
                move || {
                    let _permit = permit;
                    let _ = done_tx.send(make_video_ready(&dir, &cancel));
                }
            });
        let result = match spawned {
            Ok(_) => {
                let millis = file.duration_millis.unwrap_or(0).max(0).unsigned_abs();
                let limit = media::processing_time_limit(Duration::from_millis(millis));
                within_time_limit(done_rx, limit, &cancel).await
            }
            Err(e) => Err(MediaUploadError::Io(e)),
        };
        let outcome = match result {
            Ok((info, size)) => MediaOutcome {
                state: MediaState::Ready,
                content_type: "video/mp4".into(),
                size_bytes: size,
                width: Some(info.width),
                height: Some(info.height),
                duration_millis: Some(info.duration.as_millis() as i64),
                error: None,
            },
            Err(e) => {
                tracing::warn!(media = %file.id, error = %e, "video processing failed");
                MediaOutcome {
                    state: MediaState::Failed,
                    content_type: file.content_type.clone(),
                    size_bytes: file.size_bytes,
                    width: file.width,
                    height: file.height,
                    duration_millis: file.duration_millis,
                    error: Some(e.to_string()),
                }
            }
        };
        if let Err(e) = self.store.finish_media(file.id, &outcome).await {
            tracing::error!(media = %file.id, error = %e, "cannot record the end of video processing");
        }
        self.library
            .processing
            .lock()
            .expect("processing set poisoned")
            .remove(&file.id);
        self.changed(file.community_id);
    }

    async fn fail_media(&self, file: &MediaFile, error: &str) -> Result<(), SignageError> {
        self.store
            .finish_media(
                file.id,
                &MediaOutcome {
                    state: MediaState::Failed,
                    content_type: file.content_type.clone(),
                    size_bytes: file.size_bytes,
                    width: file.width,
                    height: file.height,
                    duration_millis: file.duration_millis,
                    error: Some(error.to_owned()),
                },
            )
            .await?;
        Ok(())
    }

    /// A stored file, if it may be served: ready, and the named file exists.
    pub async fn servable(
        &self,
        id: MediaId,
        file: &str,
    ) -> Result<Option<(MediaFile, PathBuf)>, SignageError> {
        let known = [IMAGE_FILE, VIDEO_FILE, POSTER_FILE];
        if !known.contains(&file) {
            return Ok(None);
        }
        let media = match self.store.media(id).await {
            Ok(media) => media,
            Err(crate::store::StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if media.state != MediaState::Ready {
            return Ok(None);
        }
        let path = self.library.dir(id).join(file);
        Ok(path.is_file().then_some((media, path)))
    }
}

/// Makes `video.mp4` and `poster.jpg` in a video's directory from its
/// original: copied without metadata if the lobby boxes play it as it is,
/// transcoded otherwise. The original goes once both are made. Returns what
/// the video holds and its size.
fn make_video_ready(dir: &Path, cancel: &AtomicBool) -> Result<(VideoInfo, i64), MediaUploadError> {
    let original = dir.join(ORIGINAL_FILE);
    let video = dir.join(VIDEO_FILE);
    // Playable videos uploaded before originals were kept for them have only
    // `video.mp4`, as received: cleaning it in place is the same job.
    let source = if original.is_file() {
        &original
    } else {
        &video
    };
    let info = if media::probe_video(source)?.plays_on_lobby_boxes() {
        media::remux_clean(source, &video, cancel)?
    } else {
        media::transcode_for_lobby(source, &video, cancel)?
    };
    let poster = media::poster(&video)?;
    files::write_atomically(&dir.join(POSTER_FILE), &poster)?;
    // Only now: until here, a restart starts again from it.
    let _ = std::fs::remove_file(&original);
    let size = std::fs::metadata(&video)?.len() as i64;
    Ok((info, size))
}

/// Waits for the media thread's `job`, setting `cancel` when it has run for
/// `limit`; a job stopped that way fails with an error that says so.
async fn within_time_limit<T>(
    mut job: oneshot::Receiver<Result<T, MediaUploadError>>,
    limit: Duration,
    cancel: &AtomicBool,
) -> Result<T, MediaUploadError> {
    let stopped = || MediaUploadError::Corrupt("the media thread stopped".into());
    if let Ok(done) = tokio::time::timeout(limit, &mut job).await {
        return done.unwrap_or_else(|_| Err(stopped()));
    }
    tracing::warn!(?limit, "video processing takes too long; stopping it");
    cancel.store(true, Ordering::Relaxed);
    match job.await {
        Ok(Err(MediaUploadError::Cancelled)) => Err(MediaUploadError::Transcode(format!(
            "stopped after {} s, the time allowed for a video this long",
            limit.as_secs()
        ))),
        Ok(done) => done,
        Err(_) => Err(stopped()),
    }
}

/// Keeps a display name for the upload: no path, no control characters.
fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(120).collect();
    if cleaned.trim().is_empty() {
        "upload".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job on its own thread that, like a transcode, runs until cancelled.
    fn endless_job(cancel: Arc<AtomicBool>) -> oneshot::Receiver<Result<(), MediaUploadError>> {
        let (done, job) = oneshot::channel();
        std::thread::spawn(move || {
            while !cancel.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = done.send(Err(MediaUploadError::Cancelled));
        });
        job
    }

    #[tokio::test]
    async fn a_job_running_past_its_time_limit_is_cancelled_and_fails_saying_so() {
        let cancel = Arc::new(AtomicBool::new(false));
        let job = endless_job(cancel.clone());

        let result = within_time_limit(job, Duration::from_millis(50), &cancel).await;

        assert!(cancel.load(Ordering::Relaxed));
        assert!(
            matches!(result, Err(MediaUploadError::Transcode(ref why)) if why.contains("stopped after 0 s")),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_job_done_in_time_is_left_alone() {
        let cancel = AtomicBool::new(false);
        let (done, job) = oneshot::channel();
        done.send(Ok(7)).unwrap();

        let result = within_time_limit(job, Duration::from_secs(60), &cancel).await;

        assert_eq!(result.unwrap(), 7);
        assert!(!cancel.load(Ordering::Relaxed));
    }
}
