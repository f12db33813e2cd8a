//! JWT verification (RFC 7519 / 7515 / 8725): our own strict header and claims checks
//! around `jsonwebtoken`'s signature primitives.
//!
//! `jsonwebtoken`'s `decode` reads the wall clock, accepts `crit` silently and has no size
//! limit, so this module parses the compact form itself, enforces the allow-list, `crit`,
//! size and key family, validates the claims against the `now` it is given, and uses the
//! library only for the signature check (RustCrypto backend, selected explicitly rather than
//! through the process-wide default so that another crate enabling `aws_lc_rs` cannot make
//! verification panic).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ConfigError, TokenError};
use crate::model::{CredentialKind, KeyType, Principal};
use crate::time::Timestamp;

/// Default limit on the size of a presented token: 8 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default limit on the size of a JWKS document: 64 KiB.
pub const DEFAULT_MAX_JWKS_BYTES: usize = 64 * 1024;
/// Default limit on the number of keys kept from one JWKS document: 32.
pub const DEFAULT_MAX_JWKS_KEYS: usize = 32;
/// Default minimum interval between two JWKS refreshes of one issuer: 30 s.
pub const DEFAULT_JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// Default age after which a fetched JWKS is refreshed even if no token asks for an unknown
/// `kid` (so keys the issuer withdrew stop being trusted): 1 h.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(3600);

/// A JWS signature algorithm this crate verifies.
///
/// Names are matched exactly (case-sensitive) as RFC 7518 spells them; `none` is not an
/// algorithm here, so it can never be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC SHA-256.
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 SHA-512.
    RS512,
    /// RSASSA-PSS SHA-256.
    PS256,
    /// RSASSA-PSS SHA-384.
    PS384,
    /// RSASSA-PSS SHA-512.
    PS512,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// EdDSA (Ed25519).
    EdDSA,
}

/// The key family an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFamily {
    /// Shared secret (HS*).
    Hmac,
    /// RSA public key (RS*, PS*).
    Rsa,
    /// EC P-256 public key (ES256).
    EcP256,
    /// EC P-384 public key (ES384).
    EcP384,
    /// Ed25519 public key (EdDSA).
    Ed25519,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 12] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The RFC 7518 name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The key family this algorithm verifies with.
    #[must_use]
    pub const fn family(self) -> KeyFamily {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => KeyFamily::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyFamily::Rsa
            }
            Self::ES256 => KeyFamily::EcP256,
            Self::ES384 => KeyFamily::EcP384,
            Self::EdDSA => KeyFamily::Ed25519,
        }
    }

    fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::HS256 => A::HS256,
            Self::HS384 => A::HS384,
            Self::HS512 => A::HS512,
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
        }
    }
}

impl FromStr for Algorithm {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ConfigError::UnknownAlgorithm(s.to_owned()))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One verification key: its family, optional `kid`, optional pinned algorithm.
#[derive(Clone)]
pub struct VerificationKey {
    kid: Option<String>,
    family: KeyFamily,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn key_err(e: impl fmt::Display) -> ConfigError {
    ConfigError::InvalidKey(e.to_string())
}

impl VerificationKey {
    /// A shared HMAC secret (HS256/384/512). RFC 7518 §3.2 wants at least as many bytes as
    /// the hash output; shorter secrets are refused below 32 bytes.
    ///
    /// # Errors
    /// [`ConfigError::InvalidKey`] if the secret is shorter than 32 bytes.
    pub fn hmac(secret: &[u8], kid: Option<&str>) -> Result<Self, ConfigError> {
        if secret.len() < 32 {
            return Err(ConfigError::InvalidKey(
                "HMAC secret shorter than 32 bytes".into(),
            ));
        }
        Ok(Self {
            kid: kid.map(str::to_owned),
            family: KeyFamily::Hmac,
            alg: None,
            key: DecodingKey::from_secret(secret),
        })
    }

