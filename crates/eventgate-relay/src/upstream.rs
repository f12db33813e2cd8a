//! The upstream side: how a request reaches the backend ([`Transport`], with the hyper
//! client as [`HttpTransport`]) and which headers it carries.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;

use crate::error::{BoxError, Error, Kind, Phase};
use crate::id::EventId;

/// The body of an upstream response, as a [`Transport`] returns it.
pub type UpstreamBody = BoxBody<Bytes, BoxError>;

/// A boxed, sendable future (what [`Transport::request`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one upstream request and returns the response head with a streaming body.
///
/// The relay's own implementation is [`HttpTransport`] (hyper's pooled client). Tests and
/// embedders can supply another one (an in-memory backend, a client with a custom resolver
/// or proxy); the relay applies the status and content-type checks and the timeouts itself.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` (a `GET` with an empty body and the headers already set).
    fn request(
        &self,
        request: Request<()>,
    ) -> BoxFuture<'static, Result<Response<UpstreamBody>, Error>>;
}

/// Default connect timeout (TCP and TLS) for upstreams.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = hyper_util::client::legacy::connect::HttpConnector;

/// The default [`Transport`]: hyper-util's pooled client, HTTP/1.1 and HTTP/2 (over TLS the
/// protocol is chosen by ALPN), `https` through rustls with the ring provider and the
/// Mozilla root certificates (feature `tls`, on by default).
#[derive(Clone)]
pub struct HttpTransport {
    client: hyper_util::client::legacy::Client<Connector, http_body_util::Empty<Bytes>>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport").finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A client with the given TCP+TLS connect timeout.
    ///
    /// Fails only if the TLS configuration cannot be built.
    pub fn new(connect_timeout: Duration) -> Result<HttpTransport, Error> {
        HttpTransport::with_http2_prior_knowledge(connect_timeout, false)
    }

    /// Like [`HttpTransport::new`]; with `h2c` true every request uses HTTP/2, also over
    /// plain `http` (prior knowledge, for backends that speak h2c only). Over TLS the
    /// protocol is otherwise chosen by ALPN.
    pub fn with_http2_prior_knowledge(
        connect_timeout: Duration,
        h2c: bool,
    ) -> Result<HttpTransport, Error> {
        HttpTransport::with_options(connect_timeout, h2c, &[])
    }

    /// Like [`HttpTransport::with_http2_prior_knowledge`], trusting `extra_roots` (DER
    /// certificates, e.g. a private CA) besides the Mozilla roots. Without the `tls` feature
    /// the roots are ignored. Fails if a root is not a valid certificate.
    pub fn with_options(
        connect_timeout: Duration,
        h2c: bool,
        extra_roots: &[Vec<u8>],
    ) -> Result<HttpTransport, Error> {
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
        Ok(HttpTransport { client })
    }
}

impl Transport for HttpTransport {
    fn request(
        &self,
        request: Request<()>,
    ) -> BoxFuture<'static, Result<Response<UpstreamBody>, Error>> {
        let (parts, ()) = request.into_parts();
        let request = Request::from_parts(parts, http_body_util::Empty::new());
        let fut = self.client.request(request);
        Box::pin(async move {
            match fut.await {
                Ok(resp) => Ok(resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed())),
                Err(e) => {
                    let timed_out = is_timed_out(&e);
                    Err(if timed_out {
                        Error::with_source(Kind::Timeout(Phase::Connect), e)
                    } else {
                        Error::with_source(Kind::UpstreamConnect, e)
                    })
                }
            }
        })
    }
}

#[cfg(feature = "tls")]
fn tls_config(extra_roots: &[Vec<u8>]) -> Result<rustls::ClientConfig, Error> {
    let bad = |e: rustls::Error| Error::with_source(Kind::InvalidRequest("TLS configuration"), e);
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

/// Builds the upstream request: `GET uri`, `Accept: text/event-stream`,
/// `Cache-Control: no-cache`, the `Last-Event-ID` if any, `static_headers`, and (proxy mode)
/// the client's headers without hop-by-hop ones, with `X-Forwarded-For/-Proto/-Host` added.
pub(crate) fn build_request(
    uri: &Uri,
    client_headers: Option<&HeaderMap>,
    client: &ClientInfo,
    static_headers: &HeaderMap,
    last_event_id: Option<&EventId>,
) -> Result<Request<()>, Error> {
    let mut headers = HeaderMap::new();
    if let Some(src) = client_headers {
        // Headers named in `Connection` are hop-by-hop too.
        let named: Vec<HeaderName> = src
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for (name, value) in src {
            if is_hop_by_hop(name) || named.contains(name) {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        let prior = src
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
                headers.insert(X_FORWARDED_FOR, v);
            }
        }
        if let Some(host) = src.get(header::HOST) {
            headers.insert(X_FORWARDED_HOST, host.clone());
        }
        if let Some(proto) = client.proto {
            headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
        }
    }
    for (name, value) in static_headers {
        headers.insert(name.clone(), value.clone());
    }
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static(eventgate_sse::MIME_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(id) = last_event_id
        && let Ok(v) = HeaderValue::from_bytes(id.as_bytes())
    {
        headers.insert(LAST_EVENT_ID, v);
    }
    let mut req = Request::get(uri.clone())
        .body(())
        .map_err(|e| Error::with_source(Kind::InvalidRequest("invalid upstream URI"), e))?;
    *req.headers_mut() = headers;
    Ok(req)
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
        let req = build_request(&uri, Some(&h), &client, &HeaderMap::new(), Some(&id)).unwrap();
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
    fn shared_requests_carry_no_client_headers() {
        let mut statics = HeaderMap::new();
        statics.insert("x-api-key", HeaderValue::from_static("backend-key"));
        let uri: Uri = "http://backend/feed".parse().unwrap();
        let req = build_request(&uri, None, &ClientInfo::default(), &statics, None).unwrap();
        assert_eq!(req.headers().len(), 3);
        assert_eq!(req.headers()["x-api-key"], "backend-key");
        assert!(req.headers().get(LAST_EVENT_ID).is_none());
    }

    #[test]
    fn response_check_rejects_bad_status_and_content_type() {
        let resp = |status: u16, ct: Option<&'static str>| {
            let mut b = Response::builder().status(status);
            if let Some(ct) = ct {
                b = b.header(header::CONTENT_TYPE, ct);
            }
            b.body(http_body_util::Empty::new().map_err(|e| match e {}).boxed())
                .unwrap()
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
