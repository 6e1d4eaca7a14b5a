//! The signal bus on PostgreSQL: `pg_notify` out, one `LISTEN`ing
//! connection per node in.
//!
//! Out: `Signals::publish` queues the signal for one sender task, which sends
//! `pg_notify` through the pool one signal after another, so this node's
//! signals reach others in the order they were published.
//!
//! In: a listener task holds one connection that `LISTEN`s to every topic.
//! When that connection is lost (server restart, `pg_terminate_backend`, a
//! dead network that stops even our own pings from coming back), it
//! reconnects with growing pauses (0.1 s doubling to 5 s) and, once it
//! listens again, tells every subscriber that it lagged: whatever was sent
//! meanwhile is read from the store.
//!
//! A signal the sender cannot get out (the database unreachable from this
//! node for longer than [`SEND_PATIENCE`]) is dropped, and the sender owes
//! the other nodes a resync: once it reaches the database again it sends
//! one on [`RESYNC_CHANNEL`], and every other node's subscribers resync as
//! after a reconnect. So a change is never silently lost to other nodes,
//! even when only this node was cut off.
//!
//! A node that dies (`kill -9`, a power cut) may take signals with it that
//! it had not sent yet for changes it had committed. Each node's listening
//! connection carries the node's id as its `application_name`, and every
//! node looks every [`PEER_CHECK`] at which nodes are listening on the
//! database: when one it saw before is gone, its subscribers resync. So a
//! change committed by a node that died before telling anyone is seen by
//! the others within a few seconds, not at their next restart.
//!
//! A change that must not be seen before its commit can also send its signal
//! from inside its transaction ([`notify_in`]): PostgreSQL delivers it at
//! commit (and never, on rollback), to every node including this one.

use std::time::Duration;

use std::collections::BTreeSet;

use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use crate::store::signals::{self, Outgoing, Signals, Topic, WeakSignals};

/// The channel of the listener's own pings.
const PING_CHANNEL: &str = "pavilion_signals_ping";
/// The channel on which a node that dropped signals asks the others to
/// resync; the payload is its node id.
const RESYNC_CHANNEL: &str = "pavilion_signals_resync";
/// How long the sender keeps trying to send one signal.
const SEND_PATIENCE: Duration = Duration::from_secs(10);
/// The listener pings itself this often when nothing else arrives...
const PING_EVERY: Duration = Duration::from_secs(10);
/// ...and takes its connection for dead after this long without a word.
const SILENT_LIMIT: Duration = Duration::from_secs(30);
/// How often a node looks for nodes that stopped listening.
const PEER_CHECK: Duration = Duration::from_secs(2);
/// The `application_name` of a listening connection: this and the node id.
pub(super) const LISTENER_NAME: &str = "pavilion-signals ";
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Starts the bus of a node on `pool`: the sender task, and the listener
/// once it listens (so that no signal sent after this returns is missed).
pub(super) async fn start(pool: &PgPool) -> anyhow::Result<Signals> {
    let (outbox, outgoing) = mpsc::unbounded_channel();
    let signals = Signals::shared(outbox);
    let listener = listen(pool, signals.node()).await?;
    let peers = listening_nodes(pool).await?;
    tokio::spawn(send_all(pool.clone(), signals.node(), outgoing));
    tokio::spawn(follow(pool.clone(), signals.downgrade(), listener));
    tokio::spawn(watch_peers(pool.clone(), signals.downgrade(), peers));
    Ok(signals)
}

/// Sends a signal from inside a store transaction: delivered at commit to
/// every node, this one included (subscribers see `from_here` false).
#[allow(dead_code)] // For store changes whose signal must follow their commit.
pub(in crate::store) async fn notify_in(
    tx: &mut PgConnection,
    topic: Topic,
    payload: &str,
) -> Result<(), crate::store::StoreError> {
    signals::check_size(payload)
        .map_err(|_| crate::store::StoreError::Rejected("signal too large"))?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(topic.channel())
        .bind(signals::envelope(0, payload))
        .execute(tx)
        .await?;
    Ok(())
}

/// A listening connection of its own (a pool of one, so that the name it
/// carries never passes to a connection doing other work).
async fn listen(pool: &PgPool, node: u64) -> Result<PgListener, sqlx::Error> {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .application_name(&format!("{LISTENER_NAME}{node:016x}"));
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with(options);
    let mut listener = PgListener::connect_with(&own).await?;
    // Reconnecting is ours to do, so that we can say "lagged" afterwards.
    listener.eager_reconnect(false);
    let mut channels: Vec<&str> = Topic::ALL.iter().map(|t| t.channel()).collect();
    channels.extend([PING_CHANNEL, RESYNC_CHANNEL]);
    listener.listen_all(channels).await?;
    Ok(listener)
}

