//! The SSE API view of an AsyncAPI document: [`ApiDefinition`], imported from any AsyncAPI 2.x or
//! 3.0 document (WSO2's included) and exported back, either in WSO2's exact shape or in
//! eventgate's own (WSO2's shape plus `x-eventgate-*` extensions, so nothing is lost).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

use crate::model::SpecVersion;
use crate::pointer::escape_token;
use crate::refs::{self, ref_of};
use crate::topic::{TopicError, TopicTemplate};
use crate::{Document, Problem};

macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The value as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// The context an API is served under, e.g. `/observer` (starts with `/`, no trailing `/`,
    /// no `{`, `}`, `?`, `#` or whitespace).
    Context
);
string_newtype!(
    /// The API version, e.g. `1.0.0` (non-empty, no `/` or whitespace).
    ApiVersion
);
string_newtype!(
    /// A business plan name, e.g. `AsyncGold` (non-empty, no whitespace).
    PlanName
);
string_newtype!(
    /// An OAuth2 scope name (non-empty, no whitespace).
    Scope
);
string_newtype!(
    /// An absolute `http://` or `https://` endpoint URL.
    EndpointUrl
);

fn bad(kind: &'static str, value: &str) -> ApiError {
    ApiError::InvalidValue {
        kind,
        value: value.to_owned(),
    }
}

impl Context {
    /// Checks and wraps a context.
    ///
    /// ```
    /// use eventgate_asyncapi::Context;
    /// assert!(Context::new("/observer").is_ok());
    /// assert!(Context::new("observer").is_err());
    /// assert!(Context::new("/observer/").is_err());
    /// ```
    ///
    /// # Errors
    /// [`ApiError::InvalidValue`].
    pub fn new(s: &str) -> Result<Self, ApiError> {
        let ok = s.len() > 1
            && s.starts_with('/')
            && !s.ends_with('/')
            && !s.contains("//")
            && !s.contains(['{', '}', '?', '#', '*'])
            && !s.contains(char::is_whitespace);
        if ok {
            Ok(Context(s.to_owned()))
        } else {
            Err(bad("context", s))
        }
    }

    /// A context derived from an API name: `/` plus the lower-cased name with every run of
    /// characters other than ASCII letters and digits turned into `-`.
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        let mut s = String::from("/");
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                s.push(c.to_ascii_lowercase());
            } else if !s.ends_with('-') && s.len() > 1 {
                s.push('-');
            }
        }
        while s.ends_with('-') {
            s.pop();
        }
        if s.len() == 1 {
            s.push_str("api");
        }
        Context(s)
    }
}

impl ApiVersion {
    /// Checks and wraps a version.
    ///
    /// # Errors
    /// [`ApiError::InvalidValue`].
    pub fn new(s: &str) -> Result<Self, ApiError> {
        if s.is_empty() || s.contains('/') || s.contains(char::is_whitespace) {
            Err(bad("version", s))
        } else {
            Ok(ApiVersion(s.to_owned()))
        }
    }
}

fn token(kind: &'static str, s: &str) -> Result<String, ApiError> {
    if s.is_empty() || s.contains(char::is_whitespace) || s.contains(',') {
        Err(bad(kind, s))
    } else {
        Ok(s.to_owned())
    }
}

impl PlanName {
    /// Checks and wraps a plan name.
    ///
    /// # Errors
    /// [`ApiError::InvalidValue`].
    pub fn new(s: &str) -> Result<Self, ApiError> {
        token("plan", s).map(PlanName)
    }
}

impl Scope {
    /// Checks and wraps a scope name.
    ///
    /// # Errors
    /// [`ApiError::InvalidValue`].
    pub fn new(s: &str) -> Result<Self, ApiError> {
        token("scope", s).map(Scope)
    }
}

impl EndpointUrl {
    /// Checks and wraps an endpoint URL.
    ///
    /// # Errors
    /// [`ApiError::InvalidValue`].
    pub fn new(s: &str) -> Result<Self, ApiError> {
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"));
        match rest {
            Some(r) if !r.is_empty() && !r.starts_with('/') && !s.contains(char::is_whitespace) => {
                Ok(EndpointUrl(s.to_owned()))
            }
            _ => Err(bad("endpoint", s)),
        }
    }

