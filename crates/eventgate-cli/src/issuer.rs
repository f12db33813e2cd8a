//! A local JWT issuer for testing and for the gateway's own `app token` credentials.
//!
//! One ES256 (ECDSA P-256, SHA-256) signing key, generated with `rcgen` on first use and kept
//! in `DATA/issuer-key.pem` (PKCS#8 PEM, file mode 0600 on Unix). Tokens carry the claims
//! `eventgate-policy`'s default [`ClaimsMapping`](eventgate_policy::ClaimsMapping) reads:
//!
//! | claim | value |
//! |---|---|
//! | `iss` | [`LocalIssuer::issuer`], default [`DEFAULT_ISSUER`] |
//! | `sub` | the subject (end user), default `admin` |
//! | `azp`, `client_id` | the application's client id (consumer key) |
//! | `scope` | space-separated scopes (omitted when there are none) |
//! | `keytype` | `PRODUCTION` or `SANDBOX` |
//! | `aud` | the audience, when one is asked for |
//! | `iat`, `nbf`, `exp` | issue time, not-before (= issue time), expiry |
//! | `jti` | a random token id |
//!
//! The header names the key with `kid`, its RFC 7638 thumbprint; [`LocalIssuer::jwks`] is the
//! public key set (RFC 7517) a verifier needs.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use eventgate_cli::issuer::{LocalIssuer, TokenRequest};
//!
//! let issuer = LocalIssuer::generate()?;
//! let token = issuer.mint(&TokenRequest::new("my-client-id").scopes(["read"]), SystemTime::now())?;
//! let principal = issuer.verify(&token, None, SystemTime::now())?;
//! assert_eq!(principal.client_id.as_deref(), Some("my-client-id"));
//! assert_eq!(principal.scopes, ["read"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eventgate_policy::{
    Algorithm, DEFAULT_MAX_JWKS_BYTES, DEFAULT_MAX_JWKS_KEYS, IssuerConfig, JwksCache,
    JwtValidator, KeySet, KeyType, Principal, Timestamp, TokenError,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "issuer-key.pem";
/// The `iss` of tokens from the local issuer unless another is set: the token endpoint of
/// WSO2's resident key manager, which the gateway's admin API listens beside by default.
pub const DEFAULT_ISSUER: &str = "https://localhost:9443/oauth2/token";
/// Token lifetime when none is asked for.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Subject when none is given.
pub const DEFAULT_SUBJECT: &str = "admin";
/// Largest key file read, in bytes.
pub const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// Why the issuer could not load, create, sign or verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerError {
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The key file is not an ECDSA P-256 PKCS#8 PEM key.
    #[error("{path}: not an ECDSA P-256 private key in PKCS#8 PEM ({reason})")]
    BadKey {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file is larger than [`MAX_KEY_FILE_BYTES`].
    #[error("{0}: larger than {MAX_KEY_FILE_BYTES} bytes, not a key file")]
    KeyFileTooLarge(PathBuf),
    /// Key generation failed.
    #[error("cannot generate a signing key: {0}")]
    Generate(String),
    /// Signing failed.
    #[error("cannot sign the token: {0}")]
    Sign(String),
    /// A claim value cannot be put in a token.
    #[error("invalid {field}: {reason}")]
    InvalidClaim {
        /// The claim.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The token was refused.
    #[error("token refused: {0}")]
    Refused(#[from] TokenError),
    /// The verifier could not be set up with this issuer's key set.
    #[error("cannot build a verifier from the JWKS: {0}")]
    Verifier(#[from] eventgate_policy::ConfigError),
}

/// What to put in a token. Build with [`TokenRequest::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequest {
    /// `sub`. Default [`DEFAULT_SUBJECT`].
    pub subject: String,
    /// `azp` and `client_id`.
    pub client_id: String,
    /// `scope`, space-separated. Default none.
    pub scopes: Vec<String>,
    /// `keytype`. Default production.
    pub key_type: KeyType,
    /// Lifetime. Default [`DEFAULT_TTL`].
    pub ttl: Duration,
    /// `aud`. Default none.
    pub audience: Option<String>,
}

impl TokenRequest {
    /// A production token for `client_id`, subject [`DEFAULT_SUBJECT`], no scopes, one hour.
    #[must_use]
    pub fn new(client_id: impl Into<String>) -> Self {
        TokenRequest {
            subject: DEFAULT_SUBJECT.to_owned(),
            client_id: client_id.into(),
            scopes: Vec::new(),
            key_type: KeyType::Production,
            ttl: DEFAULT_TTL,
            audience: None,
        }
    }

    /// Set the subject.
    #[must_use]
    pub fn subject(mut self, sub: impl Into<String>) -> Self {
        self.subject = sub.into();
        self
    }

    /// Set the scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Set the key type.
    #[must_use]
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = key_type;
        self
    }

    /// Set the lifetime.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Set the audience.
    #[must_use]
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }
}

