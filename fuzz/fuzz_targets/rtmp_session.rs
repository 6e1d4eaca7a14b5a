//! Whatever an encoder sends after the handshake (chunk stream, AMF commands,
//! audio/video messages) must never panic the ingest.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // rml_rtmp panics on some AMF commands; the ingest catches those and
    // closes the connection. Silence the hook so that only panics that
    // escape our entry point (caught by libfuzzer-sys) count as crashes.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    pavilion::media::rtmp::feed_session_bytes(data);
});
