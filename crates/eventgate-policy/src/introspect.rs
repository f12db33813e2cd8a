//! Opaque OAuth2 tokens: RFC 7662 introspection through a trait, with a bounded cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventgate_types::BoxFuture;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ConfigError, IoError, TokenError};
use crate::jwt::parse_scopes;
use crate::model::{CredentialKind, KeyType, Principal};
use crate::time::Timestamp;

/// Fetches a JWKS document (the body bytes) from a URL. The gateway implements it over its
/// HTTP client; this crate has none.
///
/// The implementation bounds the body it reads (a JWKS larger than the issuer's
/// [`max_bytes`](crate::JwksCacheBuilder::max_bytes) is refused anyway) and may bound its
/// own time; [`Gate::authorize_async_with`](crate::Gate::authorize_async_with) also drops
/// the call when the caller's timeout fires first.
pub trait JwksFetcher: Send + Sync + fmt::Debug {
    /// GET `url` and return the body.
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Vec<u8>, IoError>>;
}

/// Asks an RFC 7662 introspection endpoint about a token.
///
/// As for [`JwksFetcher`], [`Gate::authorize_async_with`](crate::Gate::authorize_async_with)
/// drops a call its caller's timeout outlasts (the token is then refused as
/// `introspection_unavailable`).
pub trait Introspector: Send + Sync + fmt::Debug {
    /// Introspect `token`.
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Introspection, IoError>>;
}

/// An RFC 7662 §2.2 introspection response (the members this crate uses).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Client the token was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Resource owner's name.
    #[serde(default)]
    pub username: Option<String>,
    /// Subject.
    #[serde(default)]
    pub sub: Option<String>,
    /// Expiry (seconds since the epoch).
    #[serde(default)]
    pub exp: Option<u64>,
    /// Key type, when the server says (WSO2 extension; `PRODUCTION`/`SANDBOX`).
    #[serde(default, alias = "keytype")]
    pub key_type: Option<String>,
}

impl Introspection {
    /// Parse a response body.
    ///
    /// # Errors
    /// [`IoError`] if the body is not an RFC 7662 JSON object.
    pub fn from_json(body: &[u8]) -> Result<Self, IoError> {
        serde_json::from_slice(body).map_err(|e| IoError(e.to_string()))
    }

    /// An active answer.
    #[must_use]
    pub fn active(client_id: &str, scope: &str, exp: Option<u64>) -> Self {
        Self {
            active: true,
            scope: Some(scope.to_owned()),
            client_id: Some(client_id.to_owned()),
            exp,
            ..Self::default()
        }
    }

    /// An inactive answer.
    #[must_use]
    pub fn inactive() -> Self {
        Self::default()
    }

    fn principal(&self) -> Principal {
        let mut p = Principal::new(CredentialKind::Opaque);
        p.subject = self.sub.clone().or_else(|| self.username.clone());
        p.client_id.clone_from(&self.client_id);
        p.scopes = parse_scopes(self.scope.as_deref().unwrap_or("").split(' '));
        p.key_type = self
            .key_type
            .as_deref()
            .and_then(|k| k.parse().ok())
            .unwrap_or(KeyType::Production);
        p.expires_at = self.exp.map(Timestamp::from_unix_secs);
        p
    }
}

#[derive(Debug, Clone)]
enum Cached {
    Active(Arc<Principal>),
    Inactive,
}

const SHARDS: usize = 16;

/// Token digest to (answer, served until).
type Shard = Mutex<HashMap<[u8; 32], (Cached, Timestamp)>>;

