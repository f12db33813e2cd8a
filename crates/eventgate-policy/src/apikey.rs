//! API keys issued by eventgate: random, shown once, stored as SHA-256, compared in
//! constant time, revocable, optionally expiring.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use eventgate_types::Scope;

use crate::error::TokenError;
use crate::model::{ApplicationId, CredentialKind, KeyType, Principal};
use crate::time::Timestamp;

/// Prefix of every eventgate API key (lets scanners and the gate recognise it).
pub const API_KEY_PREFIX: &str = "egk_";

/// A key just issued. The full key is available only here: show it once, then drop it.
pub struct IssuedApiKey {
    /// Public id (safe to log and list).
    pub id: String,
    key: String,
}

impl IssuedApiKey {
    /// The full secret key `egk_<id>_<secret>`, to hand to the user once.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.key
    }
}

impl fmt::Debug for IssuedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedApiKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// What is stored per key (persist this, never the key).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKeyRecord {
    /// Public id.
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_sha256: [u8; 32],
    /// Application the key belongs to.
    pub application: ApplicationId,
    /// Key type.
    pub key_type: KeyType,
    /// Scopes the key grants.
    pub scopes: Vec<Scope>,
    /// Expiry, if any.
    pub expires_at: Option<Timestamp>,
    /// Revoked keys are refused.
    pub revoked: bool,
}

