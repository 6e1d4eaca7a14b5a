//! Configuration: built-in defaults, then an optional TOML file, then
//! `PAVILION__SECTION__KEY` environment variables (e.g. `PAVILION__SERVER__PORT=9000`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

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
    pub node: NodeSettings,
    pub geography: GeographySettings,
    pub cap: CapSettings,
}

/// Where places are matched to estates.
#[derive(Debug, Clone, Deserialize)]
pub struct GeographySettings {
    /// An Open311 request filed by coordinates outside every estate's
    /// outline goes to the nearest estate whose location is at most this
    /// many metres away; farther, it is refused.
    pub open311_within_m: f64,
}

/// Emergency alerts from the authorities (CAP 1.2 feeds).
#[derive(Debug, Clone, Deserialize)]
pub struct CapSettings {
    /// How often each followed feed is fetched, in seconds.
    pub poll_seconds: u64,
    /// Whether feeds may be fetched from this machine or its network
    /// (loopback, private, link-local addresses). Off: a feed address is
    /// typed by staff, and must not reach what the internet cannot.
    pub private_feeds: bool,
}

/// This node among several sharing one database and media directory.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeSettings {
    /// Unique among the nodes; stable across restarts (a node restarted
    /// under the same name takes its broadcasts back at once). Empty: the
    /// host name and the HTTP port.
    pub name: String,
    /// Where the other nodes reach this one's HTTP server directly (not
    /// through the load balancer), e.g. `http://10.0.0.5:8080`: live
    /// playlists and parts of broadcasts whose encoder publishes here are
    /// fetched from it. Empty: `http://127.0.0.1:<port>` (one machine only).
    pub internal_url: String,
}

impl NodeSettings {
    /// The name, or the host name and `port` when none is set.
    pub fn name_or_default(&self, port: u16) -> String {
        if !self.name.trim().is_empty() {
            return self.name.trim().to_owned();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "pavilion".to_owned());
        format!("{host}:{port}")
    }

    /// The name as a header value; `None` when it could not be one
    /// (printable ASCII without spaces).
    pub fn header_value(&self) -> Option<actix_web::http::header::HeaderValue> {
        let name = self.name.as_str();
        let printable = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic());
        printable
            .then(|| actix_web::http::header::HeaderValue::from_str(name).ok())
            .flatten()
    }

    /// The internal URL, or loopback on `port` when none is set.
    pub fn internal_url_or_default(&self, port: u16) -> String {
        match self.internal_url.trim().trim_end_matches('/') {
            "" => format!("http://127.0.0.1:{port}"),
            url => url.to_owned(),
        }
    }
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
    /// The UDP port of WebRTC (WHIP) publishers, one for all of them; 0
    /// picks a free port (tests).
    pub webrtc_udp_port: u16,
    /// The addresses WebRTC publishers are told to send to (host
    /// candidates; each is bound), comma-separated. Empty: this machine's
    /// addresses towards the outside, and 127.0.0.1.
    pub webrtc_ips: String,
    /// WHIP sessions at once, at most; more offers are answered 503.
    pub webrtc_max_sessions: usize,
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
    /// Shorthand kept from earlier versions: `true` trusts a reverse proxy on
    /// this machine (loopback addresses), as if they were in `trusted_proxies`.
    pub trust_proxy: bool,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For`
    /// names the client. A list, or one comma-separated string (environment).
    #[serde(deserialize_with = "proxy_networks")]
    pub trusted_proxies: Vec<ProxyNetwork>,
}

impl ServerSettings {
    /// True when a connection from `ip` is one of our own reverse proxies.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        (self.trust_proxy && ip.is_loopback())
            || self.trusted_proxies.iter().any(|n| n.contains(ip))
    }
}

/// An address or a CIDR network, e.g. `10.0.0.5`, `10.0.0.0/8` or `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNetwork {
    network: IpAddr,
    prefix: u8,
}