    /// A public key in PEM (SubjectPublicKeyInfo `PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`):
    /// RSA, EC P-256, EC P-384 or Ed25519, detected from the document.
    ///
    /// # Errors
    /// [`ConfigError::InvalidKey`] if the PEM holds no supported public key.
    pub fn from_pem(pem: &[u8], kid: Option<&str>) -> Result<Self, ConfigError> {
        let (family, key) = if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (KeyFamily::Rsa, k)
        } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
            let point_len = k.try_get_as_bytes().map(<[u8]>::len).unwrap_or(0);
            let family = match point_len {
                65 => KeyFamily::EcP256,
                97 => KeyFamily::EcP384,
                _ => return Err(ConfigError::InvalidKey("unsupported EC curve".into())),
            };
            (family, k)
        } else if let Ok(k) = DecodingKey::from_ed_pem(pem) {
            (KeyFamily::Ed25519, k)
        } else {
            return Err(ConfigError::InvalidKey(
                "no supported public key in PEM".into(),
            ));
        };
        Ok(Self {
            kid: kid.map(str::to_owned),
            family,
            alg: None,
            key,
        })
    }

    /// One JWK (RFC 7517) as JSON text.
    ///
    /// # Errors
    /// [`ConfigError::InvalidKey`] for an unsupported or inconsistent key.
    pub fn from_jwk_json(json: &str) -> Result<Self, ConfigError> {
        let v: Value = serde_json::from_str(json).map_err(key_err)?;
        Self::from_jwk_value(&v)
    }

    fn from_jwk_value(v: &Value) -> Result<Self, ConfigError> {
        let s = |name: &str| v.get(name).and_then(Value::as_str);
        let need = |name: &'static str| {
            s(name).ok_or_else(|| ConfigError::InvalidKey(format!("JWK lacks {name}")))
        };
        if s("use").is_some_and(|u| u != "sig") {
            return Err(ConfigError::InvalidKey("JWK is not a signature key".into()));
        }
        let alg = s("alg").map(Algorithm::from_str).transpose()?;
        let (family, key) = match need("kty")? {
            "RSA" => (
                KeyFamily::Rsa,
                DecodingKey::from_rsa_components(need("n")?, need("e")?).map_err(key_err)?,
            ),
            "EC" => {
                let family = match need("crv")? {
                    "P-256" => KeyFamily::EcP256,
                    "P-384" => KeyFamily::EcP384,
                    other => return Err(ConfigError::InvalidKey(format!("curve {other}"))),
                };
                (
                    family,
                    DecodingKey::from_ec_components(need("x")?, need("y")?).map_err(key_err)?,
                )
            }
            "OKP" => {
                if need("crv")? != "Ed25519" {
                    return Err(ConfigError::InvalidKey("only Ed25519 OKP keys".into()));
                }
                (
                    KeyFamily::Ed25519,
                    DecodingKey::from_ed_components(need("x")?).map_err(key_err)?,
                )
            }
            "oct" => {
                let secret = URL_SAFE_NO_PAD.decode(need("k")?).map_err(key_err)?;
                let k = Self::hmac(&secret, None)?;
                (k.family, k.key)
            }
            other => return Err(ConfigError::InvalidKey(format!("kty {other}"))),
        };
        if let Some(a) = alg
            && a.family() != family
        {
            return Err(ConfigError::InvalidKey(format!(
                "alg {a} does not fit the key"
            )));
        }
        Ok(Self {
            kid: s("kid").map(str::to_owned),
            family,
            alg,
            key,
        })
    }

    /// Pin this key to one algorithm (RFC 8725 §3.1: one key, one algorithm).
    #[must_use]
    pub fn with_algorithm(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// The key's `kid`, if any.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key family.
    #[must_use]
    pub fn family(&self) -> KeyFamily {
        self.family
    }

    fn fits(&self, alg: Algorithm) -> bool {
        self.family == alg.family() && self.alg.is_none_or(|a| a == alg)
    }

    /// Verify `signature` (raw bytes) over `message` with `alg`. This is the raw crypto cost
    /// (what the benches compare the full pipeline against).
    ///
    /// # Errors
    /// [`TokenError::KeyAlgorithmMismatch`] if the key cannot serve `alg`,
    /// [`TokenError::BadSignature`] if the signature does not verify.
    pub fn verify_signature(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenError> {
        if !self.fits(alg) {
            return Err(TokenError::KeyAlgorithmMismatch(alg.as_str()));
        }
        let factory = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory;
        let verifier = factory(&alg.to_jwt(), &self.key).map_err(|_| TokenError::BadSignature)?;
        verifier
            .verify(message, &signature.to_vec())
            .map_err(|_| TokenError::BadSignature)
    }
}

/// A set of verification keys (one issuer's JWKS, PEM keys or secrets).
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

impl KeySet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a key.
    pub fn push(&mut self, key: VerificationKey) {
        self.keys.push(key);
    }

    /// Parse a JWKS document (RFC 7517 §5). Keys this crate cannot use (encryption keys,
    /// other curves, unknown `kty`) are skipped, as §5 asks; at most `max_keys` are kept.
    ///
    /// # Errors
    /// [`ConfigError::InvalidJwks`] if the document is larger than `max_bytes`, is not a JSON
    /// object with a `keys` array, or yields no usable key.
    pub fn from_jwks(json: &[u8], max_bytes: usize, max_keys: usize) -> Result<Self, ConfigError> {
        if json.len() > max_bytes {
            return Err(ConfigError::InvalidJwks(format!(
                "larger than {max_bytes} bytes"
            )));
        }
        let v: Value =
            serde_json::from_slice(json).map_err(|e| ConfigError::InvalidJwks(e.to_string()))?;
        let keys = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| ConfigError::InvalidJwks("no keys array".into()))?;
        let keys: Vec<_> = keys
            .iter()
            .filter_map(|k| VerificationKey::from_jwk_value(k).ok())
            .take(max_keys)
            .collect();
        if keys.is_empty() {
            return Err(ConfigError::InvalidJwks("no usable key".into()));
        }
        Ok(Self { keys })
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &VerificationKey> {
        self.keys.iter()
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// No keys at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Algorithms the keys can serve (used when a configuration names none).
    #[must_use]
    pub fn algorithms(&self) -> Vec<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(|a| self.keys.iter().any(|k| k.fits(*a)))
            .collect()
    }

    /// The keys to try for a token with `alg` and `kid`.
    fn select(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Vec<&VerificationKey>, TokenError> {
        if let Some(kid) = kid {
            if let Some(k) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                if !k.fits(alg) {
                    return Err(TokenError::KeyAlgorithmMismatch(alg.as_str()));
                }
                return Ok(vec![k]);
            }
            // Keys configured without a kid (PEM, bare secrets) serve any kid.
            if !self.keys.iter().any(|k| k.kid.is_none()) {
                return Err(TokenError::UnknownKid(kid.to_owned()));
            }
        }
        let fit: Vec<_> = self
            .keys
            .iter()
            .filter(|k| k.fits(alg) && (kid.is_none() || k.kid.is_none()))
            .collect();
        if fit.is_empty() {
            return Err(TokenError::KeyAlgorithmMismatch(alg.as_str()));
        }
        Ok(fit)
    }
}

