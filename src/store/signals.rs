//! Cross-node signals: short messages that tell every Pavilion node sharing
//! a database that something changed, so that each can wake its sockets and
//! screens and forget what it cached.
//!
//! A signal is a prompt, not the data: it carries ids and sequence numbers
//! (or a little JSON) and receivers read what changed from the store. A
//! receiver told that it *lagged* may have missed signals and resyncs from
//! the store as if everything had changed.
//!
//! One bus per store, two backends behind the same [`Signals`]:
//! - SQLite (one node): in-process only, one tokio broadcast channel per topic;
//! - PostgreSQL (several nodes): `publish` delivers in-process at once and
//!   sends `pg_notify` on the topic's channel; one `LISTEN`ing connection per
//!   node (see `postgres::signals`) delivers the other nodes' signals and,
//!   after it lost its connection and got it back, tells every subscriber
//!   that it lagged. A node's own notifications come back to it too; they
//!   carry its node id and are dropped, so nothing is delivered twice.
//!
//! Delivery order is the publishing node's order; signals of different
//! nodes interleave in no particular order. Capabilities that need order
//! (chat events) number their data in the store and read it from there.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

/// What a signal is about; each topic is one PostgreSQL channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// An account's sessions, rights or password changed: the payload is its id.
    Accounts,
    /// Chat events, private notices, queue changes, settings, blocked words.
    Chat,
    /// Notices, screens and the figures switch: what lobby screens show.
    Signage,
    /// A broadcast's state or replay changed.
    Live,
}

impl Topic {
    pub const ALL: [Topic; 4] = [Topic::Accounts, Topic::Chat, Topic::Signage, Topic::Live];

    /// The PostgreSQL channel (`LISTEN` / `pg_notify`) of the topic.
    pub fn channel(self) -> &'static str {
        match self {
            Topic::Accounts => "pavilion_accounts",
            Topic::Chat => "pavilion_chat",
            Topic::Signage => "pavilion_signage",
            Topic::Live => "pavilion_live",
        }
    }

    pub fn from_channel(channel: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.channel() == channel)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Longest payload, in bytes. PostgreSQL refuses a `NOTIFY` payload of
/// 8000 bytes or more; the envelope (a node id) needs a few of those.
/// Both backends enforce the same bound, so a signal that works on
/// SQLite works on PostgreSQL.
pub const MAX_PAYLOAD: usize = 7900;

/// How many signals of one topic a slow subscriber may fall behind before
/// it is told it lagged.
const CAPACITY: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignalError {
    #[error("a signal payload of {0} bytes is longer than {MAX_PAYLOAD}")]
    TooLarge(usize),
}

/// One signal as a subscriber receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub topic: Topic,
    pub payload: Arc<str>,
    /// Published through this very bus (this node): the publisher has
    /// already done locally whatever the signal asks others to do.
    pub from_here: bool,
}

#[derive(Debug, Clone)]
enum Delivery {
    Signal(Signal),
    /// Signals may have been missed (the listening connection was lost).
    Lagged,
}

/// A signal on its way to PostgreSQL.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub topic: Topic,
    /// `<node id, 16 hex digits><payload>`.
    pub envelope: String,
}

/// The signal bus of one node. Cheap to clone.
#[derive(Clone)]
pub struct Signals {
    inner: Arc<Inner>,
}

struct Inner {
    /// This node's id, random per bus: its own notifications carry it.
    node: u64,
    topics: Vec<broadcast::Sender<Delivery>>,
    /// To the task sending `pg_notify`; `None` for a bus of one node.
    outbox: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Dropped with the bus: background tasks see the channel close and stop.
    _alive: watch::Sender<()>,
    alive: watch::Receiver<()>,
    /// How many times the listener lost its connection and got it back.
    reconnects: std::sync::atomic::AtomicU64,
    /// How many nodes listened on the database at the last look.
    peers: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("node", &format_args!("{:016x}", self.inner.node))
            .field("shared", &self.inner.outbox.is_some())
            .finish()
    }
}

impl Signals {
    /// A bus for one node alone (SQLite): signals stay in this process.
    pub fn in_process() -> Self {
        Self::new(None)
    }

    /// A bus whose signals also leave through `outbox` (PostgreSQL).
    pub(crate) fn shared(outbox: mpsc::UnboundedSender<Outgoing>) -> Self {
        Self::new(Some(outbox))
    }

