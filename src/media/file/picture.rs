//! Pictures from uploads (notice images, photos on feedback records): checked
//! against what they claim to be and against the limits, decoded, and encoded
//! again, which strips all metadata (camera, GPS position) after applying the
//! EXIF orientation.
//!
//! Everything here is CPU work for `tokio::task::spawn_blocking`.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader};
use sha2::{Digest, Sha256};

use super::upload::{check_claim, MediaCategory, MediaKind, MediaUploadError, MIB};

/// Pictures larger than this are refused before anything else is done.
pub const MAX_IMAGE_BYTES: u64 = 10 * MIB;
/// Pictures with more pixels than this are refused from their header, before
/// decoding (a small file can claim a huge picture: an 8000×5000 PNG of a
/// few kilobytes decodes to 160 MB of RGBA and seconds of CPU). 24 Mpx takes
/// the photos people send: phones save 12 Mpx (4032×3024; their 48–200 Mpx
/// sensors bin to that by default), cameras up to 24 Mpx (6000×4000).
pub const MAX_IMAGE_PIXELS: u64 = 24_000_000;
/// Prepared pictures fit in a square this many pixels wide.
pub const IMAGE_MAX_SIDE: u32 = 1920;

const JPEG_QUALITY: u8 = 85;
/// What one decode may allocate: the largest picture let through, as 8-bit
/// RGBA (24 Mpx × 4 = 96 MB), with room for the decoder's own buffers. A
/// 16-bit picture near the pixel limit needs more and is refused as too
/// large; turning a picture by its EXIF orientation makes one more copy.
/// With at most [`DecodeSlots`] decodes at once, memory stays bounded.
const MAX_DECODED_BYTES: u64 = 128 * MIB;
const JPEG: &str = "image/jpeg";
const PNG: &str = "image/png";

/// Caps the pictures decoded at once (each takes up to [`MAX_DECODED_BYTES`]
/// and a core for a second or two) and counts them. Who sends pictures waits
/// at most `wait` for a slot, then is told the server is busy
/// ([`MediaUploadError::Busy`]).
pub struct DecodeSlots {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
    /// Decodes started.
    pub decodes: prometheus::IntCounter,
    /// Pictures refused because every slot stayed taken.
    pub busy: prometheus::IntCounter,
}

impl DecodeSlots {
    /// How long an upload waits for a slot before it is refused.
    pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

    /// `slots` decodes at once (at least one).
    pub fn new(slots: usize, wait: std::time::Duration) -> Self {
        Self {
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            wait,
            decodes: prometheus::IntCounter::new(
                "image_decodes_total",
                "Uploaded pictures decoded (notice pictures, record photos)",
            )
            .expect("a valid metric"),
            busy: prometheus::IntCounter::new(
                "image_decodes_busy_total",
                "Uploaded pictures refused because every decode slot stayed taken",
            )
            .expect("a valid metric"),
        }
    }

    /// One slot per core, at most four: decoding is CPU work.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores.min(4), Self::WAIT)
    }

    /// Runs `job` (a decode) on the blocking pool once a slot is free. The
    /// slot is held until the job ends, even if the caller stops waiting.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, MediaUploadError> + Send + 'static,
    ) -> Result<T, MediaUploadError> {
        let slot = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                self.busy.inc();
                return Err(MediaUploadError::Busy);
            }
        };
        self.decodes.inc();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job()
        })
        .await
        .map_err(|_| MediaUploadError::Corrupt("the picture could not be read".into()))?
    }

    /// [`prepare_image`] in a slot.
    pub async fn prepare_image(
        &self,
        bytes: Vec<u8>,
        claimed: String,
    ) -> Result<PreparedImage, MediaUploadError> {
        self.run(move || prepare_image(&bytes, &claimed)).await
    }

    /// [`prepare_image_with_thumbnail`] in a slot.
    pub async fn prepare_image_with_thumbnail(
        &self,
        bytes: Vec<u8>,
        claimed: String,
        thumbnail_side: u32,
    ) -> Result<(PreparedImage, PreparedImage), MediaUploadError> {
        self.run(move || prepare_image_with_thumbnail(&bytes, &claimed, thumbnail_side))
            .await
    }
}

