//! What an uploaded file is, and why an upload is refused, whatever it is
//! for: pictures and videos for notices, photos on feedback records.
//!
//! Uploads are judged by their content, not by their name: the first bytes
//! ([`sniff`]) must be a kind of picture or video, and the upload's claimed
//! type (content type or file name) must be of the same category
//! ([`check_claim`]). [`MediaUploadError`] says why an upload was refused or
//! could not be converted; its catalogue keys keep the `signage.upload.`
//! prefix under which they were first written.

use std::fmt;
use std::io;

/// A mebibyte, the unit size limits are shown in.
pub(crate) const MIB: u64 = 1024 * 1024;
/// How many leading bytes [`sniff`] needs to recognise every kind.
pub const SNIFF_LEN: usize = 512;

/// Why an upload was refused or could not be converted. The message is for
/// logs; people see the catalogue text of [`MediaUploadError::message_key`].
#[derive(Debug, thiserror::Error)]
pub enum MediaUploadError {
    #[error("the file is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: u64 },
    #[error("the file is not a picture")]
    NotAnImage,
    #[error("{format} files are not supported")]
    UnsupportedFormat { format: String },
    #[error("the upload claims to be {claimed:?} but holds {actual}")]
    TypeMismatch { claimed: String, actual: String },
    #[error("the picture has more than {max_pixels} pixels")]
    ImageTooLarge { max_pixels: u64 },
    #[error("damaged or incomplete file: {0}")]
    Corrupt(String),
    #[error("the file is not a video")]
    NotAVideo,
    #[error("the file has no video track")]
    NoVideoStream,
    #[error("the video is longer than {max_seconds} seconds")]
    VideoTooLong { max_seconds: u64 },
    #[error("the video's frames have more than {max_pixels} pixels")]
    VideoTooLarge { max_pixels: u64 },
    #[error("transcoding failed: {0}")]
    Transcode(String),
    #[error("transcoding was cancelled")]
    Cancelled,
    #[error("too many pictures are being read; try again shortly")]
    Busy,
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl MediaUploadError {
    /// Catalogue key of the message shown to the person who uploaded the file.
    pub fn message_key(&self) -> &'static str {
        match self {
            MediaUploadError::TooLarge { .. } => "signage.upload.too_large",
            MediaUploadError::NotAnImage => "signage.upload.not_an_image",
            MediaUploadError::UnsupportedFormat { .. } => "signage.upload.unsupported_format",
            MediaUploadError::TypeMismatch { .. } => "signage.upload.type_mismatch",
            MediaUploadError::ImageTooLarge { .. } => "signage.upload.image_too_large",
            MediaUploadError::Corrupt(_) => "signage.upload.corrupt",
            MediaUploadError::NotAVideo => "signage.upload.not_a_video",
            MediaUploadError::NoVideoStream => "signage.upload.no_video_stream",
            MediaUploadError::VideoTooLong { .. } => "signage.upload.video_too_long",
            MediaUploadError::VideoTooLarge { .. } => "signage.upload.video_too_large",
            MediaUploadError::Transcode(_) => "signage.upload.transcode_failed",
            MediaUploadError::Cancelled => "signage.upload.cancelled",
            MediaUploadError::Busy => "signage.upload.busy",
            MediaUploadError::Io(_) => "signage.upload.failed",
        }
    }

    /// The number the message mentions as `%{n}`, in the unit the message
    /// uses: MiB, megapixels or minutes.
    pub fn limit(&self) -> Option<u64> {
        match self {
            MediaUploadError::TooLarge { max_bytes } => Some(max_bytes / MIB),
            MediaUploadError::ImageTooLarge { max_pixels }
            | MediaUploadError::VideoTooLarge { max_pixels } => Some(max_pixels / 1_000_000),
            MediaUploadError::VideoTooLong { max_seconds } => Some(max_seconds / 60),
            _ => None,
        }
    }

    /// Whether the uploaded file is to blame (a 4xx), rather than the server.
    pub fn is_the_files_fault(&self) -> bool {
        !matches!(
            self,
            MediaUploadError::Transcode(_)
                | MediaUploadError::Cancelled
                | MediaUploadError::Io(_)
                | MediaUploadError::Busy
        )
    }
}

