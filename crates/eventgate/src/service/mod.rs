//! The request path, in the order it runs: route, check the transport, authorize, attach to
//! the relay, respond. Each step is a function returning a typed outcome; the per-event path
//! is [`StreamGate`] (one policy meter charge and two relaxed atomic adds per event).

pub(crate) mod body;
mod cors;
pub(crate) mod errors;

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use eventgate_asyncapi::{AuthType, DeliveryMode};
use eventgate_policy::{
    ApiPolicy, ChargeError, CredentialSource, Gate, Grant, RequestFacts, Timestamp, TopicPolicy,
};
use eventgate_relay::{
    ChannelBudget, ClientInfo, Cutoff, Delivery, DeliveryGate, EventId, Mode, Relay,
    SubscribeOptions, UnknownId,
};
use eventgate_sse::{EventBuilder, Frame};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::model::{Api, UnknownIdPolicy};
use crate::registry::{Registry, RouteEnd};
use crate::router::Route;
use crate::server::ConnectInfo;
use crate::telemetry::{ApiStats, StatsSnapshot, Telemetry};
use crate::{RouteError, Router};
use body::{Ender, GatewayBody};
use errors::ErrorReply;

/// Default bound on one authorization's I/O (a JWKS fetch or a token introspection): 5 s.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on the upstream channels one API holds open at once (each distinct backend
/// URL in fan-out mode, each client in proxy mode): 1,000. A request that would open one more
/// gets 503 (900801). Set per API with `[apis.relay] max_channels`.
pub const DEFAULT_API_MAX_CHANNELS: usize = 1_000;
/// Default time [`Gateway::shutdown`] gives the relay to end its streams: 5 s.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// The `event:` type of the final event of a stream the gateway ends (as eventgate-policy's
/// quota event).
pub const ERROR_EVENT: &str = eventgate_policy::ERROR_EVENT;

/// Settings of a [`Gateway`].
#[must_use]
pub struct GatewayBuilder {
    registry: Option<Arc<Registry>>,
    gate: Option<Arc<Gate>>,
    relay: Option<Relay>,
    auth_timeout: Duration,
    health: bool,
    metrics: bool,
}

