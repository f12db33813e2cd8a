#!/usr/bin/env python3
"""Token vectors for eventgate-policy, made by an independent JWT implementation.

Keys and tokens come from PyJWT + cryptography (pip install pyjwt cryptography), never from
the crate under test; the Rust tests read the committed output and need no Python.
Regenerate with:

    python3 crates/eventgate-policy/tests/vectors/make_vectors.py

Output (next to this script): keys/*.pem, keys/hs_secret.txt, jwks.json and tokens.json.
Every token is checked against a fixed instant (NOW below), so the vectors never age.
A few hostile tokens (alg none, key confusion, bad base64) are assembled by hand because
PyJWT rightly refuses to make them.
"""

import base64
import hashlib
import hmac
import json
import os

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1_800_000_000
ISS = "https://issuer.example"
AUD = "eventgate"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pem_public(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def main() -> None:
    os.makedirs(os.path.join(HERE, "keys"), exist_ok=True)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec256 = ec.generate_private_key(ec.SECP256R1())
    ec384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    hs_secret = os.urandom(64)

    pems = {
        "rsa_pub.pem": pem_public(rsa_key),
        "ec256_pub.pem": pem_public(ec256),
        "ec384_pub.pem": pem_public(ec384),
        "ed25519_pub.pem": pem_public(ed),
    }
    for name, data in pems.items():
        with open(os.path.join(HERE, "keys", name), "wb") as f:
            f.write(data)
    with open(os.path.join(HERE, "keys", "hs_secret.txt"), "w") as f:
        f.write(b64u(hs_secret) + "\n")

    def jwk_of(key, kid, alg):
        d = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key))
        d["kid"] = kid
        d["alg"] = alg
        d["use"] = "sig"
        return d

    jwks = {
        "keys": [
            jwk_of(rsa_key.public_key(), "rsa-1", "RS256"),
            jwk_of(ec256.public_key(), "ec256-1", "ES256"),
            jwk_of(ec384.public_key(), "ec384-1", "ES384"),
            jwk_of(ed.public_key(), "ed-1", "EdDSA"),
            {"kty": "oct", "kid": "hs-1", "k": b64u(hs_secret), "use": "sig"},
        ]
    }
    # The RSA key serves RS*, PS*: one JWK without "alg" so every RSA algorithm may use it.
    jwks["keys"][0].pop("alg")
    with open(os.path.join(HERE, "jwks.json"), "w") as f:
        json.dump(jwks, f, indent=1)
        f.write("\n")

    base = {
        "iss": ISS,
        "aud": AUD,
        "sub": "alice@carbon.super",
        "azp": "client-abc",
        "scope": "read:memory read:cpu",
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 3600,
    }
    signers = {
        "HS256": (hs_secret, "hs-1"),
        "HS384": (hs_secret, "hs-1"),
        "HS512": (hs_secret, "hs-1"),
        "RS256": (rsa_key, "rsa-1"),
        "RS384": (rsa_key, "rsa-1"),
        "RS512": (rsa_key, "rsa-1"),
        "PS256": (rsa_key, "rsa-1"),
        "PS384": (rsa_key, "rsa-1"),
        "PS512": (rsa_key, "rsa-1"),
        "ES256": (ec256, "ec256-1"),
        "ES384": (ec384, "ec384-1"),
        "EdDSA": (ed, "ed-1"),
    }
    vectors = []

    def add(name, token, expect, **extra):
        v = {"name": name, "token": token, "expect": expect}
        v.update(extra)
        vectors.append(v)

    def sign(claims, alg="RS256", headers=None, kid=True):
        key, k = signers[alg]
        h = dict(headers or {})
        if kid:
            h["kid"] = k
        return jwt.encode(claims, key, algorithm=alg, headers=h)

    for alg in signers:
        add(f"valid_{alg}", sign(base, alg), "ok", alg=alg)

    # Claim mapping variants.
    c = dict(base)
    del c["azp"]
    c["client_id"] = "client-xyz"
    del c["scope"]
    c["scp"] = ["read:memory", "admin"]
    add("valid_client_id_and_scp_array", sign(c), "ok", client="client-xyz",
        scopes=["read:memory", "admin"])
    c = dict(base)
    c["aud"] = ["other", AUD]
    add("valid_audience_in_array", sign(c), "ok")
    c = dict(base)
    c["keytype"] = "SANDBOX"
    add("valid_sandbox_key_type", sign(c), "ok", key_type="sandbox")

    # Time claims.
    c = dict(base, exp=NOW - 1)
    add("expired", sign(c), "expired")
    c = dict(base, exp=NOW - 30)
    add("expired_within_leeway", sign(c), "ok", leeway_s=60)
    c = dict(base, nbf=NOW + 600)
    add("not_yet_valid", sign(c), "not_yet_valid")
    c = dict(base)
    del c["exp"]
    add("missing_exp", sign(c), "missing_claim")

    # Issuer / audience.
    add("wrong_issuer", sign(dict(base, iss="https://evil.example")), "wrong_issuer")
    add("wrong_audience", sign(dict(base, aud="someone-else")), "wrong_audience")

    # Header checks.
    add("unknown_kid", jwt.encode(base, rsa_key, algorithm="RS256", headers={"kid": "nope"}),
        "unknown_kid")
    add("unknown_crit", sign(base, headers={"crit": ["x-unknown"], "x-unknown": 1}),
        "unsupported_crit")
    add("algorithm_not_allowed", sign(base, "HS256"), "algorithm_not_allowed",
        algorithms=["RS256"])

    # alg none: PyJWT makes it, with an empty signature.
    add("alg_none", jwt.encode(base, None, algorithm="none"), "algorithm_not_allowed")
    # Same, with "None" spelled differently: still rejected.
    hdr = b64u(json.dumps({"alg": "nOnE", "typ": "JWT"}).encode())
    pl = b64u(json.dumps(base).encode())
    add("alg_none_mixed_case", f"{hdr}.{pl}.", "algorithm_not_allowed")

    # Key confusion: HS256 with the RSA public key (PEM bytes) as the HMAC secret.
    # Assembled by hand: PyJWT refuses to use a PEM as an HMAC secret.
    hdr = b64u(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    signing_input = f"{hdr}.{pl}".encode()
    sig = hmac.new(pems["rsa_pub.pem"], signing_input, hashlib.sha256).digest()
    add("key_confusion_hs256_with_rsa_public_key", f"{hdr}.{pl}.{b64u(sig)}",
        "key_algorithm_mismatch", algorithms=["RS256", "HS256"])

    # Bad signature: last signature byte changed, and a signature from another key.
    t = sign(base)
    h, p, s = t.split(".")
    raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    raw[-1] ^= 1
    add("bad_signature_flipped_bit", f"{h}.{p}.{b64u(bytes(raw))}", "bad_signature")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    add("bad_signature_other_key",
        jwt.encode(base, other, algorithm="RS256", headers={"kid": "rsa-1"}), "bad_signature")
    # Payload swapped under a valid header and signature.
    t2 = sign(dict(base, sub="mallory"))
    add("bad_signature_swapped_payload", f"{h}.{t2.split('.')[1]}.{s}", "bad_signature")

    # Malformed shapes.
    add("malformed_two_parts", f"{h}.{p}", "malformed")
    add("malformed_four_parts", f"{h}.{p}.{s}.x", "malformed")
    add("malformed_header_base64", f"!!!.{p}.{s}", "malformed")
    add("malformed_header_padding", f"{h}=.{p}.{s}", "malformed")
    add("malformed_header_not_json", f"{b64u(b'not json')}.{p}.{s}", "malformed")
    add("malformed_payload_not_json", f"{h}.{b64u(b'[1,2')}.{s}", "malformed")
    add("malformed_signature_base64", f"{h}.{p}.***", "malformed")
    add("malformed_empty", "", "malformed")

    # Oversized (default limit 8 KiB).
    big = dict(base, pad="x" * 9000)
    add("too_large", sign(big), "too_large")

    with open(os.path.join(HERE, "tokens.json"), "w") as f:
        json.dump({"now": NOW, "issuer": ISS, "audience": AUD, "vectors": vectors}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(vectors)} vectors")


if __name__ == "__main__":
    main()
