//! Lobby screens across nodes. A screen's push stream is held by whichever
//! node it reached; a notice published, an emergency, a screen set up or
//! revoked, or the figures switched through any node is signalled to all,
//! and each forgets what it cached and wakes its screens, which compare
//! their playlist version (within milliseconds, well inside the 2 s an
//! emergency may take). A node told that it lagged forgets every cached
//! notice list and figures switch, reads which screens were revoked, and
//! wakes all its screens.
//!
//! What needs no signal: the broadcasts on air and the questions being
//! answered are read from the store every 2 s on every node; the computed
//! figures are recomputed every few minutes on every node (a node may show
//! last minutes' numbers a little longer than another: harmless).

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::domain::{CommunityId, ScreenId};
use crate::store::Topic;

use super::Signage;

/// What a node tells the others about lobby screens (JSON, a few bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub(super) enum SignageSignal {
    /// The community's notices (or their media) changed.
    Notices { c: CommunityId },
    /// A screen was paired or set up anew.
    Screens,
    /// A screen's token was revoked: its push stream must end.
    Revoked { s: ScreenId },
    /// The community switched its figures on screens on or off.
    Figures { c: CommunityId },
}

impl Signage {
    pub(super) fn signal(&self, signal: &SignageSignal) {
        match serde_json::to_string(signal) {
            Ok(payload) => self.store.signals().tell(Topic::Signage, &payload),
            Err(e) => tracing::error!(error = %e, "a signage signal cannot be written"),
        }
    }

