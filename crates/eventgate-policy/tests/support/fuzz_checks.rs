//! Checks shared by the `policy_token` fuzz target (fuzz/src/policy.rs includes this file)
//! and the corpus replay test.

use eventgate_policy::{
    Algorithm, DEFAULT_MAX_TOKEN_BYTES, IssuerConfig, JwksCache, JwtValidator, KeySet, Timestamp,
    TokenError, VerificationKey, parse_token,
};

/// Feed arbitrary bytes to the token parser and to a full validator: never panics; inputs over
/// the 8 KiB limit are refused before any decoding (so memory stays bounded by the limit).
pub fn token(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    match parse_token(token, DEFAULT_MAX_TOKEN_BYTES) {
        Err(TokenError::TooLarge { len, limit }) => {
            assert!(len > limit && token.len() == len);
            return;
        }
        _ => assert!(token.len() <= DEFAULT_MAX_TOKEN_BYTES),
    }
    let mut keys = KeySet::new();
    keys.push(VerificationKey::hmac(b"fuzzing-secret-of-thirty-two-bytes!!", Some("k")).unwrap());
    let v = JwtValidator::builder()
        .issuer(
            IssuerConfig::builder("iss", Algorithm::ALL.to_vec(), JwksCache::fixed(keys))
                .audience("aud")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    if let Ok(p) = v.verify(token, Timestamp::from_unix_secs(1_800_000_000)) {
        // Only a token HMAC-signed with the fixed secret can pass.
        assert_eq!(p.issuer.as_deref(), Some("iss"));
    }
}
