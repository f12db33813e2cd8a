//! Verification keys: algorithms, key families, PEM / JWK / JWKS loading, the raw signature
//! check.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use crate::error::{ConfigError, TokenError};

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
    pub(super) fn select(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
