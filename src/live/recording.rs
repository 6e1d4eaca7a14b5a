//! A broadcast's recording on disk, and how it becomes a replay.
//!
//! ```text
//! {media}/{broadcast id}/index.m3u8           multivariant playlist
//!                       /{rendition}/index.m3u8  the recording so far (VOD once sealed)
//!                       /{rendition}/init-{period}.mp4, seg-{sequence}.m4s
//!                       /poster.jpg, replay.mp4  made when the broadcast ends
//! ```
//! Segments are written as they are finished and the playlist after them,
//! each whole and on disk before it takes its name ([`crate::files`]), so
//! whatever is on disk after a crash is a playable prefix.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;

use tokio::sync::mpsc;

use super::channel::{Recorded, Rendition};
use super::pipeline::Report;
use crate::domain::BroadcastId;
use crate::media::hls::{self, init_uri, segment_uri, Playlist, View};
use crate::media::replay::{self, Period};
use crate::media::{MediaError, Millis};

pub const PLAYLIST: &str = "index.m3u8";
pub const POSTER: &str = "poster.jpg";
pub const DOWNLOAD: &str = "replay.mp4";

/// Where broadcasts' media live.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn broadcast(&self, id: BroadcastId) -> PathBuf {
        self.root.join(id.0.to_string())
    }

    pub fn rendition(&self, id: BroadcastId, rendition: Rendition) -> PathBuf {
        self.broadcast(id).join(rendition.as_str())
    }

    /// The broadcasts that have a directory of media here.
    pub fn broadcasts_on_disk(&self) -> io::Result<Vec<BroadcastId>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.parse::<i64>().ok()) {
                ids.push(BroadcastId(id));
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// Is `name` one of the media files a rendition directory may hold? Only
/// these names are ever served, so a request cannot walk out of the directory.
pub fn is_media_file(name: &str) -> bool {
    let numbered = |prefix: &str, suffix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|n| {
                !n.is_empty() && n.len() <= 12 && n.bytes().all(|b| b.is_ascii_digit())
            })
    };
    name == PLAYLIST || numbered("seg-", ".m4s") || numbered("init-", ".mp4")
}

/// Writes one rendition's recording, on a thread of its own: every file is
/// synced to disk before it takes its name, and a slow disk (a busy shared
/// volume, an SD card) must not delay the parts low-latency viewers wait
/// for, which the packager cuts on its thread. The first failure (disk full,
/// say) stops the recording and is reported once; live viewing is not
/// affected. Dropping the recorder waits for what it was given to be
/// written, so a finished packager leaves a complete recording behind.
pub struct Recorder {
    writes: Option<std::sync::mpsc::SyncSender<Write>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

enum Write {
    Init(u32, Bytes),
    Segment(u64, Bytes, String),
}

/// Writes queued before the packager waits for the disk: about a minute of
/// two-second segments.
const QUEUED_WRITES: usize = 32;

impl Recorder {
    pub fn new(dir: PathBuf, reports: mpsc::UnboundedSender<Report>) -> Self {
        let (writes, queue) = std::sync::mpsc::sync_channel(QUEUED_WRITES);
        let told = reports.clone();
        let writer = std::thread::Builder::new()
            .name("record".into())
            .spawn(move || write_recording(&dir, &queue, &told));
        match writer {
            Ok(writer) => Self {
                writes: Some(writes),
                writer: Some(writer),
            },
            Err(e) => {
                let message = format!("recording stopped: no thread to write it ({e})");
                tracing::error!("{message}");
                let _ = reports.send(Report::RecordingFailed(message));
                Self {
                    writes: None,
                    writer: None,
                }
            }
        }
    }

    pub fn write_init(&mut self, period: u32, data: Bytes) {
        self.send(Write::Init(period, data));
    }

    pub fn write_segment(&mut self, sequence: u64, data: Bytes, playlist: String) {
        self.send(Write::Segment(sequence, data, playlist));
    }

