//! Pictures and videos uploaded for notices: checked, cleaned, and made into
//! something every lobby box can show.
//!
//! Lobby boxes are cheap Android and Raspberry Pi browsers. They show JPEG and
//! PNG, and play H.264/AAC in MP4 up to 1080p; anything else is converted here.
//!
//! Uploads are judged by their content, not by their name
//! ([`crate::media::upload`], re-exported here).
//!
//! - Pictures ([`prepare_image`], from [`crate::media::picture`]) are decoded
//!   and encoded again, which strips all metadata (camera, GPS position)
//!   after applying the EXIF orientation.
//! - Videos are files on disk: [`inspect_video_upload`] checks one,
//!   [`VideoInfo::plays_on_lobby_boxes`] tells whether it can be shown as it
//!   is, [`remux_clean`] then copies it without its metadata (phones record
//!   where and on what a video was made), [`transcode_for_lobby`] converts it
//!   otherwise, and [`poster`] makes the still shown while it loads. Either
//!   job is stopped if it takes longer than [`processing_time_limit`].
//!
//! The libav work is in [`crate::media::file::video`]; what is here are the
//! lobby's rules: what is refused, what lobby boxes play, how long the work
//! may take.
//!
//! Everything here blocks: pictures are CPU work for `spawn_blocking`, videos
//! are libav work for a dedicated thread, at most
//! [`MAX_CONCURRENT_TRANSCODES`] at a time.

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::media::file::video::{self, read_head, VideoTarget};
use crate::media::upload::MIB;

pub use crate::media::file::video::{probe_video, VideoInfo};
pub use crate::media::picture::{
    prepare_image, PreparedImage, IMAGE_MAX_SIDE, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS,
};
pub use crate::media::upload::{
    check_claim, claimed_category, sniff, MediaCategory, MediaKind, MediaUploadError, SNIFF_LEN,
};

/// Video files larger than this are refused, by the web layer as it receives
/// them and by [`inspect_video_upload`]. Phones record 1080p at about
/// 17 Mbit/s, so this is some four minutes of phone video.
pub const MAX_VIDEO_BYTES: u64 = 512 * MIB;
/// Longer videos are refused.
pub const MAX_VIDEO_DURATION: Duration = Duration::from_secs(10 * 60);
/// Videos whose frames have more pixels than this (8K) are refused: decoding
/// them takes gigabytes.
pub const MAX_VIDEO_PIXELS: u64 = 8192 * 4320;
/// What lobby boxes play: the long side of the picture at most this…
pub const LOBBY_LONG_SIDE: u32 = 1920;
/// …and the short side at most this, in either orientation.
pub const LOBBY_SHORT_SIDE: u32 = 1080;
/// Faster video (slow-motion phone clips) is more than the boxes decode.
pub const LOBBY_MAX_FRAME_RATE: u32 = 60;
/// Transcodes use every core; run one at a time (the semaphore's permits).
pub const MAX_CONCURRENT_TRANSCODES: usize = 1;
/// No transcode or remux may take longer than this, however long the video.
pub const MAX_PROCESSING_TIME: Duration = Duration::from_secs(60 * 60);
/// The poster frame is the first at or after this time.
const POSTER_AT: Duration = Duration::from_secs(1);

/// What lobby boxes play, and what they are given at most.
pub const LOBBY: VideoTarget = VideoTarget {
    long_side: LOBBY_LONG_SIDE,
    short_side: LOBBY_SHORT_SIDE,
    max_frame_rate: LOBBY_MAX_FRAME_RATE,
    max_duration: MAX_VIDEO_DURATION,
    max_pixels: MAX_VIDEO_PIXELS,
};

impl VideoInfo {
    /// Whether lobby boxes play this file as it is: MP4 (not QuickTime or
    /// 3GP), H.264 up to the High profile in 8-bit 4:2:0, AAC or no audio,
    /// within 1920×1080 in either orientation and at most 60 frames a second.
    pub fn plays_on_lobby_boxes(&self) -> bool {
        self.plays_as_is(&LOBBY)
    }
}

