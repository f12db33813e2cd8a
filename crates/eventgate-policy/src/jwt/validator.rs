//! Verifying tokens of the configured issuers into principals.

use serde_json::Value;

use super::DEFAULT_MAX_TOKEN_BYTES;
use super::check::{numeric_date, parse_token};
use super::issuer::IssuerConfig;
use crate::error::{ConfigError, TokenError};
use crate::model::{CredentialKind, Principal};
use crate::time::Timestamp;

/// Verifies JWTs from one or more issuers.
///
/// ```
/// use eventgate_policy::{Algorithm, IssuerConfig, JwksCache, JwtValidator, KeySet, Timestamp,
///     VerificationKey};
/// let mut keys = KeySet::new();
/// keys.push(VerificationKey::hmac(&[7u8; 32], Some("k1"))?);
/// let validator = JwtValidator::builder()
///     .issuer(
///         IssuerConfig::builder("https://issuer.example", vec![Algorithm::HS256],
///             JwksCache::fixed(keys))
///         .audience("eventgate")
///         .build()?,
///     )
///     .build()?;
/// // An unsigned token is refused before any key is looked at.
/// let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
/// let err = validator.verify(none, Timestamp::from_unix_secs(1_800_000_000)).unwrap_err();
/// assert_eq!(err.kind(), "algorithm_not_allowed");
/// # Ok::<(), eventgate_policy::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct JwtValidator {
    issuers: Vec<IssuerConfig>,
    max_token_bytes: usize,
}

/// The largest token limit [`JwtValidatorBuilder::max_token_bytes`] accepts: 1 MiB.
pub const MAX_TOKEN_BYTES_CAP: usize = 1024 * 1024;

/// Builds a [`JwtValidator`].
#[must_use]
#[derive(Clone, Debug, Default)]
pub struct JwtValidatorBuilder {
    issuers: Vec<IssuerConfig>,
    max_token_bytes: Option<usize>,
}

impl JwtValidatorBuilder {
    /// A builder with no issuer and the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept tokens of this issuer. Default is none; at least one is needed.
    pub fn issuer(&mut self, issuer: IssuerConfig) -> &mut Self {
        self.issuers.push(issuer);
        self
    }

    /// Longest token accepted, checked before any decoding. Default is
    /// [`DEFAULT_MAX_TOKEN_BYTES`] (8 KiB); between 1 and [`MAX_TOKEN_BYTES_CAP`].
    pub fn max_token_bytes(&mut self, limit: usize) -> &mut Self {
        self.max_token_bytes = Some(limit);
        self
    }

    /// Builds the validator.
    ///
    /// # Errors
    /// [`ConfigError::Limit`] without an issuer, with two issuers of the same `iss`, or a
    /// token limit out of range.
    pub fn build(&self) -> Result<JwtValidator, ConfigError> {
        let bad = |setting, reason| Err(ConfigError::Limit { setting, reason });
        if self.issuers.is_empty() {
            return bad("issuer", "no issuer: every token would be refused");
        }
        if self
            .issuers
            .iter()
            .enumerate()
            .any(|(i, a)| self.issuers[..i].iter().any(|b| b.issuer == a.issuer))
        {
            return bad("issuer", "two issuers with the same iss");
        }
        let max_token_bytes = self.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        if max_token_bytes == 0 || max_token_bytes > MAX_TOKEN_BYTES_CAP {
            return bad("max_token_bytes", "outside 1..=MAX_TOKEN_BYTES_CAP (1 MiB)");
        }
        Ok(JwtValidator {
            issuers: self.issuers.clone(),
            max_token_bytes,
        })
    }
}

impl JwtValidator {
    /// A builder with no issuer and the default limits.
    pub fn builder() -> JwtValidatorBuilder {
        JwtValidatorBuilder::new()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{Algorithm, JwksCache, KeySet};

    fn issuer(iss: &str) -> IssuerConfig {
        IssuerConfig::builder(iss, vec![Algorithm::HS256], JwksCache::fixed(KeySet::new()))
            .build()
            .unwrap()
    }

    #[test]
    fn builder_refuses_no_issuer_duplicate_issuers_and_bad_limits() {
        let setting = |r: Result<JwtValidator, ConfigError>| match r {
            Err(ConfigError::Limit { setting, .. }) => setting,
            other => panic!("{other:?}"),
        };
        assert_eq!(setting(JwtValidator::builder().build()), "issuer");
        assert_eq!(
            setting(
                JwtValidator::builder()
                    .issuer(issuer("a"))
                    .issuer(issuer("a"))
                    .build()
            ),
            "issuer"
        );
        for n in [0, MAX_TOKEN_BYTES_CAP + 1] {
            assert_eq!(
                setting(
                    JwtValidator::builder()
                        .issuer(issuer("a"))
                        .max_token_bytes(n)
                        .build()
                ),
                "max_token_bytes"
            );
        }
        let v = JwtValidator::builder()
            .issuer(issuer("a"))
            .issuer(issuer("b"))
            .max_token_bytes(MAX_TOKEN_BYTES_CAP)
            .build()
            .unwrap();
        assert_eq!(v.issuers().len(), 2);
    }
}