/// The local issuer: a signing key, its key id and the issuer name.
pub struct LocalIssuer {
    issuer: String,
    key_pem: String,
    kid: String,
    jwk: Value,
    encoding: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is never printed.
        f.debug_struct("LocalIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IssuerError + '_ {
    move |source| IssuerError::Io {
        path: path.to_owned(),
        source,
    }
}

impl LocalIssuer {
    /// The issuer of `dir`: reads `dir/issuer-key.pem`, or creates the directory and a new key
    /// (mode 0600) when the file does not exist.
    ///
    /// # Errors
    /// [`IssuerError`] when the file cannot be read or written or holds no usable key.
    pub fn load_or_create(dir: &Path) -> Result<Self, IssuerError> {
        let path = dir.join(KEY_FILE);
        match std::fs::metadata(&path) {
            Ok(meta) => {
                if meta.len() > MAX_KEY_FILE_BYTES {
                    return Err(IssuerError::KeyFileTooLarge(path));
                }
                let pem = std::fs::read_to_string(&path).map_err(io_err(&path))?;
                Self::from_pem_at(&pem, &path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io_err(dir))?;
                let issuer = Self::generate()?;
                write_private(&path, issuer.key_pem.as_bytes())?;
                Ok(issuer)
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// A new issuer with a fresh key that lives in memory only.
    ///
    /// # Errors
    /// [`IssuerError::Generate`] if the system's random source fails.
    pub fn generate() -> Result<Self, IssuerError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| IssuerError::Generate(e.to_string()))?;
        Self::from_pem_at(&key.serialize_pem(), Path::new("<memory>"))
    }

    /// An issuer from a PKCS#8 PEM ECDSA P-256 private key.
    ///
    /// # Errors
    /// [`IssuerError::BadKey`] for anything else.
    pub fn from_pem(pem: &str) -> Result<Self, IssuerError> {
        Self::from_pem_at(pem, Path::new("<memory>"))
    }

    fn from_pem_at(pem: &str, path: &Path) -> Result<Self, IssuerError> {
        let bad = |reason: String| IssuerError::BadKey {
            path: path.to_owned(),
            reason,
        };
        let key = rcgen::KeyPair::from_pem(pem).map_err(|e| bad(e.to_string()))?;
        if !key.is_compatible(&rcgen::PKCS_ECDSA_P256_SHA256) {
            return Err(bad("the key is not ECDSA P-256".into()));
        }
        let raw = key.public_key_raw();
        // An uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
        if raw.len() != 65 || raw[0] != 4 {
            return Err(bad("unexpected public key encoding".into()));
        }
        let x = URL_SAFE_NO_PAD.encode(&raw[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&raw[33..]);
        // RFC 7638: the thumbprint over the required members in lexicographic order.
        let thumb_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumb_input.as_bytes()));
        let encoding = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes())
            .map_err(|e| bad(e.to_string()))?;
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y,
            "use": "sig", "alg": "ES256", "kid": kid,
        });
        Ok(LocalIssuer {
            issuer: DEFAULT_ISSUER.to_owned(),
            key_pem: pem.to_owned(),
            kid,
            jwk,
            encoding,
        })
    }

    /// Use another `iss` value.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// The `iss` of this issuer's tokens.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key id (`kid`): the key's RFC 7638 SHA-256 thumbprint.
    #[must_use]
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The public key set, `{"keys":[{...}]}`, as the gateway publishes it.
    #[must_use]
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }

    /// Signs a token for `request`, issued at `now`.
    ///
    /// # Errors
    /// [`IssuerError::InvalidClaim`] for an empty client id, a scope with a space or a
    /// lifetime of zero; [`IssuerError::Sign`] if signing fails.
    pub fn mint(&self, request: &TokenRequest, now: SystemTime) -> Result<String, IssuerError> {
        if request.client_id.is_empty() {
            return Err(IssuerError::InvalidClaim {
                field: "client id",
                reason: "empty",
            });
        }
        if request
            .scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(IssuerError::InvalidClaim {
                field: "scope",
                reason: "scopes are non-empty and have no spaces",
            });
        }
        if request.ttl.is_zero() {
            return Err(IssuerError::InvalidClaim {
                field: "ttl",
                reason: "must be longer than zero",
            });
        }
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let exp = iat.saturating_add(request.ttl.as_secs().max(1));
        let mut claims = Map::new();
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("sub".into(), request.subject.clone().into());
        if let Some(aud) = &request.audience {
            claims.insert("aud".into(), aud.clone().into());
        }
        claims.insert("azp".into(), request.client_id.clone().into());
        claims.insert("client_id".into(), request.client_id.clone().into());
        if !request.scopes.is_empty() {
            claims.insert("scope".into(), request.scopes.join(" ").into());
        }
        claims.insert("keytype".into(), request.key_type.as_str().into());
        claims.insert("iat".into(), iat.into());
        claims.insert("nbf".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        claims.insert("jti".into(), random_id()?.into());
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| IssuerError::Sign(e.to_string()))
    }

    /// A verifier for this issuer's tokens (ES256 only, this issuer's JWKS), optionally
    /// requiring an audience.
    ///
    /// Built with `eventgate-policy`'s `KeySet::from_jwks`, `JwksCache::fixed`,
    /// `IssuerConfig::builder(..).audience(..)` and `JwtValidator::builder()`.
    ///
    /// # Errors
    /// [`IssuerError::Verifier`] if the JWKS is not accepted.
    pub fn validator(&self, audience: Option<&str>) -> Result<JwtValidator, IssuerError> {
        let jwks = self.jwks().to_string();
        let keys = KeySet::from_jwks(
            jwks.as_bytes(),
            DEFAULT_MAX_JWKS_BYTES,
            DEFAULT_MAX_JWKS_KEYS,
        )?;
        let mut config = IssuerConfig::builder(
            self.issuer.clone(),
            vec![Algorithm::ES256],
            JwksCache::fixed(keys),
        );
        if let Some(aud) = audience {
            config.audience(aud);
        }
        Ok(JwtValidator::builder().issuer(config.build()?).build()?)
    }

    /// Verifies `token` against this issuer at `now`, as the gateway would.
    ///
    /// # Errors
    /// [`IssuerError::Refused`] with the reason (expired, bad signature, wrong issuer, ...).
    pub fn verify(
        &self,
        token: &str,
        audience: Option<&str>,
        now: SystemTime,
    ) -> Result<Principal, IssuerError> {
        Ok(self
            .validator(audience)?
            .verify(token.trim(), Timestamp::from(now))?)
    }
}