    fn send(&mut self, write: Write) {
        // Blocks only when the disk is a minute behind; a writer that gave
        // up (a failure, reported) has hung up, and then nothing is sent.
        if let Some(writes) = &self.writes {
            if writes.send(write).is_err() {
                self.writes = None;
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.writes = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The recorder's thread: writes in the order given, until the recorder is
/// dropped or a write fails.
fn write_recording(
    dir: &Path,
    queue: &std::sync::mpsc::Receiver<Write>,
    reports: &mpsc::UnboundedSender<Report>,
) {
    for write in queue {
        let written = match write {
            Write::Init(period, data) => std::fs::create_dir_all(dir)
                .and_then(|()| write_atomically(&dir.join(init_uri(period)), &data)),
            Write::Segment(sequence, data, playlist) => {
                write_atomically(&dir.join(segment_uri(sequence)), &data)
                    .and_then(|()| write_atomically(&dir.join(PLAYLIST), playlist.as_bytes()))
            }
        };
        if let Err(e) = written {
            let message = format!("recording to {} stopped: {e}", dir.display());
            tracing::error!("{message}");
            let _ = reports.send(Report::RecordingFailed(message));
            return;
        }
    }
}

/// Replaces `path` with `data` so that readers see the old or the new file,
/// never half of one, and a crash leaves no half of one either.
pub use crate::files::write_atomically;

/// Reads back what is recorded of a broadcast so that a node can continue
/// it (see `Channel::resume`). Blocking: call on a blocking thread.
pub fn read_back(layout: &Layout, id: BroadcastId) -> io::Result<Recorded> {
    let mut recorded = Recorded::default();
    for rendition in Rendition::ALL {
        let dir = layout.rendition(id, rendition);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name();
            let period = name
                .to_str()
                .and_then(|n| n.strip_prefix("init-")?.strip_suffix(".mp4"))
                .and_then(|n| n.parse::<u32>().ok());
            if let Some(period) = period {
                recorded.next_period = recorded.next_period.max(period + 1);
            }
        }
        let text = match std::fs::read_to_string(dir.join(PLAYLIST)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let Some((playlist, _ended)) = hls::parse_recording(&text) else {
            tracing::warn!(broadcast = %id, rendition = rendition.as_str(), "unreadable recording playlist; starting that rendition afresh");
            continue;
        };
        if let Some(last) = playlist.segments().last() {
            recorded.next_period = recorded.next_period.max(last.period + 1);
            if rendition == Rendition::Source {
                recorded.end = last.start + last.duration;
            }
        }
        recorded.renditions.push((rendition, playlist));
    }
    Ok(recorded)
}

/// Closes a recording: every rendition's playlist on disk gets its end mark.
/// Returns the source rendition's playlist, if anything was recorded.
pub fn seal(layout: &Layout, id: BroadcastId) -> io::Result<Option<Playlist>> {
    let mut source = None;
    for rendition in Rendition::ALL {
        let path = layout.rendition(id, rendition).join(PLAYLIST);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let Some((mut playlist, ended)) = hls::parse_recording(&text) else {
            tracing::warn!(path = %path.display(), "unreadable recording playlist left as it is");
            continue;
        };
        if !ended {
            playlist.end();
            write_atomically(&path, playlist.render(View::Recording).as_bytes())?;
        }
        if rendition == Rendition::Source {
            source = Some(playlist);
        }
    }
    Ok(source.filter(|p| !p.segments().is_empty()))
}

/// Makes the poster and the downloadable MP4 of a sealed recording; returns
/// its duration. Blocking (libav): call on a blocking thread.
pub fn make_replay(
    layout: &Layout,
    id: BroadcastId,
    source: &Playlist,
) -> Result<Millis, MediaError> {
    let dir = layout.rendition(id, Rendition::Source);
    let mut periods: Vec<Period> = Vec::new();
    let mut current = None;
    for segment in source.segments() {
        if current != Some(segment.period) {
            current = Some(segment.period);
            periods.push(Period {
                init: dir.join(init_uri(segment.period)),
                segments: Vec::new(),
            });
        }
        if let Some(period) = periods.last_mut() {
            period.segments.push(dir.join(segment.uri()));
        }
    }
    let root = layout.broadcast(id);
    if let Some(first) = periods.first() {
        if let Err(e) = replay::poster(first, Duration::from_secs(2), &root.join(POSTER)) {
            tracing::warn!(broadcast = %id, error = %e, "no poster for the replay");
        }
    }
    replay::remux_to_mp4(&periods, &root.join(DOWNLOAD))?;
    Ok(source.duration())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_media_file_names_are_served() {
        for good in ["index.m3u8", "seg-0.m4s", "seg-123.m4s", "init-2.mp4"] {
            assert!(is_media_file(good), "{good}");
        }
        for bad in [
            "../secret",
            "seg-.m4s",
            "seg-1.m4s/..",
            "seg-1a.m4s",
            "init-1.mp4.part",
            "replay.mp4",
            "seg-99999999999999.m4s",
        ] {
            assert!(!is_media_file(bad), "{bad}");
        }
    }
}