impl fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("auth_timeout", &self.auth_timeout)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// A setting of [`GatewayBuilder`] that cannot be used, or a part that failed to build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// A timeout of zero.
    #[error("the authorization timeout must be greater than zero")]
    ZeroAuthTimeout,
    /// The default relay could not be built.
    #[error("cannot build the relay: {0}")]
    Relay(#[from] eventgate_relay::Error),
    /// The default policy gate could not be built.
    #[error("cannot build the policy gate: {0}")]
    Policy(#[from] eventgate_policy::ConfigError),
}

impl GatewayBuilder {
    fn new() -> Self {
        Self {
            registry: None,
            gate: None,
            relay: None,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            health: true,
            metrics: true,
        }
    }

    /// The registry whose routing snapshot the gateway serves. Default is a new, empty one.
    pub fn registry(mut self, registry: Arc<Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The policy gate (credentials, applications, subscriptions, plans). Default is
    /// `Gate::builder().build()` (WSO2's Async plans, no credential configured).
    pub fn gate(mut self, gate: Arc<Gate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The relay streams attach to. Default is `Relay::builder().build()`.
    pub fn relay(mut self, relay: Relay) -> Self {
        self.relay = Some(relay);
        self
    }

    /// Bound on each JWKS fetch and introspection call made while authorizing. Default is
    /// [`DEFAULT_AUTH_TIMEOUT`].
    pub fn auth_timeout(mut self, t: Duration) -> Self {
        self.auth_timeout = t;
        self
    }

    /// Answer `GET /health` (always 200) and `GET /ready` (200 until shutdown begins, then
    /// 503) before routing. Default is true.
    pub fn health_endpoints(mut self, on: bool) -> Self {
        self.health = on;
        self
    }

    /// Answer `GET /metrics` with the gateway's counters in Prometheus' text format
    /// ([`StatsSnapshot::to_prometheus`]) before routing. Default is true. The counters name
    /// APIs, not clients; turn this off (and scrape [`Gateway::stats`] yourself) to serve
    /// them elsewhere, or where an API's context is `/metrics`.
    pub fn metrics_endpoint(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Builds the gateway.
    ///
    /// # Errors
    /// [`GatewayError`] for a zero timeout or a default part that fails to build.
    pub fn build(self) -> Result<Gateway, GatewayError> {
        if self.auth_timeout.is_zero() {
            return Err(GatewayError::ZeroAuthTimeout);
        }
        let relay = match self.relay {
            Some(r) => r,
            None => Relay::builder().build()?,
        };
        let gate = match self.gate {
            Some(g) => g,
            None => Arc::new(Gate::builder().build()?),
        };
        Ok(Gateway {
            inner: Arc::new(Inner {
                registry: self.registry.unwrap_or_default(),
                gate,
                relay,
                auth_timeout: self.auth_timeout,
                health: self.health,
                metrics: self.metrics,
                telemetry: Telemetry::default(),
                policy_generation: AtomicU64::new(u64::MAX),
                shutting_down: AtomicBool::new(false),
                next_stream: AtomicU64::new(1),
                budgets: Mutex::new(HashMap::new()),
            }),
        })
    }
}

struct Inner {
    registry: Arc<Registry>,
    gate: Arc<Gate>,
    relay: Relay,
    auth_timeout: Duration,
    health: bool,
    metrics: bool,
    telemetry: Telemetry,
    /// The registry generation the gate's API policies were last mirrored from.
    policy_generation: AtomicU64,
    shutting_down: AtomicBool,
    next_stream: AtomicU64,
    /// Each API's channel budget (see [`crate::RelaySettings::max_channels`]).
    budgets: Mutex<HashMap<crate::ApiId, ChannelBudget>>,
}

/// The gateway: a `tower` [`Service`](tower_service::Service) that serves every SSE API the
/// [`Registry`] routes, with any request body type. Cheap to clone (one `Arc`).
///
/// Per request, in order: [`Router`] (host, context, version, topic), the API's transports,
/// CORS, the policy gate (credential, subscription, scopes, plan, connection limits), the
/// relay (fan-out or proxy, `Last-Event-ID` replay), and a `text/event-stream` response whose
/// events are charged one by one to the plan. A stream ends with a final `eventgate-error`
/// event when its quota runs out, its credential expires (900901) or its deployment stops
/// serving (undeployed, replaced, blocked).
///
/// ```
/// use eventgate::{Gateway, Registry};
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = Arc::new(Registry::new());
/// let gateway = Gateway::builder().registry(Arc::clone(&registry)).build()?;
/// // Nothing is deployed yet: WSO2's 404 status report.
/// let req = http::Request::get("http://localhost/observer/1.0.0/memory").body(())?;
/// let resp = gateway.handle(req).await;
/// assert_eq!(resp.status(), 404);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("registry", &self.inner.registry)
            .finish_non_exhaustive()
    }
}

/// Why a stream was ended by the gateway, for its final event.
#[derive(Debug, Clone, Copy)]
enum EndCause {
    Expired,
    Route(RouteEnd),
}

impl Gateway {
    /// The settings, starting from the defaults.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::new()
    }

    /// The registry the gateway routes from.
    #[must_use]
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The policy gate.
    #[must_use]
    pub fn gate(&self) -> &Arc<Gate> {
        &self.inner.gate
    }

    /// The relay.
    #[must_use]
    pub fn relay(&self) -> &Relay {
        &self.inner.relay
    }

    /// Every counter, per API and in total.
    #[must_use]
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.telemetry.snapshot(self.inner.relay.metrics())
    }

    /// Stops taking streams (new requests get 503) and ends the open ones with a final
    /// `retry:` hint, waiting up to `deadline` for the relay's upstream tasks.
    ///
    /// # Errors
    /// The relay's error when its tasks outlast `deadline`.
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), eventgate_relay::Error> {
        self.inner.shutting_down.store(true, Relaxed);
        self.inner.relay.shutdown(deadline).await
    }

    /// Serves one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<GatewayBody> {
        let inner = &self.inner;
        let (parts, _body) = req.into_parts();
        if inner.metrics && parts.method == Method::GET && parts.uri.path() == "/metrics" {
            let mut r = Response::new(GatewayBody::full(Bytes::from(self.stats().to_prometheus())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return r;
        }
        if inner.health && parts.method == Method::GET {
            match parts.uri.path() {
                "/health" => return text(StatusCode::OK, "ok\n"),
                "/ready" if inner.shutting_down.load(Relaxed) => {
                    return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
                }
                "/ready" => return text(StatusCode::OK, "ready\n"),
                _ => {}
            }
        }
        let router = inner.registry.router();
        let route = match route(&router, &parts) {
            Ok(r) => r,
            Err(reply) => return self.refuse(reply, None, &parts.headers),
        };
        let api = route.api();
        let cors = api.cors.as_ref();
        if parts.method == Method::OPTIONS {
            return cors::preflight(cors, &parts.headers, GatewayBody::empty());
        }
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return self.refuse(ErrorReply::method_not_allowed(), cors, &parts.headers);
        }
        let tls = is_tls(&parts);
        if !api.transports.allows(tls) {
            let t = if tls { "https" } else { "http" };
            return self.refuse(ErrorReply::unsupported_transport(t), cors, &parts.headers);
        }
        if inner.shutting_down.load(Relaxed) {
            return self.refuse(ErrorReply::shutting_down(), cors, &parts.headers);
        }
        match self.open_stream(&route, &parts, tls).await {
            Ok(resp) => resp,
            Err(reply) => self.refuse(reply, cors, &parts.headers),
        }
    }

    /// Authorizes and attaches one stream.
    async fn open_stream(
        &self,
        route: &Route,
        parts: &http::request::Parts,
        tls: bool,
    ) -> Result<Response<GatewayBody>, ErrorReply> {
        let inner = &self.inner;
        let api = route.api();
        let topic = route.topic();
        let api_id = route.api_id().as_str();
        let now = Timestamp::from(SystemTime::now());

        // Authorize.
        let mut consumed_header: Option<HeaderName> = None;
        let mut consumed_query: Option<String> = None;
        self.sync_policies();
        let grant = if topic.auth_type == AuthType::None {
            // No credential, but still limited and metered: per client address.
            let client = parts
                .extensions
                .get::<ConnectInfo>()
                .map(|c| c.remote().ip().to_string());
            let timeout = inner.auth_timeout;
            inner
                .gate
                .admit_anonymous_async(api_id, client.as_deref().unwrap_or("unknown"), now, || {
                    tokio::time::sleep(timeout)
                })
                .await
                .map_err(|d| ErrorReply::denial(&d))?
        } else {
            let headers = credential_headers(api, &parts.headers);
            let header_pairs: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let query = query_pairs(api, parts.uri.query());
            let query_pairs: Vec<(&str, &str)> = query
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let mut facts = RequestFacts::new(api_id, topic.template.as_str())
                .headers(&header_pairs)
                .query(&query_pairs);
            let authorization = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if api.security.bearer
                && let Some(a) = authorization
            {
                facts = facts.authorization(a);
            }
            let timeout = inner.auth_timeout;
            let grant = inner
                .gate
                .authorize_async_with(&facts, now, || tokio::time::sleep(timeout))
                .await
                .map_err(|d| ErrorReply::denial(&d))?;
            // Which source the credential came from, so it is not sent upstream.
            let sources = credential_sources(api);
            let used = sources
                .iter()
                .find(|s| facts.credential(std::slice::from_ref(*s)).is_some());
            match used {
                Some(CredentialSource::Bearer) => consumed_header = Some(header::AUTHORIZATION),
                Some(CredentialSource::Header(h)) => {
                    consumed_header = HeaderName::from_bytes(h.as_bytes()).ok();
                }
                Some(CredentialSource::Query(q)) => consumed_query = Some(q.clone()),
                _ => {}
            }
            grant
        };
        let key_type = grant.principal.key_type;

        // Where the events come from.
        let url = route
            .backend_url(key_type, consumed_query.as_deref())
            .map_err(|e| route_reply(&e))?;
        let uri: http::Uri = url.parse().map_err(|_| ErrorReply::backend(false))?;

        let mut opts = SubscribeOptions::new();
        let mode = match topic.delivery {
            DeliveryMode::PerClient => Mode::Proxy,
            _ => Mode::Fanout,
        };
        opts.mode(mode);
        opts.last_event_id(last_event_id(&parts.headers));
        let relay_cfg = &api.relay;
        let mut upstream = HeaderMap::new();
        if mode == Mode::Proxy {
            for (name, value) in &parts.headers {
                if api.strip.strips_header(name, consumed_header.as_ref())
                    || is_gateway_header(name)
                {
                    continue;
                }
                upstream.append(name.clone(), value.clone());
            }
        }
        for (name, value) in &relay_cfg.upstream_headers {
            upstream.insert(name.clone(), value.clone());
        }
        opts.upstream_headers(upstream);
        if let Some(h) = relay_cfg.heartbeat {
            opts.heartbeat((!h.is_zero()).then_some(h));
        }
        if relay_cfg.backlog_events.is_some() || relay_cfg.backlog_bytes.is_some() {
            opts.backlog(
                relay_cfg
                    .backlog_events
                    .unwrap_or(eventgate_relay::DEFAULT_BACKLOG_EVENTS),
                relay_cfg
                    .backlog_bytes
                    .unwrap_or(eventgate_relay::DEFAULT_BACKLOG_BYTES),
            );
        }
        if let Some(r) = relay_cfg.retry {
            opts.retry_hint(Some(r));
        }
        match relay_cfg.on_unknown_id {
            Some(UnknownIdPolicy::ForwardToBackend) => {
                opts.unknown_id(UnknownId::ForwardToBackend);
            }
            Some(UnknownIdPolicy::StartLive) => {
                opts.unknown_id(UnknownId::StartLive);
            }
            _ => {}
        }
        if let Some(budget) = self.budget(route.api_id(), relay_cfg.max_channels) {
            opts.channel_budget(budget);
        }
        if let Some(info) = parts.extensions.get::<ConnectInfo>() {
            opts.client(ClientInfo::new(
                Some(info.remote()),
                Some(if tls { "https" } else { "http" }),
            ));
        }
        let stats = inner.telemetry.api(api_id);
        let expires_at = grant.expires_at();
        let stream_gate = Arc::new(StreamGate {
            grant,
            stats: Arc::clone(&stats),
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            opened: Instant::now(),
            id: inner.next_stream.fetch_add(1, Relaxed),
            api: route.api_id().clone(),
            topic: topic.template.as_str().into(),
            span: tracing::Span::current(),
        });
        opts.gate(Arc::clone(&stream_gate) as Arc<dyn DeliveryGate>);
        let feed = inner
            .relay
            .subscribe(uri, &opts)
            .await
            .map_err(|e| relay_reply(&e))?;
        stats.streams_open.fetch_add(1, Relaxed);
        stats.streams_total.fetch_add(1, Relaxed);
        tracing::debug!(
            target: "eventgate::stream",
            stream = stream_gate.id, api = api_id, topic = topic.template.as_str(),
            application = stream_gate.grant.application.as_ref().map_or("-", |a| a.as_str()),
            key_type = key_type.as_str(), mode = ?mode, "stream opened"
        );

        let ender = ender(route, expires_at);
        let direct = feed.direct_handle();
        let mut resp = Response::new(GatewayBody::stream_direct(
            feed,
            Some(ender),
            Some(direct.clone()),
        ));
        // The server's lean HTTP/1.1 path takes it to have the relay write live events to
        // the socket itself (any other server ignores it).
        resp.extensions_mut().insert(direct);
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(eventgate_sse::MIME_TYPE),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // Tell reverse proxies in front (nginx) not to buffer the stream.
        h.insert(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        );
        if let Some(origin) = cors::allowed_origin(api.cors.as_ref(), &parts.headers)
            && let Some(c) = api.cors.as_ref()
        {
            cors::decorate(c, origin, h);
        }
        Ok(resp)
    }

    /// The API's channel budget, made on first use and remade when its bound changes (the
    /// channels open under the old bound keep their units there until they retire).
    fn budget(&self, api: &crate::ApiId, max: Option<usize>) -> Option<ChannelBudget> {
        let max = max.unwrap_or(DEFAULT_API_MAX_CHANNELS);
        let mut budgets = match self.inner.budgets.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(b) = budgets.get(api)
            && b.max() == max
        {
            return Some(b.clone());
        }
        let b = ChannelBudget::new(max)?;
        budgets.insert(api.clone(), b.clone());
        Some(b)
    }

    /// Mirrors the registry's APIs into the policy gate when the registry has changed since
    /// the last request (one atomic load when it has not).
    fn sync_policies(&self) {
        let inner = &self.inner;
        let generation = inner.registry.generation();
        if inner.policy_generation.load(Relaxed) == generation {
            return;
        }
        for id in inner.registry.apis() {
            if let Some(api) = inner.registry.api(&id) {
                inner.gate.put_api(api_policy(&api));
            }
        }
        inner.policy_generation.store(generation, Relaxed);
    }

    fn refuse(
        &self,
        reply: ErrorReply,
        cors: Option<&crate::model::Cors>,
        req_headers: &HeaderMap,
    ) -> Response<GatewayBody> {
        self.inner.telemetry.denied(reply.code());
        let mut resp = reply.into_response(GatewayBody::full);
        if let Some(c) = cors
            && let Some(origin) = cors::allowed_origin(Some(c), req_headers)
        {
            cors::decorate(c, origin, resp.headers_mut());
        }
        resp
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<GatewayBody> {
    let mut r = Response::new(GatewayBody::full(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn route(router: &Router, parts: &http::request::Parts) -> Result<Route, ErrorReply> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    router.route(host, pq).map_err(|e| route_reply(&e))
}

fn route_reply(e: &RouteError) -> ErrorReply {
    match e {
        RouteError::InvalidPath(p) => ErrorReply::bad_path(&p.to_string()),
        RouteError::Blocked(_) => ErrorReply::api_blocked(),
        RouteError::NoTopic(_) => ErrorReply::no_topic(),
        RouteError::KeyTypeNotServed(k) => ErrorReply::key_type(*k),
        RouteError::NoEndpoint { .. } => ErrorReply::backend(false),
        _ => ErrorReply::not_found(),
    }
}

fn relay_reply(e: &eventgate_relay::Error) -> ErrorReply {
    if e.is_channel_limit() {
        ErrorReply::channel_limit()
    } else if e.is_shutdown() {
        ErrorReply::shutting_down()
    } else {
        ErrorReply::backend(e.is_timeout())
    }
}

fn is_tls(parts: &http::request::Parts) -> bool {
    match parts.extensions.get::<ConnectInfo>() {
        Some(info) => info.is_tls(),
        None => parts.uri.scheme_str() == Some("https"),
    }
}

/// `Last-Event-ID`, when it is a valid id.
fn last_event_id(headers: &HeaderMap) -> Option<EventId> {
    eventgate_relay::last_event_id(headers)
}

/// Headers the gateway handles itself and never forwards in proxy mode.
fn is_gateway_header(name: &HeaderName) -> bool {
    *name == header::HOST || name.as_str() == "last-event-id"
}

/// The credential sources of `api`, in the order the gateway reads them.
fn credential_sources(api: &Api) -> Vec<CredentialSource> {
    let mut v = Vec::with_capacity(3);
    if api.security.bearer {
        v.push(CredentialSource::Bearer);
    }
    if let Some(h) = &api.security.api_key_header {
        v.push(CredentialSource::Header(h.as_str().to_owned()));
    }
    if let Some(q) = &api.security.query_param {
        v.push(CredentialSource::Query(q.clone()));
    }
    v
}

/// The request headers that may carry a credential for `api` (the API-key header).
fn credential_headers<'a>(api: &Api, headers: &'a HeaderMap) -> Vec<(HeaderName, &'a str)> {
    let Some(name) = &api.security.api_key_header else {
        return Vec::new();
    };
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| vec![(name.clone(), v)])
        .unwrap_or_default()
}

/// The credential query parameter, percent-decoded, when the API reads one.
fn query_pairs(api: &Api, query: Option<&str>) -> Vec<(String, String)> {
    let (Some(name), Some(query)) = (&api.security.query_param, query) else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(n)? == *name).then(|| Some((name.clone(), percent_decode(v)?)))?
        })
        .take(1)
        .collect()
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space); `None` on a bad escape or
/// invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The policy view of an API: its id, credential sources and topic scopes (WSO2: any of
/// the listed scopes).
fn api_policy(api: &Api) -> ApiPolicy {
    let mut p = ApiPolicy::new(api.id().as_str()).credential_sources(credential_sources(api));
    for t in &api.topics {
        let mut tp = TopicPolicy::new(t.template.as_str());
        if !t.scopes.is_empty() {
            tp = tp.scopes(t.scopes.iter().cloned()).any_of();
        }
        p = p.topic(tp);
    }
    p
}

