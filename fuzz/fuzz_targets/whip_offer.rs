//! What a WHIP publisher sends before and after it connects: the SDP offer
//! (read to check its codecs before any WebRTC state is made) and H.264
//! access units (made into AVC tags for the live pipeline). Both must be
//! read or refused, never panic, and the tags made must read back as FLV.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pavilion::media::webrtc::{fuzz_inspect, inspect_offer};

fuzz_target!(|data: &[u8]| {
    // An offer that is taken names H.264 somewhere.
    let text = String::from_utf8_lossy(data);
    if inspect_offer(&text).is_ok() {
        assert!(text.to_ascii_uppercase().contains("H264"));
    }
    fuzz_inspect(data);
});
