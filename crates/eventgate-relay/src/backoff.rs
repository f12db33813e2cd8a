//! Reconnection delays: exponential backoff with jitter, floored by the backend's `retry:`
//! and capped.

use std::time::Duration;

/// Default first reconnection delay.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(250);
/// Default cap of the reconnection delay.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Reconnection policy of an upstream.
///
/// The delay before attempt `n` (counting from 0 after the last successful connection) is
/// `initial * 2^n` with "equal jitter" (a uniform draw in its upper half), then raised to the
/// backend's last `retry:` value if that is larger, then capped at `max`. The cap also bounds
/// the backend's `retry:`: a misconfigured backend cannot park a shared channel for hours.
///
/// ```
/// use eventgate_relay::Backoff;
/// use std::time::Duration;
///
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// b.set_retry(Some(Duration::from_millis(700)));
/// for _ in 0..10 {
///     let d = b.next_delay();
///     assert!(d >= Duration::from_millis(700) && d <= Duration::from_secs(1));
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    retry: Option<Duration>,
    attempt: u32,
    rng: u64,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new(DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX)
    }
}

impl Backoff {
    /// A policy starting at `initial` and capped at `max` (defaults
    /// [`DEFAULT_BACKOFF_INITIAL`], [`DEFAULT_BACKOFF_MAX`]).
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            retry: None,
            attempt: 0,
            rng: seed(),
        }
    }

    /// Uses a fixed seed for the jitter (for reproducible tests).
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Backoff {
        self.rng = seed | 1;
        self
    }

    /// Records the backend's `retry:` value (the floor of every later delay).
    pub fn set_retry(&mut self, retry: Option<Duration>) {
        self.retry = retry;
    }

    /// The backend's last `retry:` value.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Forgets the failed attempts (call after a connection that delivered events).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt; counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self
            .initial
            .checked_mul(1u32 << self.attempt.min(20))
            .unwrap_or(self.max)
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = exp / 2;
        let jitter = half.mul_f64(self.next_unit());
        let mut d = half + jitter;
        if let Some(r) = self.retry {
            d = d.max(r);
        }
        d.min(self.max)
    }

    /// xorshift64*: a uniform draw in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_jitter_bounds_and_are_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2)).with_seed(7);
        let mut expected_exp = Duration::from_millis(100);
        for _ in 0..8 {
            let d = b.next_delay();
            let exp = expected_exp.min(Duration::from_secs(2));
            assert!(
                d >= exp / 2 && d <= exp,
                "{d:?} not in [{:?}, {exp:?}]",
                exp / 2
            );
            expected_exp *= 2;
        }
    }

    #[test]
    fn retry_is_a_floor_and_the_cap_bounds_it() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(5)).with_seed(3);
        b.set_retry(Some(Duration::from_secs(2)));
        assert!(b.next_delay() >= Duration::from_secs(2));
        b.set_retry(Some(Duration::from_secs(3600)));
        assert_eq!(b.next_delay(), Duration::from_secs(5));
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(60)).with_seed(9);
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).with_seed(11);
        let ds: std::collections::HashSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(ds.len() > 10);
    }
}
