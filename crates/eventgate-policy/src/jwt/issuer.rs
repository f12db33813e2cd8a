//! What one issuer's tokens must satisfy, and how their claims become a principal.

use std::sync::Arc;
use std::time::Duration;

use eventgate_types::Scope;
use serde_json::{Map, Value};

use super::jwks::JwksCache;
use super::keys::Algorithm;
use crate::error::{ConfigError, TokenError};
use crate::model::{KeyType, Principal};

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
    pub(super) fn apply(
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
                Value::String(s) => parse_scopes(s.split(' ')),
                Value::Array(a) => parse_scopes(
                    a.iter()
                        .map(|x| x.as_str().ok_or(TokenError::InvalidClaim("scope")))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
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

/// What one issuer's tokens must satisfy. Build with [`IssuerConfig::builder`]; read-only
/// once built (cloning shares the issuer's [`JwksCache`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// Exact `iss` value.
    pub issuer: String,
    /// Accepted audiences; a token passes when its `aud` (string or array) names one of
    /// them. Empty: `aud` is not checked (only safe when the issuer serves this API alone).
    pub audiences: Vec<String>,
    /// Allowed algorithms: never taken from the token.
    pub algorithms: Vec<Algorithm>,
    /// Clock-skew allowance for `exp` and `nbf`.
    pub leeway: Duration,
    /// Reject tokens without `exp`.
    pub require_exp: bool,
    /// Claims to principal mapping.
    pub mapping: ClaimsMapping,
    /// Verification keys.
    pub keys: Arc<JwksCache>,
}

impl IssuerConfig {
    /// A builder for an issuer with its allowed algorithms and keys.
    ///
    /// ```
    /// use eventgate_policy::{Algorithm, IssuerConfig, JwksCache, KeySet, VerificationKey};
    /// let mut keys = KeySet::new();
    /// keys.push(VerificationKey::hmac(&[7u8; 32], None)?);
    /// let issuer = IssuerConfig::builder("https://issuer.example", vec![Algorithm::HS256],
    ///         JwksCache::fixed(keys))
    ///     .audience("eventgate")
    ///     .build()?;
    /// assert_eq!(issuer.audiences, ["eventgate"]);
    /// # Ok::<(), eventgate_policy::ConfigError>(())
    /// ```
    pub fn builder(
        issuer: impl Into<String>,
        algorithms: Vec<Algorithm>,
        keys: JwksCache,
    ) -> IssuerConfigBuilder {
        IssuerConfigBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            algorithms,
            leeway: DEFAULT_LEEWAY,
            require_exp: true,
            mapping: ClaimsMapping::default(),
            keys: Arc::new(keys),
        }
    }
}

/// Default clock-skew allowance for `exp` and `nbf`: none.
pub const DEFAULT_LEEWAY: Duration = Duration::ZERO;

/// The largest leeway [`IssuerConfigBuilder::leeway`] accepts: 10 minutes (a larger skew
/// means a broken clock, and would keep expired tokens alive that long).
pub const MAX_LEEWAY: Duration = Duration::from_secs(600);

/// Builds an [`IssuerConfig`].
#[must_use]
#[derive(Clone, Debug)]
pub struct IssuerConfigBuilder {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    require_exp: bool,
    mapping: ClaimsMapping,
    keys: Arc<JwksCache>,
}

impl IssuerConfigBuilder {
    /// Add an accepted audience. Default is none (`aud` not checked).
    pub fn audience(&mut self, aud: impl Into<String>) -> &mut Self {
        self.audiences.push(aud.into());
        self
    }

    /// Clock-skew allowance for `exp` and `nbf`. Default is [`DEFAULT_LEEWAY`] (none); at
    /// most [`MAX_LEEWAY`].
    pub fn leeway(&mut self, leeway: Duration) -> &mut Self {
        self.leeway = leeway;
        self
    }

    /// Reject tokens without `exp`. Default is `true`.
    pub fn require_exp(&mut self, yes: bool) -> &mut Self {
        self.require_exp = yes;
        self
    }

    /// How claims become a principal. Default is [`ClaimsMapping::default`].
    pub fn mapping(&mut self, mapping: ClaimsMapping) -> &mut Self {
        self.mapping = mapping;
        self
    }

