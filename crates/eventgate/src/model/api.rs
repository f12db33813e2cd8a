//! An SSE API: its identity, where it is served, its backend, topics, plans, security, CORS
//! and relay settings.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use eventgate_asyncapi::{ApiVersion, AuthType, DeliveryMode, TopicTemplate};
use eventgate_types::{PlanName, Scope};
use http::{HeaderName, HeaderValue};

use super::environment::check_name;
use super::path::{check_path, is_dot_segment};
use crate::error::ModelError;

/// The longest context accepted, in bytes.
pub const MAX_CONTEXT_LEN: usize = 1024;

/// An API's identity: its name and version, written `name:version` (`Observer:1.0.0`).
///
/// ```
/// use eventgate::ApiId;
/// let id: ApiId = "Observer:1.0.0".parse().unwrap();
/// assert_eq!((id.name(), id.version()), ("Observer", "1.0.0"));
/// assert_eq!(id.to_string(), "Observer:1.0.0");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiId {
    text: Arc<str>,
    colon: usize,
}

impl ApiId {
    /// The id of API `name` at `version`.
    #[must_use]
    pub fn new(name: &str, version: &ApiVersion) -> Self {
        ApiId {
            text: Arc::from(format!("{name}:{}", version.as_str())),
            colon: name.len(),
        }
    }

    /// The API name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.text[..self.colon]
    }

    /// The version.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.text[self.colon + 1..]
    }

    /// `name:version`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for ApiId {
    type Err = ModelError;
    /// Splits `name:version` at the first `:` (names hold no `:`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, version) = s
            .split_once(':')
            .ok_or_else(|| ModelError::invalid("API id (name:version)", s))?;
        check_api_name(name)?;
        let version =
            ApiVersion::new(version).map_err(|_| ModelError::invalid("API version", version))?;
        Ok(ApiId::new(name, &version))
    }
}

impl fmt::Debug for ApiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl fmt::Display for ApiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn check_api_name(name: &str) -> Result<(), ModelError> {
    check_name("API name", name)?;
    if name.contains(':') {
        return Err(ModelError::invalid("API name", name));
    }
    Ok(())
}

/// The context an API is served under: `/observer`, or a template holding `{version}` as one
/// whole segment (`/{version}/events`, served as `/1.0.0/events`).
///
/// Rules: starts with `/`, no trailing `/`, no empty or dot segment, at least one segment
/// that is not `{version}`, `{version}` at most once, no other braces, no `*`, `?`, `#`, `\`
/// or `%`, visible ASCII only, at most [`MAX_CONTEXT_LEN`] bytes. Matching is
/// case-sensitive, as paths are.
///
/// ```
/// use eventgate::ApiContext;
/// let c = ApiContext::new("/{version}/events").unwrap();
/// assert_eq!(c.versioned_path("1.0.0"), "/1.0.0/events");
/// assert_eq!(c.default_path(), "/events");
/// let plain = ApiContext::new("/observer").unwrap();
/// assert_eq!(plain.versioned_path("1.0.0"), "/observer/1.0.0");
/// assert!(ApiContext::new("/a/../b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiContext(Box<str>);

const VERSION_VAR: &str = "{version}";

impl ApiContext {
    /// Checks and wraps a context.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] naming the context.
    pub fn new(s: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::invalid("context", s);
        if s.len() < 2 || s.len() > MAX_CONTEXT_LEN || !s.starts_with('/') || s.ends_with('/') {
            return Err(bad());
        }
        let mut versions = 0;
        let mut literal = false;
        for seg in s[1..].split('/') {
            if seg == VERSION_VAR {
                versions += 1;
                continue;
            }
            literal = true;
            let ok = !seg.is_empty()
                && !is_dot_segment(seg)
                && seg.bytes().all(|b| {
                    (0x21..=0x7e).contains(&b)
                        && !matches!(b, b'{' | b'}' | b'*' | b'?' | b'#' | b'\\' | b'%')
                });
            if !ok {
                return Err(bad());
            }
        }
        if versions > 1 || !literal {
            return Err(bad());
        }
        Ok(ApiContext(s.into()))
    }

