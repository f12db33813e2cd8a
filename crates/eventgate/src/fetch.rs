//! Outbound HTTP for the policy engine: a hyper-based [`JwksFetcher`] and [`Introspector`].
//!
//! eventgate-policy does no I/O; it asks these for JWKS documents and RFC 7662 introspection
//! answers. Both go through one pooled hyper client (HTTP/1.1 and HTTP/2, `https` through
//! rustls with the Mozilla roots plus any extra roots), and every call is bounded: a connect
//! timeout, a timeout on the whole exchange and a cap on the response body
//! ([`http_body_util::Limited`]). Errors never carry the token being introspected.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventgate_policy::{Introspection, Introspector, IoError, JwksFetcher};
use eventgate_types::BoxFuture;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

/// Default TCP + TLS connect timeout of [`HttpFetcher`]: 5 s.
pub const DEFAULT_FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of one whole JWKS or introspection exchange (connect, request, body): 10 s.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on a JWKS or introspection response body: 256 KiB.
pub const DEFAULT_FETCH_MAX_BODY: usize = 256 * 1024;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The settings of an [`HttpFetcher`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpFetcherBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_body: usize,
    extra_roots: Vec<Vec<u8>>,
}

impl Default for HttpFetcherBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpFetcherBuilder {
    /// The defaults.
    pub fn new() -> Self {
        Self {
            connect_timeout: DEFAULT_FETCH_CONNECT_TIMEOUT,
            timeout: DEFAULT_FETCH_TIMEOUT,
            max_body: DEFAULT_FETCH_MAX_BODY,
            extra_roots: Vec::new(),
        }
    }

    /// TCP + TLS connect timeout. Default is [`DEFAULT_FETCH_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Timeout of one whole exchange. Default is [`DEFAULT_FETCH_TIMEOUT`].
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Largest response body accepted, in bytes. Default is [`DEFAULT_FETCH_MAX_BODY`].
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Trust this DER certificate (a private CA) besides the Mozilla roots. Default: none.
    pub fn add_root_certificate(mut self, der: Vec<u8>) -> Self {
        self.extra_roots.push(der);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`FetchConfigError`] when a timeout or the body cap is zero, or a root certificate is
    /// not valid DER.
    pub fn build(self) -> Result<HttpFetcher, FetchConfigError> {
        if self.connect_timeout.is_zero() || self.timeout.is_zero() {
            return Err(FetchConfigError::ZeroTimeout);
        }
        if self.max_body == 0 {
            return Err(FetchConfigError::ZeroBodyLimit);
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in self.extra_roots {
            roots
                .add(rustls::pki_types::CertificateDer::from(der))
                .map_err(|e| FetchConfigError::Tls(e.to_string()))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchConfigError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(HttpFetcher {
            inner: Arc::new(Inner {
                client,
                timeout: self.timeout,
                max_body: self.max_body,
            }),
        })
    }
}

/// A setting of [`HttpFetcherBuilder`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchConfigError {
    /// A timeout of zero.
    #[error("fetch timeouts must be greater than zero")]
    ZeroTimeout,
    /// A body limit of zero.
    #[error("the fetch body limit must be greater than zero")]
    ZeroBodyLimit,
    /// The TLS configuration (a root certificate) was refused.
    #[error("TLS configuration refused: {0}")]
    Tls(String),
    /// An introspection endpoint that is not an absolute `http(s)` URL.
    #[error("introspection endpoint {0:?} is not an absolute http(s) URL")]
    BadEndpoint(String),
}

struct Inner {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
}

/// A pooled HTTP client that fetches JWKS documents for eventgate-policy
/// ([`JwksFetcher`]); clone it freely (clones share the pool).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use eventgate::fetch::HttpFetcher;
/// use eventgate_policy::JwksFetcher;
///
/// let fetcher = HttpFetcher::builder().build()?;
/// let jwks = fetcher.fetch("https://idp.example/.well-known/jwks.json").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpFetcher {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("timeout", &self.inner.timeout)
            .field("max_body", &self.inner.max_body)
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// The settings, starting from the defaults.
    pub fn builder() -> HttpFetcherBuilder {
        HttpFetcherBuilder::new()
    }

    /// Sends `request` and returns the body of a `200 OK` answer, bounded by the body cap and
    /// the exchange timeout. `what` names the exchange in errors.
    async fn exchange(&self, request: Request<Full<Bytes>>, what: &str) -> Result<Bytes, IoError> {
        let inner = &self.inner;
        let work = async {
            let resp = inner
                .client
                .request(request)
                .await
                .map_err(|e| IoError(format!("{what}: request failed: {e}")))?;
            if resp.status() != StatusCode::OK {
                return Err(IoError(format!("{what}: status {}", resp.status())));
            }
            let body = Limited::new(resp.into_body(), inner.max_body);
            match body.collect().await {
                Ok(b) => Ok(b.to_bytes()),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(IoError(format!(
                    "{what}: body larger than {} bytes",
                    inner.max_body
                ))),
                Err(e) => Err(IoError(format!("{what}: body failed: {e}"))),
            }
        };
        match tokio::time::timeout(inner.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(IoError(format!(
                "{what}: no answer within {:?}",
                inner.timeout
            ))),
        }
    }
}

