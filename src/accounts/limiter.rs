//! Throttles guessing: failed logins per account name and address, and
//! registration-code attempts per address.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota};

pub struct AttemptLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl AttemptLimiter {
    /// Allows `per_minute` attempts per key, refilled evenly over the minute.
    pub fn per_minute(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least one"));
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    /// Spends one attempt for `key`; false when the key has none left.
    pub fn try_attempt(&self, key: &str) -> bool {
        let allowed = self.limiter.check_key(&key.to_owned()).is_ok();
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        allowed
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
}