    /// The context as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the context holds `{version}`.
    #[must_use]
    pub fn has_version_template(&self) -> bool {
        self.0.split('/').any(|s| s == VERSION_VAR)
    }

    /// The path the API is served under at `version`: `{version}` replaced, or the version
    /// appended as a last segment when the context has no `{version}` (WSO2's rule).
    #[must_use]
    pub fn versioned_path(&self, version: &str) -> String {
        if self.has_version_template() {
            self.0.replace(VERSION_VAR, version)
        } else {
            format!("{}/{version}", self.0)
        }
    }

    /// The path the default version of the API is also served under: the context without
    /// its `{version}` segment.
    #[must_use]
    pub fn default_path(&self) -> String {
        if self.has_version_template() {
            let mut out = String::with_capacity(self.0.len());
            for seg in self.0[1..].split('/').filter(|s| *s != VERSION_VAR) {
                out.push('/');
                out.push_str(seg);
            }
            out
        } else {
            self.0.to_string()
        }
    }
}

impl fmt::Display for ApiContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A backend endpoint: an absolute `http://` or `https://` URL with a host, an optional
/// path, no user info, query or fragment. A trailing `/` is dropped, so the mapped backend
/// path is appended as is (`http://h:8080/base` + `/memory`).
///
/// ```
/// use eventgate::Endpoint;
/// let e = Endpoint::new("http://localhost:8080/").unwrap();
/// assert_eq!(e.as_str(), "http://localhost:8080");
/// assert_eq!(e.path(), "");
/// assert!(Endpoint::new("http://user:pw@host/").is_err());
/// assert!(Endpoint::new("ftp://host").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    url: Box<str>,
    path_start: usize,
    https: bool,
}

impl Endpoint {
    /// Checks and normalises an endpoint URL.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] naming the URL.
    pub fn new(url: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::invalid("endpoint", url);
        let uri: http::Uri = url.parse().map_err(|_| bad())?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => return Err(bad()),
        };
        let authority = uri.authority().ok_or_else(bad)?;
        if authority.as_str().contains('@') || authority.host().is_empty() || uri.query().is_some()
        {
            return Err(bad());
        }
        if url.contains('#') {
            return Err(bad());
        }
        let path = uri.path().trim_end_matches('/');
        if !path.is_empty() {
            check_path(path).map_err(|_| bad())?;
            if path.contains("//") {
                return Err(bad());
            }
        }
        let scheme = if https { "https" } else { "http" };
        let base = format!("{scheme}://{}", authority.as_str().to_ascii_lowercase());
        let path_start = base.len();
        Ok(Endpoint {
            url: format!("{base}{path}").into_boxed_str(),
            path_start,
            https,
        })
    }

    /// The URL, without a trailing `/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL's path without a trailing `/` (empty for a URL with no path).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.url[self.path_start..]
    }

    /// True for `https://`.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.https
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Production and sandbox backend endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Endpoints {
    /// Where production keys are sent.
    pub production: Option<Endpoint>,
    /// Where sandbox keys are sent.
    pub sandbox: Option<Endpoint>,
}

/// Client transports an API accepts. Default is both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Transports {
    /// Plain HTTP.
    pub http: bool,
    /// HTTP over TLS.
    pub https: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            http: true,
            https: true,
        }
    }
}

impl Transports {
    /// True when requests over TLS (`tls == true`) or plain HTTP are accepted.
    #[must_use]
    pub const fn allows(self, tls: bool) -> bool {
        if tls { self.https } else { self.http }
    }

    /// WSO2's list for the 403 "Unsupported Transport" body (`http,https`).
    #[must_use]
    pub fn as_wso2_list(self) -> &'static str {
        match (self.http, self.https) {
            (true, true) => "http,https",
            (true, false) => "http",
            (false, true) => "https",
            (false, false) => "",
        }
    }
}

