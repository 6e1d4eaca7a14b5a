//! FLV tag bodies (what RTMP audio/video messages carry) must be read or
//! refused, never panic; frames that are read must fit the timeline, and a
//! codec named for refusal (HEVC or AV1 over Enhanced RTMP, say) is never
//! read as H.264.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pavilion::media::flv::{
    ex_video_header, read_audio, read_video, refused_audio_codec, refused_video_codec, Timeline,
    VideoTag,
};
use pavilion::media::{MediaError, Track};

fuzz_target!(|data: &[u8]| {
    let Some((&timestamp, body)) = data.split_first() else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    let mut timeline = Timeline::new(0);
    let _ = ex_video_header(&body);
    let video = read_video(&body);
    if refused_video_codec(&body).is_some() {
        assert!(matches!(video, Err(MediaError::Unsupported(_))), "{video:?}");
    }
    if let Ok(VideoTag::Frame { keyframe, composition, data }) = video {
        let packet = timeline.packet(Track::Video, u32::from(timestamp) << 20, composition, keyframe, data);
        assert!(packet.pts >= packet.dts);
    }
    let audio = read_audio(&body);
    if refused_audio_codec(&body).is_some() {
        assert!(matches!(audio, Err(MediaError::Unsupported(_))), "{audio:?}");
    }
});