impl IntoIterator for KeySet {
    type Item = VerificationKey;
    type IntoIter = std::vec::IntoIter<VerificationKey>;
    fn into_iter(self) -> Self::IntoIter {
        self.keys.into_iter()
    }
}

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

    /// Keys fetched from `url` through a [`JwksFetcher`](crate::JwksFetcher); empty until
    /// the first fetch. Default minimum refresh interval is
    /// [`DEFAULT_JWKS_MIN_REFRESH`], maximum age [`DEFAULT_JWKS_MAX_AGE`], document limits [`DEFAULT_MAX_JWKS_BYTES`] and
    /// [`DEFAULT_MAX_JWKS_KEYS`].
    #[must_use]
    pub fn remote(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::fixed(KeySet::new())
        }
    }

    /// Set the minimum interval between refreshes.
    #[must_use]
    pub fn min_refresh(mut self, d: Duration) -> Self {
        self.min_refresh = d;
        self
    }

    /// Set the age after which fetched keys are refreshed.
    #[must_use]
    pub fn max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
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

/// How claims become a [`Principal`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimsMapping {
    /// Claims tried in order for the client id. Default `["azp", "client_id"]`.
    pub client_id_claims: Vec<String>,
    /// Claims tried in order for scopes: a space-separated string (`scope`, RFC 8693) or an
    /// array of strings (`scp`). Default `["scope", "scp"]`.
    pub scope_claims: Vec<String>,
    /// Claim holding the key type (`PRODUCTION` / `SANDBOX`, case-insensitive). Default
    /// `"keytype"` (as in WSO2 tokens); absent means [`Self::default_key_type`].
    pub key_type_claim: Option<String>,
    /// Key type when the claim is absent. Default production.
    pub default_key_type: KeyType,
}