/// A picture ready to store and serve: re-encoded, without metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedImage {
    pub bytes: Vec<u8>,
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

impl PreparedImage {
    /// The file extension that goes with the content type.
    pub fn extension(&self) -> &'static str {
        if self.content_type == PNG {
            "png"
        } else {
            "jpg"
        }
    }

    /// The SHA-256 of the bytes in hex, for content-addressed names.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
}

/// Checks an uploaded picture and encodes it again: oriented as its EXIF data
/// says, scaled down to fit in [`IMAGE_MAX_SIDE`] squared, without metadata
/// (camera, GPS position; the colour profile is kept), as PNG if it has
/// transparent pixels and as JPEG otherwise. Of an animated picture (GIF,
/// WebP, APNG) only the first frame is kept: notices and records show stills.
///
/// `claimed` is the upload's content type or file name.
///
/// Pure CPU work, up to a second for a large picture: call it from
/// `tokio::task::spawn_blocking`.
pub fn prepare_image(bytes: &[u8], claimed: &str) -> Result<PreparedImage, MediaUploadError> {
    let (image, icc_profile) = read_upload(bytes, claimed)?;
    encode_image(&fit_within(image, IMAGE_MAX_SIDE), icc_profile)
}

/// [`prepare_image`], and a thumbnail of the prepared picture that fits in
/// `thumbnail_side` squared, in the same format and as clean. The upload is
/// decoded once for both.
pub fn prepare_image_with_thumbnail(
    bytes: &[u8],
    claimed: &str,
    thumbnail_side: u32,
) -> Result<(PreparedImage, PreparedImage), MediaUploadError> {
    let (image, icc_profile) = read_upload(bytes, claimed)?;
    let image = fit_within(image, IMAGE_MAX_SIDE);
    let full = encode_image(&image, icc_profile.clone())?;
    let thumbnail = fit_within(image, thumbnail_side);
    let thumbnail = encode_as(&thumbnail, icc_profile, full.content_type == PNG)?;
    Ok((full, thumbnail))
}

/// Checks an upload against its claim and the limits, and decodes it.
fn read_upload(
    bytes: &[u8],
    claimed: &str,
) -> Result<(DynamicImage, Option<Vec<u8>>), MediaUploadError> {
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(MediaUploadError::TooLarge {
            max_bytes: MAX_IMAGE_BYTES,
        });
    }
    let kind = check_claim(bytes, claimed, MediaCategory::Image)?;
    let format = image_format(kind).ok_or_else(|| MediaUploadError::UnsupportedFormat {
        format: kind.name().to_owned(),
    })?;
    // The JPEG decoder fills a cut-off picture with grey rather than failing.
    if kind == MediaKind::Jpeg && !jpeg_is_complete(bytes) {
        return Err(MediaUploadError::Corrupt("the JPEG data ends early".into()));
    }
    decode_image(bytes, kind, format)
}

/// The image crate's decoder for the pictures it can read.
fn image_format(kind: MediaKind) -> Option<ImageFormat> {
    match kind {
        MediaKind::Jpeg => Some(ImageFormat::Jpeg),
        MediaKind::Png => Some(ImageFormat::Png),
        MediaKind::Webp => Some(ImageFormat::WebP),
        MediaKind::Gif => Some(ImageFormat::Gif),
        _ => None,
    }
}

/// The picture scaled down to fit in `side` squared (never up).
fn fit_within(image: DynamicImage, side: u32) -> DynamicImage {
    if image.width() > side || image.height() > side {
        image.resize(side, side, FilterType::CatmullRom)
    } else {
        image
    }
}

