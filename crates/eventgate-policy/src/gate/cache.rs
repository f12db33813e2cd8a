//! The verified-JWT cache: a reconnecting client costs a map lookup, not a signature check.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::model::Principal;
use crate::time::Timestamp;

const TOKEN_SHARDS: usize = 16;

/// The token cache's keys are already SipHash outputs: hash them as themselves.
#[derive(Default, Clone, Copy, Debug)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in anyway.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The token (to confirm a hash hit), its principal, and until when it may be served.
type CachedToken = (Box<str>, Arc<Principal>, Timestamp);

/// Verified JWTs, so a reconnecting client costs a map lookup, not a signature check.
#[derive(Debug)]
pub(super) struct TokenCache {
    shards: [RwLock<HashMap<u64, CachedToken, BuildHasherDefault<PreHashed>>>; TOKEN_SHARDS],
    per_shard: usize,
    max_ttl: Duration,
}

impl TokenCache {
    pub(super) fn new(capacity: usize, max_ttl: Duration) -> Self {
        Self {
            shards: Default::default(),
            per_shard: capacity.div_ceil(TOKEN_SHARDS).max(1),
            max_ttl,
        }
    }

    /// Hash of the token's tail (its signature: unique per token) and length; equality is
    /// confirmed on the whole token.
    fn key(token: &str) -> (usize, u64) {
        let b = token.as_bytes();
        let tail = b.get(b.len().saturating_sub(48)..).unwrap_or(b);
        let mut h = DefaultHasher::new();
        tail.hash(&mut h);
        b.len().hash(&mut h);
        let k = h.finish();
        #[allow(clippy::cast_possible_truncation)]
        let shard = (k >> 59) as usize % TOKEN_SHARDS;
        (shard, k)
    }

    pub(super) fn get(&self, token: &str, now: Timestamp) -> Option<Arc<Principal>> {
        let (s, k) = Self::key(token);
        let g = self.shards.get(s)?.read().ok()?;
        match g.get(&k) {
            Some((t, p, until)) if &**t == token && now < *until => Some(Arc::clone(p)),
            _ => None,
        }
    }

    pub(super) fn insert(&self, token: &str, p: &Arc<Principal>, now: Timestamp) {
        let mut until = now.saturating_add(self.max_ttl);
        if let Some(exp) = p.expires_at {
            until = until.min(exp);
        }
        let (s, k) = Self::key(token);
        let Some(Ok(mut g)) = self.shards.get(s).map(RwLock::write) else {
            return;
        };
        if g.len() >= self.per_shard && !g.contains_key(&k) {
            g.retain(|_, (_, _, u)| *u > now);
            if g.len() >= self.per_shard
                && let Some(victim) = g.keys().next().copied()
            {
                g.remove(&victim);
            }
        }
        g.insert(k, (token.into(), Arc::clone(p), until));
    }
}