/// WSO2's default name of the API-key header.
pub const WSO2_API_KEY_HEADER: &str = "apikey";

/// Which credentials an API accepts and where the gateway reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Security {
    /// OAuth2 tokens (JWT or opaque) in `Authorization: Bearer`. Default is true.
    pub bearer: bool,
    /// API keys in this header (WSO2 names it [`WSO2_API_KEY_HEADER`], `apikey`). Default is
    /// `None`: API keys are not accepted.
    pub api_key_header: Option<HeaderName>,
    /// A query parameter read for the credential (a token or an API key) when no header
    /// carries one, for browsers whose `EventSource` cannot set headers. Default is `None`.
    /// Query strings end up in access logs and browser history: use short-lived tokens.
    pub query_param: Option<String>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            bearer: true,
            api_key_header: None,
            query_param: None,
        }
    }
}

/// CORS for browser clients on other origins. Preflight answers and response headers are the
/// request path's; this is the data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Cors {
    /// Origins allowed, compared exactly (`https://app.example.com`); `*` alone allows any
    /// origin (not with credentials).
    pub origins: Vec<String>,
    /// `Access-Control-Allow-Credentials: true` (cookies, HTTP auth). Default is false.
    pub allow_credentials: bool,
    /// Request headers allowed in a preflight (`Authorization`, `Last-Event-ID`...).
    pub allow_headers: Vec<HeaderName>,
    /// How long a preflight may be cached (`Access-Control-Max-Age`). Default is `None`
    /// (no header).
    pub max_age: Option<Duration>,
}

impl Cors {
    /// True when `origin` is allowed.
    #[must_use]
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    fn validate(&self) -> Result<(), ModelError> {
        for o in &self.origins {
            if o == "*" {
                if self.allow_credentials {
                    return Err(ModelError::Cors {
                        reason: "'*' cannot be combined with allow_credentials",
                        value: o.clone(),
                    });
                }
                continue;
            }
            let rest = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"));
            let ok = rest.is_some_and(|r| {
                !r.is_empty()
                    && r.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                    })
            });
            if !ok {
                return Err(ModelError::Cors {
                    reason: "an origin is scheme://host[:port] with no path",
                    value: o.clone(),
                });
            }
        }
        Ok(())
    }
}

/// What a relay does with a `Last-Event-ID` its backlog does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnknownIdPolicy {
    /// Start live after a reset event.
    StartLive,
    /// Open a dedicated upstream connection carrying the client's `Last-Event-ID`.
    ForwardToBackend,
}

/// Per-API relay settings. Every `None` means "the gateway's default".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RelaySettings {
    /// Heartbeat comment interval on idle streams; `Some(Duration::ZERO)` turns heartbeats
    /// off.
    pub heartbeat: Option<Duration>,
    /// Events kept for `Last-Event-ID` replay.
    pub backlog_events: Option<usize>,
    /// Bytes kept for replay.
    pub backlog_bytes: Option<usize>,
    /// `retry:` hint sent to clients.
    pub retry: Option<Duration>,
    /// Unknown `Last-Event-ID` policy.
    pub on_unknown_id: Option<UnknownIdPolicy>,
    /// Most upstream channels the API holds open at once (each distinct backend URL in
    /// fan-out mode, each client in proxy mode); at least 1. `None`:
    /// [`DEFAULT_API_MAX_CHANNELS`](crate::DEFAULT_API_MAX_CHANNELS).
    pub max_channels: Option<usize>,
    /// Headers added to every upstream request (a backend credential, say). Values are
    /// marked sensitive so `Debug` does not print them.
    pub upstream_headers: Vec<(HeaderName, HeaderValue)>,
}

/// Client credential headers and query parameters removed before a request goes upstream
/// (proxy mode, forwarding to the backend).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StripSettings {
    /// Strip the header or query parameter the gateway read the credential from. Default is
    /// true.
    pub consumed: bool,
    /// Strip `Cookie`. Default is true.
    pub cookie: bool,
    /// More headers to strip.
    pub headers: Vec<HeaderName>,
    /// More query parameters to strip.
    pub query_params: Vec<String>,
}