    /// Builds the issuer configuration.
    ///
    /// # Errors
    /// [`ConfigError::Limit`] for an empty issuer, no algorithm, an empty audience or a
    /// leeway above [`MAX_LEEWAY`].
    pub fn build(&self) -> Result<IssuerConfig, ConfigError> {
        let bad = |setting, reason| Err(ConfigError::Limit { setting, reason });
        if self.issuer.is_empty() {
            return bad("issuer", "is empty");
        }
        if self.algorithms.is_empty() {
            return bad(
                "algorithms",
                "no algorithm allowed: every token would be refused",
            );
        }
        if self.audiences.iter().any(String::is_empty) {
            return bad("audience", "is empty");
        }
        if self.leeway > MAX_LEEWAY {
            return bad("leeway", "above MAX_LEEWAY (10 minutes)");
        }
        Ok(IssuerConfig {
            issuer: self.issuer.clone(),
            audiences: self.audiences.clone(),
            algorithms: self.algorithms.clone(),
            leeway: self.leeway,
            require_exp: self.require_exp,
            mapping: self.mapping.clone(),
            keys: Arc::clone(&self.keys),
        })
    }
}

/// Scope tokens as a credential lists them, kept in order without duplicates. Empty tokens
/// (from doubled spaces) and tokens that are not a valid [`Scope`] are left out: scopes only
/// grant, so leaving one out can refuse a topic but never open one, and a credential is not
/// refused whole for one scope this crate cannot name.
pub(crate) fn parse_scopes<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Vec<Scope> {
    let mut out: Vec<Scope> = Vec::new();
    for t in tokens {
        if let Ok(s) = Scope::new(t)
            && !out.contains(&s)
        {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::KeySet;

    #[test]
    fn parse_scopes_keeps_first_occurrence_order_and_drops_invalid_tokens() {
        let v = parse_scopes("b  a b bad,comma \"q\" c".split(' '));
        assert_eq!(v, ["b", "a", "c"]);
    }

    fn mapped(claims: serde_json::Value) -> Result<Principal, TokenError> {
        let mut p = Principal::new(crate::model::CredentialKind::Jwt);
        let Value::Object(map) = claims else {
            panic!("an object")
        };
        ClaimsMapping::default().apply(&map, &mut p).map(|()| p)
    }

    #[test]
    fn scope_tokens_that_are_not_scopes_are_left_out_of_the_principal() {
        let p = mapped(serde_json::json!({"scope": "read bad\"q write read"})).unwrap();
        assert_eq!(p.scopes, ["read", "write"]);
        let p = mapped(serde_json::json!({"scp": ["a", "b,c", ""]})).unwrap();
        assert_eq!(p.scopes, ["a"]);
        // A non-string entry is still a malformed claim, not a scope to leave out.
        assert_eq!(
            mapped(serde_json::json!({"scp": ["a", 1]})).unwrap_err(),
            TokenError::InvalidClaim("scope")
        );
    }

    #[test]
    fn builder_refuses_what_would_refuse_every_token() {
        let b = || {
            IssuerConfig::builder(
                "iss",
                vec![Algorithm::HS256],
                JwksCache::fixed(KeySet::new()),
            )
        };
        assert!(b().build().is_ok());
        assert!(matches!(
            IssuerConfig::builder("iss", vec![], JwksCache::fixed(KeySet::new())).build(),
            Err(ConfigError::Limit {
                setting: "algorithms",
                ..
            })
        ));
        assert!(matches!(
            IssuerConfig::builder("", vec![Algorithm::HS256], JwksCache::fixed(KeySet::new()))
                .build(),
            Err(ConfigError::Limit {
                setting: "issuer",
                ..
            })
        ));
        assert!(matches!(
            b().leeway(MAX_LEEWAY + Duration::from_secs(1)).build(),
            Err(ConfigError::Limit {
                setting: "leeway",
                ..
            })
        ));
        assert!(b().leeway(MAX_LEEWAY).build().is_ok());
        assert!(matches!(
            b().audience("").build(),
            Err(ConfigError::Limit {
                setting: "audience",
                ..
            })
        ));
    }
}