/// Default number of introspection answers cached: 10 000.
pub const DEFAULT_INTROSPECTION_CAPACITY: usize = 10_000;
/// Default time an active answer is served from the cache (never past the token's `exp`):
/// 300 s.
pub const DEFAULT_INTROSPECTION_POSITIVE_TTL: Duration = Duration::from_secs(300);
/// Default time an inactive answer is served from the cache: 30 s.
pub const DEFAULT_INTROSPECTION_NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// A bounded cache of introspection answers, keyed by SHA-256 of the token (the cache never
/// holds a token).
///
/// Positive entries live `positive_ttl` but never past the token's `exp`; negative entries
/// `negative_ttl`. At most `capacity` entries, rounded up to a multiple of the 16 shards:
/// when a shard is full, expired entries are dropped, then the entry closest to expiry.
/// Build one with [`IntrospectionCache::builder`]; `default()` has the `DEFAULT_*` bounds.
#[derive(Debug)]
pub struct IntrospectionCache {
    /// Sharded by the digest's first byte, so concurrent lookups rarely share a lock.
    shards: [Shard; SHARDS],
    per_shard: usize,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

impl Default for IntrospectionCache {
    fn default() -> Self {
        Self::with_bounds(
            DEFAULT_INTROSPECTION_CAPACITY,
            DEFAULT_INTROSPECTION_POSITIVE_TTL,
            DEFAULT_INTROSPECTION_NEGATIVE_TTL,
        )
    }
}

/// Builds an [`IntrospectionCache`].
#[must_use]
#[derive(Clone, Debug)]
pub struct IntrospectionCacheBuilder {
    capacity: usize,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

impl Default for IntrospectionCacheBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IntrospectionCacheBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self {
            capacity: DEFAULT_INTROSPECTION_CAPACITY,
            positive_ttl: DEFAULT_INTROSPECTION_POSITIVE_TTL,
            negative_ttl: DEFAULT_INTROSPECTION_NEGATIVE_TTL,
        }
    }

    /// Most answers held. Default is [`DEFAULT_INTROSPECTION_CAPACITY`] (10 000); at
    /// least 1.
    pub fn capacity(&mut self, n: usize) -> &mut Self {
        self.capacity = n;
        self
    }

    /// How long an active answer is served. Default is
    /// [`DEFAULT_INTROSPECTION_POSITIVE_TTL`] (300 s); at least 1 ms.
    pub fn positive_ttl(&mut self, d: Duration) -> &mut Self {
        self.positive_ttl = d;
        self
    }

    /// How long an inactive answer is served. Default is
    /// [`DEFAULT_INTROSPECTION_NEGATIVE_TTL`] (30 s); at least 1 ms.
    pub fn negative_ttl(&mut self, d: Duration) -> &mut Self {
        self.negative_ttl = d;
        self
    }

    /// Builds the cache.
    ///
    /// # Errors
    /// [`ConfigError::Limit`] for a zero capacity or a time to live under 1 ms (an answer
    /// would expire before the request that asked for it reads it).
    pub fn build(&self) -> Result<IntrospectionCache, ConfigError> {
        let bad = |setting, reason| Err(ConfigError::Limit { setting, reason });
        if self.capacity == 0 {
            return bad("capacity", "must be at least 1");
        }
        if self.positive_ttl < Duration::from_millis(1) {
            return bad("positive_ttl", "shorter than 1 ms");
        }
        if self.negative_ttl < Duration::from_millis(1) {
            return bad("negative_ttl", "shorter than 1 ms");
        }
        Ok(IntrospectionCache::with_bounds(
            self.capacity,
            self.positive_ttl,
            self.negative_ttl,
        ))
    }
}

impl IntrospectionCache {
    /// A builder with the defaults.
    pub fn builder() -> IntrospectionCacheBuilder {
        IntrospectionCacheBuilder::new()
    }

    fn with_bounds(capacity: usize, positive_ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            shards: Default::default(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            positive_ttl,
            negative_ttl,
        }
    }

    fn shard(&self, key: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// The cached answer for `token` at `now`: `None` if unknown or stale, else the
    /// principal or [`TokenError::Inactive`].
    #[must_use]
    pub fn get(&self, token: &str, now: Timestamp) -> Option<Result<Arc<Principal>, TokenError>> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut g = self.shard(&key).lock().ok()?;
        match g.get(&key) {
            Some((_, until)) if *until <= now => {
                g.remove(&key);
                None
            }
            Some((Cached::Active(p), _)) => Some(Ok(Arc::clone(p))),
            Some((Cached::Inactive, _)) => Some(Err(TokenError::Inactive)),
            None => None,
        }
    }

