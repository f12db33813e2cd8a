//! Checks shared by the `policy_token` fuzz target and the corpus replay test.

use crate::jwt::parse_token;
use crate::{Algorithm, IssuerConfig, JwksCache, JwtValidator, KeySet, Timestamp, VerificationKey};

/// Feed arbitrary bytes to the token parser and to a full validator. Must never panic;
/// memory is bounded by the 8 KiB token limit.
pub fn check_token(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_token(token, crate::DEFAULT_MAX_TOKEN_BYTES);
    let mut keys = KeySet::new();
    if let Ok(k) = VerificationKey::hmac(b"fuzzing-secret-of-thirty-two-bytes!!", Some("k")) {
        keys.push(k);
    }
    let v = JwtValidator::new(vec![
        IssuerConfig::new("iss", Algorithm::ALL.to_vec(), JwksCache::fixed(keys)).audience("aud"),
    ]);
    if let Ok(p) = v.verify(token, Timestamp::from_unix_secs(1_800_000_000)) {
        // Only a token signed with the fixed secret can pass; the principal must be coherent.
        assert_eq!(p.issuer.as_deref(), Some("iss"));
    }
}