    /// `(scheme, host[:port], path)`; the path is `/` when the URL has none.
    fn parts(&self) -> (&str, &str, &str) {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("http", &self.0));
        match rest.find('/') {
            Some(p) => (scheme, &rest[..p], &rest[p..]),
            None => (scheme, rest, "/"),
        }
    }
}

/// Something wrong while building or importing an [`ApiDefinition`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The document breaks AsyncAPI rules (see [`Document::validate`]).
    #[error("the AsyncAPI document is invalid ({} problems, first: {})", .0.len(), .0.first().map_or("", |p| p.message.as_str()))]
    Invalid(Vec<Problem>),
    /// SSE topics are subscribe-only: a `publish` (2.x) or `send` (3.0) operation is rejected
    /// (WSO2 answers 903202 with 400).
    #[error("channel '{channel}' has a publish operation; SSE topics are subscribe-only")]
    PublishOperation {
        /// The channel name or address.
        channel: String,
    },
    /// A topic template is not valid.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// A value does not fit its type.
    #[error("invalid {kind} '{value}'")]
    InvalidValue {
        /// Which kind of value.
        kind: &'static str,
        /// The value.
        value: String,
    },
    /// Two topics with the same template.
    #[error("topic '{0}' is defined twice")]
    DuplicateTopic(String),
}

/// Production and sandbox endpoints (the backend URLs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoints {
    /// Production endpoint.
    pub production: Option<EndpointUrl>,
    /// Sandbox endpoint.
    pub sandbox: Option<EndpointUrl>,
}

/// Transports clients may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https => "https",
        }
    }
}

/// WSO2's `x-auth-type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AuthType {
    /// `Any` (the default).
    #[default]
    Any,
    /// `None`: no authentication.
    None,
    /// `Application`.
    Application,
    /// `Application_User`.
    ApplicationUser,
    /// `Application & Application User`.
    ApplicationAndUser,
}

impl AuthType {
    /// The string WSO2 writes.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Any => "Any",
            AuthType::None => "None",
            AuthType::Application => "Application",
            AuthType::ApplicationUser => "Application_User",
            AuthType::ApplicationAndUser => "Application & Application User",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Any" => AuthType::Any,
            "None" => AuthType::None,
            "Application" => AuthType::Application,
            "Application_User" => AuthType::ApplicationUser,
            "Application & Application User" => AuthType::ApplicationAndUser,
            _ => return None,
        })
    }
}

/// WSO2 lifecycle states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lifecycle {
    /// Created.
    Created,
    /// Deployed as a prototype.
    Prototyped,
    /// Published.
    Published,
    /// Blocked.
    Blocked,
    /// Deprecated.
    Deprecated,
    /// Retired.
    Retired,
}

impl Lifecycle {
    const ALL: [Lifecycle; 6] = [
        Lifecycle::Created,
        Lifecycle::Prototyped,
        Lifecycle::Published,
        Lifecycle::Blocked,
        Lifecycle::Deprecated,
        Lifecycle::Retired,
    ];

    /// The state's name as WSO2 writes it (`PUBLISHED`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Created => "CREATED",
            Lifecycle::Prototyped => "PROTOTYPED",
            Lifecycle::Published => "PUBLISHED",
            Lifecycle::Blocked => "BLOCKED",
            Lifecycle::Deprecated => "DEPRECATED",
            Lifecycle::Retired => "RETIRED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
    }
}

/// How events reach subscribers of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DeliveryMode {
    /// One upstream connection per backend path, fanned out to every subscriber (default).
    #[default]
    Shared,
    /// One upstream connection per client connection.
    PerClient,
}

impl DeliveryMode {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::Shared => "shared",
            DeliveryMode::PerClient => "per-client",
        }
    }
}

/// A declared topic parameter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicParameter {
    /// Description.
    pub description: Option<String>,
    /// JSON schema of the value.
    pub schema: Option<Value>,
}

/// One SSE topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The client-facing template (the channel name).
    pub template: TopicTemplate,
    /// Backend path template the topic maps to; `None`: the request path itself (WSO2's rule).
    pub backend: Option<TopicTemplate>,
    /// Parameters of the template, by name.
    pub parameters: BTreeMap<String, TopicParameter>,
    /// Description.
    pub description: Option<String>,
    /// JSON schema of the event payload.
    pub message_schema: Option<Value>,
    /// Scopes a token needs for this topic (`x-scopes`).
    pub scopes: Vec<Scope>,
    /// WSO2 `x-auth-type` of the topic.
    pub auth_type: AuthType,
}

