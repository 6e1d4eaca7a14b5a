//! The file side of media: files on disk read, checked or made with libav.
//!
//! - [`video`] tells what a video file holds and makes it into an MP4 every
//!   browser plays (lobby videos).

pub mod video;
