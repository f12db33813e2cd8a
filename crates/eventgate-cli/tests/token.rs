//! `eventgate token` against a data directory of its own.

use std::process::{Command, Output};

fn eventgate(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn a_minted_token_verifies_with_its_claims_and_the_key_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let mint = eventgate(
        dir.path(),
        &[
            "token",
            "mint",
            "--sub",
            "alice",
            "--client-id",
            "c1",
            "--scopes",
            "read,write",
            "--type",
            "sandbox",
            "--ttl",
            "15m",
            "--aud",
            "eventgate",
        ],
    );
    assert!(mint.status.success(), "{mint:?}");
    let token = stdout(&mint);
    assert_eq!(token.lines().count(), 1, "the token alone on stdout");
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3);

    let verify = eventgate(
        dir.path(),
        &["--json", "token", "verify", token, "--aud", "eventgate"],
    );
    assert!(verify.status.success(), "{verify:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&verify)).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["subject"], "alice");
    assert_eq!(v["client_id"], "c1");
    assert_eq!(v["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(v["key_type"], "SANDBOX");

    let decode = eventgate(dir.path(), &["token", "decode", token]);
    assert!(decode.status.success());
    let text = stdout(&decode);
    assert!(text.starts_with("NOT VERIFIED"), "{text}");
    assert!(text.contains("\"azp\": \"c1\""), "{text}");
    assert!(
        text.contains("expires ") && text.contains("(in 1"),
        "{text}"
    );

    let jwks = eventgate(dir.path(), &["--json", "token", "jwks"]);
    let jwks: serde_json::Value = serde_json::from_str(&stdout(&jwks)).unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert_eq!(jwks["keys"][0]["alg"], "ES256");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("issuer-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn expired_wrong_audience_and_other_issuer_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], kind: &str| {
        let out = eventgate(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("token refused"), "{stderr}");
        assert!(stderr.contains(kind), "{args:?}: {stderr}");
    };

    let short = eventgate(dir.path(), &["token", "mint", "--ttl", "1s"]);
    let short = stdout(&short);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    refused(&["token", "verify", short.trim()], "expired");

    let token = stdout(&eventgate(dir.path(), &["token", "mint", "--aud", "a"]));
    refused(
        &["token", "verify", token.trim(), "--aud", "b"],
        "wrong_audience",
    );

    // Same issuer name, another key (another data directory).
    let foreign = stdout(&eventgate(other.path(), &["token", "mint"]));
    refused(&["token", "verify", foreign.trim()], "unknown_kid");

    // Same key, another issuer name.
    let renamed = stdout(&eventgate(
        dir.path(),
        &["token", "mint", "--issuer", "https://elsewhere.example"],
    ));
    refused(&["token", "verify", renamed.trim()], "wrong_issuer");

    refused(&["token", "verify", "not-a-token"], "malformed");
}
