//! The upstream side: how a request reaches the backend ([`Upstream`], with the hyper
//! client as [`HttpUpstream`]), which headers it carries, and the channel key's URI.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eventgate_sse::EventId;
use eventgate_types::{BoxError, BoxFuture};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::error::{Error, Kind, Phase};

/// The body of an upstream response, as an [`Upstream`] returns it: any
/// [`http_body::Body`] of `Bytes`, boxed.
///
/// ```
/// use eventgate_relay::UpstreamBody;
/// use http_body::Body as _;
///
/// let body = UpstreamBody::new(http_body_util::Full::new(bytes::Bytes::from_static(b"data: x\n\n")));
/// assert_eq!(body.size_hint().exact(), Some(9));
/// assert!(UpstreamBody::empty().is_end_stream());
/// ```
pub struct UpstreamBody(UnsyncBoxBody<Bytes, BoxError>);

impl UpstreamBody {
    /// Boxes `body`; its errors become [`BoxError`]s.
    pub fn new<B>(body: B) -> UpstreamBody
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        UpstreamBody(body.map_err(Into::into).boxed_unsync())
    }

    /// A body with no data (for an answer the relay refuses anyway, such as a 503).
    pub fn empty() -> UpstreamBody {
        UpstreamBody::new(http_body_util::Empty::new())
    }
}

impl fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamBody").finish_non_exhaustive()
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}

/// Sends one upstream request and returns the response head with a streaming body.
///
/// The relay's own implementation is [`HttpUpstream`] (hyper's pooled client). Tests and
/// embedders can supply another one (an in-memory backend, a client with a custom resolver
/// or proxy). The relay applies the status and content-type checks and the timeouts
/// itself, and classifies a failure from the error's source chain: a
/// [`std::io::ErrorKind::TimedOut`] anywhere in it is a connect timeout
/// ([`Error::is_timeout`] and [`Error::is_connect`]), anything else a connect failure
/// ([`Error::is_connect`]); the error is kept as the relay error's source.
///
/// ```
/// use eventgate_relay::{BoxError, BoxFuture, Upstream, UpstreamBody};
/// use http::{Request, Response};
///
/// /// A backend that is never there.
/// struct Down;
///
/// impl Upstream for Down {
///     fn request(&self, _: Request<()>) -> BoxFuture<'static, Result<Response<UpstreamBody>, BoxError>> {
///         Box::pin(async { Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()) })
///     }
/// }
/// ```
pub trait Upstream: Send + Sync + 'static {
    /// Sends `request` (a `GET` with an empty body and the headers already set).
    fn request(
        &self,
        request: Request<()>,
    ) -> BoxFuture<'static, Result<Response<UpstreamBody>, BoxError>>;
}

/// Turns an [`Upstream`]'s error into the relay's, keeping it as the source.
pub(crate) fn classify(e: BoxError) -> Error {
    if is_timed_out(&*e) {
        Error::with_source(Kind::Timeout(Phase::Connect), e)
    } else {
        Error::with_source(Kind::UpstreamConnect, e)
    }
}

/// Default connect timeout (TCP and TLS) for upstreams.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = hyper_util::client::legacy::connect::HttpConnector;

/// The default [`Upstream`]: hyper-util's pooled client, HTTP/1.1 and HTTP/2 (over TLS the
/// protocol is chosen by ALPN), `https` through rustls with the ring provider and the
/// Mozilla root certificates (feature `tls`, on by default).
#[derive(Clone)]
pub struct HttpUpstream {
    client: hyper_util::client::legacy::Client<Connector, http_body_util::Empty<Bytes>>,
}

impl fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpUpstream").finish_non_exhaustive()
    }
}

impl HttpUpstream {
    /// A client with the given TCP+TLS connect timeout.
    ///
    /// Fails only if the TLS configuration cannot be built.
    pub fn new(connect_timeout: Duration) -> Result<HttpUpstream, Error> {
        HttpUpstream::with_http2_prior_knowledge(connect_timeout, false)
    }

    /// Like [`HttpUpstream::new`]; with `h2c` true every request uses HTTP/2, also over
    /// plain `http` (prior knowledge, for backends that speak h2c only). Over TLS the
    /// protocol is otherwise chosen by ALPN.
    pub fn with_http2_prior_knowledge(
        connect_timeout: Duration,
        h2c: bool,
    ) -> Result<HttpUpstream, Error> {
        HttpUpstream::with_options(connect_timeout, h2c, &[])
    }