fn random_id() -> Result<String, IssuerError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| IssuerError::Generate(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a new file readable by its owner only; never replaces an existing one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IssuerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// The two JSON parts of a compact JWS, decoded without any verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Unverified {
    /// The JOSE header.
    pub header: Value,
    /// The claims.
    pub claims: Value,
}

/// Why a token could not even be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not three dot-separated parts.
    #[error("not a JWT: expected three dot-separated parts")]
    NotThreeParts,
    /// A part is not base64url.
    #[error("the {0} is not base64url")]
    Base64(&'static str),
    /// A part is not JSON.
    #[error("the {0} is not JSON")]
    Json(&'static str),
    /// Longer than [`eventgate_policy::DEFAULT_MAX_TOKEN_BYTES`].
    #[error("token longer than {0} bytes")]
    TooLarge(usize),
}

/// Decodes a token's header and claims without checking anything else (for inspection).
///
/// # Errors
/// [`DecodeError`] when the token is not shaped like a JWT.
pub fn decode_unverified(token: &str) -> Result<Unverified, DecodeError> {
    let token = token.trim();
    let limit = eventgate_policy::DEFAULT_MAX_TOKEN_BYTES;
    if token.len() > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [h, c, _sig] = parts[..] else {
        return Err(DecodeError::NotThreeParts);
    };
    let part = |text: &str, name: &'static str| -> Result<Value, DecodeError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| DecodeError::Base64(name))?;
        serde_json::from_slice(&bytes).map_err(|_| DecodeError::Json(name))
    };
    Ok(Unverified {
        header: part(h, "header")?,
        claims: part(c, "claims")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn minted_claims_are_what_the_default_mapping_reads() {
        let issuer = LocalIssuer::generate().unwrap();
        let token = issuer
            .mint(
                &TokenRequest::new("cid")
                    .subject("alice")
                    .scopes(["a", "b"])
                    .key_type(KeyType::Sandbox)
                    .audience("eventgate"),
                at(1_800_000_000),
            )
            .unwrap();
        let d = decode_unverified(&token).unwrap();
        assert_eq!(d.header["alg"], "ES256");
        assert_eq!(d.header["kid"], issuer.key_id());
        assert_eq!(d.claims["azp"], "cid");
        assert_eq!(d.claims["scope"], "a b");
        assert_eq!(d.claims["keytype"], "SANDBOX");
        assert_eq!(d.claims["exp"], 1_800_003_600u64);
        let p = issuer
            .verify(&token, Some("eventgate"), at(1_800_000_010))
            .unwrap();
        assert_eq!(p.subject.as_deref(), Some("alice"));
        assert_eq!(p.client_id.as_deref(), Some("cid"));
        assert_eq!(p.scopes, ["a", "b"]);
        assert_eq!(p.key_type, KeyType::Sandbox);
    }

    #[test]
    fn expired_wrong_audience_and_foreign_tokens_are_refused() {
        let issuer = LocalIssuer::generate().unwrap();
        let token = issuer
            .mint(
                &TokenRequest::new("cid").ttl(Duration::from_secs(60)),
                at(1_800_000_000),
            )
            .unwrap();
        assert!(matches!(
            issuer.verify(&token, None, at(1_800_000_060)),
            Err(IssuerError::Refused(TokenError::Expired))
        ));
        assert!(matches!(
            issuer.verify(&token, Some("other"), at(1_800_000_001)),
            Err(IssuerError::Refused(TokenError::WrongAudience))
        ));
        let other = LocalIssuer::generate().unwrap();
        assert!(matches!(
            other.verify(&token, None, at(1_800_000_001)),
            Err(IssuerError::Refused(_))
        ));
        let renamed = LocalIssuer::from_pem(&issuer.key_pem)
            .unwrap()
            .with_issuer("https://elsewhere");
        assert!(matches!(
            renamed.verify(&token, None, at(1_800_000_001)),
            Err(IssuerError::Refused(TokenError::WrongIssuer))
        ));
    }

    #[test]
    fn bad_requests_and_bad_tokens_are_typed_errors() {
        let issuer = LocalIssuer::generate().unwrap();
        let now = at(1_800_000_000);
        assert!(matches!(
            issuer.mint(&TokenRequest::new(""), now),
            Err(IssuerError::InvalidClaim { .. })
        ));
        assert!(matches!(
            issuer.mint(&TokenRequest::new("c").scopes(["a b"]), now),
            Err(IssuerError::InvalidClaim { .. })
        ));
        assert!(matches!(
            issuer.mint(&TokenRequest::new("c").ttl(Duration::ZERO), now),
            Err(IssuerError::InvalidClaim { .. })
        ));
        assert_eq!(decode_unverified("abc"), Err(DecodeError::NotThreeParts));
        assert_eq!(
            decode_unverified("***.e30.x"),
            Err(DecodeError::Base64("header"))
        );
        assert_eq!(
            decode_unverified("e30.bm90.x"),
            Err(DecodeError::Json("claims"))
        );
        assert!(matches!(
            LocalIssuer::from_pem("not a key"),
            Err(IssuerError::BadKey { .. })
        ));
    }

    #[test]
    fn the_key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = LocalIssuer::load_or_create(&data).unwrap();
        let second = LocalIssuer::load_or_create(&data).unwrap();
        assert_eq!(first.key_id(), second.key_id());
        assert_eq!(first.jwks(), second.jwks());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(data.join(KEY_FILE), "garbage").unwrap();
        assert!(matches!(
            LocalIssuer::load_or_create(&data),
            Err(IssuerError::BadKey { .. })
        ));
    }
}
