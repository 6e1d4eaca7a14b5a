//! Configuration: built-in defaults, then an optional TOML file, then
//! `PAVILION__SECTION__KEY` environment variables (e.g. `PAVILION__SERVER__PORT=9000`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub data_dir: PathBuf,
    /// The community's time zone: pages show times in it, and later schedules
    /// (notice day-parting, SLA business hours) are read in it.
    pub time_zone: chrono_tz::Tz,
    pub live: LiveSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LiveSettings {
    /// Where the RTMP ingest listens (`0.0.0.0` to accept encoders on other machines).
    pub rtmp_host: String,
    /// 1935 by default; 0 picks a free port (tests).
    pub rtmp_port: u16,
    /// The ingest address shown to secretaries, e.g. `rtmp://live.example.org:1935/live`.
    /// Empty: made from `server.public_url`'s host and `rtmp_port`.
    pub rtmp_public_url: String,
    /// How long a broadcast waits for a dropped encoder before it ends.
    pub grace_seconds: u64,
    /// An encoder silent for this long is treated as dropped.
    pub stall_seconds: u64,
    /// RTMP connections not yet publishing, at most; more are closed at once.
    pub rtmp_max_pending: usize,
    /// The same, from one client address (one IPv6 /64).
    pub rtmp_max_pending_per_address: usize,
    /// Longest time from an RTMP connection to its accepted publish, in total.
    pub rtmp_setup_seconds: u64,
    /// Segment target (segments start on keyframes, so the encoder's
    /// keyframe interval should be 1–2 s).
    pub segment_millis: i64,
    /// Part target within a segment (PART-TARGET of low-latency playlists;
    /// no part is longer).
    pub part_millis: i64,
    /// How far behind the newest part low-latency players play
    /// (PART-HOLD-BACK; at least three parts): the delay, less what a
    /// viewer's network and player add. Shorter stalls more often.
    pub part_hold_back_millis: i64,
    /// Low-Latency HLS: parts in live playlists, blocking playlist reloads
    /// and preload hints. Off, live playlists are ordinary HLS.
    pub low_latency: bool,
}

impl LiveSettings {
    /// The low-latency parameters of live playlists, if they are on.
    pub fn low_latency(&self) -> Option<crate::media::hls::LowLatency> {
        self.low_latency.then(|| {
            crate::media::hls::LowLatency::new(self.part_millis, self.part_hold_back_millis)
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// The address residents use, for links printed in logs and on QR codes.
    /// Cookies are marked `Secure` when it starts with https://.
    pub public_url: String,
    /// Trust `X-Forwarded-For` for the client address (only behind your own proxy).
    pub trust_proxy: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://data/pavilion.sqlite` by default; `postgres://…` for larger deployments.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub session_hours: i64,
    /// Failed logins allowed per account name and client address per minute.
    pub login_attempts_per_minute: u32,
    /// Argon2id memory cost in KiB (OWASP recommends at least 19456).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
}

impl Settings {
    /// Reads settings from `file` (if given, it must exist; otherwise `pavilion.toml`
    /// is used when present) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        let mut builder = config::Config::builder()
            .set_default("data_dir", "data")?
            .set_default("time_zone", "Asia/Shanghai")?
            .set_default("server.host", "127.0.0.1")?
            .set_default("server.port", 8080)?
            .set_default("server.public_url", "http://127.0.0.1:8080")?
            .set_default("server.trust_proxy", false)?
            .set_default("database.url", "sqlite://data/pavilion.sqlite")?
            .set_default("auth.session_hours", 72)?
            .set_default("auth.login_attempts_per_minute", 5)?
            .set_default("auth.argon2_memory_kib", 19456)?
            .set_default("auth.argon2_iterations", 2)?
            .set_default("live.rtmp_host", "127.0.0.1")?
            .set_default("live.rtmp_port", 1935)?
            .set_default("live.rtmp_public_url", "")?
            .set_default("live.grace_seconds", 60)?
            .set_default("live.stall_seconds", 10)?
            .set_default("live.rtmp_max_pending", 16)?
            .set_default("live.rtmp_max_pending_per_address", 4)?
            .set_default("live.rtmp_setup_seconds", 10)?
            .set_default("live.segment_millis", 2000)?
            .set_default("live.part_millis", 333)?
            .set_default("live.part_hold_back_millis", 1500)?
            .set_default("live.low_latency", true)?;
        builder = match file {
            Some(path) => builder.add_source(config::File::from(path).required(true)),
            None => builder.add_source(config::File::with_name("pavilion").required(false)),
        };
        builder
            .add_source(
                config::Environment::with_prefix("PAVILION")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()?
            .try_deserialize()
    }

    pub fn secure_cookies(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let settings = Settings::load(None).unwrap();
        assert_eq!(settings.server.port, 8080);
        assert!(settings.database.url.starts_with("sqlite:"));
        assert!(!settings.secure_cookies());
        assert_eq!(settings.time_zone, chrono_tz::Asia::Shanghai);
    }
}