impl Topic {
    /// A topic with nothing but its template.
    #[must_use]
    pub fn new(template: TopicTemplate) -> Self {
        Topic {
            template,
            backend: None,
            parameters: BTreeMap::new(),
            description: None,
            message_schema: None,
            scopes: Vec::new(),
            auth_type: AuthType::Any,
        }
    }
}

/// Scope details of the OAuth2 scheme.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeInfo {
    /// Description.
    pub description: String,
    /// Roles bound to the scope (WSO2 `x-scopes-bindings`, written comma-separated).
    pub roles: Vec<String>,
}

/// The security an API declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// OAuth2 (WSO2's default scheme, an implicit flow). `None`: not declared.
    pub oauth2: Option<OAuth2>,
    /// API key in a header of this name (`httpApiKey`, `in: header`).
    pub api_key_header: Option<String>,
    /// Bearer JWT (`http`, `scheme: bearer`, `bearerFormat: JWT`).
    pub bearer_jwt: bool,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            oauth2: Some(OAuth2::default()),
            api_key_header: None,
            bearer_jwt: false,
        }
    }
}

/// The OAuth2 scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// Authorization URL of the implicit flow. Default is WSO2's placeholder `http://localhost:9999`.
    pub authorization_url: String,
    /// Scopes by name.
    pub scopes: BTreeMap<Scope, ScopeInfo>,
}

impl Default for OAuth2 {
    fn default() -> Self {
        OAuth2 {
            authorization_url: "http://localhost:9999".to_owned(),
            scopes: BTreeMap::new(),
        }
    }
}

/// An SSE API as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiDefinition {
    /// Name (AsyncAPI `info.title`).
    pub name: String,
    /// Context.
    pub context: Context,
    /// Version (`info.version`).
    pub version: ApiVersion,
    /// Description (`info.description`).
    pub description: Option<String>,
    /// Backend endpoints.
    pub endpoints: Endpoints,
    /// Allowed client transports.
    pub transports: Vec<Transport>,
    /// Topics, kept in precedence order (see [`crate::topic`]).
    pub topics: Vec<Topic>,
    /// Security schemes.
    pub security: Security,
    /// Business plans offered.
    pub plans: Vec<PlanName>,
    /// Lifecycle state hint.
    pub lifecycle: Option<Lifecycle>,
    /// Delivery mode.
    pub delivery: DeliveryMode,
}

/// Which AsyncAPI version an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputVersion {
    /// 2.x (`2.6.0`, or `2.0.0` in WSO2 mode).
    V2,
    /// `3.0.0`.
    V3,
}

/// Options of [`ApiDefinition::to_asyncapi`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub struct ExportOptions {
    version: OutputVersion,
    wso2: bool,
}

impl ExportOptions {
    /// eventgate's own export (2.6.0 or 3.0.0, with `x-eventgate-*` extensions: lossless).
    pub const fn eventgate(version: OutputVersion) -> Self {
        ExportOptions {
            version,
            wso2: false,
        }
    }

    /// WSO2's exact shape (2.0.0 or 3.0.0, WSO2 extensions only; eventgate-only settings are
    /// left out).
    pub const fn wso2(version: OutputVersion) -> Self {
        ExportOptions {
            version,
            wso2: true,
        }
    }
}

const X_NAME: &str = "x-eventgate-name";
const X_CONTEXT: &str = "x-eventgate-context";
const X_TRANSPORTS: &str = "x-eventgate-transports";
const X_PLANS: &str = "x-eventgate-plans";
const X_LIFECYCLE: &str = "x-eventgate-lifecycle";
const X_DELIVERY: &str = "x-eventgate-delivery-mode";
const X_BACKEND: &str = "x-eventgate-backend-path";
const X_URL: &str = "x-eventgate-url";
const X_SCHEMA: &str = "x-eventgate-schema";