impl ProxyNetwork {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("not an IP address or network: {text:?}"))?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("bad prefix length in {text:?}"))?,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            let shift = u32::from(width - prefix);
            if shift >= 128 {
                0
            } else {
                bits >> shift
            }
        }
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.into(), self.prefix, 128) == masked(ip.into(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn proxy_networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ProxyNetwork>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    let texts = match OneOrMany::deserialize(d)? {
        OneOrMany::Many(list) => list,
        OneOrMany::One(text) => text.split(',').map(str::to_owned).collect(),
    };
    texts
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| ProxyNetwork::parse(t).map_err(serde::de::Error::custom))
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://data/pavilion.sqlite` by default; `postgres://…` for larger deployments.
    pub url: String,
    /// How long a change waits for another one to finish before it is
    /// refused as "busy, try again" (milliseconds).
    pub busy_timeout_ms: u64,
}

impl DatabaseSettings {
    pub fn busy_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.busy_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub session_hours: i64,
    /// Logins allowed per account name and client address per minute.
    pub login_attempts_per_minute: u32,
    /// Logins allowed per client address per minute, whatever the account
    /// name (successful ones are given back).
    pub login_attempts_per_address_per_minute: u32,
    /// Argon2id memory cost in KiB (OWASP recommends at least 19456).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Password hashes that may run at once; 0 means one per CPU core.
    pub password_hash_concurrency: usize,
    /// How long a login, registration or password change waits for a free
    /// hashing slot before it is refused with 503.
    pub password_hash_wait_millis: u64,
}

impl AuthSettings {
    /// `password_hash_concurrency`, with 0 read as the number of CPU cores.
    pub fn hashing_slots(&self) -> usize {
        match self.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
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
            .set_default("server.trusted_proxies", Vec::<String>::new())?
            .set_default("database.url", "sqlite://data/pavilion.sqlite")?
            .set_default("database.busy_timeout_ms", 10_000)?
            .set_default("auth.session_hours", 72)?
            .set_default("auth.login_attempts_per_minute", 5)?
            .set_default("auth.login_attempts_per_address_per_minute", 20)?
            .set_default("auth.argon2_memory_kib", 19456)?
            .set_default("auth.argon2_iterations", 2)?
            .set_default("auth.password_hash_concurrency", 0)?
            .set_default("auth.password_hash_wait_millis", 2000)?
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
            .set_default("live.low_latency", true)?
            .set_default("live.webrtc_udp_port", 8189)?
            .set_default("live.webrtc_ips", "")?
            .set_default("live.webrtc_max_sessions", 16)?
            .set_default("node.name", "")?
            .set_default("node.internal_url", "")?
            .set_default("geography.open311_within_m", 300.0)?
            .set_default("cap.poll_seconds", 60)?
            .set_default("cap.private_feeds", false)?;
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
        assert!(settings.server.trusted_proxies.is_empty());
        assert_eq!(settings.node.name, "");
        assert_eq!(settings.geography.open311_within_m, 300.0);
        let resolved = NodeSettings {
            name: settings.node.name_or_default(8080),
            ..settings.node.clone()
        };
        assert!(resolved.name.ends_with(":8080"), "{}", resolved.name);
        assert!(resolved.header_value().is_some());
        assert!(!settings
            .server
            .is_trusted_proxy("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn node_names_must_fit_in_a_header() {
        let node = |name: &str| NodeSettings {
            name: name.into(),
            internal_url: String::new(),
        };
        assert!(node("node-2.district").header_value().is_some());
        assert!(node("node-host:8080").header_value().is_some());
        for bad in ["", "two words", "节点", "a\nb"] {
            assert!(node(bad).header_value().is_none(), "{bad:?}");
        }
    }

    #[test]
    fn proxy_networks_match_addresses_in_them() {
        let net = |s: &str| ProxyNetwork::parse(s).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(net("::1").contains(ip("::1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("::2")));
        // An IPv4 peer seen on a dual-stack socket.
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        for bad in ["", "localhost", "10.0.0.0/33", "::/129", "1.2.3.4/x"] {
            assert!(ProxyNetwork::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn trust_proxy_means_loopback_only() {
        let mut settings = Settings::load(None).unwrap();
        settings.server.trust_proxy = true;
        assert!(settings
            .server
            .is_trusted_proxy("127.0.0.1".parse().unwrap()));
        assert!(settings.server.is_trusted_proxy("::1".parse().unwrap()));
        assert!(!settings
            .server
            .is_trusted_proxy("192.0.2.1".parse().unwrap()));
    }
}
