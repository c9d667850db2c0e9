//! Exponential backoff with jitter for reconnecting: the delay doubles (by `multiplier`) from
//! `initial` up to `max`, and each delay is shortened by a random part so that many clients cut off
//! by one router restart do not all come back at the same instant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long to wait between reconnection attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// Delay before the first attempt after a loss.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// Growth factor per failed attempt (at least 1).
    pub multiplier: f64,
    /// Fraction of each delay that is random, in `0.0..=1.0`: a delay `d` becomes a value in
    /// `[d * (1 - jitter), d]`.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.3,
        }
    }
}

/// The running state of a [`BackoffPolicy`].
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: BackoffPolicy,
    next: Duration,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(policy: BackoffPolicy) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9);
        Backoff {
            next: policy.initial,
            policy,
            rng: seed | 1,
        }
    }

    /// The delay to wait now; the one after it grows.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next.min(self.policy.max);
        self.next = base
            .mul_f64(self.policy.multiplier.max(1.0))
            .min(self.policy.max);
        let jitter = self.policy.jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 - jitter * self.random_unit())
    }

    /// Back to the initial delay (after a successful connection).
    pub(crate) fn reset(&mut self) {
        self.next = self.policy.initial;
    }

    /// A pseudo-random number in `[0, 1)` (xorshift64*; quality is irrelevant here).
    fn random_unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let value = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            multiplier: 2.0,
            jitter,
        }
    }

    #[test]
    fn grows_exponentially_up_to_the_cap_without_jitter() {
        let mut backoff = Backoff::new(policy(0.0));
        let delays: Vec<u128> = (0..7).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let mut backoff = Backoff::new(policy(0.5));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            backoff.reset();
            let delay = backoff.next_delay();
            assert!(
                delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100),
                "{delay:?}"
            );
            seen.insert(delay);
        }
        assert!(
            seen.len() > 10,
            "jitter produced only {} distinct delays",
            seen.len()
        );
    }
}