    /// Record an answer received at `now` and return what it means.
    ///
    /// # Errors
    /// [`TokenError::Inactive`] for an inactive (or already expired) token.
    pub fn insert(
        &self,
        token: &str,
        answer: &Introspection,
        now: Timestamp,
    ) -> Result<Arc<Principal>, TokenError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let expired = answer
            .exp
            .is_some_and(|e| Timestamp::from_unix_secs(e) <= now);
        let (entry, until, out) = if answer.active && !expired {
            let p = Arc::new(answer.principal());
            let mut until = now.saturating_add(self.positive_ttl);
            if let Some(exp) = p.expires_at {
                until = until.min(exp);
            }
            (Cached::Active(Arc::clone(&p)), until, Ok(p))
        } else {
            (
                Cached::Inactive,
                now.saturating_add(self.negative_ttl),
                Err(TokenError::Inactive),
            )
        };
        if let Ok(mut g) = self.shard(&key).lock() {
            if g.len() >= self.per_shard && !g.contains_key(&key) {
                g.retain(|_, (_, u)| *u > now);
                if g.len() >= self.per_shard
                    && let Some(k) = g.iter().min_by_key(|(_, (_, u))| *u).map(|(k, _)| *k)
                {
                    g.remove(&k);
                }
            }
            g.insert(key, (entry, until));
        }
        out
    }

    /// Number of entries (stale ones included until touched).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|g| g.len()).unwrap_or(0))
            .sum()
    }

    /// No entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_entry_never_outlives_the_token_exp() {
        let c = IntrospectionCache::builder().capacity(10).build().unwrap();
        let now = Timestamp::from_unix_secs(1000);
        c.insert("t", &Introspection::active("c", "a b", Some(1010)), now)
            .unwrap();
        assert!(c.get("t", Timestamp::from_unix_secs(1009)).is_some());
        assert!(c.get("t", Timestamp::from_unix_secs(1010)).is_none());
    }

    #[test]
    fn negative_entry_lives_the_negative_ttl() {
        let c = IntrospectionCache::builder().capacity(10).build().unwrap();
        let now = Timestamp::from_unix_secs(1000);
        assert_eq!(
            c.insert("t", &Introspection::inactive(), now),
            Err(TokenError::Inactive)
        );
        assert_eq!(
            c.get("t", Timestamp::from_unix_secs(1029)).map(|r| r.err()),
            Some(Some(TokenError::Inactive))
        );
        assert!(c.get("t", Timestamp::from_unix_secs(1030)).is_none());
    }

    #[test]
    fn cache_stays_within_capacity() {
        // 16 shards of ceil(64 / 16) = 4 entries each.
        let c = IntrospectionCache::builder().capacity(64).build().unwrap();
        let now = Timestamp::from_unix_secs(1000);
        for i in 0..1000 {
            let _ = c.insert(&format!("t{i}"), &Introspection::active("c", "", None), now);
        }
        assert_eq!(c.len(), 64);
        assert!(c.get("t999", now).is_some());
    }

    #[test]
    fn rfc7662_response_parses() {
        let i = Introspection::from_json(
            br#"{"active":true,"scope":"read write read","client_id":"c1","exp":2000,"token_type":"Bearer"}"#,
        )
        .unwrap();
        let p = i.principal();
        assert_eq!(p.scopes, ["read", "write"]);
        assert_eq!(p.client_id.as_deref(), Some("c1"));
    }

    #[test]
    fn builder_refuses_zero_capacity_and_sub_millisecond_ttls() {
        let setting = |b: &IntrospectionCacheBuilder| match b.build() {
            Err(ConfigError::Limit { setting, .. }) => setting,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            setting(IntrospectionCache::builder().capacity(0)),
            "capacity"
        );
        assert_eq!(
            setting(IntrospectionCache::builder().positive_ttl(Duration::ZERO)),
            "positive_ttl"
        );
        assert_eq!(
            setting(IntrospectionCache::builder().negative_ttl(Duration::from_micros(999))),
            "negative_ttl"
        );
    }

    #[test]
    fn scope_tokens_that_are_not_scopes_are_left_out() {
        let p = Introspection::active("c", "read bad\\x write,x  admin", None).principal();
        assert_eq!(p.scopes, ["read", "admin"]);
    }
}
