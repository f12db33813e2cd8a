//! One issuer's keys over time: fixed, or fetched from a JWKS URL and refreshed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::keys::KeySet;
use super::{
    DEFAULT_JWKS_MAX_AGE, DEFAULT_JWKS_MIN_REFRESH, DEFAULT_MAX_JWKS_BYTES, DEFAULT_MAX_JWKS_KEYS,
};
use crate::error::ConfigError;
use crate::time::Timestamp;

/// Where an issuer's keys come from, with the refresh state of a fetched JWKS.
///
/// Keys are swapped atomically (readers clone an `Arc`); refreshes on an unknown `kid` are
/// rate-limited to one per `min_refresh` interval per issuer, so a stream of tokens with
/// invented `kid`s cannot turn into a stream of fetches. Keys older than `max_age` are
/// refreshed too ([`Gate::authorize_async`](crate::Gate::authorize_async) does both).
#[derive(Debug)]
pub struct JwksCache {
    url: Option<String>,
    keys: RwLock<Arc<KeySet>>,
    /// Millis of the last refresh attempt, plus one (0 = never).
    last_attempt: AtomicU64,
    /// Millis of the last successful install, plus one (0 = never).
    loaded_at: AtomicU64,
    min_refresh: Duration,
    max_age: Duration,
    max_bytes: usize,
    max_keys: usize,
}

impl JwksCache {
    /// Fixed keys, never refreshed.
    #[must_use]
    pub fn fixed(keys: KeySet) -> Self {
        Self {
            url: None,
            keys: RwLock::new(Arc::new(keys)),
            last_attempt: AtomicU64::new(0),
            loaded_at: AtomicU64::new(0),
            min_refresh: DEFAULT_JWKS_MIN_REFRESH,
            max_age: DEFAULT_JWKS_MAX_AGE,
            max_bytes: DEFAULT_MAX_JWKS_BYTES,
            max_keys: DEFAULT_MAX_JWKS_KEYS,
        }
    }

    /// A builder for keys fetched from `url` through a [`JwksFetcher`](crate::JwksFetcher);
    /// empty until the first fetch.
    ///
    /// ```
    /// use eventgate_policy::JwksCache;
    /// use std::time::Duration;
    /// let keys = JwksCache::remote("https://issuer.example/jwks")
    ///     .min_refresh(Duration::from_secs(60))
    ///     .build()?;
    /// assert_eq!(keys.url(), Some("https://issuer.example/jwks"));
    /// # Ok::<(), eventgate_policy::ConfigError>(())
    /// ```
    pub fn remote(url: impl Into<String>) -> JwksCacheBuilder {
        JwksCacheBuilder {
            url: url.into(),
            min_refresh: DEFAULT_JWKS_MIN_REFRESH,
            max_age: DEFAULT_JWKS_MAX_AGE,
            max_bytes: DEFAULT_MAX_JWKS_BYTES,
            max_keys: DEFAULT_MAX_JWKS_KEYS,
        }
    }

    /// A remote JWKS never loaded, or loaded `max_age` or longer before `now`.
    #[must_use]
    pub fn is_stale(&self, now: Timestamp) -> bool {
        if self.url.is_none() {
            return false;
        }
        let loaded = self.loaded_at.load(Ordering::Acquire);
        let max = u64::try_from(self.max_age.as_millis()).unwrap_or(u64::MAX);
        loaded == 0
            || now
                .as_unix_millis()
                .saturating_add(1)
                .saturating_sub(loaded)
                >= max
    }

