//! How fast one person may post: the broadcast's slow mode, and a flood
//! guard that is always on (more than 5 posts in 10 seconds, or 20 in a
//! minute, are refused). Kept in memory: a restart forgets it, which costs
//! at most one extra burst.
//!
//! A post takes a slot before it is stored and gives it back if storing
//! fails or the post turns out to be a resend, so two posts racing cannot
//! both slip through.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::{AccountId, BroadcastId};

/// (posts, window): more than `posts` within `window` is a flood.
const FLOOD_RULES: [(usize, Duration); 2] =
    [(5, Duration::from_secs(10)), (20, Duration::from_secs(60))];
/// Longest window any rule looks at (slow mode's maximum is shorter).
const REMEMBER: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Slow mode: wait this long before the next message.
    Slow(Duration),
    /// Too many messages: wait this long.
    Flood(Duration),
}

/// A slot taken by a post; give it back with [`RateGuard::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    author: AccountId,
    broadcast: BroadcastId,
    at: Instant,
    /// The last post in this broadcast before this one.
    previous: Option<Instant>,
}

#[derive(Default)]
struct AuthorPosts {
    /// Accepted posts in any broadcast, oldest first.
    times: VecDeque<Instant>,
    /// The last accepted post per broadcast, for slow mode.
    last_in: HashMap<BroadcastId, Instant>,
}

#[derive(Default)]
pub struct RateGuard {
    authors: Mutex<HashMap<AccountId, AuthorPosts>>,
}

impl RateGuard {
    fn authors(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, AuthorPosts>> {
        self.authors.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for a post at `now`, or says how long to wait.
    pub fn take(
        &self,
        author: AccountId,
        broadcast: BroadcastId,
        slow_mode: Duration,
        now: Instant,
    ) -> Result<Slot, Refusal> {
        let mut authors = self.authors();
        let posts = authors.entry(author).or_default();
        while posts
            .times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= REMEMBER)
        {
            posts.times.pop_front();
        }
        if !slow_mode.is_zero() {
            if let Some(last) = posts.last_in.get(&broadcast) {
                let since = now.saturating_duration_since(*last);
                if since < slow_mode {
                    return Err(Refusal::Slow(slow_mode - since));
                }
            }
        }
        for (most, window) in FLOOD_RULES {
            let within: Vec<&Instant> = posts
                .times
                .iter()
                .filter(|t| now.saturating_duration_since(**t) < window)
                .collect();
            if within.len() >= most {
                // Free again when the oldest of the window leaves it.
                let oldest = within[within.len() - most];
                return Err(Refusal::Flood(
                    window - now.saturating_duration_since(*oldest),
                ));
            }
        }
        posts.times.push_back(now);
        let previous = posts.last_in.insert(broadcast, now);
        Ok(Slot {
            author,
            broadcast,
            at: now,
            previous,
        })
    }

    /// Gives a slot back: the post was not stored, or was a resend.
    pub fn release(&self, slot: Slot) {
        let mut authors = self.authors();
        let Some(posts) = authors.get_mut(&slot.author) else {
            return;
        };
        if let Some(position) = posts.times.iter().rposition(|t| *t == slot.at) {
            posts.times.remove(position);
        }
        if posts.last_in.get(&slot.broadcast) == Some(&slot.at) {
            match slot.previous {
                Some(at) => posts.last_in.insert(slot.broadcast, at),
                None => posts.last_in.remove(&slot.broadcast),
            };
        }
    }

    /// Forgets people who have not posted for a while.
    pub fn forget_quiet(&self, now: Instant) {
        self.authors().retain(|_, posts| {
            posts
                .last_in
                .retain(|_, at| now.saturating_duration_since(*at) < REMEMBER);
            !posts.last_in.is_empty()
        });
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.authors().len()
    }
}

/// Whole seconds to tell a person to wait (at least one).
pub fn seconds(wait: Duration) -> u32 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u32::try_from(seconds.max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: AccountId = AccountId(1);
    const B: AccountId = AccountId(2);
    const LIVE: BroadcastId = BroadcastId(1);
    const OTHER: BroadcastId = BroadcastId(2);

    #[test]
    fn slow_mode_says_how_long_to_wait() {
        let guard = RateGuard::default();
        let start = Instant::now();
        let slow = Duration::from_secs(30);
        guard.take(A, LIVE, slow, start).unwrap();
        let later = start + Duration::from_secs(12);
        assert_eq!(
            guard.take(A, LIVE, slow, later),
            Err(Refusal::Slow(Duration::from_secs(18)))
        );
        // Others, and other broadcasts, are not slowed by A's message.
        assert!(guard.take(B, LIVE, slow, later).is_ok());
        assert!(guard.take(A, OTHER, slow, later).is_ok());
        assert!(guard
            .take(A, LIVE, slow, start + Duration::from_secs(30))
            .is_ok());
        assert_eq!(seconds(Duration::from_millis(17_200)), 18);
        assert_eq!(seconds(Duration::ZERO), 1);
    }

    #[test]
    fn the_sixth_post_within_ten_seconds_is_a_flood() {
        let guard = RateGuard::default();
        let start = Instant::now();
        for i in 0..5 {
            let at = start + Duration::from_secs(i);
            assert!(guard.take(A, LIVE, Duration::ZERO, at).is_ok());
        }
        let sixth = start + Duration::from_secs(5);
        assert_eq!(
            guard.take(A, LIVE, Duration::ZERO, sixth),
            Err(Refusal::Flood(Duration::from_secs(5)))
        );
        // Once the first leaves the window, one more fits.
        assert!(guard
            .take(A, LIVE, Duration::ZERO, start + Duration::from_secs(10))
            .is_ok());
    }

    #[test]
    fn twenty_posts_a_minute_at_most() {
        let guard = RateGuard::default();
        let start = Instant::now();
        // One post every 2.5 s never trips the 10 s rule but fills the minute.
        for i in 0..20 {
            let at = start + Duration::from_millis(2_500 * i);
            assert!(guard.take(A, LIVE, Duration::ZERO, at).is_ok(), "post {i}");
        }
        let at = start + Duration::from_millis(50_000);
        assert!(matches!(
            guard.take(A, LIVE, Duration::ZERO, at),
            Err(Refusal::Flood(_))
        ));
    }

    #[test]
    fn a_released_slot_is_free_again() {
        let guard = RateGuard::default();
        let start = Instant::now();
        let slow = Duration::from_secs(60);
        let slot = guard.take(A, LIVE, slow, start).unwrap();
        guard.release(slot);
        assert!(guard.take(A, LIVE, slow, start).is_ok());
        guard.forget_quiet(start + Duration::from_secs(301));
        assert_eq!(guard.remembered(), 0);
    }
}