    /// Like [`HttpUpstream::with_http2_prior_knowledge`], trusting `extra_roots` (DER
    /// certificates, e.g. a private CA) besides the Mozilla roots. Without the `tls` feature
    /// the roots are ignored. Fails if a root is not a valid certificate.
    pub fn with_options(
        connect_timeout: Duration,
        h2c: bool,
        extra_roots: &[Vec<u8>],
    ) -> Result<HttpUpstream, Error> {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        #[cfg(feature = "tls")]
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(extra_roots)?)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        #[cfg(not(feature = "tls"))]
        let connector = {
            let _ = extra_roots;
            http
        };
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .http2_only(h2c)
                .build(connector);
        Ok(HttpUpstream { client })
    }
}

impl Upstream for HttpUpstream {
    fn request(
        &self,
        request: Request<()>,
    ) -> BoxFuture<'static, Result<Response<UpstreamBody>, BoxError>> {
        let (parts, ()) = request.into_parts();
        let request = Request::from_parts(parts, http_body_util::Empty::new());
        let fut = self.client.request(request);
        Box::pin(async move {
            match fut.await {
                Ok(resp) => Ok(resp.map(UpstreamBody::new)),
                Err(e) => Err(e.into()),
            }
        })
    }
}

#[cfg(feature = "tls")]
fn tls_config(extra_roots: &[Vec<u8>]) -> Result<rustls::ClientConfig, Error> {
    let bad = |e: rustls::Error| {
        Error::with_source(Kind::InvalidConfig("invalid TLS configuration or root"), e)
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(bad)?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(bad)?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

fn is_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Headers that describe one hop and are never forwarded (RFC 9110 section 7.6.1), plus the
/// ones the relay sets itself.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            | "accept"
            | "accept-encoding"
            | "cache-control"
            | "last-event-id"
    )
}

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What the relay knows about the client a request comes from, for `X-Forwarded-*`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The client's address (appended to `X-Forwarded-For`).
    pub addr: Option<SocketAddr>,
    /// The scheme the client used (`X-Forwarded-Proto`), e.g. `https`.
    pub proto: Option<&'static str>,
}

impl ClientInfo {
    /// The client's address and the scheme it used (`"http"` or `"https"`).
    pub fn new(addr: Option<SocketAddr>, proto: Option<&'static str>) -> ClientInfo {
        ClientInfo { addr, proto }
    }
}

/// The caller's headers an upstream request carries: all but hop-by-hop ones, those named
/// in `Connection`, and those the relay sets itself.
pub(crate) fn sent_headers(
    headers: &HeaderMap,
) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    headers
        .iter()
        .filter(move |(name, _)| !is_hop_by_hop(name) && !named.contains(name))
}

