//! `eventgate tail` against an https event source with a self-signed certificate.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::convert::Infallible;
use std::process::Command;
use std::sync::Arc;

/// Serves `id: 1\ndata: hello over tls\n\n` on https (h2 or http/1.1 by ALPN); returns the
/// URL and the certificate's PEM.
async fn tls_source() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let pem = cert.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}/events",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    let body = Full::new(Bytes::from_static(b"id: 1\ndata: hello over tls\n\n"))
                        .map_err(|e: Infallible| match e {})
                        .boxed();
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .header("content-type", "text/event-stream")
                            .body(body)
                            .unwrap(),
                    )
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    (url, pem)
}

async fn tail(args: Vec<String>) -> (Option<i32>, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .arg("tail")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_source_is_refused_unless_insecure_or_its_certificate_is_trusted() {
    let (url, pem) = tls_source().await;
    let args = |extra: &[&str]| {
        let mut v = vec![url.clone(), "--count".to_owned(), "1".to_owned()];
        v.extend(["--max-reconnects", "0"].map(str::to_owned));
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };

    let (code, out) = tail(args(&[])).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("error    connection failed"), "{out}");
    assert!(
        out.contains("certificate"),
        "the reason is the certificate: {out}"
    );

    let (code, out) = tail(args(&["--insecure"])).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("open     200 OK HTTP/2.0"),
        "h2 by ALPN: {out}"
    );
    assert!(
        out.contains("event    message id=1 hello over tls"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let (code, out) = tail(args(&["--cacert", ca.to_str().unwrap()])).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("event    message id=1 hello over tls"),
        "{out}"
    );

    std::fs::write(&ca, "not pem").unwrap();
    let (code, _) = tail(args(&["--cacert", ca.to_str().unwrap()])).await;
    assert_eq!(code, Some(1), "a file without a certificate is an error");
}
