//! `eventgate serve --config` trusting an identity provider of its own: `[[jwt_issuers]]`
//! with a `jwks_url` and `[introspection]` for opaque tokens, both answered by a small HTTP
//! server on 127.0.0.1 standing in for the provider (Keycloak, WSO2 IS, Auth0...). Its JWTs
//! are signed with a key the gateway never saw before it fetched the provider's JWKS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use eventgate_cli::issuer::{LocalIssuer, TokenRequest};

mod support;
use support::{free_port, ok, started};

const ISSUER: &str = "https://idp.test/realms/acme";
const CLIENT: &str = "acme-dashboard";
const OPAQUE: &str = "opaque-2YotnFZFEjr1zCsicMWpAA";
const INTROSPECTION_AUTH: &str = "Basic ZXZlbnRnYXRlOnMzY3JldA=="; // eventgate:s3cret

/// The provider: `GET /certs` answers its JWKS, `POST /introspect` answers RFC 7662 for
/// [`OPAQUE`] (active, issued to [`CLIENT`]) and any other token (inactive), only to the
/// gateway's own client credentials. Counts the requests of each.
struct Provider {
    port: u16,
    jwks_gets: Arc<AtomicUsize>,
    introspections: Arc<AtomicUsize>,
}

impl Provider {
    fn start(jwks: String) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (jwks_gets, introspections): (Arc<AtomicUsize>, Arc<AtomicUsize>) = Default::default();
        let (g, n) = (Arc::clone(&jwks_gets), Arc::clone(&introspections));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    head.push_str(&line);
                    line.clear();
                }
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let body = String::from_utf8(body).unwrap();
                let answer = if head.starts_with("GET /certs ") {
                    g.fetch_add(1, Ordering::SeqCst);
                    jwks.clone()
                } else if head.starts_with("POST /introspect ") {
                    n.fetch_add(1, Ordering::SeqCst);
                    let authorized = head.lines().any(|l| {
                        l.eq_ignore_ascii_case(&format!("authorization: {INTROSPECTION_AUTH}"))
                    });
                    if authorized && body.contains(&format!("token={OPAQUE}")) {
                        format!(
                            r#"{{"active":true,"client_id":"{CLIENT}","scope":"","token_type":"Bearer"}}"#
                        )
                    } else {
                        r#"{"active":false}"#.to_owned()
                    }
                } else {
                    String::new()
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Provider {
            port,
            jwks_gets,
            introspections,
        }
    }
}

/// `curl` through the gateway with `Authorization: Bearer token`: the status and the first
/// two seconds of body.
fn get(http: u16, token: &str) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sN",
            "--max-time",
            "2",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("http://localhost:{http}/observer/1.0.0/memory"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.to_owned(), body.to_owned())
}

#[test]
fn serve_trusts_the_configured_providers_jwts_and_opaque_tokens_beside_its_own() {
    let idp = LocalIssuer::generate().unwrap().with_issuer(ISSUER);
    let provider = Provider::start(idp.jwks().to_string());
    let dir = tempfile::tempdir().unwrap();
    let data = &dir.path().join("data");
    let backend = free_port();
    let _backend = started(
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(["sample-backend", "--interval", "100", "--port"])
            .arg(backend.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
        "sample backend",
    );
    let config = dir.path().join("eventgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[apis]]
name = "Observer"
context = "/observer"
version = "1.0.0"
plans = ["AsyncGold"]
endpoints = {{ production = "http://localhost:{backend}", sandbox = "http://localhost:{backend}" }}
topics = [{{ path = "/memory" }}]

[[applications]]
id = "dashboard"
client_ids = {{ production = "{CLIENT}" }}

[[subscriptions]]
application = "dashboard"
api = "Observer:1.0.0"
plan = "AsyncGold"

[[jwt_issuers]]
issuer = "{ISSUER}"
jwks_url = "http://127.0.0.1:{port}/certs"
algorithms = ["ES256"]
audiences = ["eventgate"]

[introspection]
endpoint = "http://127.0.0.1:{port}/introspect"
client_id = "eventgate"
client_secret = "s3cret"
"#,
            port = provider.port
        ),
    )
    .unwrap();
    let http = free_port();
    let _serve = started(
        support::serve_command(data, &config, http).spawn().unwrap(),
        "eventgate gateway on",
    );
    let now = SystemTime::now();
    let mint = |issuer: &LocalIssuer, aud: &str| {
        let request = TokenRequest::new(CLIENT)
            .audience(aud)
            .ttl(Duration::from_secs(600));
        issuer.mint(&request, now).unwrap()
    };

    assert_eq!(
        provider.jwks_gets.load(Ordering::SeqCst),
        0,
        "fetched on demand"
    );
    let (status, body) = get(http, &mint(&idp, "eventgate"));
    assert_eq!(status, "200", "the provider's JWT: {body}");
    assert!(body.contains("data: {\"heap\""), "events stream: {body}");
    assert!(provider.jwks_gets.load(Ordering::SeqCst) >= 1);

    let (status, body) = get(http, &mint(&idp, "another-api"));
    assert_eq!(
        status, "403",
        "an audience the issuer is not trusted for: {body}"
    );
    assert!(body.contains("900914"), "{body}");
    // Same issuer name, a key the provider does not publish.
    let impostor = LocalIssuer::generate().unwrap().with_issuer(ISSUER);
    let (status, body) = get(http, &mint(&impostor, "eventgate"));
    assert_eq!(status, "401", "a forged signature: {body}");
    assert!(body.contains("900901"), "{body}");

    let (status, body) = get(http, OPAQUE);
    assert_eq!(status, "200", "an active opaque token: {body}");
    assert!(body.contains("data: {\"heap\""), "events stream: {body}");
    let (status, body) = get(http, "opaque-revoked");
    assert_eq!(status, "401", "an inactive opaque token: {body}");
    assert!(body.contains("900901"), "{body}");
    assert!(provider.introspections.load(Ordering::SeqCst) >= 2);

    // The gateway's own issuer is still trusted (`app token`).
    ok(data, &["app", "create", "Local"]);
    ok(
        data,
        &[
            "app",
            "subscribe",
            "Local",
            "--api",
            "Observer:1.0.0",
            "--plan",
            "AsyncGold",
        ],
    );
    let local = ok(data, &["app", "token", "Local"]).trim().to_owned();
    let (status, body) = get(http, &local);
    assert_eq!(status, "200", "the local issuer's token: {body}");
}
