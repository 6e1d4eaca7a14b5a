//! FLV tag bodies (what RTMP audio/video messages carry) must be read or
//! refused, never panic; frames that are read must fit the timeline.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pavilion::media::flv::{read_audio, read_video, Timeline, VideoTag};
use pavilion::media::Track;

fuzz_target!(|data: &[u8]| {
    let Some((&timestamp, body)) = data.split_first() else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    let mut timeline = Timeline::new(0);
    if let Ok(VideoTag::Frame { keyframe, composition, data }) = read_video(&body) {
        let packet = timeline.packet(Track::Video, u32::from(timestamp) << 20, composition, keyframe, data);
        assert!(packet.pts >= packet.dts);
    }
    let _ = read_audio(&body);
});