/// Builds the upstream request: `GET uri`, `Accept: text/event-stream`,
/// `Cache-Control: no-cache`, the `Last-Event-ID` if any, the caller's `headers` without
/// hop-by-hop ones, `static_headers` where `headers` has no value of that name, and for a
/// dedicated (proxy) request `X-Forwarded-For/-Proto/-Host` from `forwarded`.
pub(crate) fn build_request(
    uri: &Uri,
    headers: &HeaderMap,
    forwarded: Option<&ClientInfo>,
    static_headers: &HeaderMap,
    last_event_id: Option<&EventId>,
) -> Result<Request<()>, Error> {
    let mut out = HeaderMap::new();
    for (name, value) in sent_headers(headers) {
        out.append(name.clone(), value.clone());
    }
    if let Some(client) = forwarded {
        let prior = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(addr) = client.addr {
            let value = if prior.is_empty() {
                addr.ip().to_string()
            } else {
                format!("{prior}, {}", addr.ip())
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                out.insert(X_FORWARDED_FOR, v);
            }
        }
        if let Some(host) = headers.get(header::HOST) {
            out.insert(X_FORWARDED_HOST, host.clone());
        }
        if let Some(proto) = client.proto {
            out.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        }
    }
    for (name, value) in static_headers {
        if !out.contains_key(name) {
            out.insert(name.clone(), value.clone());
        }
    }
    out.insert(
        header::ACCEPT,
        HeaderValue::from_static(eventgate_sse::MIME_TYPE),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(id) = last_event_id
        && let Ok(v) = HeaderValue::from_bytes(id.as_bytes())
    {
        out.insert(LAST_EVENT_ID, v);
    }
    let mut req = Request::get(uri.clone())
        .body(())
        .map_err(|e| Error::with_source(Kind::InvalidRequest("invalid upstream URI"), e))?;
    *req.headers_mut() = out;
    Ok(req)
}

/// The upstream URI for a client's request: `base`'s scheme and authority, `base`'s path
/// (without a trailing `/`) followed by the client request's path and query.
///
/// ```
/// let base: http::Uri = "http://backend:9000/v1/".parse().unwrap();
/// let client: http::Uri = "/ticks?symbol=ACME".parse().unwrap();
/// let uri = eventgate_relay::upstream_uri(&base, &client)?;
/// assert_eq!(uri, "http://backend:9000/v1/ticks?symbol=ACME");
/// # Ok::<(), eventgate_relay::Error>(())
/// ```
///
/// # Errors
/// [`Error::is_invalid_request`] if `base` has no scheme or authority, or the result is
/// not a valid URI.
pub fn upstream_uri(base: &Uri, request: &Uri) -> Result<Uri, Error> {
    let base_path = base.path().trim_end_matches('/');
    let pq = request.path_and_query().map_or("/", |pq| pq.as_str());
    let scheme = base.scheme_str().ok_or(Error::new(Kind::InvalidRequest(
        "upstream URI without scheme",
    )))?;
    let authority = base.authority().ok_or(Error::new(Kind::InvalidRequest(
        "upstream URI without authority",
    )))?;
    format!("{scheme}://{authority}{base_path}{pq}")
        .parse()
        .map_err(|e| Error::with_source(Kind::InvalidRequest("invalid upstream URI"), e))
}

/// The channel key's form of an upstream URI (RFC 3986 section 6.2.2, without dot-segment
/// removal): scheme and host in lower case, the scheme's default port dropped, an empty
/// path as `/`, percent-encodings of unreserved characters decoded and the others in upper
/// case. The query keeps its order. Two spellings of one URI thus share one fan-out channel.
pub(crate) fn normalize_uri(uri: &Uri) -> Result<Uri, Error> {
    let invalid = || {
        Error::new(Kind::InvalidRequest(
            "upstream URI must be absolute http or https",
        ))
    };
    let scheme = uri.scheme_str().ok_or_else(invalid)?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(invalid()),
    };
    let authority = uri.authority().ok_or_else(invalid)?;
    let mut out = String::with_capacity(uri.to_string().len() + 8);
    out.push_str(&scheme);
    out.push_str("://");
    if let Some((userinfo, _)) = authority.as_str().rsplit_once('@') {
        out.push_str(userinfo);
        out.push('@');
    }
    out.push_str(&authority.host().to_ascii_lowercase());
    if let Some(port) = authority.port_u16()
        && port != default_port
    {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if !pq.starts_with('/') {
        out.push('/');
    }
    let b = pq.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let byte = (h * 16 + l) as u8;
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(byte as char);
            } else {
                out.push('%');
                out.push(b[i + 1].to_ascii_uppercase() as char);
                out.push(b[i + 2].to_ascii_uppercase() as char);
            }
            i += 3;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out.parse()
        .map_err(|e| Error::with_source(Kind::InvalidRequest("invalid upstream URI"), e))
}

/// Checks an upstream response head: 2xx and `text/event-stream`.
pub(crate) fn check_response(resp: &Response<UpstreamBody>) -> Result<(), Error> {
    if !resp.status().is_success() {
        return Err(Error::new(Kind::UpstreamStatus(resp.status())));
    }
    match resp.headers().get(header::CONTENT_TYPE) {
        Some(ct) if eventgate_sse::is_event_stream(ct) => Ok(()),
        _ => Err(Error::new(Kind::UpstreamContentType)),
    }
}