/// The sender task: one `pg_notify` at a time, in order, until the bus is
/// gone. A signal that cannot be sent is dropped and a resync is owed.
async fn send_all(pool: PgPool, node: u64, mut outgoing: mpsc::UnboundedReceiver<Outgoing>) {
    let mut owed = false;
    loop {
        let next = if owed {
            tokio::select! {
                next = outgoing.recv() => next,
                _ = tokio::time::sleep(LONGEST_PAUSE) => {
                    owed = !send_resync(&pool, node).await;
                    continue;
                }
            }
        } else {
            outgoing.recv().await
        };
        let Some(signal) = next else { return };
        if owed {
            owed = !send_resync(&pool, node).await;
        }
        if !send(&pool, signal.topic.channel(), &signal.envelope).await {
            if pool.is_closed() {
                return;
            }
            tracing::error!(topic = ?signal.topic, "a signal could not be sent to the other nodes; they will be told to resync");
            owed = true;
        }
    }
}

/// Asks every other node to resync; true once sent.
async fn send_resync(pool: &PgPool, node: u64) -> bool {
    let sent = send(pool, RESYNC_CHANNEL, &format!("{node:016x}")).await;
    if sent {
        tracing::info!("the other nodes were told to resync");
    }
    sent
}

/// Sends one notification, trying again for up to [`SEND_PATIENCE`].
async fn send(pool: &PgPool, channel: &str, payload: &str) -> bool {
    let started = tokio::time::Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(pool)
            .await;
        match sent {
            Ok(_) => return true,
            Err(_) if pool.is_closed() => return false,
            Err(e) if started.elapsed() >= SEND_PATIENCE => {
                tracing::warn!(channel, error = %e, "sending a signal failed; giving up on it");
                return false;
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "sending a signal failed; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

/// The nodes listening on this database now (this one included).
async fn listening_nodes(pool: &PgPool) -> Result<BTreeSet<u64>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT application_name FROM pg_stat_activity \
          WHERE datname = current_database() AND starts_with(application_name, $1)",
    )
    .bind(LISTENER_NAME)
    .fetch_all(pool)
    .await?;
    Ok(names
        .iter()
        .filter_map(|name| u64::from_str_radix(&name[LISTENER_NAME.len()..], 16).ok())
        .collect())
}

/// The peer watch: every [`PEER_CHECK`], which nodes listen; when a node
/// seen before has stopped, whatever it committed but had not signalled
/// yet is read from the store (subscribers resync).
async fn watch_peers(pool: PgPool, signals: WeakSignals, mut known: BTreeSet<u64>) {
    let Some(mut alive) = signals.upgrade().map(|s| s.alive()) else {
        return;
    };
    let mut check = tokio::time::interval(PEER_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.tick().await;
    loop {
        tokio::select! {
            _ = check.tick() => {}
            _ = alive.changed() => return,
        }
        if pool.is_closed() {
            return;
        }
        let now = match listening_nodes(&pool).await {
            Ok(now) => now,
            // The listener notices a database out of reach, and resyncs.
            Err(_) => continue,
        };
        let Some(signals) = signals.upgrade() else {
            return;
        };
        let gone: Vec<String> = known
            .difference(&now)
            .filter(|&&node| node != signals.node())
            .map(|node| format!("{node:016x}"))
            .collect();
        if !gone.is_empty() {
            tracing::info!(nodes = ?gone, "a node stopped listening; subscribers resync");
            signals.resync();
        }
        signals.set_peers(now.len());
        known = now;
    }
}

/// The listener task: delivers other nodes' signals; reconnects after a lost
/// connection and then reports a lag.
async fn follow(pool: PgPool, signals: WeakSignals, first: PgListener) {
    let Some(mut alive) = signals.upgrade().map(|s| s.alive()) else {
        return;
    };
    let mut listener = Some(first);
    let mut pause = FIRST_PAUSE;
    loop {
        let mut current = match listener.take() {
            Some(current) => current,
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = alive.changed() => return,
                }
                if pool.is_closed() {
                    return;
                }
                let Some(node) = signals.upgrade().map(|s| s.node()) else {
                    return;
                };
                match listen(&pool, node).await {
                    Ok(current) => {
                        pause = FIRST_PAUSE;
                        let Some(signals) = signals.upgrade() else {
                            return;
                        };
                        tracing::info!("signal listener reconnected; subscribers resync");
                        signals.lagged();
                        current
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, ?pause, "signal listener cannot reconnect yet");
                        pause = (pause * 2).min(LONGEST_PAUSE);
                        continue;
                    }
                }
            }
        };
        let node = match signals.upgrade() {
            Some(signals) => signals.node(),
            None => return,
        };
        let mut last_heard = tokio::time::Instant::now();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let lost = loop {
            tokio::select! {
                // `try_recv` is cancel-safe: sqlx reads whole messages only.
                received = current.try_recv() => match received {
                    Ok(Some(notification)) => {
                        last_heard = tokio::time::Instant::now();
                        if notification.channel() == PING_CHANNEL {
                            continue;
                        }
                        let Some(signals) = signals.upgrade() else { return };
                        if notification.channel() == RESYNC_CHANNEL {
                            if u64::from_str_radix(notification.payload(), 16) != Ok(node) {
                                tracing::info!("another node dropped signals; subscribers resync");
                                signals.resync();
                            }
                            continue;
                        }
                        signals.deliver_notification(notification.channel(), notification.payload());
                    }
                    Ok(None) => break "connection lost".to_owned(),
                    Err(e) => break e.to_string(),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENT_LIMIT {
                        break "no word for too long".to_owned();
                    }
                    let pool = pool.clone();
                    // Through the pool, not the listening connection, so that
                    // a ping coming back proves this connection still hears.
                    tokio::spawn(async move {
                        let _ = sqlx::query("SELECT pg_notify($1, $2)")
                            .bind(PING_CHANNEL)
                            .bind(format!("{node:016x}"))
                            .execute(&pool)
                            .await;
                    });
                }
                _ = alive.changed() => return,
            }
        };
        if pool.is_closed() {
            return;
        }
        tracing::warn!(reason = %lost, "signal listener lost its connection; reconnecting");
        drop(current);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::broadcast::error::RecvError;

    use super::super::testing;
    use crate::store::signals::{AccountChanges, SignalReceiver, Topic, MAX_PAYLOAD};
    use crate::store::{PgStore, SignalStore};

    const PATIENCE: Duration = Duration::from_secs(10);

    async fn next(
        receiver: &mut SignalReceiver,
    ) -> Result<crate::store::signals::Signal, RecvError> {
        tokio::time::timeout(PATIENCE, receiver.recv())
            .await
            .expect("a signal within 10 s")
    }

    /// Two stores on one database: two nodes.
    async fn two_nodes() -> (PgStore, PgStore) {
        let a = testing::store().await;
        let b = testing::store_on(&a).await;
        (a, b)
    }

    #[tokio::test]
    async fn a_signal_published_on_one_node_reaches_the_other_in_order_and_once() {
        let (a, b) = two_nodes().await;
        let mut on_a = a.signals().subscribe(Topic::Chat);
        let mut on_b = b.signals().subscribe(Topic::Chat);
        for i in 0..50 {
            a.signals().publish(Topic::Chat, &i.to_string()).unwrap();
        }
        for i in 0..50 {
            let signal = next(&mut on_b).await.unwrap();
            assert_eq!(&*signal.payload, i.to_string());
            assert!(!signal.from_here);
        }
        // The publisher got each at once, and not again from PostgreSQL.
        for i in 0..50 {
            let signal = next(&mut on_a).await.unwrap();
            assert_eq!(&*signal.payload, i.to_string());
            assert!(signal.from_here);
        }
        b.signals().publish(Topic::Chat, "from b").unwrap();
        let signal = next(&mut on_a).await.unwrap();
        assert_eq!((&*signal.payload, signal.from_here), ("from b", false));
        assert_eq!(&*next(&mut on_b).await.unwrap().payload, "from b");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(10), on_a.recv())
                .await
                .is_err(),
            "nothing delivered twice"
        );
    }

    #[tokio::test]
    async fn topics_stay_apart() {
        let (a, b) = two_nodes().await;
        let mut accounts = AccountChanges::new(b.signals().subscribe(Topic::Accounts));
        let mut signage = b.signals().subscribe(Topic::Signage);
        a.signals()
            .publish(Topic::Signage, "{\"k\":\"screens\"}")
            .unwrap();
        a.signals().publish(Topic::Accounts, "17").unwrap();
        assert_eq!(
            &*next(&mut signage).await.unwrap().payload,
            "{\"k\":\"screens\"}"
        );
        let changed = tokio::time::timeout(PATIENCE, accounts.recv())
            .await
            .unwrap();
        assert_eq!(changed.unwrap(), crate::domain::AccountId(17));
    }

    #[tokio::test]
    async fn a_signal_sent_in_a_transaction_arrives_after_commit_and_never_on_rollback() {
        let (a, b) = two_nodes().await;
        let mut on_a = a.signals().subscribe(Topic::Live);
        let mut on_b = b.signals().subscribe(Topic::Live);
        let mut tx = a.write_tx().await.unwrap();
        super::notify_in(&mut tx, Topic::Live, "rolled back")
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let mut tx = a.write_tx().await.unwrap();
        super::notify_in(&mut tx, Topic::Live, "committed")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(10), on_b.recv())
                .await
                .is_err(),
            "nothing before the commit"
        );
        tx.commit().await.unwrap();
        // Every node, the sending one too.
        for receiver in [&mut on_a, &mut on_b] {
            let signal = next(receiver).await.unwrap();
            assert_eq!((&*signal.payload, signal.from_here), ("committed", false));
        }
        let mut tx = a.write_tx().await.unwrap();
        assert!(
            super::notify_in(&mut tx, Topic::Live, &"x".repeat(MAX_PAYLOAD + 1))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn payloads_over_the_limit_are_refused_and_the_largest_allowed_arrives() {
        let (a, b) = two_nodes().await;
        let mut on_b = b.signals().subscribe(Topic::Signage);
        assert!(a
            .signals()
            .publish(Topic::Signage, &"x".repeat(MAX_PAYLOAD + 1))
            .is_err());
        let largest = "界".repeat(MAX_PAYLOAD / 3);
        a.signals().publish(Topic::Signage, &largest).unwrap();
        assert_eq!(&*next(&mut on_b).await.unwrap().payload, largest);
    }

    #[tokio::test]
    async fn a_killed_listener_reconnects_and_reports_a_lag() {
        let (a, b) = two_nodes().await;
        let mut on_b = b.signals().subscribe(Topic::Chat);
        a.signals().publish(Topic::Chat, "before").unwrap();
        assert_eq!(&*next(&mut on_b).await.unwrap().payload, "before");
        // Every connection that listens on this database: b's listener
        // (a's too; a's own receivers are not watched here).
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(l.pid) FROM pg_stat_activity l
             WHERE l.datname = current_database() AND l.pid <> pg_backend_pid()
               AND l.query LIKE 'LISTEN%'",
        )
        .fetch_all(a.pool())
        .await
        .unwrap();
        assert!(!killed.is_empty(), "the listeners were found");
        assert!(
            matches!(next(&mut on_b).await, Err(RecvError::Lagged(_))),
            "told to resync after reconnecting"
        );
        assert!(b.signals().reconnects() >= 1);
        // And it hears again.
        a.signals().publish(Topic::Chat, "after").unwrap();
        loop {
            match next(&mut on_b).await {
                Ok(signal) => {
                    assert_eq!(&*signal.payload, "after");
                    break;
                }
                // a's listener reconnecting says lagged on a's bus, not b's;
                // b may report its own lag twice if it was killed twice.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => panic!("the bus closed"),
            }
        }
    }

    #[tokio::test]
    async fn a_node_that_dropped_signals_makes_the_others_resync() {
        let (a, b) = two_nodes().await;
        let mut on_a = a.signals().subscribe(Topic::Chat);
        let mut on_b = b.signals().subscribe(Topic::Signage);
        assert!(super::send_resync(a.pool(), a.signals().node()).await);
        assert!(matches!(next(&mut on_b).await, Err(RecvError::Lagged(_))));
        assert_eq!(b.signals().reconnects(), 0, "not a reconnect");
        // The node that asked has nothing to resync itself.
        b.signals().publish(Topic::Chat, "after").unwrap();
        assert_eq!(&*next(&mut on_a).await.unwrap().payload, "after");
    }

    /// A node that vanishes without a word (its connections simply end, as
    /// after `kill -9`) may have committed changes it never signalled: the
    /// nodes that saw it listening resync.
    #[tokio::test]
    async fn a_node_that_stops_listening_makes_the_others_resync() {
        let (a, b) = two_nodes().await;
        let mut on_b = b.signals().subscribe(Topic::Signage);
        let peer = testing::a_node_that_will_vanish(&a).await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while b.signals().listening_nodes() != 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the third node seen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            on_b.try_recv().is_err(),
            "a node arriving is no reason to resync"
        );
        sqlx::Connection::close(peer).await.unwrap();
        assert!(matches!(next(&mut on_b).await, Err(RecvError::Lagged(_))));
        assert_eq!(b.signals().reconnects(), 0, "not a reconnect");
        assert_eq!(b.signals().listening_nodes(), 2);
    }

    #[tokio::test]
    async fn a_dropped_store_stops_listening() {
        let (a, b) = two_nodes().await;
        let listening = || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            )
            .fetch_one(a.pool())
            .await
            .unwrap()
        };
        assert_eq!(listening().await, 2);
        drop(b);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while listening().await > 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "b's listener still runs"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
