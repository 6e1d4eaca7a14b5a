//! Test support for broadcasts: scheduling one straight through the store,
//! and a real encoder (the ffmpeg CLI) publishing to our RTMP port.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pavilion::domain::broadcast::{Broadcast, BroadcastDetails, Renditions};
use pavilion::domain::*;

use crate::helpers::*;

impl TestApp {
    /// A broadcast of the place's community, owned by `owner`.
    pub async fn schedule_broadcast(
        &self,
        place: &Place,
        owner: &Account,
        renditions: Renditions,
    ) -> Broadcast {
        let details = BroadcastDetails::new(
            place.community.id,
            "书记直播间",
            "",
            chrono::Utc::now(),
            Vec::new(),
            renditions,
        )
        .unwrap();
        self.state
            .store
            .create_broadcast(&system(), owner.id, &details, &format!("key{}", owner.id))
            .await
            .unwrap()
    }

    pub fn ingest_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp_port)
    }

    pub async fn broadcast(&self, id: BroadcastId) -> Broadcast {
        self.state.store.broadcast(id).await.unwrap()
    }

    /// Waits until the broadcast satisfies `done`, or panics after `limit`.
    pub async fn wait_for_broadcast(
        &self,
        id: BroadcastId,
        limit: Duration,
        what: &str,
        done: impl Fn(&Broadcast) -> bool,
    ) -> Broadcast {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let broadcast = self.broadcast(id).await;
            if done(&broadcast) {
                return broadcast;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {broadcast:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the live source playlist lists at least `segments` segments.
    pub async fn wait_for_segments(&self, id: BroadcastId, segments: usize) -> String {
        let client = client();
        let url = self.url(&format!("/live/{id}/source/index.m3u8"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client.get(&url).send().await {
                if response.status().is_success() {
                    let text = response.text().await.unwrap();
                    if text.matches("#EXTINF").count() >= segments {
                        return text;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {segments} segments within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The ffmpeg CLI publishing a synthetic picture and tone in real time, as
/// OBS would. Killed when dropped.
pub struct Publisher {
    child: Child,
}

pub struct Encoding {
    pub size: &'static str,
    /// Keyframe interval in frames (25 fps).
    pub gop: u32,
    pub video_codec: &'static str,
    pub audio_codec: &'static str,
    pub seconds: u32,
}

impl Default for Encoding {
    fn default() -> Self {
        Self {
            size: "640x360",
            gop: 25,
            video_codec: "libx264",
            audio_codec: "aac",
            seconds: 600,
        }
    }
}

impl Publisher {
    pub fn start(url: &str) -> Self {
        Self::with(url, Encoding::default())
    }

    pub fn with(url: &str, encoding: Encoding) -> Self {
        let child = Command::new("ffmpeg")
            .args(["-v", "error", "-re"])
            .args(["-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={}:rate=25", encoding.size))
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", &encoding.seconds.to_string()])
            .args([
                "-c:v",
                encoding.video_codec,
                "-g",
                &encoding.gop.to_string(),
            ])
            .args(["-preset", "ultrafast", "-pix_fmt", "yuv420p"])
            .args([
                "-c:a",
                encoding.audio_codec,
                "-b:a",
                "96k",
                "-f",
                "flv",
                url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ffmpeg runs (./dev test installs it)");
        Self { child }
    }

    /// Waits for the encoder to exit; returns whether it succeeded and what it said.
    /// (Async: the server under test runs on the same runtime.)
    pub async fn finish(mut self, limit: Duration) -> (bool, String) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut said = String::new();
                if let Some(mut stderr) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = stderr.read_to_string(&mut said);
                }
                return (status.success(), said);
            }
            assert!(std::time::Instant::now() < deadline, "encoder did not exit");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Freezes the encoder without closing its connection (a stalled uplink).
    pub fn stall(&self) {
        let stopped = Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
    }

    /// Lets a stalled encoder carry on.
    pub fn resume(&self) {
        let resumed = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(resumed.success());
    }

    /// Drops the connection the way a failing network does: the process dies.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GStreamer publishing a test pattern and a tone through its own RTMP
/// client (`rtmp2sink`), a publisher not built on FFmpeg. Each source stops
/// after `seconds`, and the pipeline then ends the stream the way
/// GStreamer does. Killed when dropped.
pub struct GstPublisher {
    child: tokio::process::Child,
}

impl GstPublisher {
    pub fn start(url: &str, seconds: u32) -> Self {
        let frames = seconds * 25;
        // audiotestsrc sends 1024 samples a buffer.
        let sound_buffers = seconds * 48_000 / 1024;
        let pipeline = format!(
            "videotestsrc is-live=true num-buffers={frames} pattern=smpte \
               ! video/x-raw,width=640,height=360,framerate=25/1 \
               ! x264enc tune=zerolatency key-int-max=25 speed-preset=ultrafast \
               ! h264parse ! queue ! mux. \
             audiotestsrc is-live=true num-buffers={sound_buffers} freq=440 \
               ! audio/x-raw,rate=48000,channels=2 \
               ! voaacenc bitrate=96000 ! aacparse ! queue ! mux. \
             flvmux name=mux streamable=true ! rtmp2sink location={url}"
        );
        let child = tokio::process::Command::new("gst-launch-1.0")
            .arg("-q")
            .args(pipeline.split_whitespace())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("gst-launch-1.0 runs (./dev test installs GStreamer)");
        Self { child }
    }

    /// Waits for GStreamer to exit; returns whether it succeeded and what it said.
    pub async fn finish(mut self, limit: Duration) -> (bool, String) {
        let status = tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("GStreamer did not exit")
            .unwrap();
        let mut said = String::new();
        for output in [
            self.child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            self.child
                .stderr
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let mut output = output;
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut output, &mut said).await;
        }
        (status.success(), said)
    }
}