/// Decodes a picture whose header promises at most [`MAX_IMAGE_PIXELS`],
/// turned as its EXIF orientation says. Returns it with its RGB colour
/// profile, if it has one.
fn decode_image(
    bytes: &[u8],
    kind: MediaKind,
    format: ImageFormat,
) -> Result<(DynamicImage, Option<Vec<u8>>), MediaUploadError> {
    let refused = |error: ImageError| image_error(error, kind);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    // Reads the header only.
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(MediaUploadError::ImageTooLarge {
            max_pixels: MAX_IMAGE_PIXELS,
        });
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // A CMYK or grey profile would misdescribe the RGB we write.
    let icc_profile = decoder
        .icc_profile()
        .ok()
        .flatten()
        .filter(|profile| profile.get(16..20) == Some(b"RGB "));
    let mut image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    image.apply_orientation(orientation);
    Ok((image, icc_profile))
}

fn image_error(error: ImageError, kind: MediaKind) -> MediaUploadError {
    match error {
        ImageError::Limits(_) => MediaUploadError::ImageTooLarge {
            max_pixels: MAX_IMAGE_PIXELS,
        },
        ImageError::Unsupported(_) => MediaUploadError::UnsupportedFormat {
            format: kind.name().to_owned(),
        },
        error => MediaUploadError::Corrupt(error.to_string()),
    }
}

/// Encodes a picture as PNG if any pixel is transparent, as JPEG otherwise,
/// with nothing but the pixels and the colour profile.
pub fn encode_image(
    image: &DynamicImage,
    icc_profile: Option<Vec<u8>>,
) -> Result<PreparedImage, MediaUploadError> {
    encode_as(image, icc_profile, has_transparency(image))
}

/// Encodes as PNG (with alpha) or JPEG, with nothing but the pixels and the
/// colour profile.
fn encode_as(
    image: &DynamicImage,
    icc_profile: Option<Vec<u8>>,
    png: bool,
) -> Result<PreparedImage, MediaUploadError> {
    let (width, height) = (image.width(), image.height());
    let mut bytes = Vec::new();
    let encoded = if png {
        let mut encoder = PngEncoder::new(&mut bytes);
        if let Some(profile) = icc_profile {
            // Without it the picture still shows, in sRGB.
            let _ = encoder.set_icc_profile(profile);
        }
        let rgba = image.to_rgba8();
        encoder.write_image(&rgba, width, height, image::ExtendedColorType::Rgba8)
    } else {
        let mut encoder = JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY);
        if let Some(profile) = icc_profile {
            let _ = encoder.set_icc_profile(profile);
        }
        let rgb = image.to_rgb8();
        encoder.write_image(&rgb, width, height, image::ExtendedColorType::Rgb8)
    };
    encoded.map_err(|error| MediaUploadError::Transcode(error.to_string()))?;
    Ok(PreparedImage {
        bytes,
        content_type: if png { PNG } else { JPEG },
        width,
        height,
    })
}

/// Whether any pixel is less than opaque (a PNG screenshot often has an alpha
/// channel that is opaque everywhere).
fn has_transparency(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageLumaA8(image) => image.pixels().any(|pixel| pixel[1] < u8::MAX),
        DynamicImage::ImageRgba8(image) => image.pixels().any(|pixel| pixel[3] < u8::MAX),
        DynamicImage::ImageLumaA16(image) => image.pixels().any(|pixel| pixel[1] < u16::MAX),
        DynamicImage::ImageRgba16(image) => image.pixels().any(|pixel| pixel[3] < u16::MAX),
        DynamicImage::ImageRgba32F(image) => image.pixels().any(|pixel| pixel[3] < 1.0),
        _ => false,
    }
}