    /// Follows the other nodes' signage signals until the bus closes.
    /// Subscribes before returning, so nothing sent afterwards is missed.
    pub(super) fn follow_signals(self: &std::sync::Arc<Self>) {
        let mut signals = self.store.signals().subscribe(Topic::Signage);
        let signage = self.clone();
        tokio::spawn(async move {
            loop {
                match signals.recv().await {
                    Ok(signal) if signal.from_here => {}
                    Ok(signal) => match serde_json::from_str::<SignageSignal>(&signal.payload) {
                        Ok(signal) => signage.apply(signal),
                        Err(e) => {
                            tracing::warn!(payload = %signal.payload, error = %e, "a malformed signage signal was ignored")
                        }
                    },
                    Err(RecvError::Lagged(_)) => signage.resync().await,
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// Does here what another node's change asks.
    fn apply(&self, signal: SignageSignal) {
        match signal {
            SignageSignal::Notices { c } => self.forget_notices(c),
            SignageSignal::Screens => self.wake_screens(),
            SignageSignal::Revoked { s } => self.forget_screen(s),
            SignageSignal::Figures { c } => self.forget_figures_switch(c),
        }
    }

    async fn resync(&self) {
        tracing::info!("signage signals may have been missed; caches are dropped");
        self.current.lock().expect("signage cache poisoned").clear();
        self.figures_shown
            .lock()
            .expect("figures switch poisoned")
            .clear();
        match self.store.list_screens(None).await {
            Ok(screens) => {
                let mut revoked = self.revoked.lock().expect("revoked set poisoned");
                revoked.extend(
                    screens
                        .iter()
                        .filter(|s| s.revoked_at.is_some())
                        .map(|s| s.id),
                );
            }
            Err(e) => tracing::warn!(error = %e, "cannot read which screens were revoked"),
        }
        self.wake_screens();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::domain::notice::{NoticeCategory, NoticeDraft, Validity};
    use crate::signage::notices::Intent;
    use crate::signage::SignageSettings;
    use crate::store::signals::testing;
    use crate::store::Store;

    /// A node's signage on `store`, following the other nodes' signals.
    fn node(store: &Arc<dyn Store>, dir: &std::path::Path) -> Arc<Signage> {
        let signage = Signage::new(
            store.clone(),
            SignageSettings {
                public_url: "http://pavilion.test".into(),
                time_zone: chrono_tz::Asia::Shanghai,
                client_version: "test".into(),
                data_dir: dir.to_owned(),
            },
            Arc::new(crate::media::picture::DecodeSlots::for_this_machine()),
        );
        signage.follow_signals();
        signage
    }

    async fn woken(screens: &mut tokio::sync::watch::Receiver<u64>) {
        tokio::time::timeout(Duration::from_secs(2), screens.changed())
            .await
            .expect("the screens are woken within 2 s")
            .expect("the signage is alive");
    }

    /// An emergency published through node A reaches the screens whose
    /// push streams node B holds, within the 2 s an emergency may take,
    /// and node B serves it rather than its cached notices.
    pub(crate) async fn signage_crosses_nodes(
        a: Arc<dyn Store>,
        b: Arc<dyn Store>,
        dir: &std::path::Path,
    ) {
        let secretary = testing::secretary(&*a).await;
        let community = secretary.community_id.unwrap();
        let (signage_a, signage_b) = (node(&a, &dir.join("a")), node(&b, &dir.join("b")));
        assert!(signage_b
            .current_notices(community)
            .await
            .unwrap()
            .is_empty());
        let mut screens_b = signage_b.subscribe();
        screens_b.borrow_and_update();

        let draft = NoticeDraft::new(
            community,
            "紧急停水",
            "3号楼今晚停水，请提前储水。",
            NoticeCategory::Outage,
            true,
            Validity::new(chrono::Utc::now() - chrono::Duration::minutes(1), None).unwrap(),
            vec![],
            vec![],
            15,
            9,
            vec![],
            None,
        )
        .unwrap();
        let notice = signage_a
            .create_notice(&secretary, &draft, Intent::Publish)
            .await
            .unwrap();
        woken(&mut screens_b).await;
        let shown = signage_b.current_notices(community).await.unwrap();
        assert_eq!(shown.iter().map(|n| n.id).collect::<Vec<_>>(), [notice.id]);

        // The figures switch, too.
        signage_a.screen_figures_switched(community);
        woken(&mut screens_b).await;
    }

    /// A notice stored whose signal never reached node B reaches B's
    /// screens once B is told it lagged: they are woken and B's cache goes.
    pub(crate) async fn a_lagging_node_forgets_its_cache(
        a: Arc<dyn Store>,
        b: Arc<dyn Store>,
        dir: &std::path::Path,
    ) {
        let secretary = testing::secretary(&*a).await;
        let community = secretary.community_id.unwrap();
        let signage_b = node(&b, &dir.join("b"));
        assert!(signage_b
            .current_notices(community)
            .await
            .unwrap()
            .is_empty());
        let mut screens_b = signage_b.subscribe();
        screens_b.borrow_and_update();
        let draft = NoticeDraft::new(
            community,
            "电梯检修",
            "周三上午电梯停用。",
            NoticeCategory::Outage,
            false,
            Validity::new(chrono::Utc::now() - chrono::Duration::minutes(1), None).unwrap(),
            vec![],
            vec![],
            15,
            5,
            vec![],
            None,
        )
        .unwrap();
        let system = crate::domain::Actor {
            id: None,
            name: "test".into(),
        };
        let notice = a
            .create_notice(
                &system,
                secretary.id,
                &draft,
                crate::domain::notice::NoticeState::Published,
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!screens_b.has_changed().unwrap(), "no signal was sent");
        b.signals().lagged();
        woken(&mut screens_b).await;
        let shown = signage_b.current_notices(community).await.unwrap();
        assert_eq!(shown.iter().map(|n| n.id).collect::<Vec<_>>(), [notice.id]);
    }

    #[tokio::test]
    async fn a_lagging_node_forgets_its_cache_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_sqlite_nodes(dir.path()).await;
        a_lagging_node_forgets_its_cache(a, b, dir.path()).await;
    }

    #[tokio::test]
    async fn a_lagging_node_forgets_its_cache_on_postgresql() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_pg_nodes().await;
        a_lagging_node_forgets_its_cache(a, b, dir.path()).await;
    }

    #[tokio::test]
    async fn signage_crosses_nodes_on_postgresql() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_pg_nodes().await;
        signage_crosses_nodes(a, b, dir.path()).await;
    }

    #[tokio::test]
    async fn signage_crosses_nodes_on_one_sqlite_file_with_linked_buses() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_sqlite_nodes(dir.path()).await;
        signage_crosses_nodes(a, b, dir.path()).await;
    }

    #[test]
    fn signage_signals_are_small_json() {
        let signal = SignageSignal::Notices { c: CommunityId(4) };
        let json = serde_json::to_string(&signal).unwrap();
        assert_eq!(json, r#"{"k":"notices","c":4}"#);
        assert_eq!(
            serde_json::from_str::<SignageSignal>(&json).unwrap(),
            signal
        );
        let screens = serde_json::to_string(&SignageSignal::Screens).unwrap();
        assert_eq!(screens, r#"{"k":"screens"}"#);
    }
}
