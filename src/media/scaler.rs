//! The scaling step every decode → scale → encode pipeline shares: the video
//! re-encoding pipeline ([`super::recode`], for the live lower rendition and
//! video files made for browsers) and posters ([`super::replay`]).

use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{frame, Error};

/// Scales decoded pictures to one size and pixel format. The libav scaler is
/// made for the first picture, and made again whenever the pictures' size or
/// pixel format changes (an encoder reconnecting, a stream changing midway).
pub struct FrameScaler {
    context: Option<scaling::Context>,
    format: Pixel,
    width: u32,
    height: u32,
    flags: scaling::Flags,
}

// SAFETY: an SwsContext is plain memory with no tie to the thread that made
// it; ffmpeg-next leaves it !Send only because it holds a raw pointer. The
// scaler uses it through `&mut`, so from one thread at a time.
unsafe impl Send for FrameScaler {}

impl FrameScaler {
    /// A scaler to `width`×`height` in `format`, with `flags` choosing the
    /// filter (bilinear where speed counts, bicubic where the picture does).
    pub fn new(format: Pixel, width: u32, height: u32, flags: scaling::Flags) -> Self {
        Self {
            context: None,
            format,
            width,
            height,
            flags,
        }
    }

    /// The libav scaler for pictures like `frame`, made if needed; run it
    /// with `.run(frame, &mut scaled)`. Fails only when libav cannot make one.
    pub fn for_frame(&mut self, frame: &frame::Video) -> Result<&mut scaling::Context, Error> {
        let context = match self.context.take() {
            Some(context) if takes(&context, frame) => context,
            _ => scaling::Context::get(
                frame.format(),
                frame.width(),
                frame.height(),
                self.format,
                self.width,
                self.height,
                self.flags,
            )?,
        };
        Ok(self.context.insert(context))
    }
}

/// Whether `context` takes pictures like `frame`.
fn takes(context: &scaling::Context, frame: &frame::Video) -> bool {
    let input = context.input();
    (input.format, input.width, input.height) == (frame.format(), frame.width(), frame.height())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(format: Pixel, width: u32, height: u32) -> frame::Video {
        crate::media::init_ffmpeg();
        frame::Video::new(format, width, height)
    }

    #[test]
    fn pictures_of_any_size_come_out_at_the_target_size_and_format() {
        let mut scaler = FrameScaler::new(Pixel::YUV420P, 64, 36, scaling::Flags::BILINEAR);
        for (format, width, height) in [
            (Pixel::YUV420P, 320, 180),
            (Pixel::YUV420P, 320, 180),
            (Pixel::RGB24, 160, 120),
            (Pixel::YUV422P, 32, 18),
        ] {
            let mut scaled = frame::Video::empty();
            scaler
                .for_frame(&picture(format, width, height))
                .unwrap()
                .run(&picture(format, width, height), &mut scaled)
                .unwrap();
            assert_eq!(
                (scaled.format(), scaled.width(), scaled.height()),
                (Pixel::YUV420P, 64, 36)
            );
        }
    }

    #[test]
    fn a_scaler_can_move_to_another_thread() {
        let mut scaler = FrameScaler::new(Pixel::YUV420P, 16, 16, scaling::Flags::BILINEAR);
        scaler.for_frame(&picture(Pixel::YUV420P, 32, 32)).unwrap();
        std::thread::spawn(move || {
            let mut scaled = frame::Video::empty();
            let source = picture(Pixel::YUV420P, 32, 32);
            scaler
                .for_frame(&source)
                .unwrap()
                .run(&source, &mut scaled)
                .unwrap();
            assert_eq!(scaled.width(), 16);
        })
        .join()
        .unwrap();
    }
}