impl JwksFetcher for HttpFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Vec<u8>, IoError>> {
        Box::pin(async move {
            let uri: Uri = url
                .parse()
                .map_err(|_| IoError(format!("JWKS URL {url:?} is not a URI")))?;
            let request = Request::builder()
                .method(Method::GET)
                .uri(uri)
                .header(ACCEPT, "application/json, application/jwk-set+json")
                .body(Full::new(Bytes::new()))
                .map_err(|e| IoError(format!("JWKS request: {e}")))?;
            self.exchange(request, "JWKS fetch").await.map(Vec::from)
        })
    }
}

/// An RFC 7662 token introspection client ([`Introspector`]) over an [`HttpFetcher`]: `POST`
/// `token=...` as a form to the endpoint, authenticated with HTTP Basic client credentials.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use eventgate::fetch::{HttpFetcher, HttpIntrospector};
///
/// let fetcher = HttpFetcher::builder().build()?;
/// let introspector = HttpIntrospector::new(
///     fetcher,
///     "https://idp.example/oauth2/introspect",
///     Some(("gateway", "s3cret")),
/// )?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpIntrospector {
    fetcher: HttpFetcher,
    endpoint: Uri,
    authorization: Option<HeaderValue>,
}

impl fmt::Debug for HttpIntrospector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpIntrospector")
            .field("endpoint", &self.endpoint)
            .field("authenticated", &self.authorization.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpIntrospector {
    /// An introspector for `endpoint`, authenticating with `client` (`(id, secret)`, HTTP
    /// Basic as RFC 7662 section 2.1 suggests) when given.
    ///
    /// # Errors
    /// [`FetchConfigError::BadEndpoint`] when `endpoint` is not an absolute `http(s)` URL.
    pub fn new(
        fetcher: HttpFetcher,
        endpoint: &str,
        client: Option<(&str, &str)>,
    ) -> Result<Self, FetchConfigError> {
        let bad = || FetchConfigError::BadEndpoint(endpoint.to_owned());
        let uri: Uri = endpoint.parse().map_err(|_| bad())?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(bad());
        }
        let authorization = client
            .map(|(id, secret)| {
                use base64::Engine as _;
                // RFC 6749 section 2.3.1: both parts are form-encoded before joining.
                let pair = format!("{}:{}", form_encode(id), form_encode(secret));
                let v = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                );
                HeaderValue::from_str(&v).map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
            })
            .transpose()
            .map_err(|_| bad())?;
        Ok(Self {
            fetcher,
            endpoint: uri,
            authorization,
        })
    }
}

impl Introspector for HttpIntrospector {
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Introspection, IoError>> {
        Box::pin(async move {
            let body = format!("token={}&token_type_hint=access_token", form_encode(token));
            let mut request = Request::builder()
                .method(Method::POST)
                .uri(self.endpoint.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, "application/json");
            if let Some(auth) = &self.authorization {
                request = request.header(AUTHORIZATION, auth.clone());
            }
            let request = request
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| IoError(format!("introspection request: {e}")))?;
            let bytes = self.fetcher.exchange(request, "introspection").await?;
            Introspection::from_json(&bytes)
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (WHATWG URL, "urlencoded
/// serializer"): unreserved bytes kept, space as `+`, everything else `%XX`.
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_follows_the_urlencoded_serializer() {
        assert_eq!(form_encode("a b+c/d=é~"), "a+b%2Bc%2Fd%3D%C3%A9%7E");
        assert_eq!(form_encode("AZaz09*-._"), "AZaz09*-._");
    }

    #[test]
    fn builder_refuses_zero_limits() {
        assert_eq!(
            HttpFetcher::builder()
                .timeout(Duration::ZERO)
                .build()
                .unwrap_err(),
            FetchConfigError::ZeroTimeout
        );
        assert_eq!(
            HttpFetcher::builder().max_body(0).build().unwrap_err(),
            FetchConfigError::ZeroBodyLimit
        );
    }

    #[tokio::test]
    async fn introspector_refuses_relative_endpoints() {
        let f = HttpFetcher::builder().build().unwrap();
        for bad in ["/introspect", "ftp://x/y", "not a url"] {
            assert!(matches!(
                HttpIntrospector::new(f.clone(), bad, None),
                Err(FetchConfigError::BadEndpoint(_))
            ));
        }
    }
}
