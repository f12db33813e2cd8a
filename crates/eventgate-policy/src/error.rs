//! Credential errors: one typed variant per reason a credential is refused.

/// Why a credential (JWT, opaque token or API key) was refused.
///
/// [`TokenError::kind`] gives a stable snake_case name per variant (printed by the
/// `jwt-check` example and safe to match on in logs and tests); the list is in the crate
/// docs. `Display` is for humans and may change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed compact JWS: not three parts, bad base64url, header or claims not a
    /// JSON object, duplicate header members, or a signature that does not decode.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The credential is longer than the configured limit.
    #[error("token of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length of the presented credential in bytes.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The header's `alg` is not in the issuer's allow-list (this includes `none` and any
    /// unknown or differently spelled name).
    #[error("algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// The header carries `crit`: no JWS extension is understood, so RFC 7515 §4.1.11
    /// requires a rejection.
    #[error("unsupported critical header parameter(s): {0}")]
    UnsupportedCrit(String),
    /// The header's `kid` names no known key (after a refresh where one was allowed).
    #[error("no key with kid {0:?}")]
    UnknownKid(String),
    /// The key found for the token is of another family than the token's `alg` (key
    /// confusion, e.g. `HS256` against an RSA public key), or no key fits the algorithm.
    #[error("key cannot be used with algorithm {0}")]
    KeyAlgorithmMismatch(&'static str),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// `exp` is at or before `now - leeway`.
    #[error("token expired")]
    Expired,
    /// `nbf` is after `now + leeway`.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is missing or is not a configured issuer.
    #[error("issuer not accepted")]
    WrongIssuer,
    /// `aud` is missing or names none of the accepted audiences.
    #[error("audience not accepted")]
    WrongAudience,
    /// A claim the configuration requires (e.g. `exp`) is absent.
    #[error("missing required claim {0}")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an out-of-range value.
    #[error("claim {0} has an invalid value")]
    InvalidClaim(&'static str),
    /// No key is available for the issuer (JWKS never loaded or its fetch failed).
    #[error("no verification keys available")]
    KeysUnavailable,
    /// Introspection answered `active: false` (or a cached negative answer).
    #[error("token is not active")]
    Inactive,
    /// The token is opaque and its introspection answer is not cached; the synchronous
    /// path does no I/O. [`Gate::authorize_async`](crate::Gate::authorize_async) resolves it.
    #[error("opaque token needs introspection")]
    IntrospectionRequired,
    /// The introspection endpoint could not be asked or gave an unusable answer.
    #[error("introspection unavailable")]
    IntrospectionUnavailable,
    /// An opaque token was presented but no introspection is configured.
    #[error("opaque tokens are not accepted")]
    OpaqueNotAccepted,
    /// An eventgate API key that is unknown or whose secret does not match.
    #[error("unknown API key")]
    UnknownApiKey,
    /// An eventgate API key that was revoked.
    #[error("API key revoked")]
    Revoked,
}

impl TokenError {
    /// Stable snake_case name of the variant.
    ///
    /// ```
    /// assert_eq!(eventgate_policy::TokenError::Expired.kind(), "expired");
    /// ```
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::TooLarge { .. } => "too_large",
            Self::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Self::UnsupportedCrit(_) => "unsupported_crit",
            Self::UnknownKid(_) => "unknown_kid",
            Self::KeyAlgorithmMismatch(_) => "key_algorithm_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::KeysUnavailable => "keys_unavailable",
            Self::Inactive => "inactive",
            Self::IntrospectionRequired => "introspection_required",
            Self::IntrospectionUnavailable => "introspection_unavailable",
            Self::OpaqueNotAccepted => "opaque_not_accepted",
            Self::UnknownApiKey => "unknown_api_key",
            Self::Revoked => "revoked",
        }
    }
}

/// A configuration value was refused (keys, plans, issuers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key (PEM, JWK, secret) could not be loaded.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A JWKS document could not be parsed or crosses a limit.
    #[error("invalid JWKS: {0}")]
    InvalidJwks(String),
    /// An algorithm name is not one this crate supports.
    #[error("unsupported algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// A plan's numbers are out of range.
    #[error("invalid plan {name}: {reason}")]
    InvalidPlan {
        /// Plan name.
        name: eventgate_types::PlanName,
        /// What is wrong.
        reason: &'static str,
    },
    /// A plan or scope name that breaks the naming rules.
    #[error("invalid name: {0}")]
    InvalidName(#[from] eventgate_types::NameError),
    /// A builder setting is out of its range (checked by `build()`).
    #[error("{setting}: {reason}")]
    Limit {
        /// The builder setting, as its setter is named (e.g. `token_cache_capacity`).
        setting: &'static str,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// Something else is inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Errors from I/O implementations behind the [`JwksFetcher`](crate::JwksFetcher) and
/// [`Introspector`](crate::Introspector) traits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IoError(pub String);