    fn new(outbox: Option<mpsc::UnboundedSender<Outgoing>>) -> Self {
        let (alive_tx, alive_rx) = watch::channel(());
        Self {
            inner: Arc::new(Inner {
                // Zero is the envelope of signals sent from inside a store
                // transaction, which every node (this one too) delivers.
                node: rand::random::<u64>().max(1),
                topics: Topic::ALL
                    .iter()
                    .map(|_| broadcast::channel(CAPACITY).0)
                    .collect(),
                outbox,
                _alive: alive_tx,
                alive: alive_rx,
                reconnects: Default::default(),
                peers: std::sync::atomic::AtomicUsize::new(1),
            }),
        }
    }

    /// Tells every subscriber of `topic`, on this node at once and on the
    /// others through the database. Call after the change is committed.
    /// Refuses a payload longer than [`MAX_PAYLOAD`]; nobody listening is
    /// not an error.
    pub fn publish(&self, topic: Topic, payload: &str) -> Result<(), SignalError> {
        check_size(payload)?;
        let _ = self.inner.topics[topic.index()].send(Delivery::Signal(Signal {
            topic,
            payload: payload.into(),
            from_here: true,
        }));
        if let Some(outbox) = &self.inner.outbox {
            let outgoing = Outgoing {
                topic,
                envelope: envelope(self.inner.node, payload),
            };
            if outbox.send(outgoing).is_err() {
                tracing::warn!(
                    ?topic,
                    "the signal sender has stopped; other nodes are not told"
                );
            }
        }
        Ok(())
    }

    /// Publishes, logging instead of failing: for signals whose payload is
    /// known to be small (ids and numbers).
    pub fn tell(&self, topic: Topic, payload: &str) {
        if let Err(e) = self.publish(topic, payload) {
            tracing::error!(?topic, error = %e, "signal not sent");
        }
    }

    /// Every signal of `topic` published from now on, on any node.
    pub fn subscribe(&self, topic: Topic) -> SignalReceiver {
        SignalReceiver {
            topic,
            receiver: self.inner.topics[topic.index()].subscribe(),
        }
    }

    /// Whether signals reach other nodes (a shared database).
    pub fn is_shared(&self) -> bool {
        self.inner.outbox.is_some()
    }