    /// The JWKS URL, if remote.
    #[must_use]
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The current keys.
    #[must_use]
    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Replace the keys with a JWKS document fetched at `now`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidJwks`]; the previous keys stay in place.
    pub fn install_jwks(&self, json: &[u8], now: Timestamp) -> Result<(), ConfigError> {
        let set = KeySet::from_jwks(json, self.max_bytes, self.max_keys)?;
        let mut g = match self.keys.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Arc::new(set);
        self.loaded_at
            .store(now.as_unix_millis().saturating_add(1), Ordering::Release);
        Ok(())
    }

    /// Claim the right to refresh now: true at most once per `min_refresh` interval, and
    /// only for a remote JWKS. The caller then fetches and calls [`install_jwks`](Self::install_jwks).
    pub fn try_begin_refresh(&self, now: Timestamp) -> bool {
        if self.url.is_none() {
            return false;
        }
        let now_tag = now.as_unix_millis().saturating_add(1);
        let min = u64::try_from(self.min_refresh.as_millis()).unwrap_or(u64::MAX);
        let last = self.last_attempt.load(Ordering::Acquire);
        if last != 0 && now_tag.saturating_sub(last) < min {
            return false;
        }
        self.last_attempt
            .compare_exchange(last, now_tag, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Builds a remote [`JwksCache`] (see [`JwksCache::remote`]).
#[must_use]
#[derive(Clone, Debug)]
pub struct JwksCacheBuilder {
    url: String,
    min_refresh: Duration,
    max_age: Duration,
    max_bytes: usize,
    max_keys: usize,
}

impl JwksCacheBuilder {
    /// Shortest interval between two refreshes of this issuer's keys, whatever the tokens
    /// ask for. Default is [`DEFAULT_JWKS_MIN_REFRESH`] (30 s).
    pub fn min_refresh(&mut self, d: Duration) -> &mut Self {
        self.min_refresh = d;
        self
    }

    /// Age after which fetched keys are refreshed even if no token names an unknown `kid`.
    /// Default is [`DEFAULT_JWKS_MAX_AGE`] (1 h); at least `min_refresh`.
    pub fn max_age(&mut self, d: Duration) -> &mut Self {
        self.max_age = d;
        self
    }

    /// Largest JWKS document accepted. Default is [`DEFAULT_MAX_JWKS_BYTES`] (64 KiB); at
    /// least 1.
    pub fn max_bytes(&mut self, n: usize) -> &mut Self {
        self.max_bytes = n;
        self
    }

    /// Most keys kept from one document. Default is [`DEFAULT_MAX_JWKS_KEYS`] (32); at
    /// least 1.
    pub fn max_keys(&mut self, n: usize) -> &mut Self {
        self.max_keys = n;
        self
    }

    /// Builds the cache (empty until the first fetch).
    ///
    /// # Errors
    /// [`ConfigError::Limit`] for an empty URL, a zero `max_bytes` or `max_keys`, or a
    /// `max_age` shorter than `min_refresh`.
    pub fn build(&self) -> Result<JwksCache, ConfigError> {
        let bad = |setting, reason| Err(ConfigError::Limit { setting, reason });
        if self.url.is_empty() {
            return bad("url", "is empty");
        }
        if self.max_bytes == 0 {
            return bad("max_bytes", "must be at least 1");
        }
        if self.max_keys == 0 {
            return bad("max_keys", "must be at least 1");
        }
        if self.max_age < self.min_refresh {
            return bad("max_age", "shorter than min_refresh");
        }
        Ok(JwksCache {
            url: Some(self.url.clone()),
            min_refresh: self.min_refresh,
            max_age: self.max_age,
            max_bytes: self.max_bytes,
            max_keys: self.max_keys,
            ..JwksCache::fixed(KeySet::new())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_refresh_is_rate_limited() {
        let c = JwksCache::remote("https://issuer.example/jwks")
            .min_refresh(Duration::from_secs(30))
            .build()
            .unwrap();
        let t0 = Timestamp::from_unix_secs(100);
        assert!(c.try_begin_refresh(t0));
        assert!(!c.try_begin_refresh(Timestamp::from_unix_secs(129)));
        assert!(c.try_begin_refresh(Timestamp::from_unix_secs(130)));
        assert!(!JwksCache::fixed(KeySet::new()).try_begin_refresh(t0));
    }

    #[test]
    fn remote_builder_validates_its_limits() {
        let limit = |b: &JwksCacheBuilder| match b.build() {
            Err(ConfigError::Limit { setting, .. }) => setting,
            other => panic!("{other:?}"),
        };
        assert_eq!(limit(&JwksCache::remote("")), "url");
        assert_eq!(limit(JwksCache::remote("u").max_bytes(0)), "max_bytes");
        assert_eq!(limit(JwksCache::remote("u").max_keys(0)), "max_keys");
        assert_eq!(
            limit(JwksCache::remote("u").max_age(Duration::from_secs(1))),
            "max_age"
        );
        let c = JwksCache::remote("u").max_keys(1).build().unwrap();
        let two = br#"{"keys":[{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}"#;
        c.install_jwks(two, Timestamp::EPOCH).unwrap();
        assert_eq!(c.keys().len(), 1);
    }
}