/// The future that ends a stream early: its credential's expiry or its deployment's end.
fn ender(route: &Route, expires_at: Option<Timestamp>) -> Ender {
    let signal = Arc::clone(route.signal());
    let expiry = expires_at.map(|t| {
        let left = t.saturating_since(Timestamp::from(SystemTime::now()));
        tokio::time::Instant::now() + left
    });
    Box::pin(async move {
        let cause = match expiry {
            Some(at) => tokio::select! {
                () = tokio::time::sleep_until(at) => EndCause::Expired,
                r = signal.ended() => EndCause::Route(r),
            },
            None => EndCause::Route(signal.ended().await),
        };
        final_event(cause)
    })
}

/// The last event of a stream the gateway ends (WSO2's body shape in `data`).
fn final_event(cause: EndCause) -> Bytes {
    let (code, message, description, retry) = match cause {
        EndCause::Expired => (
            "900901",
            "Invalid Credentials",
            "The access token expired; reconnect with a fresh token",
            None,
        ),
        EndCause::Route(RouteEnd::Blocked) => (
            "700700",
            "API blocked",
            "This API has been blocked temporarily",
            None,
        ),
        EndCause::Route(RouteEnd::Replaced) => (
            "101503",
            "API redeployed",
            "A new revision of this API is deployed; reconnect to resume",
            Some(Duration::from_millis(100)),
        ),
        EndCause::Route(_) => (
            "404",
            "Not Found",
            "This API is no longer served here",
            None,
        ),
    };
    let data = serde_json::json!({"code": code, "message": message, "description": description})
        .to_string();
    let mut b = EventBuilder::new().event(ERROR_EVENT).data(&data);
    if let Some(r) = retry {
        b = b.retry(r);
    }
    b.build()
        .map(Frame::into_bytes)
        // The event type is a constant and the data one JSON line: the encoder accepts both.
        .unwrap_or_default()
}