impl Default for StripSettings {
    fn default() -> Self {
        StripSettings {
            consumed: true,
            cookie: true,
            headers: Vec::new(),
            query_params: Vec::new(),
        }
    }
}

impl StripSettings {
    /// True when header `name` must not go upstream; `consumed` is the header the
    /// credential was read from, if any.
    #[must_use]
    pub fn strips_header(&self, name: &HeaderName, consumed: Option<&HeaderName>) -> bool {
        (self.consumed && consumed == Some(name))
            || (self.cookie && name == http::header::COOKIE)
            || self.headers.contains(name)
    }

    /// True when query parameter `name` must not go upstream; `consumed` is the parameter
    /// the credential was read from, if any.
    #[must_use]
    pub fn strips_query_param(&self, name: &str, consumed: Option<&str>) -> bool {
        (self.consumed && consumed == Some(name)) || self.query_params.iter().any(|q| q == name)
    }
}

/// One topic of an API: subscribe-only, a template clients use, the backend path it maps
/// to, and who may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Topic {
    /// Client-facing template after the context and version (`/stocks/{symbol}`, `/*`).
    pub template: TopicTemplate,
    /// Backend path template (`/feed/{symbol}`); `None`: the request's topic path itself,
    /// as WSO2 does. It may use only variables of `template`, and `*` only if `template`
    /// ends in `*`.
    pub backend: Option<TopicTemplate>,
    /// Scopes, any one of which lets a token read the topic (WSO2 semantics). Empty: no
    /// scope needed.
    pub scopes: Vec<Scope>,
    /// WSO2 `x-auth-type`; [`AuthType::None`] needs no credential (still limited and
    /// metered).
    pub auth_type: AuthType,
    /// Fan-out ([`DeliveryMode::Shared`], one upstream per backend URL) or proxy
    /// ([`DeliveryMode::PerClient`], one per client).
    pub delivery: DeliveryMode,
    /// Description.
    pub description: Option<String>,
}

impl Topic {
    /// A topic with only its template: no backend mapping, no scope, auth type `Any`,
    /// fan-out.
    #[must_use]
    pub fn new(template: TopicTemplate) -> Self {
        Topic {
            template,
            backend: None,
            scopes: Vec::new(),
            auth_type: AuthType::Any,
            delivery: DeliveryMode::Shared,
            description: None,
        }
    }

    /// True when a request must carry a credential (every auth type but `None`).
    #[must_use]
    pub fn needs_credential(&self) -> bool {
        self.auth_type != AuthType::None
    }

