//! Live requests for a broadcast whose encoder publishes to another node.
//!
//! Only the node holding the encoder has the newest parts (in memory), so
//! a node that does not hold the broadcast forwards live playlist, part and
//! segment requests to the holder's internal address, query string and all:
//! a blocking playlist reload or a hinted part is then held on the holder,
//! exactly as if the viewer had asked it, and the answer is streamed back as
//! it arrives. The HTTP cache in front (nginx, `proxy_cache_lock`) collapses
//! identical requests, so the holder sees about one request per part per
//! cache, whichever node the cache asked.
//!
//! A forwarded request carries [`RELAYED`]; a node never forwards such a
//! request again, so two nodes that briefly disagree about the holder cannot
//! pass a request back and forth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::BroadcastId;
use crate::store::{IngestPhase, Store};

use super::hub::{Node, STALE_AFTER};

/// Marks a request one node forwarded to another.
pub const RELAYED: &str = "x-pavilion-relayed";

/// How long the holder of a broadcast is trusted without asking the
/// database again: a takeover is noticed within this.
const HOLDER_TTL: Duration = Duration::from_secs(1);
/// Connecting to another node on the internal network.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A whole forwarded request: the longest hold of a blocking request (three
/// target durations of up to ten seconds) and the transfer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
/// Request headers passed on to the holder.
pub const FORWARDED_HEADERS: [&str; 3] = ["range", "if-none-match", "if-modified-since"];

pub struct Relay {
    store: Arc<dyn Store>,
    node: Node,
    client: reqwest::Client,
    holders: Mutex<HashMap<BroadcastId, (Instant, Option<String>)>>,
}

impl Relay {
    pub fn new(store: Arc<dyn Store>, node: Node) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client without TLS builds");
        Self {
            store,
            node,
            client,
            holders: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<BroadcastId, (Instant, Option<String>)>> {
        self.holders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The internal URL of the other node that holds the broadcast's encoder
    /// and is alive; `None` when this node holds it, or nobody alive does.
    pub async fn holder_url(&self, id: BroadcastId) -> Option<String> {
        if let Some((read_at, url)) = self.cached().get(&id) {
            if read_at.elapsed() < HOLDER_TTL {
                return url.clone();
            }
        }
        let url = match self.store.ingest_holder(id).await {
            Ok(Some(holder))
                if holder.incarnation != self.node.incarnation
                    && holder.phase != IngestPhase::Finalizing
                    && (chrono::Utc::now() - holder.heartbeat_at)
                        .to_std()
                        .map_or(true, |age| age < STALE_AFTER) =>
            {
                Some(holder.internal_url)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(broadcast = %id, error = %e, "cannot look up who holds a broadcast");
                None
            }
        };
        let mut cache = self.cached();
        if cache.len() >= 4096 {
            cache.retain(|_, (read_at, _)| read_at.elapsed() < HOLDER_TTL);
        }
        cache.insert(id, (Instant::now(), url.clone()));
        url
    }

    /// Forgets the holder of a broadcast (it did not answer).
    pub fn forget(&self, id: BroadcastId) {
        self.cached().remove(&id);
    }

    /// Sends a GET for `path_and_query` to the node at `base`; the answer's
    /// body is read as the caller streams it on.
    pub async fn forward(
        &self,
        base: &str,
        path_and_query: &str,
        headers: &[(&str, &[u8])],
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self
            .client
            .get(format!("{}{path_and_query}", base.trim_end_matches('/')))
            .header(RELAYED, self.node.name.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await
    }
}