/// The per-stream delivery gate: charges each event to the plan's meter and counts it.
/// Holds the grant (its connection slots) for the life of the stream.
struct StreamGate {
    grant: Grant,
    stats: Arc<ApiStats>,
    events: AtomicU64,
    bytes: AtomicU64,
    cut: AtomicBool,
    opened: Instant,
    id: u64,
    api: crate::ApiId,
    topic: Box<str>,
    /// The span the stream was opened in (the server runner's connection span, or the
    /// embedder's): the parent of the record written when the stream closes, which runs
    /// outside it.
    span: tracing::Span,
}

impl StreamGate {
    fn cut_by(&self, e: &ChargeError) -> Cutoff {
        self.cut.store(true, Relaxed);
        if matches!(e, ChargeError::Exceeded(_)) {
            self.stats.quota_cuts.fetch_add(1, Relaxed);
        }
        Cutoff::with_frame(e.sse_event(Timestamp::from(SystemTime::now())))
    }

    fn count(&self, delivery: &Delivery<'_>) {
        let len = delivery.frame.len();
        // One writer: the stream's own feed (which owns this gate's only caller) charges its
        // events one after the other, so a load and a store count exactly, without a locked
        // read-modify-write per event; the atomics are for the reader of the close record.
        self.events.store(self.events.load(Relaxed) + 1, Relaxed);
        self.bytes
            .store(self.bytes.load(Relaxed) + len as u64, Relaxed);
        self.stats.delivered(len);
    }
}

