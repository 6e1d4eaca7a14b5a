//! Emergency alerts from the authorities: every node runs a poller that,
//! for each followed CAP feed whose poll is due and that it claims (exactly
//! one node of several does), fetches the feed, reads the alerts it lists
//! (`crate::domain::cap`) and turns each new one into what the community's
//! screens show: an emergency notice on the covered estates, its
//! replacement for an Update, its withdrawal for a Cancel. Every alert is
//! recorded once with what came of it; one that is malformed, expired, out
//! of the area, not an actual public alert or a duplicate changes nothing.
//!
//! Notices made here are written by the feed (the audit names it) on behalf
//! of the admin who subscribed to it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::cap::{self, Alert, CapError, Decision, Document, Outcome, Plan, Reference};
use crate::domain::geo::EstateGeography;
use crate::domain::notice::{Notice, NoticeCategory, NoticeDraft, NoticeState, Target, Validity};
use crate::domain::{Account, Actor, EstateId, NoticeId};
use crate::store::{CapFeed, NewCapAlert, NoticeTransition, StoreError};

use super::{actor, Signage, SignageError};

/// How long one fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds an alert stays on screen per turn (an emergency stays anyway).
const DISPLAY_SECONDS: u32 = 30;
/// Longest local line the community may add.
pub const LOCAL_LINE_MAX: usize = 80;
/// Alerts read per community to spot one relayed by two of its feeds.
const RECENT_ALERTS: i64 = 500;

/// Why a feed could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("only http and https addresses are fetched")]
    Scheme,
    #[error("HTTP {0}")]
    Status(u16),
    #[error("larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Network(String),
    #[error("a private address (this machine or its network)")]
    Private,
}

/// Checks a feed address as typed: an absolute http or https URL with a host.
pub fn check_feed_url(raw: &str) -> Option<url::Url> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 500 {
        return None;
    }
    let url = url::Url::parse(raw).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()))
        .then_some(url)
}

/// The client the poller fetches with: a timeout, a few redirects, and
/// (unless `private_ok`) no way onto this machine or its network: names that
/// resolve only to loopback, private, link-local or other non-public
/// addresses are refused, and so is such an address written out, at every
/// redirect. A feed address is typed by staff; the server must not become
/// their way into the internal network (cloud metadata, admin ports).
pub fn fetch_client(private_ok: bool) -> reqwest::Client {
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 3 {
            attempt.error("too many redirects")
        } else if !private_ok && !public_host(attempt.url()) {
            attempt.error("redirected to a private address")
        } else {
            attempt.follow()
        }
    });
    let mut builder = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(redirects)
        .user_agent(concat!(
            "pavilion/",
            env!("CARGO_PKG_VERSION"),
            " cap-poller"
        ));
    if !private_ok {
        builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
    }
    builder.build().expect("the CAP fetch client builds")
}

/// Whether an address is out on the internet: not loopback, private
/// (RFC 1918, IPv6 unique-local), link-local (cloud metadata lives there),
/// shared (CGNAT), multicast, broadcast, documentation or unspecified.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                    || first == 0x2001 && v6.segments()[1] == 0x0db8)
            }
        },
    }
}

/// A host written as an address must be public; a name is checked when it
/// is resolved (`PublicOnly`).
fn public_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public(ip.into()),
        Some(url::Host::Ipv6(ip)) => is_public(ip.into()),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

/// Resolves names to their public addresses only; a name with none is an error.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<std::net::SocketAddr> =
                found.filter(|addr| is_public(addr.ip())).collect();
            if public.is_empty() {
                return Err(format!("{} has no public address", name.as_str()).into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Fetches `url`, refusing other schemes and bodies over the CAP size limit
/// (counted as they arrive, whatever the server says the length is).
pub async fn fetch(
    client: &reqwest::Client,
    url: &url::Url,
    private_ok: bool,
) -> Result<Vec<u8>, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Scheme);
    }
    if !private_ok && !public_host(url) {
        return Err(FetchError::Private);
    }
    let limit = cap::MAX_DOCUMENT_BYTES;
    let network = |e: reqwest::Error| FetchError::Network(e.without_url().to_string());
    let mut response = client.get(url.clone()).send().await.map_err(network)?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What a poll of one feed came to, as its `last_outcome` says it:
/// `ok:<alerts read>:<new>` or `error:<why>`.
#[derive(Debug, Default)]
struct PollSummary {
    read: usize,
    new: usize,
}

/// An alert as read from the feed, or why it could not be.
type Read = Result<Alert, (CapError, Vec<u8>)>;

impl Signage {
    /// Starts this node's poller: every feed is fetched every `poll`, and a
    /// "poll now" is picked up within a few seconds.
    pub fn spawn_cap_poller(self: &Arc<Self>, poll: Duration, private_ok: bool) {
        let signage = self.clone();
        let client = fetch_client(private_ok);
        let tick = poll
            .min(Duration::from_secs(5))
            .max(Duration::from_millis(200));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                signage
                    .poll_due_cap_feeds(&client, poll, private_ok, Utc::now())
                    .await;
            }
        });
    }

    /// Polls every feed due at `now` that this node claims.
    pub async fn poll_due_cap_feeds(
        &self,
        client: &reqwest::Client,
        poll: Duration,
        private_ok: bool,
        now: DateTime<Utc>,
    ) {
        let feeds = match self.store.cap_feeds(None).await {
            Ok(feeds) => feeds,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the CAP feeds");
                return;
            }
        };
        let every = chrono::Duration::from_std(poll).unwrap_or(chrono::Duration::seconds(60));
        for feed in feeds.into_iter().filter(|f| f.next_poll_at <= now) {
            match self.store.claim_cap_poll(feed.id, now, now + every).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(feed = feed.id, error = %e, "cannot claim a CAP poll");
                    continue;
                }
            }
            let outcome = match self.poll_cap_feed(client, &feed, private_ok, now).await {
                Ok(summary) => format!("ok:{}:{}", summary.read, summary.new),
                Err(why) => {
                    tracing::warn!(feed = feed.id, url = %feed.url, error = %why, "CAP feed not read");
                    format!("error:{why}")
                }
            };
            if let Err(e) = self
                .store
                .note_cap_poll(feed.id, Utc::now(), &outcome)
                .await
            {
                tracing::warn!(feed = feed.id, error = %e, "cannot note a CAP poll");
            }
        }
    }

    /// Fetches one feed (an index and the alerts it lists, or one alert)
    /// and takes each alert in the order they were sent.
    async fn poll_cap_feed(
        &self,
        client: &reqwest::Client,
        feed: &CapFeed,
        private_ok: bool,
        now: DateTime<Utc>,
    ) -> Result<PollSummary, String> {
        let base = url::Url::parse(&feed.url).map_err(|_| "bad address".to_owned())?;
        let bytes = fetch(client, &base, private_ok)
            .await
            .map_err(|e| e.to_string())?;
        let mut reads: Vec<Read> = Vec::new();
        match cap::read_document(&bytes) {
            Ok(Document::Alert(alert)) => reads.push(Ok(*alert)),
            Ok(Document::Index(links)) => {
                for link in links {
                    let Ok(url) = base.join(&link) else {
                        tracing::info!(feed = feed.id, link, "CAP index entry with a bad address");
                        continue;
                    };
                    // One entry that cannot be fetched now may be next time:
                    // it is not recorded.
                    match fetch(client, &url, private_ok).await {
                        Ok(bytes) => reads.push(cap::parse_alert(&bytes).map_err(|e| (e, bytes))),
                        Err(e) => {
                            tracing::info!(feed = feed.id, %url, error = %e, "CAP alert not fetched")
                        }
                    }
                }
            }
            // Not XML, or XML of another kind (an error page, a moved
            // feed): the feed failed, no alert was delivered.
            Err(e @ (CapError::Xml(_) | CapError::NotCap | CapError::TooLarge(_))) => {
                return Err(e.to_string())
            }
            // A CAP alert that breaks the rules: recorded as malformed.
            Err(e) => reads.push(Err((e, bytes))),
        }
        reads.sort_by_key(|r| r.as_ref().ok().map(|a| a.sent));
        let mut summary = PollSummary::default();
        for read in reads {
            summary.read += 1;
            let taken = match read {
                Ok(alert) => self.take_alert(feed, &alert, now).await,
                Err((error, bytes)) => self.record_malformed(feed, &error, &bytes, now).await,
            };
            match taken {
                Ok(true) => summary.new += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(feed = feed.id, error = %e, "CAP alert not taken");
                }
            }
        }
        Ok(summary)
    }

    /// Records a document that is no CAP alert, once per content.
    async fn record_malformed(
        &self,
        feed: &CapFeed,
        error: &CapError,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, SignageError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let identifier = format!("malformed-{}", &digest[..16]);
        let reason: String = error.to_string().chars().take(120).collect();
        let new = NewCapAlert {
            feed_id: feed.id,
            sender: "-",
            identifier: &identifier,
            sent: now,
            msg_type: "-",
            headline: &reason,
            outcome: Outcome::Malformed.as_str(),
            received_at: now,
        };
        let recorded = self.store.record_cap_alert(&new).await?.is_some();
        if recorded {
            tracing::info!(feed = feed.id, %error, outcome = "malformed", "CAP alert refused");
        }
        Ok(recorded)
    }

    /// Records a new alert and acts on it; `false` when it was recorded
    /// before (a later poll, or another node).
    async fn take_alert(
        &self,
        feed: &CapFeed,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<bool, SignageError> {
        let headline = alert
            .preferred_info()
            .map(|i| i.title())
            .unwrap_or_default();
        let new = NewCapAlert {
            feed_id: feed.id,
            sender: &alert.sender,
            identifier: &alert.identifier,
            sent: alert.sent,
            msg_type: alert.msg_type.as_str(),
            headline: &headline,
            outcome: Outcome::Received.as_str(),
            received_at: now,
        };
        let Some(id) = self.store.record_cap_alert(&new).await? else {
            return Ok(false);
        };
        let (outcome, notice) = if self.relayed_by_another_feed(feed, alert).await? {
            (Outcome::Duplicate, None)
        } else {
            match self.act_on_alert(feed, alert, now).await {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(feed = feed.id, identifier = %alert.identifier, error = %e, "CAP alert failed");
                    (Outcome::Failed, None)
                }
            }
        };
        self.store
            .set_cap_alert_outcome(id, outcome.as_str(), notice)
            .await?;
        tracing::info!(
            feed = feed.id,
            sender = %alert.sender,
            identifier = %alert.identifier,
            msg_type = alert.msg_type.as_str(),
            outcome = outcome.as_str(),
            notice = notice.map(|n| n.0),
            "CAP alert"
        );
        Ok(true)
    }

    /// Whether another feed of the community brought the same alert first
    /// (a province's and a city's feed often relay the same one).
    async fn relayed_by_another_feed(
        &self,
        feed: &CapFeed,
        alert: &Alert,
    ) -> Result<bool, SignageError> {
        Ok(self
            .store
            .cap_alerts(feed.community_id, RECENT_ALERTS)
            .await?
            .iter()
            .any(|a| {
                a.feed_id != feed.id && a.sender == alert.sender && a.identifier == alert.identifier
            }))
    }

    async fn act_on_alert(
        &self,
        feed: &CapFeed,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> Result<(Outcome, Option<NoticeId>), SignageError> {
        let estates: Vec<(EstateId, EstateGeography)> = self
            .store
            .estate_geographies()
            .await?
            .into_iter()
            .filter(|(_, community, _)| *community == feed.community_id)
            .map(|(estate, _, place)| (estate, place))
            .collect();
        Ok(match cap::decide(alert, &estates, now) {
            Decision::Ignore(outcome) => (outcome, None),
            Decision::Publish(plan) => self.publish_alert(feed, &plan).await?,
            Decision::Replace { references, plan } => {
                match self.referenced_notice(feed, &references).await? {
                    Some(notice) if notice.state == NoticeState::Published => {
                        self.replace_alert(feed, notice, &plan).await?
                    }
                    // Nothing of the earlier alert is on the screens: the
                    // update is news of its own.
                    _ => self.publish_alert(feed, &plan).await?,
                }
            }
            Decision::Withdraw { references } => {
                match self.referenced_notice(feed, &references).await? {
                    Some(notice) => {
                        if matches!(notice.state, NoticeState::Published | NoticeState::Pending) {
                            self.store
                                .transition_notice(
                                    &feed_actor(feed),
                                    notice.id,
                                    &NoticeTransition {
                                        from: &[NoticeState::Published, NoticeState::Pending],
                                        to: NoticeState::Withdrawn,
                                        revision: None,
                                        reason: None,
                                        action: "notice.withdraw",
                                    },
                                )
                                .await?;
                            self.changed(notice.community_id);
                        }
                        (Outcome::Cancelled, Some(notice.id))
                    }
                    None => (Outcome::UnknownReference, None),
                }
            }
        })
    }

    /// The notice made from the first of `references` this feed made one for.
    async fn referenced_notice(
        &self,
        feed: &CapFeed,
        references: &[Reference],
    ) -> Result<Option<Notice>, SignageError> {
        for reference in references {
            if let Some(id) = self
                .store
                .cap_alert_notice(feed.id, &reference.sender, &reference.identifier)
                .await?
            {
                return Ok(Some(self.store.notice(id).await?));
            }
        }
        Ok(None)
    }

    fn alert_draft(feed: &CapFeed, plan: &Plan, local_line: Option<&str>) -> Option<NoticeDraft> {
        let validity = Validity::new(plan.starts_at, Some(plan.ends_at)).ok()?;
        NoticeDraft::new(
            feed.community_id,
            &plan.title,
            &cap::body_with_local_line(local_line, &plan.body),
            NoticeCategory::Announcement,
            true,
            validity,
            Vec::new(),
            plan.estates.iter().map(|&e| Target::Estate(e)).collect(),
            DISPLAY_SECONDS,
            plan.priority,
            Vec::new(),
            None,
        )
        .map_err(|e| tracing::info!(feed = feed.id, error = %e, "CAP alert makes no notice"))
        .ok()
    }

    async fn publish_alert(
        &self,
        feed: &CapFeed,
        plan: &Plan,
    ) -> Result<(Outcome, Option<NoticeId>), SignageError> {
        let Some(draft) = Self::alert_draft(feed, plan, None) else {
            return Ok((Outcome::Malformed, None));
        };
        let by = feed_actor(feed);
        let notice = self
            .store
            .create_notice(&by, feed.created_by, &draft, NoticeState::Draft)
            .await?;
        self.store.link_cap_notice(notice.id, feed.id).await?;
        let notice = self
            .store
            .transition_notice(
                &by,
                notice.id,
                &NoticeTransition {
                    from: &[NoticeState::Draft],
                    to: NoticeState::Published,
                    revision: Some(notice.revision),
                    reason: None,
                    action: "notice.publish_emergency",
                },
            )
            .await?;
        self.changed(notice.community_id);
        Ok((Outcome::Published, Some(notice.id)))
    }

    /// Puts the update's text, area and times into the notice the earlier
    /// alert made, keeping the community's line above it.
    async fn replace_alert(
        &self,
        feed: &CapFeed,
        current: Notice,
        plan: &Plan,
    ) -> Result<(Outcome, Option<NoticeId>), SignageError> {
        let local_line = self
            .store
            .cap_notice(current.id)
            .await?
            .and_then(|c| c.local_line);
        let Some(draft) = Self::alert_draft(feed, plan, local_line.as_deref()) else {
            return Ok((Outcome::Malformed, None));
        };
        let by = feed_actor(feed);
        let mut revision = current.revision;
        for attempt in 0..3 {
            match self
                .store
                .update_notice(&by, current.id, revision, &draft, NoticeState::Published)
                .await
            {
                Ok(notice) => {
                    self.changed(notice.community_id);
                    return Ok((Outcome::Updated, Some(notice.id)));
                }
                // Someone set the local line meanwhile: start from theirs.
                Err(StoreError::Conflict) if attempt < 2 => {
                    revision = self.store.notice(current.id).await?.revision;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(SignageError::ChangedMeanwhile)
    }

    /// Sets (or with an empty `line` clears) the community's own line shown
    /// above an alert's text on the screens, e.g. "请走东侧楼梯".
    pub async fn set_cap_local_line(
        &self,
        who: &Account,
        id: NoticeId,
        line: &str,
    ) -> Result<Notice, SignageError> {
        let current = self.store.notice(id).await?;
        if !Self::may_write(who, current.community_id) {
            return Err(SignageError::Forbidden);
        }
        let Some(made) = self.store.cap_notice(id).await? else {
            return Err(SignageError::NotFound);
        };
        let line = match line.trim() {
            "" => None,
            raw => Some(
                crate::domain::text::clean_prose_line(raw, 1, LOCAL_LINE_MAX).map_err(|e| {
                    SignageError::BadText {
                        field: "local_line",
                        error: e,
                    }
                })?,
            ),
        };
        let alert_body = alert_body_of(&current.body, made.local_line.as_deref());
        self.store
            .set_cap_local_line(&actor(who), id, line.as_deref())
            .await?;
        let draft = NoticeDraft {
            community_id: current.community_id,
            title: current.title.clone(),
            body: cap::body_with_local_line(line.as_deref(), alert_body),
            category: current.category,
            emergency: current.emergency,
            validity: current.validity,
            day_parts: current.day_parts.clone(),
            targets: current.targets.clone(),
            display_seconds: current.display_seconds,
            priority: current.priority,
            images: current.images.clone(),
            video: current.video,
        };
        let notice = self
            .store
            .update_notice(&actor(who), id, current.revision, &draft, current.state)
            .await?;
        self.changed(notice.community_id);
        Ok(notice)
    }
}

/// The alert's own text of a notice body that may begin with `local_line`.
fn alert_body_of<'a>(body: &'a str, local_line: Option<&str>) -> &'a str {
    let Some(line) = local_line else {
        return body;
    };
    let prefix = cap::local_line_prefix(line);
    if let Some(rest) = body.strip_prefix(&prefix) {
        return rest;
    }
    // An alert without text: the body is the line alone (trimmed when stored).
    if body == prefix.trim_end() {
        return "";
    }
    body
}

/// Who the audit names for what a feed does.
fn feed_actor(feed: &CapFeed) -> Actor {
    Actor {
        id: None,
        name: format!("CAP: {}", feed.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_count_as_the_internet() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "114.114.114.114", "2400:3200::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_feed_on_this_machine_or_its_network_is_not_fetched() {
        let client = fetch_client(false);
        for written in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:9/a.xml",
            "http://[::1]:9/a.xml",
        ] {
            let url = url::Url::parse(written).unwrap();
            assert!(
                matches!(fetch(&client, &url, false).await, Err(FetchError::Private)),
                "{written}"
            );
        }
        // A name that resolves to loopback only: refused when resolved.
        let url = url::Url::parse("http://localhost:9/a.xml").unwrap();
        match fetch(&client, &url, false).await {
            Err(FetchError::Network(_)) => {}
            other => panic!("localhost was fetched: {other:?}"),
        }
    }

    #[test]
    fn only_absolute_web_addresses_are_followed() {
        assert!(check_feed_url("https://alerts.example.gov.cn/cap/index.atom").is_some());
        assert!(check_feed_url(" http://127.0.0.1:8080/a.xml ").is_some());
        for bad in [
            "",
            "file:///etc/passwd",
            "ftp://example.org/a.xml",
            "javascript:alert(1)",
            "/relative.xml",
            "http://",
        ] {
            assert!(check_feed_url(bad).is_none(), "{bad:?}");
        }
        assert!(check_feed_url(&format!("https://example.org/{}", "a".repeat(600))).is_none());
    }

    #[test]
    fn the_alert_text_is_found_under_any_local_line() {
        let body = cap::body_with_local_line(Some("请走东侧楼梯"), "暴雨");
        assert_eq!(alert_body_of(&body, Some("请走东侧楼梯")), "暴雨");
        assert_eq!(alert_body_of("暴雨", None), "暴雨");
        assert_eq!(alert_body_of("**请走东侧楼梯**", Some("请走东侧楼梯")), "");
    }
}
