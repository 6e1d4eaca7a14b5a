//! Whatever an encoder sends after the handshake (chunk stream, AMF commands,
//! audio/video messages) must never panic the ingest.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pavilion::media::rtmp::feed_session_bytes(data);
});
