//! The checks a token passes before any key is looked at: size, shape, base64url, header.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::keys::Algorithm;
use crate::error::TokenError;

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

pub(super) fn numeric_date(
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
}
