//! The file side of media: files on disk (or uploaded bytes) read, checked
//! or made, as opposed to the stream side in [`super::stream`], which
//! packages live packets as they arrive.
//!
//! - [`upload`] recognises what an uploaded file holds and says why one is
//!   refused;
//! - [`picture`] re-encodes pictures without their metadata (notice images,
//!   photos on feedback records);
//! - [`video`] tells what a video file holds and makes it into an MP4 every
//!   browser plays (lobby videos), or a still of it;
//! - [`replay`] turns a finished recording into a poster and a downloadable
//!   MP4.
//!
//! Capabilities keep their rules (sizes, limits, what to do with the result)
//! and pass them in; the libav work is here.

pub mod picture;
pub mod replay;
pub mod upload;
pub mod video;