impl Default for ClaimsMapping {
    fn default() -> Self {
        Self {
            client_id_claims: vec!["azp".into(), "client_id".into()],
            scope_claims: vec!["scope".into(), "scp".into()],
            key_type_claim: Some("keytype".into()),
            default_key_type: KeyType::Production,
        }
    }
}

impl ClaimsMapping {
    fn apply(
        &self,
        claims: &Map<String, Value>,
        principal: &mut Principal,
    ) -> Result<(), TokenError> {
        principal.subject = match claims.get("sub") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(TokenError::InvalidClaim("sub")),
        };
        principal.client_id = self
            .client_id_claims
            .iter()
            .find_map(|c| claims.get(c).and_then(Value::as_str))
            .map(str::to_owned);
        if let Some(v) = self.scope_claims.iter().find_map(|c| claims.get(c)) {
            principal.scopes = match v {
                Value::String(s) => s
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .ok_or(TokenError::InvalidClaim("scope"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(TokenError::InvalidClaim("scope")),
            };
        }
        principal.key_type = match self.key_type_claim.as_ref().and_then(|c| claims.get(c)) {
            None => self.default_key_type,
            Some(Value::String(s)) => s.parse().map_err(|_| TokenError::InvalidClaim("keytype"))?,
            Some(_) => return Err(TokenError::InvalidClaim("keytype")),
        };
        Ok(())
    }
}

/// What one issuer's tokens must satisfy. Build with [`IssuerConfig::new`].
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// Exact `iss` value.
    pub issuer: String,
    /// Accepted audiences; a token passes when its `aud` (string or array) names one of
    /// them. Empty: `aud` is not checked (only safe when the issuer serves this API alone).
    pub audiences: Vec<String>,
    /// Allowed algorithms: never taken from the token.
    pub algorithms: Vec<Algorithm>,
    /// Clock-skew allowance for `exp` and `nbf`. Default 0.
    pub leeway: Duration,
    /// Reject tokens without `exp`. Default true.
    pub require_exp: bool,
    /// Claims to principal mapping.
    pub mapping: ClaimsMapping,
    /// Verification keys.
    pub keys: JwksCache,
}

impl IssuerConfig {
    /// An issuer with its allowed algorithms and keys; no audience, zero leeway, `exp`
    /// required, default mapping.
    #[must_use]
    pub fn new(issuer: impl Into<String>, algorithms: Vec<Algorithm>, keys: JwksCache) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            algorithms,
            leeway: Duration::ZERO,
            require_exp: true,
            mapping: ClaimsMapping::default(),
            keys,
        }
    }

    /// Add an accepted audience.
    #[must_use]
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Set the leeway.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Set the claims mapping.
    #[must_use]
    pub fn mapping(mut self, mapping: ClaimsMapping) -> Self {
        self.mapping = mapping;
        self
    }
}

/// Header members we read. Unknown members are ignored; duplicates are an error (serde).
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// A token whose shape and header passed the checks that need no key.
#[derive(Debug)]
pub struct ParsedToken<'a> {
    /// `header.payload`, the JWS signing input.
    pub signing_input: &'a str,
    /// The header's algorithm (known, but not yet checked against an allow-list).
    pub alg: Algorithm,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// Decoded claims.
    pub claims: Map<String, Value>,
    /// Decoded signature.
    pub signature: Vec<u8>,
}

fn b64(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed("bad base64url"))
}