/// Checks an uploaded video file: its size, its content against what it
/// claims to be (content type or file name), that libav reads a video track
/// from it, and the limits of [`VideoInfo::check_limits`]. Reads only the
/// headers; blocking I/O for a dedicated thread or `spawn_blocking`.
pub fn inspect_video_upload(path: &Path, claimed: &str) -> Result<VideoInfo, MediaUploadError> {
    if fs::metadata(path)?.len() > MAX_VIDEO_BYTES {
        return Err(MediaUploadError::TooLarge {
            max_bytes: MAX_VIDEO_BYTES,
        });
    }
    check_claim(&read_head(path)?, claimed, MediaCategory::Video)?;
    let info = probe_video(path)?;
    info.check_limits(&LOBBY)?;
    Ok(info)
}

/// How long transcoding or copying a video `duration` long may take before
/// it is stopped: three times as long as the video plays, and five minutes
/// more, but at most [`MAX_PROCESSING_TIME`].
pub fn processing_time_limit(duration: Duration) -> Duration {
    (duration * 3 + Duration::from_secs(5 * 60)).min(MAX_PROCESSING_TIME)
}

/// A poster for the video at `path`: a JPEG of its first frame at or after one
/// second in (its first frame if it is shorter), at most 1280 pixels wide and
/// turned upright. Blocking libav work: run it on a dedicated thread.
pub fn poster(path: &Path) -> Result<Vec<u8>, MediaUploadError> {
    video::poster(path, POSTER_AT)
}

/// Converts the video at `input` into what lobby boxes play, at `output`: MP4
/// with its index first, H.264 (High profile, 4:2:0, CRF 23, a keyframe every
/// two seconds) scaled down to fit 1920×1080 in either orientation, at most 60
/// frames a second, and 48 kHz stereo AAC at 128 kbit/s if it has sound. The
/// rotation the source asks players for is kept; metadata is not.
///
/// Videos over [`MAX_VIDEO_DURATION`] are refused before any work. The file
/// is written under a temporary name next to `output` and renamed when
/// complete, so `output` never holds half a video. Setting `cancel` stops the
/// work within a packet or so, with [`MediaUploadError::Cancelled`].
///
/// Blocking and CPU-bound for minutes: run it on a dedicated thread, at most
/// [`MAX_CONCURRENT_TRANSCODES`] at a time. Returns what the output holds.
pub fn transcode_for_lobby(
    input: &Path,
    output: &Path,
    cancel: &AtomicBool,
) -> Result<VideoInfo, MediaUploadError> {
    video::transcode(input, output, &LOBBY, cancel)
}