/// Whether a JPEG's segments and entropy-coded data run up to its end-of-image
/// marker. Data after that marker (phones append motion-photo videos) does
/// not matter.
fn jpeg_is_complete(data: &[u8]) -> bool {
    let mut at = 2; // after the start-of-image marker
    loop {
        // A marker: 0xFF (perhaps repeated as fill) and a code.
        if data.get(at) != Some(&0xFF) {
            return false;
        }
        while data.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&code) = data.get(at) else {
            return false;
        };
        at += 1;
        match code {
            0xD9 => return true,
            // Restart markers and TEM stand alone.
            0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let Some(length) = data.get(at..at + 2) else {
            return false;
        };
        at += usize::from(u16::from_be_bytes([length[0], length[1]]));
        if at > data.len() {
            return false;
        }
        if code == 0xDA {
            // Entropy-coded data follows the start of scan, up to a marker
            // other than a stuffed 0xFF00 or a restart marker.
            loop {
                let Some(offset) = data
                    .get(at..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
                else {
                    return false;
                };
                at += offset;
                match data.get(at + 1) {
                    Some(0x00 | 0xD0..=0xD7) => at += 2,
                    Some(_) => break,
                    None => return false,
                }
            }
        }
    }
}

/// Pictures for tests here and elsewhere.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::Cursor;

    use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb, RgbImage};

    /// A smooth gradient: encodes and scales like a photo.
    pub fn gradient(width: u32, height: u32) -> RgbImage {
        ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        })
    }

    pub fn encoded(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    pub fn jpeg(image: RgbImage) -> Vec<u8> {
        encoded(DynamicImage::ImageRgb8(image), ImageFormat::Jpeg)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba, RgbaImage};
    use std::time::{Duration, Instant};

    fn decoded(prepared: &PreparedImage) -> DynamicImage {
        let image = image::load_from_memory(&prepared.bytes).unwrap();
        assert_eq!(
            (image.width(), image.height()),
            (prepared.width, prepared.height)
        );
        image
    }

    /// A JPEG with an EXIF block (orientation and a camera make) after its
    /// start-of-image marker.
    fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\0\x2A\0\0\0\x08\0\x02".to_vec();
        // Orientation, a SHORT.
        tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]);
        tiff.extend(orientation.to_be_bytes());
        tiff.extend([0, 0]);
        // Make, ASCII, stored after the directory.
        tiff.extend([0x01, 0x0F, 0, 2, 0, 0, 0, 12, 0, 0, 0, 38]);
        tiff.extend([0, 0, 0, 0]);
        tiff.extend(b"SecretPhone\0");
        let payload = [&b"Exif\0\0"[..], &tiff].concat();
        let length = (payload.len() + 2) as u16;
        [
            &jpeg[..2],
            &[0xFF, 0xE1],
            &length.to_be_bytes(),
            &payload,
            &jpeg[2..],
        ]
        .concat()
    }

    #[test]
    fn large_photos_are_turned_upright_scaled_and_stripped() {
        // 3000×1000 stored sideways (orientation 6: turn clockwise to show),
        // with a red block in its top-left corner.
        let mut photo = gradient(3000, 1000);
        for (x, y, pixel) in photo.enumerate_pixels_mut() {
            if x < 300 && y < 300 {
                *pixel = Rgb([255, 0, 0]);
            }
        }
        let upload = with_exif(&jpeg(photo), 6);
        assert!(upload.windows(11).any(|w| w == b"SecretPhone"));

        let prepared = prepare_image(&upload, "image/jpeg").unwrap();

        assert_eq!(prepared.content_type, "image/jpeg");
        assert_eq!(prepared.extension(), "jpg");
        assert_eq!((prepared.width, prepared.height), (640, 1920));
        assert!(!prepared.bytes.windows(4).any(|w| w == b"Exif"));
        assert!(!prepared.bytes.windows(11).any(|w| w == b"SecretPhone"));
        let image = decoded(&prepared).to_rgb8();
        // Turned clockwise, the top-left corner is now the top-right one.
        let corner = image.get_pixel(620, 20);
        assert!(corner[0] > 200 && corner[1] < 60, "{corner:?}");
        assert_eq!(prepared.sha256_hex().len(), 64);
    }

    #[test]
    fn thumbnails_fit_their_square_keep_the_format_and_carry_no_metadata() {
        let upload = with_exif(&jpeg(gradient(2000, 1500)), 1);

        let (full, thumbnail) = prepare_image_with_thumbnail(&upload, "image/jpeg", 480).unwrap();

        assert_eq!((full.width, full.height), (1920, 1440));
        assert_eq!((thumbnail.width, thumbnail.height), (480, 360));
        assert_eq!(thumbnail.content_type, "image/jpeg");
        assert!(!thumbnail.bytes.windows(11).any(|w| w == b"SecretPhone"));
        decoded(&thumbnail);

        // A transparent picture's thumbnail stays PNG, like the picture.
        let transparent: RgbaImage = ImageBuffer::from_fn(600, 300, |x, _| {
            Rgba([0, 90, 200, if x < 30 { 0 } else { 255 }])
        });
        let upload = encoded(DynamicImage::ImageRgba8(transparent), ImageFormat::Png);
        let (full, thumbnail) = prepare_image_with_thumbnail(&upload, "sign.png", 480).unwrap();
        assert_eq!((full.content_type, thumbnail.content_type), (PNG, PNG));
        assert_eq!((thumbnail.width, thumbnail.height), (480, 240));

        // A small picture is not scaled up.
        let upload = jpeg(gradient(200, 100));
        let (_, thumbnail) = prepare_image_with_thumbnail(&upload, "small.jpg", 480).unwrap();
        assert_eq!((thumbnail.width, thumbnail.height), (200, 100));
    }

    #[test]
    fn transparent_pictures_stay_png_and_opaque_ones_become_jpeg() {
        let transparent: RgbaImage = ImageBuffer::from_fn(2400, 600, |x, _| {
            Rgba([0, 90, 200, if x < 1200 { 0 } else { 255 }])
        });
        let upload = encoded(DynamicImage::ImageRgba8(transparent), ImageFormat::Png);

        let prepared = prepare_image(&upload, "logo.png").unwrap();

        assert_eq!(prepared.content_type, "image/png");
        assert_eq!((prepared.width, prepared.height), (1920, 480));
        let image = decoded(&prepared).to_rgba8();
        assert_eq!(image.get_pixel(100, 100)[3], 0);
        assert_eq!(image.get_pixel(1800, 100)[3], 255);

        let opaque =
            DynamicImage::ImageRgba8(ImageBuffer::from_pixel(64, 48, Rgba([9, 9, 9, 255])));
        let prepared = prepare_image(&encoded(opaque, ImageFormat::Png), "shot.png").unwrap();
        assert_eq!(prepared.content_type, "image/jpeg");
        assert_eq!((prepared.width, prepared.height), (64, 48));
    }

    #[test]
    fn any_picture_format_may_carry_another_pictures_name() {
        let webp = {
            let image = DynamicImage::ImageRgb8(gradient(80, 60));
            let mut bytes = Vec::new();
            image::codecs::webp::WebPEncoder::new_lossless(&mut bytes)
                .encode(image.as_bytes(), 80, 60, image::ExtendedColorType::Rgb8)
                .unwrap();
            bytes
        };
        let png = encoded(DynamicImage::ImageRgb8(gradient(80, 60)), ImageFormat::Png);
        for (upload, claimed) in [
            (&webp, "notice.webp"),
            (&png, "notice.jpg"),
            (&png, "image/gif"),
        ] {
            let prepared = prepare_image(upload, claimed).unwrap();
            assert_eq!((prepared.width, prepared.height), (80, 60), "{claimed}");
            decoded(&prepared);
        }
    }

    #[test]
    fn animated_gifs_keep_their_first_frame() {
        let mut gif = Vec::new();
        {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
            let frames = [[220, 0, 0, 255], [0, 0, 220, 255]]
                .map(|colour| image::Frame::new(ImageBuffer::from_pixel(32, 32, Rgba(colour))));
            encoder.encode_frames(frames).unwrap();
        }

        let prepared = prepare_image(&gif, "blink.gif").unwrap();

        let first = *decoded(&prepared).to_rgb8().get_pixel(16, 16);
        assert!(first[0] > 180 && first[2] < 60, "{first:?}");
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let body = [&kind[..], data].concat();
        [
            &(data.len() as u32).to_be_bytes()[..],
            &body,
            &crc32(&body).to_be_bytes(),
        ]
        .concat()
    }

    #[test]
    fn a_picture_claiming_huge_dimensions_is_refused_from_its_header() {
        let header = [
            &50_000u32.to_be_bytes()[..],
            &50_000u32.to_be_bytes(),
            &[8, 6, 0, 0, 0],
        ]
        .concat();
        let bomb = [
            &b"\x89PNG\r\n\x1A\n"[..],
            &png_chunk(b"IHDR", &header),
            &png_chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
            &png_chunk(b"IEND", &[]),
        ]
        .concat();

        let started = Instant::now();
        let refused = prepare_image(&bomb, "bomb.png");

        assert!(
            matches!(
                refused,
                Err(MediaUploadError::ImageTooLarge {
                    max_pixels: MAX_IMAGE_PIXELS
                })
            ),
            "{refused:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn decodes_wait_for_a_slot_and_are_refused_when_none_frees_up() {
        let slots = std::sync::Arc::new(DecodeSlots::new(1, Duration::from_millis(200)));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let slots = slots.clone();
            tokio::spawn(async move {
                slots
                    .run(move || {
                        started_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                        Ok(())
                    })
                    .await
            })
        };
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        // The only slot is taken: the next decode waits, then is refused
        // without running.
        let refused = slots
            .run(|| -> Result<(), _> { panic!("must not run") })
            .await;
        assert!(
            matches!(refused, Err(MediaUploadError::Busy)),
            "{refused:?}"
        );
        assert_eq!(slots.busy.get(), 1);
        assert_eq!(slots.decodes.get(), 1);
        // Once it is free, the next one runs.
        release_tx.send(()).unwrap();
        holder.await.unwrap().unwrap();
        assert!(slots.run(|| Ok(7)).await.is_ok_and(|n| n == 7));
        assert_eq!(slots.decodes.get(), 2);
    }

    #[test]
    fn uploads_that_are_not_what_they_claim_are_refused() {
        let png = encoded(DynamicImage::ImageRgb8(gradient(40, 30)), ImageFormat::Png);
        let refuse = |bytes: &[u8], claimed: &str| prepare_image(bytes, claimed).unwrap_err();

        assert!(matches!(
            refuse(b"Lift out of order until Friday.", "notice.jpg"),
            MediaUploadError::NotAnImage
        ));
        assert!(matches!(
            refuse(&png, "clip.mp4"),
            MediaUploadError::TypeMismatch { ref claimed, ref actual } if claimed == "clip.mp4" && actual == "PNG"
        ));
        assert!(matches!(
            refuse(&png, "notes.txt"),
            MediaUploadError::TypeMismatch { .. }
        ));
        assert!(matches!(
            refuse(&png, "application/octet-stream"),
            MediaUploadError::TypeMismatch { .. }
        ));
        let mp4_head = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41";
        assert!(matches!(
            refuse(mp4_head, "video/mp4"),
            MediaUploadError::NotAnImage
        ));
        assert!(matches!(
            refuse(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "IMG_0001.HEIC"),
            MediaUploadError::UnsupportedFormat { ref format } if format == "HEIC/AVIF"
        ));
        let huge = vec![0u8; MAX_IMAGE_BYTES as usize + 1];
        assert!(matches!(
            refuse(&huge, "big.jpg"),
            MediaUploadError::TooLarge {
                max_bytes: MAX_IMAGE_BYTES
            }
        ));
    }

    #[test]
    fn cut_off_pictures_are_corrupt() {
        let whole = jpeg(gradient(400, 300));
        assert!(jpeg_is_complete(&whole));
        // Data after the end of the picture does not matter.
        assert!(jpeg_is_complete(
            &[&whole[..], b"\0\0\0\x18ftypmp42 motion photo"].concat()
        ));
        for cut in [whole.len() - 2, whole.len() * 2 / 3, 400, 3] {
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
            let refused = prepare_image(&whole[..cut], "photo.jpg");
            assert!(
                matches!(refused, Err(MediaUploadError::Corrupt(_))),
                "cut at {cut}: {refused:?}"
            );
        }
        let png = encoded(
            DynamicImage::ImageRgb8(gradient(400, 300)),
            ImageFormat::Png,
        );
        let refused = prepare_image(&png[..png.len() * 2 / 3], "photo.png");
        assert!(
            matches!(refused, Err(MediaUploadError::Corrupt(_))),
            "{refused:?}"
        );
    }
}
