//! JWT verification (RFC 7519 / 7515 / 8725): our own strict header and claims checks
//! around `jsonwebtoken`'s signature primitives.
//!
//! `jsonwebtoken`'s `decode` reads the wall clock, accepts `crit` silently and has no size
//! limit, so this module parses the compact form itself, enforces the allow-list, `crit`,
//! size and key family, validates the claims against the `now` it is given, and uses the
//! library only for the signature check (RustCrypto backend, selected explicitly rather than
//! through the process-wide default so that another crate enabling `aws_lc_rs` cannot make
//! verification panic).

mod check;
mod issuer;
mod jwks;
mod keys;
mod validator;

use std::time::Duration;

pub use check::{ParsedToken, parse_token};
pub(crate) use issuer::parse_scopes;
pub use issuer::{ClaimsMapping, DEFAULT_LEEWAY, IssuerConfig, IssuerConfigBuilder, MAX_LEEWAY};
pub use jwks::{JwksCache, JwksCacheBuilder};
pub use keys::{Algorithm, KeyFamily, KeySet, VerificationKey};
pub use validator::{JwtValidator, JwtValidatorBuilder, MAX_TOKEN_BYTES_CAP};

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