    fn validate(&self) -> Result<(), ModelError> {
        let t = self.template.as_str();
        for tpl in std::iter::once(&self.template).chain(self.backend.as_ref()) {
            let raw = tpl.as_str();
            if raw[1..].split('/').any(is_dot_segment) || raw.contains(['\\', ' ']) {
                return Err(ModelError::UnsafeTemplate {
                    template: raw.to_owned(),
                });
            }
        }
        if let Some(b) = &self.backend {
            let vars: BTreeSet<&str> = self.template.variables().collect();
            if let Some(v) = b.variables().find(|v| !vars.contains(v)) {
                return Err(ModelError::BackendVariable {
                    topic: t.to_owned(),
                    variable: v.to_owned(),
                });
            }
            if b.has_wildcard() && !self.template.has_wildcard() {
                return Err(ModelError::BackendWildcard {
                    topic: t.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The largest number of topics an API may have.
pub const MAX_TOPICS: usize = 1024;

/// An SSE API: plain data, checked by [`Api::validate`] (which the registry calls).
///
/// ```
/// use eventgate::{Api, ApiContext, Endpoint};
/// use eventgate_asyncapi::ApiVersion;
///
/// let mut api = Api::new("Observer", ApiContext::new("/observer")?, ApiVersion::new("1.0.0")?);
/// api.endpoints.production = Some(Endpoint::new("http://localhost:8080")?);
/// api.plans.push("AsyncGold".parse()?);
/// assert_eq!(api.topics[0].template.as_str(), "/*");
/// api.validate()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Api {
    /// Name: 1 to 256 bytes, no `:` or control character.
    pub name: String,
    /// Context.
    pub context: ApiContext,
    /// Version.
    pub version: ApiVersion,
    /// Also served without the version (WSO2's "default version"). Default is false.
    pub default_version: bool,
    /// Description.
    pub description: Option<String>,
    /// Backend endpoints.
    pub endpoints: Endpoints,
    /// Client transports.
    pub transports: Transports,
    /// Topics (at least one, at most [`MAX_TOPICS`], templates unique).
    pub topics: Vec<Topic>,
    /// Business plans applications may subscribe under.
    pub plans: Vec<PlanName>,
    /// Accepted credentials.
    pub security: Security,
    /// CORS; `None`: no CORS headers (browsers on other origins are refused).
    pub cors: Option<Cors>,
    /// Relay settings.
    pub relay: RelaySettings,
    /// What is stripped before going upstream.
    pub strip: StripSettings,
}

impl Api {
    /// A new API with WSO2's defaults: the topic `/*`, OAuth2 bearer tokens, http and https,
    /// no plan, no endpoint.
    #[must_use]
    pub fn new(name: impl Into<String>, context: ApiContext, version: ApiVersion) -> Self {
        Api {
            name: name.into(),
            context,
            version,
            default_version: false,
            description: None,
            endpoints: Endpoints::default(),
            transports: Transports::default(),
            topics: vec![Topic::new(TopicTemplate::catch_all())],
            plans: Vec::new(),
            security: Security::default(),
            cors: None,
            relay: RelaySettings::default(),
            strip: StripSettings::default(),
        }
    }

    /// The API's id (`name:version`).
    #[must_use]
    pub fn id(&self) -> ApiId {
        ApiId::new(&self.name, &self.version)
    }

    /// The path the API is served under (see [`ApiContext::versioned_path`]).
    #[must_use]
    pub fn versioned_path(&self) -> String {
        self.context.versioned_path(self.version.as_str())
    }

    /// Checks every rule of the API on its own: the name, at least one transport, topics
    /// (some, not too many, unique, safe templates, backend mappings that only use the
    /// topic's variables), plans listed once, a credential source when a topic needs one,
    /// CORS origins.
    ///
    /// # Errors
    /// [`ModelError`] naming the rule.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_api_name(&self.name)?;
        if !self.transports.http && !self.transports.https {
            return Err(ModelError::NoTransport);
        }
        if self.topics.is_empty() {
            return Err(ModelError::NoTopic);
        }
        if self.topics.len() > MAX_TOPICS {
            return Err(ModelError::TooManyTopics {
                count: self.topics.len(),
                max: MAX_TOPICS,
            });
        }
        let mut seen = BTreeSet::new();
        for t in &self.topics {
            if !seen.insert(t.template.as_str()) {
                return Err(ModelError::Duplicate {
                    kind: "topic",
                    value: t.template.as_str().to_owned(),
                });
            }
            t.validate()?;
        }
        let mut plans = BTreeSet::new();
        for p in &self.plans {
            if !plans.insert(p.as_str()) {
                return Err(ModelError::Duplicate {
                    kind: "plan",
                    value: p.to_string(),
                });
            }
        }
        let has_source = self.security.bearer
            || self.security.api_key_header.is_some()
            || self.security.query_param.is_some();
        if !has_source && self.topics.iter().any(Topic::needs_credential) {
            return Err(ModelError::NoCredential);
        }
        if let Some(q) = &self.security.query_param
            && (q.is_empty()
                || !q
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
        {
            return Err(ModelError::invalid("query parameter name", q));
        }
        if let Some(c) = &self.cors {
            c.validate()?;
        }
        Ok(())
    }
}