/// Reads a client's `Last-Event-ID` header (the last one if repeated); `None` if absent or
/// not a valid id.
pub fn last_event_id(headers: &HeaderMap) -> Option<EventId> {
    let v = headers.get_all(LAST_EVENT_ID).iter().next_back()?;
    EventId::new(Bytes::copy_from_slice(v.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped_and_forwarding_headers_added() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::HOST, HeaderValue::from_static("gw.example"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        h.insert(LAST_EVENT_ID, HeaderValue::from_static("client-id"));
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        let client = ClientInfo {
            addr: Some("192.0.2.7:5555".parse().unwrap()),
            proto: Some("https"),
        };
        let id = EventId::from_text("41").unwrap();
        let uri: Uri = "http://backend:8080/feed?x=1".parse().unwrap();
        let req = build_request(&uri, &h, Some(&client), &HeaderMap::new(), Some(&id)).unwrap();
        let got = req.headers();
        for gone in [
            "connection",
            "x-secret-hop",
            "transfer-encoding",
            "host",
            "accept-encoding",
        ] {
            assert!(got.get(gone).is_none(), "{gone} forwarded");
        }
        assert_eq!(got[header::AUTHORIZATION], "Bearer t");
        assert_eq!(got[header::ACCEPT], "text/event-stream");
        assert_eq!(got[LAST_EVENT_ID], "41");
        assert_eq!(got[X_FORWARDED_FOR], "10.0.0.1, 192.0.2.7");
        assert_eq!(got[X_FORWARDED_HOST], "gw.example");
        assert_eq!(got[X_FORWARDED_PROTO], "https");
        assert_eq!(req.uri(), &uri);
    }

    #[test]
    fn shared_requests_carry_only_the_given_headers_and_those_win_over_static_ones() {
        let mut statics = HeaderMap::new();
        statics.insert("x-api-key", HeaderValue::from_static("relay-key"));
        statics.insert("x-tenant", HeaderValue::from_static("t1"));
        let uri: Uri = "http://backend/feed".parse().unwrap();
        let req = build_request(&uri, &HeaderMap::new(), None, &statics, None).unwrap();
        assert_eq!(req.headers().len(), 4);
        assert_eq!(req.headers()["x-api-key"], "relay-key");
        assert!(req.headers().get(LAST_EVENT_ID).is_none());
        let mut given = HeaderMap::new();
        given.insert("x-api-key", HeaderValue::from_static("api-key"));
        let req = build_request(&uri, &given, None, &statics, None).unwrap();
        assert_eq!(req.headers()["x-api-key"], "api-key");
        assert_eq!(req.headers()["x-tenant"], "t1");
        assert!(req.headers().get(X_FORWARDED_FOR).is_none());
    }

    #[test]
    fn channel_keys_normalise_case_default_ports_and_percent_encoding() {
        let n = |s: &str| normalize_uri(&s.parse().unwrap()).unwrap().to_string();
        assert_eq!(n("HTTP://Backend.Test:80/feed"), "http://backend.test/feed");
        assert_eq!(n("https://b.test:443"), "https://b.test/");
        assert_eq!(n("https://b.test:8443/a"), "https://b.test:8443/a");
        assert_eq!(
            n("http://b/a%2fb?q=%7e%41&z=1&a=2"),
            "http://b/a%2Fb?q=~A&z=1&a=2"
        );
        assert_eq!(n("http://b/%zz%2"), "http://b/%zz%2");
        assert_eq!(n("http://u:P@B:8080/x"), "http://u:P@b:8080/x");
        assert!(normalize_uri(&"ftp://b/x".parse().unwrap()).is_err());
        assert!(normalize_uri(&"/relative".parse().unwrap()).is_err());
    }

    #[test]
    fn response_check_rejects_bad_status_and_content_type() {
        let resp = |status: u16, ct: Option<&'static str>| {
            let mut b = Response::builder().status(status);
            if let Some(ct) = ct {
                b = b.header(header::CONTENT_TYPE, ct);
            }
            b.body(UpstreamBody::empty()).unwrap()
        };
        assert!(check_response(&resp(200, Some("text/event-stream; charset=utf-8"))).is_ok());
        let e = check_response(&resp(503, Some("text/event-stream"))).unwrap_err();
        assert_eq!(e.status().map(|s| s.as_u16()), Some(503));
        assert!(
            check_response(&resp(200, Some("application/json")))
                .unwrap_err()
                .is_content_type()
        );
        assert!(
            check_response(&resp(200, None))
                .unwrap_err()
                .is_content_type()
        );
    }

    #[test]
    fn last_event_id_header_is_read_and_validated() {
        let mut h = HeaderMap::new();
        assert!(last_event_id(&h).is_none());
        h.insert(LAST_EVENT_ID, HeaderValue::from_static("17"));
        assert_eq!(last_event_id(&h).unwrap().as_str(), "17");
    }
}
