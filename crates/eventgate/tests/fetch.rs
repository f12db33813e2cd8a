//! The hyper-based JWKS fetcher and RFC 7662 introspector against a local server: bodies,
//! the body cap, the exchange timeout, status errors, and introspection's form and Basic auth.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eventgate::fetch::{HttpFetcher, HttpIntrospector};
use eventgate::server::RequestBody;
use eventgate::server::{Listener, Server};
use eventgate_policy::{Introspector, JwksFetcher};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

#[derive(Clone)]
struct Idp;

impl tower_service::Service<Request<RequestBody>> for Idp {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned());
            let form = req.into_body().collect().await.unwrap().to_bytes();
            let (status, body) = match path.as_str() {
                "/jwks" => (StatusCode::OK, Bytes::from_static(br#"{"keys":[]}"#)),
                "/big" => (StatusCode::OK, Bytes::from(vec![b' '; 4096])),
                "/slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    (StatusCode::OK, Bytes::new())
                }
                "/introspect" => {
                    // Basic base64("gw:p%40ss") — the secret is form-encoded first.
                    assert_eq!(auth.as_deref(), Some("Basic Z3c6cCU0MHNz"));
                    assert_eq!(form, "token=abc%2B%2F%3D&token_type_hint=access_token");
                    (
                        StatusCode::OK,
                        Bytes::from_static(
                            br#"{"active":true,"client_id":"app1","scope":"read write","exp":4102444800}"#,
                        ),
                    )
                }
                _ => (StatusCode::NOT_FOUND, Bytes::new()),
            };
            let mut r = Response::new(Full::new(body));
            *r.status_mut() = status;
            Ok(r)
        })
    }
}

async fn idp() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let l = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        Server::builder()
            .build()
            .unwrap()
            .run(vec![l], Idp, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (addr, tx)
}

#[tokio::test]
async fn fetches_a_jwks_body_and_refuses_bad_answers() {
    let (addr, _stop) = idp().await;
    let f = HttpFetcher::builder()
        .max_body(1024)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let body = f.fetch(&format!("http://{addr}/jwks")).await.unwrap();
    assert_eq!(body, br#"{"keys":[]}"#);

    let e = f.fetch(&format!("http://{addr}/big")).await.unwrap_err();
    assert!(e.0.contains("larger than 1024 bytes"), "{e}");
    let e = f
        .fetch(&format!("http://{addr}/missing"))
        .await
        .unwrap_err();
    assert!(e.0.contains("404"), "{e}");
    let started = std::time::Instant::now();
    let e = f.fetch(&format!("http://{addr}/slow")).await.unwrap_err();
    assert!(e.0.contains("no answer within"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let e = f.fetch("not a uri").await.unwrap_err();
    assert!(e.0.contains("not a URI"), "{e}");
}

#[tokio::test]
async fn introspects_with_a_form_and_basic_client_credentials() {
    let (addr, _stop) = idp().await;
    let f = HttpFetcher::builder().build().unwrap();
    let i = HttpIntrospector::new(
        f,
        &format!("http://{addr}/introspect"),
        Some(("gw", "p@ss")),
    )
    .unwrap();
    let answer = i.introspect("abc+/=").await.unwrap();
    assert!(answer.active);
    assert_eq!(answer.client_id.as_deref(), Some("app1"));
    assert_eq!(answer.scope.as_deref(), Some("read write"));
}

#[tokio::test]
async fn introspection_errors_never_carry_the_token() {
    let (addr, _stop) = idp().await;
    let f = HttpFetcher::builder().build().unwrap();
    let i = HttpIntrospector::new(f, &format!("http://{addr}/missing"), None).unwrap();
    let e = i.introspect("secret-token-value").await.unwrap_err();
    assert!(!e.0.contains("secret-token-value"), "{e}");
}