/// Parse a compact JWS with every check that needs no key or configuration besides the size
/// limit: size, three parts, strict base64url (no padding, canonical bits), header and claims
/// as JSON objects, `alg` a known algorithm (never `none`), no `crit`.
///
/// This is the fuzzing entry point: it never panics, and its memory is bounded by
/// `max_bytes`.
///
/// # Errors
/// The first failed check as a [`TokenError`].
pub fn parse_token(token: &str, max_bytes: usize) -> Result<ParsedToken<'_>, TokenError> {
    if token.len() > max_bytes {
        return Err(TokenError::TooLarge {
            len: token.len(),
            limit: max_bytes,
        });
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three dot-separated parts"));
    };
    let header: RawHeader = serde_json::from_slice(&b64(h)?)
        .map_err(|_| TokenError::Malformed("header is not a JSON object with alg"))?;
    let alg = Algorithm::from_str(&header.alg)
        .map_err(|_| TokenError::AlgorithmNotAllowed(header.alg.clone()))?;
    if let Some(crit) = header.crit {
        return Err(TokenError::UnsupportedCrit(crit.to_string()));
    }
    let claims: Map<String, Value> = serde_json::from_slice(&b64(p)?)
        .map_err(|_| TokenError::Malformed("claims are not a JSON object"))?;
    let signature = b64(s)?;
    let signing_input = token.get(..h.len() + 1 + p.len()).unwrap_or_default();
    Ok(ParsedToken {
        signing_input,
        alg,
        kid: header.kid,
        claims,
        signature,
    })
}

fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                Ok(Some(u))
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() && (0.0..1e15).contains(&f) =>
                    {
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        Ok(Some(f.floor() as u64))
                    }
                    _ => Err(TokenError::InvalidClaim(name)),
                }
            }
        }
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

/// Verifies JWTs from one or more issuers.
///
/// ```
/// use eventgate_policy::{Algorithm, IssuerConfig, JwksCache, JwtValidator, KeySet, Timestamp,
///     VerificationKey};
/// let mut keys = KeySet::new();
/// keys.push(VerificationKey::hmac(&[7u8; 32], Some("k1")).unwrap());
/// let validator = JwtValidator::new(vec![
///     IssuerConfig::new("https://issuer.example", vec![Algorithm::HS256], JwksCache::fixed(keys))
///         .audience("eventgate"),
/// ]);
/// // An unsigned token is refused before any key is looked at.
/// let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
/// let err = validator.verify(none, Timestamp::from_unix_secs(1_800_000_000)).unwrap_err();
/// assert_eq!(err.kind(), "algorithm_not_allowed");
/// ```
#[derive(Debug)]
pub struct JwtValidator {
    issuers: Vec<IssuerConfig>,
    max_token_bytes: usize,
}

impl JwtValidator {
    /// A validator for these issuers, with the default token size limit
    /// ([`DEFAULT_MAX_TOKEN_BYTES`]).
    #[must_use]
    pub fn new(issuers: Vec<IssuerConfig>) -> Self {
        Self {
            issuers,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Set the token size limit. Default is [`DEFAULT_MAX_TOKEN_BYTES`] (8 KiB).
    #[must_use]
    pub fn max_token_bytes(mut self, limit: usize) -> Self {
        self.max_token_bytes = limit;
        self
    }

    /// The configured issuers.
    #[must_use]
    pub fn issuers(&self) -> &[IssuerConfig] {
        &self.issuers
    }

    /// The issuer config a token names (unverified `iss`), for JWKS refresh decisions.
    #[must_use]
    pub fn issuer_of(&self, token: &str) -> Option<&IssuerConfig> {
        let parsed = parse_token(token, self.max_token_bytes).ok()?;
        let iss = parsed.claims.get("iss")?.as_str()?;
        self.issuers.iter().find(|i| i.issuer == iss)
    }

    /// Verify a token at instant `now` and map its claims to a [`Principal`].
    ///
    /// Order of checks: size, shape and header ([`parse_token`]), issuer, algorithm
    /// allow-list, key (`kid`, family), signature, then `exp`, `nbf`, `aud`, mapping. Claims
    /// of a token whose signature fails are never judged.
    ///
    /// # Errors
    /// The first failed check as a [`TokenError`].
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, TokenError> {
        let parsed = parse_token(token, self.max_token_bytes)?;
        let issuer = match parsed.claims.get("iss") {
            Some(Value::String(iss)) => self
                .issuers
                .iter()
                .find(|i| &i.issuer == iss)
                .ok_or(TokenError::WrongIssuer)?,
            _ => return Err(TokenError::WrongIssuer),
        };
        if !issuer.algorithms.contains(&parsed.alg) {
            return Err(TokenError::AlgorithmNotAllowed(
                parsed.alg.as_str().to_owned(),
            ));
        }
        let keys = issuer.keys.keys();
        if keys.is_empty() {
            return Err(if parsed.kid.is_some() && issuer.keys.url().is_some() {
                TokenError::UnknownKid(parsed.kid.clone().unwrap_or_default())
            } else {
                TokenError::KeysUnavailable
            });
        }
        let candidates = keys.select(parsed.alg, parsed.kid.as_deref())?;
        let msg = parsed.signing_input.as_bytes();
        if !candidates.iter().any(|k| {
            k.verify_signature(parsed.alg, msg, &parsed.signature)
                .is_ok()
        }) {
            return Err(TokenError::BadSignature);
        }
        let claims = &parsed.claims;
        let leeway = issuer.leeway.as_secs();
        let now_s = now.as_unix_secs();
        let exp = numeric_date(claims, "exp")?;
        match exp {
            Some(exp) if now_s >= exp.saturating_add(leeway) => return Err(TokenError::Expired),
            None if issuer.require_exp => return Err(TokenError::MissingClaim("exp")),
            _ => {}
        }
        if let Some(nbf) = numeric_date(claims, "nbf")?
            && now_s.saturating_add(leeway) < nbf
        {
            return Err(TokenError::NotYetValid);
        }
        if !issuer.audiences.is_empty() {
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => issuer.audiences.iter().any(|x| x == a),
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|a| issuer.audiences.iter().any(|x| x == a)),
                _ => false,
            };
            if !ok {
                return Err(TokenError::WrongAudience);
            }
        }
        let mut principal = Principal::new(CredentialKind::Jwt);
        principal.issuer = Some(issuer.issuer.clone());
        principal.expires_at = exp.map(Timestamp::from_unix_secs);
        issuer.mapping.apply(claims, &mut principal)?;
        Ok(principal)
    }
}