/// What an upload holds, as told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Jpeg,
    Png,
    Webp,
    Gif,
    /// HEIC and AVIF pictures (ISO BMFF with an image brand), which we cannot
    /// decode.
    Heif,
    /// ISO BMFF that is not QuickTime or HEIF: MP4, M4V, 3GP.
    Mp4,
    Mov,
    Matroska,
    WebM,
    Avi,
    /// MPEG transport stream, including camcorders' 192-byte-packet M2TS.
    MpegTs,
    /// MPEG program stream (`.mpg`, DVD).
    MpegPs,
    Flv,
    /// Windows Media (`.wmv`, `.asf`).
    Asf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaCategory {
    Image,
    Video,
}

impl MediaKind {
    pub fn category(self) -> MediaCategory {
        match self {
            MediaKind::Jpeg
            | MediaKind::Png
            | MediaKind::Webp
            | MediaKind::Gif
            | MediaKind::Heif => MediaCategory::Image,
            _ => MediaCategory::Video,
        }
    }

    /// The name people know the format by.
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Jpeg => "JPEG",
            MediaKind::Png => "PNG",
            MediaKind::Webp => "WebP",
            MediaKind::Gif => "GIF",
            MediaKind::Heif => "HEIC/AVIF",
            MediaKind::Mp4 => "MP4",
            MediaKind::Mov => "QuickTime",
            MediaKind::Matroska => "Matroska",
            MediaKind::WebM => "WebM",
            MediaKind::Avi => "AVI",
            MediaKind::MpegTs => "MPEG-TS",
            MediaKind::MpegPs => "MPEG-PS",
            MediaKind::Flv => "FLV",
            MediaKind::Asf => "Windows Media",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of media `bytes` starts with (give it [`SNIFF_LEN`] bytes), or
/// `None` if it is nothing we know.
pub fn sniff(bytes: &[u8]) -> Option<MediaKind> {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    let every_188_or_192 = |start: usize, stride: usize| {
        (0..3).all(|packet| bytes.get(start + packet * stride) == Some(&0x47))
    };
    const ASF_HEADER: [u8; 16] = [
        0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE,
        0x6C,
    ];
    let kind = if at(0, b"\xFF\xD8\xFF") {
        MediaKind::Jpeg
    } else if at(0, b"\x89PNG\r\n\x1A\n") {
        MediaKind::Png
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        MediaKind::Gif
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        MediaKind::Webp
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        MediaKind::Avi
    } else if at(4, b"ftyp") {
        iso_bmff_kind(bytes.get(8..12)?)
    } else if at(4, b"moov") || at(4, b"mdat") || at(4, b"wide") {
        // QuickTime from before the `ftyp` box.
        MediaKind::Mov
    } else if at(0, b"\x1A\x45\xDF\xA3") {
        // The EBML header names the document type near the start.
        let header = &bytes[..bytes.len().min(64)];
        if header.windows(4).any(|window| window == b"webm") {
            MediaKind::WebM
        } else {
            MediaKind::Matroska
        }
    } else if at(0, b"FLV\x01") {
        MediaKind::Flv
    } else if at(0, &ASF_HEADER) {
        MediaKind::Asf
    } else if at(0, b"\x00\x00\x01\xBA") {
        MediaKind::MpegPs
    } else if every_188_or_192(0, 188) || every_188_or_192(4, 192) {
        MediaKind::MpegTs
    } else {
        return None;
    };
    Some(kind)
}

fn iso_bmff_kind(major_brand: &[u8]) -> MediaKind {
    const IMAGE_BRANDS: [&[u8]; 12] = [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1",
        b"avif", b"avis",
    ];
    if major_brand == b"qt  " {
        MediaKind::Mov
    } else if IMAGE_BRANDS.contains(&major_brand) {
        MediaKind::Heif
    } else {
        MediaKind::Mp4
    }
}

/// The category an upload claims for itself: from a content type (`image/*`,
/// `video/*`) or else from a file name's extension. `claimed` is either, or
/// the content type, a space and the file name (`image/jpeg photo.jpg`).
/// `None` when it names nothing we take.
pub fn claimed_category(claimed: &str) -> Option<MediaCategory> {
    let claimed = claimed.trim().to_ascii_lowercase();
    let content_type = claimed.split(';').next().unwrap_or_default().trim();
    if content_type.starts_with("image/") {
        return Some(MediaCategory::Image);
    }
    if content_type.starts_with("video/") {
        return Some(MediaCategory::Video);
    }
    let file_name = claimed.rsplit(['/', '\\']).next().unwrap_or_default();
    let (_, extension) = file_name.rsplit_once('.')?;
    match extension {
        "jpg" | "jpeg" | "jpe" | "jfif" | "png" | "apng" | "webp" | "gif" | "heic" | "heif"
        | "avif" => Some(MediaCategory::Image),
        "mp4" | "m4v" | "mov" | "qt" | "3gp" | "3g2" | "mkv" | "webm" | "avi" | "ts" | "mts"
        | "m2ts" | "mpg" | "mpeg" | "vob" | "flv" | "wmv" | "asf" => Some(MediaCategory::Video),
        _ => None,
    }
}

/// Checks an upload's first bytes against what it claims to be and against
/// what is `expected` here, and returns the kind it holds.
///
/// Content we do not recognise is "not a picture" / "not a video"; content of
/// the other category than its name or type says (a picture named `.mp4`), or
/// a name or type we do not know, is a mismatch. Pictures may be named as
/// another picture format (a PNG named `.jpg`): they are encoded again anyway.
pub fn check_claim(
    head: &[u8],
    claimed: &str,
    expected: MediaCategory,
) -> Result<MediaKind, MediaUploadError> {
    let not_expected = || match expected {
        MediaCategory::Image => MediaUploadError::NotAnImage,
        MediaCategory::Video => MediaUploadError::NotAVideo,
    };
    let kind = sniff(head).ok_or_else(not_expected)?;
    if claimed_category(claimed) != Some(kind.category()) {
        return Err(MediaUploadError::TypeMismatch {
            claimed: claimed.chars().take(80).collect(),
            actual: kind.name().to_owned(),
        });
    }
    if kind.category() != expected {
        return Err(not_expected());
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_kinds_from_their_first_bytes() {
        let ts: Vec<u8> = (0..3)
            .flat_map(|_| [&[0x47u8][..], &[0; 187]].concat())
            .collect();
        let m2ts: Vec<u8> = (0..3)
            .flat_map(|_| [&[0u8; 4][..], &[0x47], &[0; 187]].concat())
            .collect();
        let cases: [(&[u8], Option<MediaKind>); 17] = [
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some(MediaKind::Jpeg)),
            (b"\x89PNG\r\n\x1A\n\0\0\0\x0DIHDR", Some(MediaKind::Png)),
            (b"GIF89a\x01\0", Some(MediaKind::Gif)),
            (b"RIFF\0\0\0\0WEBPVP8 ", Some(MediaKind::Webp)),
            (b"RIFF\0\0\0\0AVI LIST", Some(MediaKind::Avi)),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", Some(MediaKind::Mp4)),
            (b"\0\0\0\x14ftypqt  \0\0\x02\0", Some(MediaKind::Mov)),
            (b"\0\0\0\x18ftypheic\0\0\0\0", Some(MediaKind::Heif)),
            (b"\0\0\0\x1cftypavif\0\0\0\0", Some(MediaKind::Heif)),
            (
                b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm",
                Some(MediaKind::WebM),
            ),
            (
                b"\x1A\x45\xDF\xA3\xA3\x42\x82\x88matroska",
                Some(MediaKind::Matroska),
            ),
            (b"FLV\x01\x05", Some(MediaKind::Flv)),
            (b"\0\0\x01\xBA\x44", Some(MediaKind::MpegPs)),
            (&ts, Some(MediaKind::MpegTs)),
            (&m2ts, Some(MediaKind::MpegTs)),
            (b"Notice: the lift is out of order.", None),
            (b"", None),
        ];
        for (bytes, kind) in cases {
            assert_eq!(sniff(bytes), kind, "{:?}", String::from_utf8_lossy(bytes));
        }
        assert_eq!(MediaKind::Heif.category(), MediaCategory::Image);
        assert_eq!(MediaKind::WebM.category(), MediaCategory::Video);
    }

    #[test]
    fn claims_come_from_content_types_or_file_names() {
        use MediaCategory::{Image, Video};
        for (claimed, category) in [
            ("image/jpeg", Some(Image)),
            ("IMAGE/PNG; charset=binary", Some(Image)),
            ("video/quicktime", Some(Video)),
            ("电梯维修通知.JPG", Some(Image)),
            ("C:\\Users\\staff\\clip.mov", Some(Video)),
            ("holiday.final.webm", Some(Video)),
            ("image/jpeg 公告 照片.jpeg", Some(Image)),
            ("application/octet-stream clip.MP4", Some(Video)),
            (" 通知.png", Some(Image)),
            ("notes.txt", None),
            ("application/octet-stream", None),
            ("IMG_0001", None),
            ("", None),
        ] {
            assert_eq!(claimed_category(claimed), category, "{claimed}");
        }
    }
}