impl DeliveryGate for StreamGate {
    fn admit(&self, delivery: &Delivery<'_>) -> Result<(), Cutoff> {
        match self.grant.charge(Timestamp::from(SystemTime::now())) {
            Ok(()) => {
                self.count(delivery);
                Ok(())
            }
            Err(e) => Err(self.cut_by(&e)),
        }
    }

    /// With quotas leased from a shared store, an event that finds the node's block used
    /// up waits for the refill (the stream pauses; nothing is dropped) instead of ending
    /// the stream.
    fn poll_admit(
        &self,
        cx: &mut std::task::Context<'_>,
        delivery: &Delivery<'_>,
    ) -> std::task::Poll<Result<(), Cutoff>> {
        use std::task::Poll;
        loop {
            let now = Timestamp::from(SystemTime::now());
            match self.grant.charge(now) {
                Ok(()) => {
                    self.count(delivery);
                    return Poll::Ready(Ok(()));
                }
                Err(ChargeError::Pending) => match self.grant.meter().poll_ready(cx, now) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(self.cut_by(&e))),
                    Poll::Pending => return Poll::Pending,
                },
                Err(e) => return Poll::Ready(Err(self.cut_by(&e))),
            }
        }
    }
}

impl Drop for StreamGate {
    fn drop(&mut self) {
        self.stats.streams_open.fetch_sub(1, Relaxed);
        let application = self.grant.application.as_ref().map(|a| a.as_str());
        tracing::info!(
            target: "eventgate::stream",
            parent: &self.span,
            stream = self.id,
            api = self.api.as_str(),
            topic = &*self.topic,
            application = application.unwrap_or("-"),
            duration_ms = self.opened.elapsed().as_millis() as u64,
            events = self.events.load(Relaxed),
            bytes = self.bytes.load(Relaxed),
            reason = if self.cut.load(Relaxed) { "quota" } else { "closed" },
            "stream closed"
        );
    }
}

impl<B> tower_service::Service<Request<B>> for Gateway
where
    B: Send + 'static,
{
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<GatewayBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await) })
    }
}