impl ApiKeyRecord {
    /// A record as persisted (e.g. read back from a database), for
    /// [`ApiKeyStore::insert`]: not revoked, no expiry; set those fields after.
    ///
    /// ```
    /// use eventgate_policy::{ApiKeyRecord, ApiKeyStore, ApplicationId, KeyType, Timestamp};
    /// let issuing = ApiKeyStore::new();
    /// let issued = issuing.issue(ApplicationId::new("app-1"), KeyType::Production, vec![], None).unwrap();
    /// let saved = issuing.record(&issued.id).unwrap();
    /// // ... persisted, then loaded into another store:
    /// let restored = ApiKeyRecord::new(saved.id.clone(), saved.secret_sha256,
    ///     saved.application.clone(), saved.key_type, saved.scopes.clone());
    /// let store = ApiKeyStore::new();
    /// store.insert(restored);
    /// assert!(store.verify(issued.expose_secret(), Timestamp::from_unix_secs(1_800_000_000)).is_ok());
    /// ```
    #[must_use]
    pub fn new(
        id: String,
        secret_sha256: [u8; 32],
        application: ApplicationId,
        key_type: KeyType,
        scopes: Vec<Scope>,
    ) -> Self {
        ApiKeyRecord {
            id,
            secret_sha256,
            application,
            key_type,
            scopes,
            expires_at: None,
            revoked: false,
        }
    }
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("application", &self.application)
            .field("key_type", &self.key_type)
            .field("expires_at", &self.expires_at)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// The API keys of a gate.
///
/// ```
/// use eventgate_policy::{ApiKeyStore, ApplicationId, KeyType, Timestamp};
/// let store = ApiKeyStore::new();
/// let now = Timestamp::from_unix_secs(1_800_000_000);
/// let issued = store.issue(ApplicationId::new("app-1"), KeyType::Production, vec![], None).unwrap();
/// let p = store.verify(issued.expose_secret(), now).unwrap();
/// assert_eq!(p.application.unwrap().as_str(), "app-1");
/// assert!(store.revoke(&issued.id));
/// assert_eq!(store.verify(issued.expose_secret(), now).unwrap_err().kind(), "revoked");
/// ```
#[derive(Debug, Default)]
pub struct ApiKeyStore {
    keys: RwLock<HashMap<String, ApiKeyRecord>>,
}

/// The OS random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("random source unavailable")]
pub struct RandomUnavailable;

impl ApiKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Issue a key: 96 random bits of id and 256 random bits of secret from the OS
    /// (`getrandom`), stored only as SHA-256 of the secret.
    ///
    /// # Errors
    /// [`RandomUnavailable`] if the OS random source fails.
    pub fn issue(
        &self,
        application: ApplicationId,
        key_type: KeyType,
        scopes: Vec<Scope>,
        expires_at: Option<Timestamp>,
    ) -> Result<IssuedApiKey, RandomUnavailable> {
        let mut id = [0u8; 12];
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut id).map_err(|_| RandomUnavailable)?;
        getrandom::getrandom(&mut secret).map_err(|_| RandomUnavailable)?;
        let id = URL_SAFE_NO_PAD.encode(id).replace(['-', '_'], "x");
        let secret = URL_SAFE_NO_PAD.encode(secret);
        let record = ApiKeyRecord {
            id: id.clone(),
            secret_sha256: Sha256::digest(secret.as_bytes()).into(),
            application,
            key_type,
            scopes,
            expires_at,
            revoked: false,
        };
        self.insert(record);
        Ok(IssuedApiKey {
            key: format!("{API_KEY_PREFIX}{id}_{secret}"),
            id,
        })
    }

    /// Load a stored record (e.g. from a database at start-up).
    pub fn insert(&self, record: ApiKeyRecord) {
        let mut g = match self.keys.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.insert(record.id.clone(), record);
    }

    /// Revoke a key by id; false if unknown.
    pub fn revoke(&self, id: &str) -> bool {
        let mut g = match self.keys.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.get_mut(id).map(|r| r.revoked = true).is_some()
    }

    /// The stored record of a key (for persistence).
    #[must_use]
    pub fn record(&self, id: &str) -> Option<ApiKeyRecord> {
        self.keys.read().ok()?.get(id).cloned()
    }

    /// Check a presented key at `now`.
    ///
    /// # Errors
    /// [`TokenError::UnknownApiKey`] (bad shape, unknown id or wrong secret: one answer for
    /// all), [`TokenError::Revoked`], [`TokenError::Expired`].
    pub fn verify(&self, presented: &str, now: Timestamp) -> Result<Principal, TokenError> {
        let rest = presented
            .strip_prefix(API_KEY_PREFIX)
            .ok_or(TokenError::UnknownApiKey)?;
        let (id, secret) = rest.split_once('_').ok_or(TokenError::UnknownApiKey)?;
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let g = self.keys.read().map_err(|_| TokenError::UnknownApiKey)?;
        let r = g.get(id).ok_or(TokenError::UnknownApiKey)?;
        if !bool::from(r.secret_sha256.ct_eq(&digest)) {
            return Err(TokenError::UnknownApiKey);
        }
        if r.revoked {
            return Err(TokenError::Revoked);
        }
        if r.expires_at.is_some_and(|e| now >= e) {
            return Err(TokenError::Expired);
        }
        let mut p = Principal::new(CredentialKind::ApiKey);
        p.application = Some(r.application.clone());
        p.key_type = r.key_type;
        p.scopes.clone_from(&r.scopes);
        p.expires_at = r.expires_at;
        p.subject = Some(r.id.clone());
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_rebuilt_from_its_persisted_fields_verifies_the_same_key_in_a_new_store() {
        let now = Timestamp::from_unix_secs(1_800_000_000);
        let (old, issued) = store_with_key(None);
        let r = old.record(&issued.id).unwrap();
        let mut rebuilt = ApiKeyRecord::new(
            r.id.clone(),
            r.secret_sha256,
            r.application.clone(),
            r.key_type,
            r.scopes.clone(),
        );
        assert!(rebuilt == r);
        let fresh = ApiKeyStore::new();
        fresh.insert(rebuilt.clone());
        assert!(fresh.verify(issued.expose_secret(), now).is_ok());
        rebuilt.revoked = true;
        fresh.insert(rebuilt);
        assert_eq!(
            fresh
                .verify(issued.expose_secret(), now)
                .unwrap_err()
                .kind(),
            "revoked"
        );
    }

    fn store_with_key(exp: Option<Timestamp>) -> (ApiKeyStore, IssuedApiKey) {
        let s = ApiKeyStore::new();
        let k = s
            .issue(
                ApplicationId::new("app"),
                KeyType::Sandbox,
                vec![Scope::new("read").unwrap()],
                exp,
            )
            .unwrap();
        (s, k)
    }

    #[test]
    fn only_the_hash_is_stored() {
        let (s, k) = store_with_key(None);
        let r = s.record(&k.id).unwrap();
        let (_, secret) = k
            .expose_secret()
            .strip_prefix(API_KEY_PREFIX)
            .unwrap()
            .split_once('_')
            .unwrap();
        assert_eq!(
            r.secret_sha256,
            <[u8; 32]>::from(Sha256::digest(secret.as_bytes()))
        );
        assert!(!format!("{r:?}{k:?}").contains(secret));
    }

    #[test]
    fn wrong_secret_and_unknown_id_give_the_same_error() {
        let (s, k) = store_with_key(None);
        let now = Timestamp::from_unix_secs(1);
        let mut wrong = k.expose_secret().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(s.verify(&wrong, now), Err(TokenError::UnknownApiKey));
        assert_eq!(
            s.verify("egk_nope_secret", now),
            Err(TokenError::UnknownApiKey)
        );
        assert_eq!(s.verify("not-a-key", now), Err(TokenError::UnknownApiKey));
    }

    #[test]
    fn key_expires_at_its_expiry() {
        let exp = Timestamp::from_unix_secs(100);
        let (s, k) = store_with_key(Some(exp));
        assert!(
            s.verify(k.expose_secret(), Timestamp::from_unix_millis(99_999))
                .is_ok()
        );
        assert_eq!(s.verify(k.expose_secret(), exp), Err(TokenError::Expired));
    }

    #[test]
    fn two_issued_keys_differ() {
        let (s, a) = store_with_key(None);
        let b = s
            .issue(ApplicationId::new("app"), KeyType::Production, vec![], None)
            .unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_ne!(a.id, b.id);
    }
}
