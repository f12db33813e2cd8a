//! Token vectors made by an independent implementation (PyJWT + cryptography, see
//! `tests/vectors/make_vectors.py`), checked at the fixed instant stored with them.

use std::time::Duration;

use eventgate_policy::{
    Algorithm, IssuerConfig, JwksCache, JwtValidator, KeySet, KeyType, Timestamp, VerificationKey,
};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

fn vectors() -> (Value, Timestamp) {
    let v: Value = serde_json::from_str(&read("tokens.json")).unwrap();
    let now = Timestamp::from_unix_secs(v["now"].as_u64().unwrap());
    (v, now)
}

fn validator(keys: KeySet, vector: &Value, meta: &Value) -> JwtValidator {
    let algorithms = match vector.get("algorithms") {
        Some(list) => list
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().parse().unwrap())
            .collect(),
        None => Algorithm::ALL.to_vec(),
    };
    let leeway = vector.get("leeway_s").and_then(Value::as_u64).unwrap_or(0);
    JwtValidator::builder()
        .issuer(
            IssuerConfig::builder(
                meta["issuer"].as_str().unwrap(),
                algorithms,
                JwksCache::fixed(keys),
            )
            .audience(meta["audience"].as_str().unwrap())
            .leeway(Duration::from_secs(leeway))
            .build()
            .unwrap(),
        )
        .build()
        .unwrap()
}

fn jwks() -> KeySet {
    KeySet::from_jwks(read("jwks.json").as_bytes(), 64 * 1024, 32).unwrap()
}

fn pem_keys() -> KeySet {
    let mut keys = KeySet::new();
    for f in [
        "rsa_pub.pem",
        "ec256_pub.pem",
        "ec384_pub.pem",
        "ed25519_pub.pem",
    ] {
        keys.push(VerificationKey::from_pem(read(&format!("keys/{f}")).as_bytes(), None).unwrap());
    }
    let secret = base64_url(read("keys/hs_secret.txt").trim());
    keys.push(VerificationKey::hmac(&secret, None).unwrap());
    keys
}

fn base64_url(s: &str) -> Vec<u8> {
    // Minimal decoder for the test (keeps the test independent of the crate's own base64 use).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = alphabet.iter().position(|a| *a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[test]
fn every_vector_gives_its_expected_outcome_with_jwks_keys() {
    let (meta, now) = vectors();
    let mut checked = 0;
    for v in meta["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let got = validator(jwks(), v, &meta).verify(v["token"].as_str().unwrap(), now);
        match (v["expect"].as_str().unwrap(), got) {
            ("ok", Ok(p)) => {
                assert_eq!(p.subject.as_deref(), Some("alice@carbon.super"), "{name}");
                let client = v
                    .get("client")
                    .and_then(Value::as_str)
                    .unwrap_or("client-abc");
                assert_eq!(p.client_id.as_deref(), Some(client), "{name}");
                let scopes: Vec<String> = match v.get("scopes") {
                    Some(s) => serde_json::from_value(s.clone()).unwrap(),
                    None => vec!["read:memory".into(), "read:cpu".into()],
                };
                let got: Vec<&str> = p.scopes.iter().map(|s| s.as_str()).collect();
                assert_eq!(got, scopes, "{name}");
                let kt = if v.get("key_type").is_some() {
                    KeyType::Sandbox
                } else {
                    KeyType::Production
                };
                assert_eq!(p.key_type, kt, "{name}");
                if v.get("leeway_s").is_none() {
                    let exp = Timestamp::from_unix_secs(now.as_unix_secs() + 3600);
                    assert_eq!(p.expires_at, Some(exp), "{name}");
                }
            }
            ("ok", Err(e)) => panic!("{name}: expected ok, got {e:?}"),
            (kind, Ok(p)) => panic!("{name}: expected {kind}, got ok {p:?}"),
            (kind, Err(e)) => assert_eq!(e.kind(), kind, "{name}: {e:?}"),
        }
        checked += 1;
    }
    assert!(checked >= 39, "only {checked} vectors");
}

#[test]
fn every_algorithm_verifies_with_pem_keys_too() {
    let (meta, now) = vectors();
    let valid: Vec<_> = meta["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v.get("alg").is_some())
        .collect();
    assert_eq!(valid.len(), 12);
    for v in valid {
        let p = validator(pem_keys(), v, &meta).verify(v["token"].as_str().unwrap(), now);
        assert!(p.is_ok(), "{}: {p:?}", v["name"]);
    }
}

#[test]
fn each_algorithm_is_refused_when_not_in_the_allow_list() {
    let (meta, now) = vectors();
    for v in meta["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v.get("alg").is_some())
    {
        let alg: Algorithm = v["alg"].as_str().unwrap().parse().unwrap();
        let others: Vec<Algorithm> = Algorithm::ALL.into_iter().filter(|a| *a != alg).collect();
        let val = JwtValidator::builder()
            .issuer(
                IssuerConfig::builder(
                    meta["issuer"].as_str().unwrap(),
                    others,
                    JwksCache::fixed(jwks()),
                )
                .audience("eventgate")
                .build()
                .unwrap(),
            )
            .build()
            .unwrap();
        let e = val.verify(v["token"].as_str().unwrap(), now).unwrap_err();
        assert_eq!(e.kind(), "algorithm_not_allowed", "{alg}");
    }
}

#[test]
fn a_key_pinned_to_another_algorithm_of_its_family_is_refused() {
    let (meta, now) = vectors();
    let v = meta["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "valid_PS256")
        .unwrap();
    let mut keys = KeySet::new();
    let pem = read("keys/rsa_pub.pem");
    keys.push(
        VerificationKey::from_pem(pem.as_bytes(), Some("rsa-1"))
            .unwrap()
            .with_algorithm(Algorithm::RS256),
    );
    let e = validator(keys, v, &meta)
        .verify(v["token"].as_str().unwrap(), now)
        .unwrap_err();
    assert_eq!(e.kind(), "key_algorithm_mismatch");
}

#[test]
fn expiry_is_judged_against_the_given_now_not_the_clock() {
    let (meta, now) = vectors();
    let v = meta["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "valid_ES256")
        .unwrap();
    let token = v["token"].as_str().unwrap();
    let val = validator(jwks(), v, &meta);
    assert!(val.verify(token, now).is_ok());
    let at_exp = Timestamp::from_unix_secs(now.as_unix_secs() + 3600);
    assert_eq!(val.verify(token, at_exp).unwrap_err().kind(), "expired");
    let before_nbf = Timestamp::from_unix_secs(now.as_unix_secs() - 61);
    assert_eq!(
        val.verify(token, before_nbf).unwrap_err().kind(),
        "not_yet_valid"
    );
}
