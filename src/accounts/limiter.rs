//! Throttles guessing: attempts per key (a client address, an account name
//! and address, …), refilled evenly over a minute.
//!
//! Memory is bounded: at most `max_keys` keys are remembered. When the table
//! is full, keys whose allowance has refilled are forgotten first (they are
//! the same as unknown keys); if that is not enough, as when an attacker
//! cycles through many keys, the least recently used quarter is forgotten.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys remembered per limiter by default: a few MB at most.
pub const DEFAULT_MAX_KEYS: usize = 50_000;

pub struct AttemptLimiter {
    per_minute: f64,
    max_keys: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// Attempts left at `updated`.
    left: f64,
    updated: Instant,
}

impl AttemptLimiter {
    /// Allows `per_minute` attempts per key, refilled evenly over the minute.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::with_max_keys(per_minute, DEFAULT_MAX_KEYS)
    }

    pub fn with_max_keys(per_minute: u32, max_keys: usize) -> Self {
        Self {
            per_minute: f64::from(per_minute.max(1)),
            max_keys: max_keys.max(4),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one attempt for `key`; false when the key has none left.
    pub fn try_attempt(&self, key: &str) -> bool {
        self.try_attempt_at(key, Instant::now())
    }

    /// Gives back an attempt that turned out to be no guess (a successful login).
    pub fn refund(&self, key: &str) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get_mut(key) {
            *bucket = self.refilled(*bucket, now);
            bucket.left = (bucket.left + 1.0).min(self.per_minute);
        }
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn try_attempt_at(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= self.max_keys && !buckets.contains_key(key) {
            self.make_room(&mut buckets, now);
        }
        let fresh = Bucket {
            left: self.per_minute,
            updated: now,
        };
        let bucket = buckets.entry(key.to_owned()).or_insert(fresh);
        *bucket = self.refilled(*bucket, now);
        if bucket.left >= 1.0 {
            bucket.left -= 1.0;
            true
        } else {
            false
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(bucket.updated);
        Bucket {
            left: (bucket.left + elapsed.as_secs_f64() * self.per_minute / 60.0)
                .min(self.per_minute),
            updated: now,
        }
    }

    /// Shrinks the table to three quarters of `max_keys` at most, so that the
    /// work is done once per many new keys, not for each.
    fn make_room(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let full_after = Duration::from_secs(60);
        buckets.retain(|_, b| {
            now.saturating_duration_since(b.updated) < full_after
                && self.refilled(*b, now).left < self.per_minute
        });
        let keep = self.max_keys * 3 / 4;
        if buckets.len() > keep {
            let mut times: Vec<Instant> = buckets.values().map(|b| b.updated).collect();
            let drop = buckets.len() - keep;
            let (_, cutoff, _) = times.select_nth_unstable(drop - 1);
            let cutoff = *cutoff;
            buckets.retain(|_, b| b.updated > cutoff);
            tracing::warn!(
                kept = buckets.len(),
                "attempt limiter full: forgot the least recently used keys"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_out_per_key() {
        let limiter = AttemptLimiter::per_minute(3);
        for _ in 0..3 {
            assert!(limiter.try_attempt("1.2.3.4 admin"));
        }
        assert!(!limiter.try_attempt("1.2.3.4 admin"));
        assert!(limiter.try_attempt("1.2.3.4 other"));
    }

    #[test]
    fn refills_evenly_over_the_minute() {
        let limiter = AttemptLimiter::per_minute(6);
        let start = Instant::now();
        for _ in 0..6 {
            assert!(limiter.try_attempt_at("k", start));
        }
        assert!(!limiter.try_attempt_at("k", start + Duration::from_secs(9)));
        assert!(limiter.try_attempt_at("k", start + Duration::from_secs(10)));
        assert!(!limiter.try_attempt_at("k", start + Duration::from_secs(11)));
    }

    #[test]
    fn a_refund_gives_one_attempt_back() {
        let limiter = AttemptLimiter::per_minute(2);
        assert!(limiter.try_attempt("k"));
        assert!(limiter.try_attempt("k"));
        limiter.refund("k");
        assert!(limiter.try_attempt("k"));
        assert!(!limiter.try_attempt("k"));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let limiter = AttemptLimiter::with_max_keys(5, 1000);
        let start = Instant::now();
        for i in 0..100_000u32 {
            let now = start + Duration::from_millis(u64::from(i));
            limiter.try_attempt_at(&format!("203.0.113.{i}"), now);
            assert!(limiter.len() <= 1000);
        }
    }

    #[test]
    fn a_flood_of_new_keys_forgets_the_oldest_first() {
        let limiter = AttemptLimiter::with_max_keys(1, 100);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // The key throttled most recently survives the flood; the oldest do not.
        assert!(limiter.try_attempt_at("old", at(0)));
        for i in 0..98u64 {
            limiter.try_attempt_at(&format!("k{i}"), at(1 + i));
        }
        assert!(limiter.try_attempt_at("recent", at(200)));
        assert!(!limiter.try_attempt_at("recent", at(201)));
        for i in 0..30u64 {
            limiter.try_attempt_at(&format!("new{i}"), at(300 + i));
        }
        assert!(limiter.len() <= 100);
        assert!(
            !limiter.try_attempt_at("recent", at(400)),
            "still throttled"
        );
        assert!(
            limiter.try_attempt_at("old", at(401)),
            "forgotten, so fresh"
        );
    }

    #[test]
    fn refilled_keys_are_forgotten_before_busy_ones() {
        let limiter = AttemptLimiter::with_max_keys(1, 8);
        let start = Instant::now();
        for i in 0..7 {
            limiter.try_attempt_at(&format!("idle{i}"), start);
        }
        let later = start + Duration::from_secs(120);
        assert!(limiter.try_attempt_at("busy", later));
        // Table is full; the idle keys have refilled and go first.
        assert!(limiter.try_attempt_at("newcomer", later));
        assert_eq!(limiter.len(), 2);
        assert!(!limiter.try_attempt_at("busy", later));
    }
}