/// Copies the video at `input`, one lobby boxes play as it is, into a fresh
/// MP4 at `output` without decoding it and without its metadata (see
/// [`video::remux_clean`]). A video the boxes do not play as it is is refused
/// with [`MediaUploadError::Transcode`]: that one needs
/// [`transcode_for_lobby`].
pub fn remux_clean(
    input: &Path,
    output: &Path,
    cancel: &AtomicBool,
) -> Result<VideoInfo, MediaUploadError> {
    video::remux_clean(input, output, &LOBBY, cancel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::picture::testing::{encoded, gradient, jpeg};
    use ffmpeg_next::Rational;
    use image::{DynamicImage, ImageFormat};
    use std::io;
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    #[test]
    fn every_error_has_its_own_catalogue_key() {
        let errors = [
            MediaUploadError::TooLarge {
                max_bytes: MAX_IMAGE_BYTES,
            },
            MediaUploadError::NotAnImage,
            MediaUploadError::UnsupportedFormat {
                format: "HEIC".into(),
            },
            MediaUploadError::TypeMismatch {
                claimed: "a.mp4".into(),
                actual: "PNG".into(),
            },
            MediaUploadError::ImageTooLarge {
                max_pixels: MAX_IMAGE_PIXELS,
            },
            MediaUploadError::Corrupt("x".into()),
            MediaUploadError::NotAVideo,
            MediaUploadError::NoVideoStream,
            MediaUploadError::VideoTooLong {
                max_seconds: MAX_VIDEO_DURATION.as_secs(),
            },
            MediaUploadError::VideoTooLarge {
                max_pixels: MAX_VIDEO_PIXELS,
            },
            MediaUploadError::Transcode("x".into()),
            MediaUploadError::Cancelled,
            MediaUploadError::Io(io::ErrorKind::Other.into()),
        ];
        let mut keys: Vec<&str> = errors.iter().map(MediaUploadError::message_key).collect();
        assert!(keys.iter().all(|key| key.starts_with("signage.upload.")));
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), errors.len());
        assert_eq!(errors[0].limit(), Some(10));
        assert_eq!(errors[4].limit(), Some(24));
        assert_eq!(errors[8].limit(), Some(10));
        assert!(errors[1].is_the_files_fault());
        assert!(!errors[10].is_the_files_fault());
    }

    // --- Videos

    const H264_AAC: &[&str] = &[
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
    ];

    fn ffmpeg(args: &[&str]) {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y"])
            .args(args)
            .status()
            .expect("the ffmpeg CLI runs");
        assert!(status.success(), "ffmpeg {args:?}");
    }

    /// A test clip of `seconds` from lavfi's `video` source (testsrc2
    /// options), with a tone at `sound` Hz sample rate unless `None`, encoded
    /// with `codec_args` into the container `name`'s extension implies.
    fn clip(
        dir: &Path,
        name: &str,
        video: &str,
        sound: Option<u32>,
        seconds: &str,
        codec_args: &[&str],
    ) -> PathBuf {
        let path = dir.join(name);
        let video = format!("testsrc2={video}");
        let mut args = vec!["-f", "lavfi", "-i", &video];
        let sine = sound.map(|rate| format!("sine=frequency=440:sample_rate={rate}"));
        if let Some(sine) = &sine {
            args.extend(["-f", "lavfi", "-i", sine]);
        }
        args.extend(["-t", seconds]);
        args.extend(codec_args);
        args.push(path.to_str().unwrap());
        ffmpeg(&args);
        path
    }

    fn ffprobe(path: &Path, args: &[&str]) -> String {
        let output = Command::new("ffprobe")
            .args(["-v", "error"])
            .args(args)
            .args(["-of", "csv=p=0"])
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn audio_format(path: &Path) -> String {
        ffprobe(
            path,
            &[
                "-select_streams",
                "a",
                "-show_entries",
                "stream=sample_rate,channels",
            ],
        )
    }

    fn keyframe_times(path: &Path) -> Vec<f64> {
        let times = ffprobe(
            path,
            &[
                "-select_streams",
                "v",
                "-skip_frame",
                "nokey",
                "-show_entries",
                "frame=pts_time",
            ],
        );
        let mut times: Vec<f64> = times
            .lines()
            .map(|line| line.trim_end_matches(',').parse().unwrap())
            .collect();
        times.sort_by(f64::total_cmp);
        times
    }

    fn video_frames(path: &Path) -> usize {
        ffprobe(
            path,
            &[
                "-select_streams",
                "v",
                "-count_packets",
                "-show_entries",
                "stream=nb_read_packets",
            ],
        )
        // A rotated track's side data adds an empty column.
        .trim_end_matches(',')
        .parse()
        .unwrap()
    }

    /// Top-level ISO BMFF box types, in order.
    fn boxes(path: &Path) -> Vec<String> {
        let data = fs::read(path).unwrap();
        let mut kinds = Vec::new();
        let mut at = 0;
        while at + 8 <= data.len() {
            let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            kinds.push(String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned());
            if size < 8 {
                break;
            }
            at += size;
        }
        kinds
    }

    fn is_faststart(path: &Path) -> bool {
        let kinds = boxes(path);
        let at = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
        at("moov") < at("mdat")
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".tmp"))
            .collect()
    }

    /// Checks a transcode's output is what the boxes play.
    fn assert_lobby_ready(info: &VideoInfo, path: &Path, seconds: f64) {
        assert!(info.plays_on_lobby_boxes(), "{info:?}");
        assert_eq!(info, &probe_video(path).unwrap());
        assert_eq!(info.video_codec, "h264");
        assert_eq!(info.video_profile.as_deref(), Some("High"));
        assert_eq!(info.brand.as_deref(), Some("isom"));
        assert!(
            (info.duration.as_secs_f64() - seconds).abs() < 0.15,
            "{info:?}"
        );
        assert!(is_faststart(path));
        assert!(leftovers(path.parent().unwrap()).is_empty());
        // Audio, if any, starts and ends with the picture.
        let streams = ffprobe(path, &["-show_entries", "stream=start_time,duration"]);
        for line in streams.lines() {
            let times: Vec<f64> = line.split(',').map(|t| t.parse().unwrap()).collect();
            assert!(times[0].abs() < 0.03, "{streams}");
            assert!((times[1] - seconds).abs() < 0.1, "{streams}");
        }
    }

    #[test]
    fn probing_tells_what_lobby_boxes_play_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let small = "size=320x240:rate=25";
        let cases = [
            (
                clip(
                    d,
                    "ready.mp4",
                    "size=1920x1080:rate=25",
                    Some(48000),
                    "0.4",
                    H264_AAC,
                ),
                true,
            ),
            (
                clip(
                    d,
                    "portrait.mp4",
                    "size=1080x1920:rate=25",
                    Some(48000),
                    "0.4",
                    H264_AAC,
                ),
                true,
            ),
            (clip(d, "silent.mp4", small, None, "0.4", H264_AAC), true),
            (
                clip(
                    d,
                    "large.mp4",
                    "size=2560x1440:rate=25",
                    Some(48000),
                    "0.4",
                    H264_AAC,
                ),
                false,
            ),
            (
                clip(
                    d,
                    "fast.mp4",
                    "size=320x240:rate=120",
                    None,
                    "0.4",
                    H264_AAC,
                ),
                false,
            ),
            (
                clip(
                    d,
                    "hevc.mp4",
                    small,
                    Some(48000),
                    "0.4",
                    &[
                        "-c:v",
                        "libx265",
                        "-x265-params",
                        "log-level=error",
                        "-c:a",
                        "aac",
                    ],
                ),
                false,
            ),
            (
                clip(
                    d,
                    "vp8.webm",
                    small,
                    Some(48000),
                    "0.4",
                    &["-c:v", "libvpx", "-c:a", "libvorbis"],
                ),
                false,
            ),
            (
                clip(d, "apple.mov", small, Some(48000), "0.4", H264_AAC),
                false,
            ),
            (
                clip(
                    d,
                    "mp3.mp4",
                    small,
                    Some(48000),
                    "0.4",
                    &[
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-pix_fmt",
                        "yuv420p",
                        "-c:a",
                        "libmp3lame",
                    ],
                ),
                false,
            ),
            (
                clip(
                    d,
                    "444.mp4",
                    small,
                    None,
                    "0.4",
                    &[
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-pix_fmt",
                        "yuv444p",
                    ],
                ),
                false,
            ),
        ];
        for (path, plays) in &cases {
            let info = probe_video(path).unwrap();
            assert_eq!(info.plays_on_lobby_boxes(), *plays, "{info:?}");
            assert!(info.check_limits(&LOBBY).is_ok());
        }

        let ready = probe_video(&cases[0].0).unwrap();
        assert_eq!(ready.container, "mov,mp4,m4a,3gp,3g2,mj2");
        assert_eq!((ready.width, ready.height, ready.rotation), (1920, 1080, 0));
        assert_eq!(ready.video_codec, "h264");
        assert_eq!(ready.pixel_format, "yuv420p");
        assert_eq!(ready.audio_codec.as_deref(), Some("aac"));
        assert!((ready.frame_rate - 25.0).abs() < 0.01);
        assert!(
            (ready.duration.as_secs_f64() - 0.4).abs() < 0.1,
            "{ready:?}"
        );
        assert_eq!(probe_video(&cases[2].0).unwrap().audio_codec, None);
        let webm = probe_video(&cases[6].0).unwrap();
        assert_eq!(
            (webm.container.as_str(), webm.video_codec.as_str()),
            ("matroska,webm", "vp8")
        );
        assert_eq!(webm.audio_codec.as_deref(), Some("vorbis"));
        assert_eq!(probe_video(&cases[5].0).unwrap().video_codec, "hevc");
        assert_eq!(
            probe_video(&cases[7].0).unwrap().brand.as_deref(),
            Some("qt")
        );
        let high444 = probe_video(&cases[9].0).unwrap();
        assert_eq!(
            high444.video_profile.as_deref(),
            Some("High 4:4:4 Predictive")
        );
    }

    #[test]
    fn a_1440p_video_is_scaled_to_1080p() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "large.mp4",
            "size=2560x1440:rate=25",
            Some(44100),
            "2",
            H264_AAC,
        );
        let output = dir.path().join("lobby.mp4");

        let info = transcode_for_lobby(&input, &output, &AtomicBool::new(false)).unwrap();

        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.pixel_format, "yuv420p");
        assert_eq!(info.audio_codec.as_deref(), Some("aac"));
        assert_lobby_ready(&info, &output, 2.0);
        assert_eq!(audio_format(&output), "48000,2");
        assert_eq!(video_frames(&output), 50);
    }

    #[test]
    fn hevc_in_matroska_becomes_h264_with_stereo_aac_and_regular_keyframes() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "hevc.mkv",
            "size=640x360:rate=25",
            Some(22050),
            "4.5",
            &[
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=error",
                "-c:a",
                "flac",
            ],
        );
        let output = dir.path().join("lobby.mp4");

        let info = transcode_for_lobby(&input, &output, &AtomicBool::new(false)).unwrap();

        assert_eq!((info.width, info.height), (640, 360));
        assert_lobby_ready(&info, &output, 4.5);
        assert_eq!(audio_format(&output), "48000,2");
        assert_eq!(keyframe_times(&output), [0.0, 2.0, 4.0]);
    }

    #[test]
    fn vp8_webm_and_mpeg4_avi_become_h264() {
        let dir = tempfile::tempdir().unwrap();
        let webm = clip(
            dir.path(),
            "vp8.webm",
            "size=480x270:rate=30",
            Some(48000),
            "1",
            &["-c:v", "libvpx", "-c:a", "libvorbis"],
        );
        // Anamorphic: 720×576 pixels shown 16:9 wide.
        let avi = clip(
            dir.path(),
            "mpeg4.avi",
            "size=720x576:rate=25:sar=64/45",
            Some(44100),
            "1",
            &[
                "-c:v",
                "mpeg4",
                "-q:v",
                "5",
                "-c:a",
                "libmp3lame",
                "-ac",
                "1",
            ],
        );

        let from_webm =
            transcode_for_lobby(&webm, &dir.path().join("webm.mp4"), &AtomicBool::new(false))
                .unwrap();
        let from_avi =
            transcode_for_lobby(&avi, &dir.path().join("avi.mp4"), &AtomicBool::new(false))
                .unwrap();

        assert_eq!((from_webm.width, from_webm.height), (480, 270));
        assert_lobby_ready(&from_webm, &dir.path().join("webm.mp4"), 1.0);
        assert_eq!((from_avi.width, from_avi.height), (1024, 576));
        assert_lobby_ready(&from_avi, &dir.path().join("avi.mp4"), 1.0);
        assert_eq!(audio_format(&dir.path().join("avi.mp4")), "48000,2");
    }

    #[test]
    fn fast_silent_video_stays_silent_at_60_frames_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "fast.mp4",
            "size=320x240:rate=120",
            None,
            "1",
            H264_AAC,
        );
        let output = dir.path().join("lobby.mp4");

        let info = transcode_for_lobby(&input, &output, &AtomicBool::new(false)).unwrap();

        assert_eq!(info.audio_codec, None);
        assert!((info.frame_rate - 60.0).abs() < 1.0, "{info:?}");
        assert_lobby_ready(&info, &output, 1.0);
        assert_eq!(video_frames(&output), 60);
    }

    #[test]
    fn portrait_phone_video_keeps_its_rotation_and_gets_an_upright_poster() {
        let dir = tempfile::tempdir().unwrap();
        let plain = clip(
            dir.path(),
            "plain.mp4",
            "size=320x180:rate=25",
            Some(48000),
            "0.6",
            H264_AAC,
        );
        let phone = dir.path().join("phone.mp4");
        ffmpeg(&[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            phone.to_str().unwrap(),
        ]);

        let info = probe_video(&phone).unwrap();
        assert_eq!((info.width, info.height), (320, 180));
        assert!(matches!(info.rotation, 90 | 270), "{info:?}");
        assert!(info.plays_on_lobby_boxes());

        let output = dir.path().join("lobby.mp4");
        let transcoded = transcode_for_lobby(&phone, &output, &AtomicBool::new(false)).unwrap();
        assert_eq!(transcoded.rotation, info.rotation);
        assert_eq!((transcoded.width, transcoded.height), (320, 180));

        // The poster is turned as the ffmpeg CLI turns the video.
        let poster = image::load_from_memory(&poster(&phone).unwrap())
            .unwrap()
            .to_luma8();
        assert_eq!(poster.dimensions(), (180, 320));
        let reference = dir.path().join("upright.png");
        ffmpeg(&[
            "-i",
            phone.to_str().unwrap(),
            "-frames:v",
            "1",
            reference.to_str().unwrap(),
        ]);
        let reference = image::open(&reference).unwrap().to_luma8();
        assert_eq!(reference.dimensions(), (180, 320));
        let difference = |other: &image::GrayImage| {
            let sum: u64 = poster
                .pixels()
                .zip(other.pixels())
                .map(|(a, b)| u64::from(a[0].abs_diff(b[0])))
                .sum();
            sum / (180 * 320)
        };
        let upside_down = image::imageops::rotate180(&reference);
        assert!(difference(&reference) < 12, "{}", difference(&reference));
        assert!(difference(&upside_down) > 3 * difference(&reference).max(5));
    }

    #[test]
    fn a_playable_video_is_copied_without_where_when_and_on_what_it_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let plain = clip(
            dir.path(),
            "plain.mp4",
            "size=320x240:rate=25",
            Some(48000),
            "1",
            H264_AAC,
        );
        let phone = dir.path().join("phone.mp4");
        ffmpeg(&[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata",
            "location=+39.9+116.4/",
            "-metadata",
            "creation_time=2024-05-01T08:00:00Z",
            "-metadata:s:v",
            "creation_time=2024-05-01T08:00:00Z",
            "-metadata:s:v",
            "handler_name=SecretPhone",
            "-metadata:s:v",
            "rotate=90",
            phone.to_str().unwrap(),
        ]);
        let tags = |path: &Path| ffprobe(path, &["-show_entries", "format_tags:stream_tags"]);
        let private = ["+39.9", "2024-05-01", "SecretPhone"];
        assert!(private.iter().all(|value| tags(&phone).contains(value)));
        let output = dir.path().join("lobby.mp4");

        let info = remux_clean(&phone, &output, &AtomicBool::new(false)).unwrap();

        let left = tags(&output);
        assert!(private.iter().all(|value| !left.contains(value)), "{left}");
        let bytes = fs::read(&output).unwrap();
        assert!(!bytes.windows(5).any(|w| w == b"+39.9"));
        assert!(!bytes.windows(11).any(|w| w == b"SecretPhone"));
        assert!(info.plays_on_lobby_boxes(), "{info:?}");
        assert_eq!(info, probe_video(&output).unwrap());
        assert_eq!(info.rotation, probe_video(&phone).unwrap().rotation);
        assert_ne!(info.rotation, 0);
        assert_eq!(info.audio_codec.as_deref(), Some("aac"));
        assert!((info.duration.as_secs_f64() - 1.0).abs() < 0.1, "{info:?}");
        assert_eq!(video_frames(&output), 25);
        assert!(is_faststart(&output));
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn only_playable_videos_are_copied_and_copying_can_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let mov = clip(
            dir.path(),
            "apple.mov",
            "size=160x120:rate=25",
            None,
            "1",
            H264_AAC,
        );
        let mp4 = clip(
            dir.path(),
            "clip.mp4",
            "size=160x120:rate=25",
            None,
            "1",
            H264_AAC,
        );
        let output = dir.path().join("lobby.mp4");

        let refused = remux_clean(&mov, &output, &AtomicBool::new(false));
        let cancelled = remux_clean(&mp4, &output, &AtomicBool::new(true));

        assert!(
            matches!(refused, Err(MediaUploadError::Transcode(_))),
            "{refused:?}"
        );
        assert!(
            matches!(cancelled, Err(MediaUploadError::Cancelled)),
            "{cancelled:?}"
        );
        assert!(!output.exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn processing_may_take_three_times_the_video_and_five_minutes_up_to_an_hour() {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(processing_time_limit(Duration::ZERO), minutes(5));
        assert_eq!(processing_time_limit(minutes(2)), minutes(11));
        assert_eq!(processing_time_limit(minutes(10)), minutes(35));
        assert_eq!(processing_time_limit(minutes(30)), MAX_PROCESSING_TIME);
    }

    #[test]
    fn posters_are_jpegs_from_one_second_in_or_the_first_frame() {
        let dir = tempfile::tempdir().unwrap();
        for (name, size, seconds) in [
            ("long.mp4", "size=1920x1080:rate=25", "1.5"),
            ("short.mp4", "size=320x240:rate=25", "0.3"),
        ] {
            let video = clip(dir.path(), name, size, None, seconds, H264_AAC);

            let poster = poster(&video).unwrap();

            assert_eq!(&poster[..3], b"\xFF\xD8\xFF");
            let image = image::load_from_memory_with_format(&poster, ImageFormat::Jpeg).unwrap();
            let expected = if name == "long.mp4" {
                (1280, 720)
            } else {
                (320, 240)
            };
            assert_eq!((image.width(), image.height()), expected);
        }
        assert!(leftovers(&std::env::temp_dir())
            .iter()
            .all(|name| !name.contains(&format!("pavilion-{}", std::process::id()))));
    }

    #[test]
    fn a_cancelled_transcode_stops_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "clip.mp4",
            "size=320x240:rate=25",
            Some(48000),
            "1",
            H264_AAC,
        );
        let output = dir.path().join("lobby.mp4");

        let refused = transcode_for_lobby(&input, &output, &AtomicBool::new(true));

        assert!(
            matches!(refused, Err(MediaUploadError::Cancelled)),
            "{refused:?}"
        );
        assert!(!output.exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn cancelling_from_another_thread_stops_a_running_transcode() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "clip.mp4",
            "size=1280x720:rate=25",
            None,
            "20",
            &["-c:v", "libx264", "-preset", "ultrafast", "-crf", "40"],
        );
        let output = dir.path().join("lobby.mp4");
        let cancel = AtomicBool::new(false);

        let started = Instant::now();
        let refused = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                cancel.store(true, Ordering::Relaxed);
            });
            transcode_for_lobby(&input, &output, &cancel)
        });

        assert!(
            matches!(refused, Err(MediaUploadError::Cancelled)),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(!output.exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn files_that_are_not_readable_videos_are_refused_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let text = d.join("notice.mp4");
        fs::write(
            &text,
            "The water will be off on Tuesday from 9 to 12.\n".repeat(20),
        )
        .unwrap();
        let picture = d.join("picture.mp4");
        fs::write(&picture, jpeg(gradient(64, 48))).unwrap();
        let whole = clip(
            d,
            "whole.mp4",
            "size=320x240:rate=25",
            Some(48000),
            "1",
            H264_AAC,
        );
        let data = fs::read(&whole).unwrap();
        // The index (moov) comes last, so a cut-off file has none.
        let truncated = d.join("truncated.mp4");
        fs::write(&truncated, &data[..data.len() / 2]).unwrap();
        let sound = d.join("sound.m4a");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "0.5",
            "-c:a",
            "aac",
            sound.to_str().unwrap(),
        ]);
        let empty = d.join("empty.mp4");
        fs::write(&empty, b"").unwrap();
        let output = d.join("out.mp4");
        let no = AtomicBool::new(false);

        for (path, expected) in [
            (&text, "not_a_video"),
            (&picture, "not_a_video"),
            (&empty, "not_a_video"),
            (&truncated, "corrupt"),
            (&sound, "no_video_stream"),
        ] {
            let key = |result: Result<(), MediaUploadError>| result.unwrap_err().message_key();
            let expected = format!("signage.upload.{expected}");
            assert_eq!(key(probe_video(path).map(drop)), expected, "{path:?}");
            assert_eq!(key(poster(path).map(drop)), expected, "{path:?}");
            assert_eq!(
                key(transcode_for_lobby(path, &output, &no).map(drop)),
                expected,
                "{path:?}"
            );
        }
        assert!(matches!(
            probe_video(&d.join("missing.mp4")),
            Err(MediaUploadError::Io(_))
        ));
        assert!(!output.exists());
        assert!(leftovers(d).is_empty());
    }

    #[test]
    fn a_video_cut_short_after_its_index_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let whole = clip(
            dir.path(),
            "whole.mp4",
            "size=320x240:rate=25",
            Some(48000),
            "4",
            &[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-c:a",
                "aac",
                "-movflags",
                "+faststart",
            ],
        );
        let data = fs::read(&whole).unwrap();
        let truncated = dir.path().join("truncated.mp4");
        fs::write(&truncated, &data[..data.len() / 3]).unwrap();

        assert!(probe_video(&truncated).is_ok(), "the index is whole");
        let refused = transcode_for_lobby(
            &truncated,
            &dir.path().join("out.mp4"),
            &AtomicBool::new(false),
        );
        assert!(
            matches!(refused, Err(MediaUploadError::Corrupt(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn uploads_are_checked_against_their_claim_and_length() {
        let dir = tempfile::tempdir().unwrap();
        let video = clip(
            dir.path(),
            "clip.mp4",
            "size=160x120:rate=25",
            Some(48000),
            "0.4",
            H264_AAC,
        );
        let picture = dir.path().join("photo.png");
        fs::write(
            &picture,
            encoded(DynamicImage::ImageRgb8(gradient(40, 30)), ImageFormat::Png),
        )
        .unwrap();
        let long = clip(
            dir.path(),
            "long.mp4",
            "size=16x16:rate=1",
            None,
            "660",
            &["-c:v", "libx264", "-preset", "ultrafast"],
        );

        assert!(inspect_video_upload(&video, "video/mp4").is_ok());
        assert!(inspect_video_upload(&video, "clip.MOV").is_ok());
        assert!(matches!(
            inspect_video_upload(&video, "clip.jpg"),
            Err(MediaUploadError::TypeMismatch { ref actual, .. }) if actual == "MP4"
        ));
        assert!(matches!(
            inspect_video_upload(&picture, "photo.mp4"),
            Err(MediaUploadError::TypeMismatch { .. })
        ));
        assert!(matches!(
            inspect_video_upload(&picture, "photo.png"),
            Err(MediaUploadError::NotAVideo)
        ));
        assert!(matches!(
            inspect_video_upload(&long, "long.mp4"),
            Err(MediaUploadError::VideoTooLong { max_seconds: 600 })
        ));

        let started = Instant::now();
        let refused =
            transcode_for_lobby(&long, &dir.path().join("out.mp4"), &AtomicBool::new(false));
        assert!(
            matches!(refused, Err(MediaUploadError::VideoTooLong { .. })),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused before transcoding"
        );
    }

    #[test]
    fn lobby_sizes_fit_1080p_either_way_round() {
        let square = Rational(1, 1);
        assert_eq!(LOBBY.output_size(2560, 1440, square), (1920, 1080));
        assert_eq!(LOBBY.output_size(3840, 2160, square), (1920, 1080));
        assert_eq!(LOBBY.output_size(2160, 3840, square), (1080, 1920));
        assert_eq!(LOBBY.output_size(1920, 1080, square), (1920, 1080));
        assert_eq!(LOBBY.output_size(640, 360, Rational(0, 1)), (640, 360));
        assert_eq!(LOBBY.output_size(4000, 1000, square), (1920, 480));
        assert_eq!(LOBBY.output_size(1440, 1440, square), (1080, 1080));
        assert_eq!(LOBBY.output_size(321, 241, square), (320, 240));
        assert_eq!(LOBBY.output_size(720, 576, Rational(64, 45)), (1024, 576));
        assert_eq!(LOBBY.output_size(1, 1, square), (2, 2));
        assert!(LOBBY.fits(1080, 1920) && LOBBY.fits(1920, 1080) && !LOBBY.fits(1920, 1200));
    }
}