impl ApiDefinition {
    /// A new API: WSO2's defaults (topic `/*`, OAuth2, http and https, no plans).
    ///
    /// ```
    /// use eventgate_asyncapi::{ApiDefinition, ApiVersion, Context};
    /// let api = ApiDefinition::new("Observer", Context::new("/observer").unwrap(), ApiVersion::new("1.0.0").unwrap());
    /// assert_eq!(api.topics[0].template.as_str(), "/*");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, context: Context, version: ApiVersion) -> Self {
        ApiDefinition {
            name: name.into(),
            context,
            version,
            description: None,
            endpoints: Endpoints::default(),
            transports: vec![Transport::Http, Transport::Https],
            topics: vec![Topic::new(TopicTemplate::catch_all())],
            security: Security::default(),
            plans: Vec::new(),
            lifecycle: None,
            delivery: DeliveryMode::Shared,
        }
    }

    /// Sorts topics by precedence (import does this; call it after editing `topics`).
    pub fn sort_topics(&mut self) {
        self.topics
            .sort_by(|a, b| a.template.precedence(&b.template));
    }

    /// Imports an SSE API from an AsyncAPI 2.x or 3.0 document (WSO2's included).
    ///
    /// Name, context and version come from `x-eventgate-*` when present, else from `info.title`
    /// (context derived from it, see [`Context::from_name`]) and `info.version`.
    ///
    /// ```
    /// use eventgate_asyncapi::{ApiDefinition, Document};
    /// let doc = Document::parse(r#"{"asyncapi":"2.0.0","info":{"title":"Observer","version":"1.0.0"},
    ///   "servers":{"production":{"url":"http://localhost:8080","protocol":"sse"}},
    ///   "channels":{"/*":{"subscribe":{}}}}"#).unwrap();
    /// let api = ApiDefinition::from_asyncapi(&doc).unwrap();
    /// assert_eq!(api.context.as_str(), "/observer");
    /// assert_eq!(api.endpoints.production.unwrap().as_str(), "http://localhost:8080");
    /// ```
    ///
    /// # Errors
    /// [`ApiError::Invalid`] with every problem when the document is invalid,
    /// [`ApiError::PublishOperation`] for a publish/send operation, or a value error.
    pub fn from_asyncapi(doc: &Document) -> Result<Self, ApiError> {
        let report = doc.validate();
        if !report.is_valid() {
            return Err(ApiError::Invalid(report.problems));
        }
        let root = doc.value();
        let line = doc
            .version()
            .and_then(SpecVersion::of)
            .ok_or_else(|| ApiError::Invalid(Vec::new()))?;
        let info = root.get("info").unwrap_or(&Value::Null);
        let title = str_at(info, "title").unwrap_or_default();
        let name = str_at(root, X_NAME).unwrap_or(title).to_owned();
        let context = match str_at(root, X_CONTEXT) {
            Some(c) => Context::new(c)?,
            None => Context::from_name(&name),
        };
        let version = ApiVersion::new(str_at(info, "version").unwrap_or_default())?;
        let mut api = ApiDefinition::new(name, context, version);
        api.description = str_at(info, "description").map(str::to_owned);
        api.topics.clear();

        // Endpoints.
        if let Some(servers) = root.get("servers").and_then(Value::as_object) {
            let url_of = |s: &Value| -> Option<String> {
                let s = refs::deref(root, s)?;
                if let Some(u) = str_at(s, X_URL) {
                    return Some(u.to_owned());
                }
                match line {
                    SpecVersion::V2 => str_at(s, "url").map(str::to_owned),
                    SpecVersion::V3 => {
                        let host = str_at(s, "host")?;
                        let path = str_at(s, "pathname").unwrap_or("");
                        let scheme = match str_at(s, "protocol") {
                            Some("https" | "wss") => "https",
                            _ => "http",
                        };
                        let path = if path == "/" { "" } else { path };
                        Some(format!("{scheme}://{host}{path}"))
                    }
                }
            };
            // Production: the server named `production`, else the first one not named
            // `sandbox`. URLs that are not http(s) (an MQTT broker, say) are not SSE endpoints
            // and are left out.
            let production = servers.get("production").or_else(|| {
                servers
                    .iter()
                    .find(|(k, _)| *k != "sandbox")
                    .map(|(_, v)| v)
            });
            api.endpoints.production = production
                .and_then(url_of)
                .and_then(|u| EndpointUrl::new(&u).ok());
            api.endpoints.sandbox = servers
                .get("sandbox")
                .and_then(url_of)
                .and_then(|u| EndpointUrl::new(&u).ok());
        }
        if let Some(t) = root.get(X_TRANSPORTS).and_then(Value::as_array) {
            api.transports = t
                .iter()
                .filter_map(Value::as_str)
                .map(|s| match s {
                    "http" => Ok(Transport::Http),
                    "https" => Ok(Transport::Https),
                    other => Err(bad("transport", other)),
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(p) = root.get(X_PLANS).and_then(Value::as_array) {
            api.plans = p
                .iter()
                .filter_map(Value::as_str)
                .map(PlanName::new)
                .collect::<Result<_, _>>()?;
        }
        if let Some(l) = str_at(root, X_LIFECYCLE) {
            api.lifecycle = Some(Lifecycle::parse(l).ok_or_else(|| bad("lifecycle", l))?);
        }
        if let Some(d) = str_at(root, X_DELIVERY) {
            api.delivery = match d {
                "shared" => DeliveryMode::Shared,
                "per-client" => DeliveryMode::PerClient,
                other => return Err(bad("delivery mode", other)),
            };
        }
        api.security = import_security(root, line)?;

        // Topics.
        let channels = root.get("channels").and_then(Value::as_object);
        match line {
            SpecVersion::V2 => {
                for (name, ch) in channels.into_iter().flatten() {
                    let Some(ch) = refs::deref(root, ch) else {
                        continue;
                    };
                    if ch.get("publish").is_some() {
                        return Err(ApiError::PublishOperation {
                            channel: name.clone(),
                        });
                    }
                    let Some(op) = ch.get("subscribe") else {
                        continue;
                    };
                    let message = op.get("message").and_then(|m| refs::deref(root, m));
                    let message = message.map(|m| match m.get("oneOf").and_then(Value::as_array) {
                        Some(a) => a.first().and_then(|x| refs::deref(root, x)),
                        None => Some(m),
                    });
                    api.topics
                        .push(import_topic(root, name, ch, op, message.flatten())?);
                }
            }
            SpecVersion::V3 => {
                let ops = root.get("operations").and_then(Value::as_object);
                for op in ops.into_iter().flatten().map(|(_, o)| o) {
                    let Some(op) = refs::deref(root, op) else {
                        continue;
                    };
                    let Some(ch) = op
                        .get("channel")
                        .and_then(ref_of)
                        .and_then(|r| refs::resolve(root, r).ok())
                    else {
                        continue;
                    };
                    let address = str_at(ch, "address").unwrap_or_default().to_owned();
                    if str_at(op, "action") == Some("send") {
                        return Err(ApiError::PublishOperation { channel: address });
                    }
                    let message = op
                        .get("messages")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .and_then(|m| refs::deref(root, m))
                        .or_else(|| {
                            ch.get("messages")
                                .and_then(Value::as_object)
                                .and_then(|m| m.values().next())
                                .and_then(|m| refs::deref(root, m))
                        });
                    api.topics
                        .push(import_topic(root, &address, ch, op, message)?);
                }
            }
        }
        api.sort_topics();
        for w in api.topics.windows(2) {
            if let [a, b] = w
                && a.template == b.template
            {
                return Err(ApiError::DuplicateTopic(a.template.as_str().to_owned()));
            }
        }
        Ok(api)
    }

    /// Exports the API as an AsyncAPI document (a JSON value).
    ///
    /// ```
    /// use eventgate_asyncapi::{ApiDefinition, ApiVersion, Context, EndpointUrl, ExportOptions, OutputVersion};
    /// let mut api = ApiDefinition::new("Observer", Context::new("/observer").unwrap(), ApiVersion::new("1.0.0").unwrap());
    /// api.endpoints.production = Some(EndpointUrl::new("http://localhost:8080").unwrap());
    /// api.endpoints.sandbox = api.endpoints.production.clone();
    /// let doc = api.to_asyncapi(ExportOptions::wso2(OutputVersion::V2));
    /// assert_eq!(doc, serde_json::json!({"asyncapi":"2.0.0","info":{"title":"Observer","version":"1.0.0"},
    ///  "servers":{"production":{"url":"http://localhost:8080","protocol":"sse"},
    ///             "sandbox":{"url":"http://localhost:8080","protocol":"sse"}},
    ///  "channels":{"/*":{"subscribe":{}}},
    ///  "components":{"securitySchemes":{"oauth2":{"type":"oauth2","flows":{"implicit":{
    ///    "authorizationUrl":"http://localhost:9999","scopes":{},"x-scopes-bindings":{}}}}}}}));
    /// ```
    #[must_use]
    pub fn to_asyncapi(&self, options: ExportOptions) -> Value {
        let v3 = options.version == OutputVersion::V3;
        let mut root = Map::new();
        root.insert(
            "asyncapi".into(),
            json!(match (v3, options.wso2) {
                (true, _) => "3.0.0",
                (false, true) => "2.0.0",
                (false, false) => "2.6.0",
            }),
        );
        let mut info = Map::new();
        info.insert("title".into(), json!(self.name));
        info.insert("version".into(), json!(self.version.as_str()));
        if let Some(d) = &self.description {
            info.insert("description".into(), json!(d));
        }
        root.insert("info".into(), Value::Object(info));

        let mut servers = Map::new();
        for (key, ep) in [
            ("production", &self.endpoints.production),
            ("sandbox", &self.endpoints.sandbox),
        ] {
            let Some(ep) = ep else { continue };
            let server = if v3 {
                let (scheme, host, path) = ep.parts();
                let mut s = Map::new();
                s.insert("host".into(), json!(host));
                s.insert("pathname".into(), json!(path));
                s.insert("protocol".into(), json!("sse"));
                let rebuilt = format!("{scheme}://{host}{}", if path == "/" { "" } else { path });
                if !options.wso2 && (scheme != "http" || rebuilt != ep.as_str()) {
                    s.insert(X_URL.into(), json!(ep.as_str()));
                }
                Value::Object(s)
            } else {
                json!({"url": ep.as_str(), "protocol": "sse"})
            };
            servers.insert(key.into(), server);
        }
        if !servers.is_empty() {
            root.insert("servers".into(), Value::Object(servers));
        }

        let mut channels = Map::new();
        let mut operations = Map::new();
        for topic in &self.topics {
            let t = topic.template.as_str();
            let mut ch = Map::new();
            let mut op = Map::new();
            if let Some(d) = &topic.description {
                ch.insert("description".into(), json!(d));
            }
            if !topic.parameters.is_empty() {
                let mut params = Map::new();
                for (name, p) in &topic.parameters {
                    let mut pm = Map::new();
                    if let Some(d) = &p.description {
                        pm.insert("description".into(), json!(d));
                    }
                    if let Some(s) = &p.schema {
                        if !v3 {
                            pm.insert("schema".into(), s.clone());
                        } else if !options.wso2 {
                            // 3.0 parameters have no schema: keep it in an extension.
                            pm.insert(X_SCHEMA.into(), s.clone());
                        }
                    }
                    params.insert(name.clone(), Value::Object(pm));
                }
                ch.insert("parameters".into(), Value::Object(params));
            }
            if topic.auth_type != AuthType::Any {
                ch.insert("x-auth-type".into(), json!(topic.auth_type.as_str()));
            }
            if !options.wso2
                && let Some(b) = &topic.backend
            {
                ch.insert(X_BACKEND.into(), json!(b.as_str()));
            }
            if !topic.scopes.is_empty() {
                op.insert(
                    "x-scopes".into(),
                    json!(topic.scopes.iter().map(Scope::as_str).collect::<Vec<_>>()),
                );
            }
            let channel_key = t.strip_prefix('/').unwrap_or(t).to_owned();
            if v3 {
                ch.insert("address".into(), json!(t));
                let channel_ref = format!("#/channels/{}", escape_token(&channel_key));
                if let Some(schema) = &topic.message_schema {
                    ch.insert("messages".into(), json!({"event": {"payload": schema}}));
                    op.insert(
                        "messages".into(),
                        json!([{"$ref": format!("{channel_ref}/messages/event")}]),
                    );
                }
                op.insert("action".into(), json!("receive"));
                op.insert("channel".into(), json!({"$ref": channel_ref}));
                operations.insert(format!("receive_{t}"), Value::Object(op));
                channels.insert(channel_key, Value::Object(ch));
            } else {
                if let Some(schema) = &topic.message_schema {
                    op.insert("message".into(), json!({"payload": schema}));
                }
                ch.insert("subscribe".into(), Value::Object(op));
                channels.insert(t.to_owned(), Value::Object(ch));
            }
        }
        root.insert("channels".into(), Value::Object(channels));
        if v3 {
            root.insert("operations".into(), Value::Object(operations));
        }

        let schemes = export_security(&self.security, v3);
        if !schemes.is_empty() {
            root.insert(
                "components".into(),
                json!({"securitySchemes": Value::Object(schemes)}),
            );
        }
        if !options.wso2 {
            root.insert(X_NAME.into(), json!(self.name));
            root.insert(X_CONTEXT.into(), json!(self.context.as_str()));
            root.insert(
                X_TRANSPORTS.into(),
                json!(
                    self.transports
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                ),
            );
            root.insert(
                X_PLANS.into(),
                json!(self.plans.iter().map(PlanName::as_str).collect::<Vec<_>>()),
            );
            if let Some(l) = self.lifecycle {
                root.insert(X_LIFECYCLE.into(), json!(l.as_str()));
            }
            root.insert(X_DELIVERY.into(), json!(self.delivery.as_str()));
        }
        Value::Object(root)
    }
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn import_topic(
    root: &Value,
    name: &str,
    ch: &Value,
    op: &Value,
    message: Option<&Value>,
) -> Result<Topic, ApiError> {
    let mut topic = Topic::new(TopicTemplate::new(name)?);
    topic.description = str_at(ch, "description").map(str::to_owned);
    if let Some(params) = ch.get("parameters").and_then(Value::as_object) {
        for (pname, p) in params {
            let p = refs::deref(root, p).unwrap_or(&Value::Null);
            topic.parameters.insert(
                pname.clone(),
                TopicParameter {
                    description: str_at(p, "description").map(str::to_owned),
                    schema: p.get("schema").or_else(|| p.get(X_SCHEMA)).cloned(),
                },
            );
        }
    }
    if let Some(a) = str_at(ch, "x-auth-type") {
        topic.auth_type = AuthType::parse(a).ok_or_else(|| bad("x-auth-type", a))?;
    }
    let backend = str_at(ch, X_BACKEND).or_else(|| str_at(op, "x-uri-mapping"));
    if let Some(b) = backend {
        topic.backend = Some(TopicTemplate::new(b)?);
    }
    if let Some(scopes) = op.get("x-scopes").and_then(Value::as_array) {
        topic.scopes = scopes
            .iter()
            .filter_map(Value::as_str)
            .map(Scope::new)
            .collect::<Result<_, _>>()?;
    }
    if let Some(m) = message {
        let payload = m.get("payload").map(|p| {
            // 3.0 multi-format schema: take the schema.
            match p.get("schemaFormat").and(p.get("schema")) {
                Some(s) => s,
                None => p,
            }
        });
        topic.message_schema = payload.and_then(|p| refs::deref(root, p)).cloned();
    }
    Ok(topic)
}

fn import_security(root: &Value, line: SpecVersion) -> Result<Security, ApiError> {
    let mut sec = Security {
        oauth2: None,
        api_key_header: None,
        bearer_jwt: false,
    };
    let Some(schemes) = root
        .get("components")
        .and_then(|c| c.get("securitySchemes"))
        .and_then(Value::as_object)
    else {
        return Ok(sec);
    };
    let scopes_key = match line {
        SpecVersion::V2 => "scopes",
        SpecVersion::V3 => "availableScopes",
    };
    for s in schemes.values() {
        let Some(s) = refs::deref(root, s) else {
            continue;
        };
        match str_at(s, "type") {
            Some("oauth2") if sec.oauth2.is_none() => {
                let flows = s.get("flows").unwrap_or(&Value::Null);
                let flow = [
                    "implicit",
                    "authorizationCode",
                    "clientCredentials",
                    "password",
                ]
                .iter()
                .find_map(|k| flows.get(*k))
                .unwrap_or(&Value::Null);
                let mut o = OAuth2 {
                    authorization_url: str_at(flow, "authorizationUrl")
                        .or_else(|| str_at(flow, "tokenUrl"))
                        .unwrap_or("http://localhost:9999")
                        .to_owned(),
                    scopes: BTreeMap::new(),
                };
                let bindings = flow.get("x-scopes-bindings");
                if let Some(sc) = flow.get(scopes_key).and_then(Value::as_object) {
                    for (k, d) in sc {
                        let roles = bindings
                            .and_then(|b| b.get(k))
                            .and_then(Value::as_str)
                            .map(|r| {
                                r.split(',')
                                    .map(str::trim)
                                    .filter(|r| !r.is_empty())
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default();
                        o.scopes.insert(
                            Scope::new(k)?,
                            ScopeInfo {
                                description: d.as_str().unwrap_or_default().to_owned(),
                                roles,
                            },
                        );
                    }
                }
                sec.oauth2 = Some(o);
            }
            Some("httpApiKey") if str_at(s, "in") == Some("header") => {
                sec.api_key_header = str_at(s, "name").map(str::to_owned);
            }
            Some("http")
                if str_at(s, "scheme").is_some_and(|x| x.eq_ignore_ascii_case("bearer")) =>
            {
                sec.bearer_jwt = true;
            }
            _ => {}
        }
    }
    Ok(sec)
}

fn export_security(sec: &Security, v3: bool) -> Map<String, Value> {
    let mut schemes = Map::new();
    if let Some(o) = &sec.oauth2 {
        let mut scopes = Map::new();
        let mut bindings = Map::new();
        for (k, info) in &o.scopes {
            scopes.insert(k.as_str().to_owned(), json!(info.description));
            if !info.roles.is_empty() {
                bindings.insert(k.as_str().to_owned(), json!(info.roles.join(",")));
            }
        }
        let key = if v3 { "availableScopes" } else { "scopes" };
        let mut implicit = Map::new();
        implicit.insert("authorizationUrl".into(), json!(o.authorization_url));
        implicit.insert(key.into(), Value::Object(scopes));
        implicit.insert("x-scopes-bindings".into(), Value::Object(bindings));
        schemes.insert(
            "oauth2".into(),
            json!({"type": "oauth2", "flows": {"implicit": Value::Object(implicit)}}),
        );
    }
    if let Some(h) = &sec.api_key_header {
        schemes.insert(
            "apiKey".into(),
            json!({"type": "httpApiKey", "name": h, "in": "header"}),
        );
    }
    if sec.bearer_jwt {
        schemes.insert(
            "jwt".into(),
            json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
        );
    }
    schemes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observer() -> ApiDefinition {
        let mut api = ApiDefinition::new(
            "Observer",
            Context::new("/observer").unwrap(),
            ApiVersion::new("1.0.0").unwrap(),
        );
        api.endpoints.production = Some(EndpointUrl::new("http://localhost:8080").unwrap());
        api.endpoints.sandbox = api.endpoints.production.clone();
        api
    }

    #[test]
    fn wso2_v3_export_has_receive_operation_on_star_channel() {
        let v = observer().to_asyncapi(ExportOptions::wso2(OutputVersion::V3));
        assert_eq!(
            v["servers"]["production"],
            json!({"host": "localhost:8080", "pathname": "/", "protocol": "sse"})
        );
        assert_eq!(v["channels"]["*"], json!({"address": "/*"}));
        assert_eq!(
            v["operations"]["receive_/*"],
            json!({"action": "receive", "channel": {"$ref": "#/channels/*"}})
        );
        assert!(Document::from_value(v).validate().is_valid());
    }

    #[test]
    fn publish_operation_is_rejected_on_import() {
        let doc = Document::parse(
            r#"{"asyncapi":"2.0.0","info":{"title":"T","version":"1"},
                "channels":{"/in":{"publish":{}}}}"#,
        )
        .unwrap();
        assert!(matches!(
            ApiDefinition::from_asyncapi(&doc),
            Err(ApiError::PublishOperation { channel }) if channel == "/in"
        ));
    }

    #[test]
    fn send_operation_is_rejected_on_v3_import() {
        let mut v = observer().to_asyncapi(ExportOptions::wso2(OutputVersion::V3));
        v["operations"]["receive_/*"]["action"] = json!("send");
        let err = ApiDefinition::from_asyncapi(&Document::from_value(v)).unwrap_err();
        assert!(matches!(err, ApiError::PublishOperation { .. }));
    }

    #[test]
    fn context_from_name_is_lowercase_dashed() {
        assert_eq!(
            Context::from_name("Stock Quotes API!").as_str(),
            "/stock-quotes-api"
        );
        assert_eq!(Context::from_name("***").as_str(), "/api");
    }

    #[test]
    fn invalid_document_import_lists_problems() {
        let doc =
            Document::parse(r#"{"asyncapi":"2.6.0","info":{"title":"T"},"channels":{}}"#).unwrap();
        match ApiDefinition::from_asyncapi(&doc) {
            Err(ApiError::Invalid(p)) => assert_eq!(p[0].pointer, "/info"),
            other => panic!("{other:?}"),
        }
    }
}