    /// How many times this node's listener reconnected (for tests and metrics).
    pub fn reconnects(&self) -> u64 {
        self.inner
            .reconnects
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many nodes (this one included) listened on the shared database
    /// at the last look; 1 for a bus of one node.
    pub fn listening_nodes(&self) -> usize {
        self.inner.peers.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set_peers(&self, count: usize) {
        self.inner
            .peers
            .store(count, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn node(&self) -> u64 {
        self.inner.node
    }

    /// Closes when the bus is dropped.
    pub(crate) fn alive(&self) -> watch::Receiver<()> {
        self.inner.alive.clone()
    }

    pub(crate) fn downgrade(&self) -> WeakSignals {
        WeakSignals(Arc::downgrade(&self.inner))
    }

    /// A signal another node sent (or a store transaction, node 0): passed
    /// on unless it is this node's own, already delivered by `publish`.
    pub(crate) fn deliver_notification(&self, channel: &str, envelope: &str) {
        let Some(topic) = Topic::from_channel(channel) else {
            return;
        };
        let Some((node, payload)) = open_envelope(envelope) else {
            tracing::warn!(channel, "a malformed signal was ignored");
            return;
        };
        if node == self.inner.node {
            return;
        }
        let _ = self.inner.topics[topic.index()].send(Delivery::Signal(Signal {
            topic,
            payload: payload.into(),
            from_here: false,
        }));
    }

    /// The listener reconnected: every subscriber of every topic may have
    /// missed signals.
    pub(crate) fn lagged(&self) {
        self.inner
            .reconnects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.resync();
    }

    /// Tells every subscriber of every topic that it may have missed
    /// signals (this node's listener reconnected, or another node could not
    /// send some of its own).
    pub(crate) fn resync(&self) {
        for topic in &self.inner.topics {
            let _ = topic.send(Delivery::Lagged);
        }
    }
}

/// A bus that background tasks reach without keeping it alive.
#[derive(Clone)]
pub(crate) struct WeakSignals(std::sync::Weak<Inner>);

impl WeakSignals {
    pub fn upgrade(&self) -> Option<Signals> {
        self.0.upgrade().map(|inner| Signals { inner })
    }
}

pub(crate) fn check_size(payload: &str) -> Result<(), SignalError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(SignalError::TooLarge(payload.len()));
    }
    Ok(())
}

/// `<node as 16 hex digits><payload>`.
pub(crate) fn envelope(node: u64, payload: &str) -> String {
    format!("{node:016x}{payload}")
}

fn open_envelope(envelope: &str) -> Option<(u64, &str)> {
    let node = envelope.get(..16)?;
    let node = u64::from_str_radix(node, 16).ok()?;
    Some((node, &envelope[16..]))
}

/// One subscriber's feed of a topic.
pub struct SignalReceiver {
    topic: Topic,
    receiver: broadcast::Receiver<Delivery>,
}

impl SignalReceiver {
    pub fn topic(&self) -> Topic {
        self.topic
    }

    /// The next signal. `Err(Lagged(_))`: signals may have been missed
    /// (this receiver fell behind, or the node lost its listening
    /// connection): resync from the store. `Err(Closed)`: the bus is gone.
    pub async fn recv(&mut self) -> Result<Signal, broadcast::error::RecvError> {
        match self.receiver.recv().await? {
            Delivery::Signal(signal) => Ok(signal),
            Delivery::Lagged => Err(broadcast::error::RecvError::Lagged(0)),
        }
    }

    /// The next signal if one is waiting (see [`SignalReceiver::recv`]).
    pub fn try_recv(&mut self) -> Result<Signal, broadcast::error::TryRecvError> {
        match self.receiver.try_recv()? {
            Delivery::Signal(signal) => Ok(signal),
            Delivery::Lagged => Err(broadcast::error::TryRecvError::Lagged(0)),
        }
    }
}

/// Accounts whose sessions, role, place, disabled flag or password changed,
/// on any node (see [`super::AccountStore::account_changes`]).
pub struct AccountChanges {
    signals: SignalReceiver,
}

impl AccountChanges {
    pub fn new(signals: SignalReceiver) -> Self {
        Self { signals }
    }

    /// The next changed account. `Err(Lagged(_))`: any account may have
    /// changed.
    pub async fn recv(&mut self) -> Result<crate::domain::AccountId, broadcast::error::RecvError> {
        loop {
            if let Some(id) = account_of(&self.signals.recv().await?) {
                return Ok(id);
            }
        }
    }

    /// The next changed account if one was told already (a change made
    /// through this node is told before the change returns).
    pub fn try_recv(&mut self) -> Result<crate::domain::AccountId, broadcast::error::TryRecvError> {
        loop {
            if let Some(id) = account_of(&self.signals.try_recv()?) {
                return Ok(id);
            }
        }
    }
}

fn account_of(signal: &Signal) -> Option<crate::domain::AccountId> {
    match signal.payload.parse::<i64>() {
        Ok(id) => Some(crate::domain::AccountId(id)),
        Err(_) => {
            tracing::warn!(payload = %signal.payload, "a malformed account signal was ignored");
            None
        }
    }
}

/// Two nodes without PostgreSQL, for tests of what receives signals: two
/// stores on one SQLite file whose buses are linked as if they shared a
/// database (what one publishes, the other delivers as another node's).
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use tokio::sync::broadcast::error::RecvError;

    use super::{envelope, Signals, Topic};
    use crate::domain::{
        Account, Actor, CommunityCode, DisplayName, NewAccount, PlaceName, Role, Username,
    };
    use crate::store::{SqliteStore, Store};

    /// Links two buses both ways.
    pub(crate) fn link(a: &Signals, b: &Signals) {
        forward(a, b);
        forward(b, a);
    }

    fn forward(from: &Signals, to: &Signals) {
        for topic in Topic::ALL {
            let mut receiver = from.subscribe(topic);
            let node = from.node();
            let to = to.downgrade();
            tokio::spawn(async move {
                loop {
                    let received = receiver.recv().await;
                    let Some(to) = to.upgrade() else { return };
                    match received {
                        Ok(signal) if signal.from_here => to.deliver_notification(
                            topic.channel(),
                            &envelope(node, &signal.payload),
                        ),
                        Ok(_) => {}
                        // The other bus's own resyncs are not passed on
                        // (they would bounce between the two for ever).
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
    }

    /// Two nodes on one SQLite file (in `dir`), their buses linked.
    pub(crate) async fn two_sqlite_nodes(
        dir: &std::path::Path,
    ) -> (Arc<dyn Store>, Arc<dyn Store>) {
        let url = format!("sqlite://{}", dir.join("nodes.sqlite").display());
        let a = SqliteStore::open(&url).await.expect("node a");
        let b = SqliteStore::open(&url).await.expect("node b");
        link(
            crate::store::SignalStore::signals(&a),
            crate::store::SignalStore::signals(&b),
        );
        (Arc::new(a), Arc::new(b))
    }

    /// Two nodes on one PostgreSQL database: each its own pool, listener
    /// and bus.
    pub(crate) async fn two_pg_nodes() -> (Arc<dyn Store>, Arc<dyn Store>) {
        let a = crate::store::postgres::testing::store().await;
        let b = crate::store::postgres::testing::store_on(&a).await;
        (Arc::new(a), Arc::new(b))
    }

    /// A secretary (every staff right there) of a new community.
    pub(crate) async fn secretary(store: &dyn Store) -> Account {
        let system = Actor {
            id: None,
            name: "test".into(),
        };
        let community = store
            .create_community(
                &system,
                &PlaceName::parse("信号小区").unwrap(),
                &CommunityCode::parse("XH").unwrap(),
            )
            .await
            .expect("a community");
        store
            .create_account(
                &system,
                NewAccount {
                    username: Username::parse("secretary").unwrap(),
                    display_name: DisplayName::parse("王书记").unwrap(),
                    password_hash: "not a hash".into(),
                    role: Role::Secretary,
                    community_id: Some(community.id),
                    estate_id: None,
                    unit_id: None,
                },
            )
            .await
            .expect("a secretary")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use broadcast::error::RecvError;

    #[tokio::test]
    async fn one_node_delivers_in_order_once() {
        let signals = Signals::in_process();
        let mut chat = signals.subscribe(Topic::Chat);
        let mut accounts = signals.subscribe(Topic::Accounts);
        signals.publish(Topic::Chat, "1").unwrap();
        signals.publish(Topic::Accounts, "7").unwrap();
        signals.publish(Topic::Chat, "2").unwrap();
        for expected in ["1", "2"] {
            let signal = chat.recv().await.unwrap();
            assert_eq!(&*signal.payload, expected);
            assert!(signal.from_here);
        }
        assert_eq!(&*accounts.recv().await.unwrap().payload, "7");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), chat.recv())
                .await
                .is_err()
        );
    }

    #[test]
    fn payloads_are_bounded() {
        let signals = Signals::in_process();
        assert!(signals
            .publish(Topic::Chat, &"x".repeat(MAX_PAYLOAD))
            .is_ok());
        assert_eq!(
            signals.publish(Topic::Chat, &"x".repeat(MAX_PAYLOAD + 1)),
            Err(SignalError::TooLarge(MAX_PAYLOAD + 1))
        );
        // The largest payload still fits PostgreSQL's limit in its envelope.
        assert!(envelope(u64::MAX, &"x".repeat(MAX_PAYLOAD)).len() < 8000);
    }

    #[tokio::test]
    async fn own_notifications_are_dropped_and_others_delivered() {
        let signals = Signals::in_process();
        let mut live = signals.subscribe(Topic::Live);
        let own = envelope(signals.node(), "mine");
        signals.deliver_notification("pavilion_live", &own);
        signals.deliver_notification("pavilion_live", &envelope(signals.node() ^ 1, "theirs"));
        signals.deliver_notification("pavilion_live", &envelope(0, "in a transaction"));
        signals.deliver_notification("pavilion_live", "garbage");
        signals.deliver_notification("elsewhere", &envelope(3, "not ours"));
        let first = live.recv().await.unwrap();
        assert_eq!((&*first.payload, first.from_here), ("theirs", false));
        assert_eq!(&*live.recv().await.unwrap().payload, "in a transaction");
        signals.lagged();
        assert!(matches!(live.recv().await, Err(RecvError::Lagged(_))));
        assert_eq!(signals.reconnects(), 1);
    }

    /// An account changed through one node (here its password, which ends
    /// its sessions) is told to the other node's listeners.
    pub(crate) async fn account_changes_cross_nodes(
        a: std::sync::Arc<dyn crate::store::Store>,
        b: std::sync::Arc<dyn crate::store::Store>,
    ) {
        let secretary = testing::secretary(&*a).await;
        let mut on_b = b.account_changes();
        let system = crate::domain::Actor {
            id: None,
            name: "test".into(),
        };
        a.set_password(&system, secretary.id, "another hash")
            .await
            .unwrap();
        let changed = tokio::time::timeout(std::time::Duration::from_secs(5), on_b.recv())
            .await
            .expect("told within 5 s");
        assert_eq!(changed.unwrap(), secretary.id);
    }

    #[tokio::test]
    async fn account_changes_cross_nodes_on_one_sqlite_file_with_linked_buses() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_sqlite_nodes(dir.path()).await;
        account_changes_cross_nodes(a, b).await;
    }

    #[tokio::test]
    async fn account_changes_cross_nodes_on_postgresql() {
        let (a, b) = testing::two_pg_nodes().await;
        account_changes_cross_nodes(a, b).await;
    }

    #[tokio::test]
    async fn account_changes_are_ids() {
        let signals = Signals::in_process();
        let mut changes = AccountChanges::new(signals.subscribe(Topic::Accounts));
        signals.publish(Topic::Accounts, "not a number").unwrap();
        signals.publish(Topic::Accounts, "42").unwrap();
        assert_eq!(changes.recv().await.unwrap(), crate::domain::AccountId(42));
    }
}