/// Deduplicate a scope list, keeping first occurrences in order.
pub(crate) fn dedup_scopes(scopes: &mut Vec<String>) {
    let mut seen = HashSet::new();
    scopes.retain(|s| seen.insert(s.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn parse_rejects_duplicate_header_members() {
        let t = format!("{}.{}.", enc(r#"{"alg":"HS256","alg":"none"}"#), enc("{}"));
        assert_eq!(parse_token(&t, 1000).unwrap_err().kind(), "malformed");
    }

    #[test]
    fn parse_rejects_empty_crit_too() {
        let t = format!("{}.{}.", enc(r#"{"alg":"HS256","crit":[]}"#), enc("{}"));
        assert_eq!(
            parse_token(&t, 1000).unwrap_err().kind(),
            "unsupported_crit"
        );
    }

    #[test]
    fn parse_checks_size_before_anything_else() {
        let t = "x".repeat(101);
        assert_eq!(
            parse_token(&t, 100).unwrap_err(),
            TokenError::TooLarge {
                len: 101,
                limit: 100
            }
        );
    }

    #[test]
    fn algorithm_names_are_case_sensitive() {
        assert!("hs256".parse::<Algorithm>().is_err());
        assert!("none".parse::<Algorithm>().is_err());
        assert_eq!("EdDSA".parse::<Algorithm>().unwrap(), Algorithm::EdDSA);
    }

    #[test]
    fn short_hmac_secret_is_refused() {
        assert!(VerificationKey::hmac(&[1; 31], None).is_err());
    }

    #[test]
    fn jwks_refresh_is_rate_limited() {
        let c =
            JwksCache::remote("https://issuer.example/jwks").min_refresh(Duration::from_secs(30));
        let t0 = Timestamp::from_unix_secs(100);
        assert!(c.try_begin_refresh(t0));
        assert!(!c.try_begin_refresh(Timestamp::from_unix_secs(129)));
        assert!(c.try_begin_refresh(Timestamp::from_unix_secs(130)));
        assert!(!JwksCache::fixed(KeySet::new()).try_begin_refresh(t0));
    }

    #[test]
    fn dedup_keeps_first_occurrence_order() {
        let mut v = vec!["b".to_owned(), "a".to_owned(), "b".to_owned()];
        dedup_scopes(&mut v);
        assert_eq!(v, ["b", "a"]);
    }
}
