//! The SSE API view of an AsyncAPI document: [`ApiDefinition`], imported from any AsyncAPI 2.x or
//! 3.0 document (WSO2's included) and exported back, either in WSO2's exact shape or in
//! eventgate's own (WSO2's shape plus `x-eventgate-*` extensions, so nothing is lost).

use std::collections::BTreeMap;
use std::fmt;

mod export;
mod import;

use serde_json::Value;

use crate::Problem;
use crate::error::ModelError;
use crate::topic::{TopicError, TopicTemplate};
pub use eventgate_types::{NameError, PlanName, Scope};

/// A checked string type: `$kind` names it in [`ApiError::InvalidValue`], `$valid` accepts it.
macro_rules! string_newtype {
    ($(#[$m:meta])* $name:ident, $kind:literal, $(#[$new:meta])* |$s:ident| $valid:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps a value.
            $(#[$new])*
            ///
            /// # Errors
            /// [`ApiError::InvalidValue`].
            pub fn new($s: &str) -> Result<Self, ApiError> {
                if $valid {
                    Ok($name($s.to_owned()))
                } else {
                    Err(bad($kind, $s))
                }
            }

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
    Context,
    "context",
    ///
    /// ```
    /// use eventgate_asyncapi::Context;
    /// assert!(Context::new("/observer").is_ok());
    /// assert!(Context::new("observer").is_err());
    /// assert!(Context::new("/observer/").is_err());
    /// ```
    |s| s.len() > 1
        && s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains("//")
        && !s.contains(['{', '}', '?', '#', '*'])
        && !s.contains(char::is_whitespace)
);
string_newtype!(
    /// The API version, e.g. `1.0.0` (non-empty, no `/` or whitespace).
    ApiVersion,
    "version",
    |s| !s.is_empty() && !s.contains('/') && !s.contains(char::is_whitespace)
);
string_newtype!(
    /// An absolute `http://` or `https://` endpoint URL.
    EndpointUrl,
    "endpoint",
    |s| {
        let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"));
        rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !s.contains(char::is_whitespace))
    }
);

fn bad(kind: &'static str, value: &str) -> ApiError {
    ApiError::InvalidValue {
        kind,
        value: value.to_owned(),
    }
}

impl Context {
    /// A context derived from an API name: `/` plus the lower-cased name with every run of
    /// characters other than ASCII letters and digits turned into `-`.
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        let words = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty());
        let slug = words.collect::<Vec<_>>().join("-").to_ascii_lowercase();
        Context(format!("/{}", if slug.is_empty() { "api" } else { &slug }))
    }
}

impl EndpointUrl {
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
    /// The document breaks AsyncAPI rules (see [`Document::validate`](crate::Document::validate)).
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
    /// The document passed validation but does not fit the typed model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A plan or scope name that cannot be used.
    #[error(transparent)]
    InvalidName(#[from] NameError),
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

/// An enum of the fixed names documents write, with `as_str` and a crate-private `parse`.
macro_rules! names {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $variant,)*
        }

        impl $name {
            /// The name as documents write it.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s,)*
                }
            }

            fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

names! {
    /// Transports clients may use (`x-eventgate-transports`).
    #[derive(PartialOrd, Ord)]
    pub enum Transport {
        /// Plain HTTP.
        Http = "http",
        /// HTTP over TLS.
        Https = "https",
    }
}

names! {
    /// WSO2's `x-auth-type` values.
    #[derive(Default)]
    pub enum AuthType {
        /// `Any` (the default).
        #[default]
        Any = "Any",
        /// `None`: no authentication.
        None = "None",
        /// `Application`.
        Application = "Application",
        /// `Application_User`.
        ApplicationUser = "Application_User",
        /// `Application & Application User`.
        ApplicationAndUser = "Application & Application User",
    }
}

names! {
    /// WSO2 lifecycle states, written in capitals (`PUBLISHED`); read in any case.
    pub enum Lifecycle {
        /// Created.
        Created = "CREATED",
        /// Deployed as a prototype.
        Prototyped = "PROTOTYPED",
        /// Published.
        Published = "PUBLISHED",
        /// Blocked.
        Blocked = "BLOCKED",
        /// Deprecated.
        Deprecated = "DEPRECATED",
        /// Retired.
        Retired = "RETIRED",
    }
}

names! {
    /// How events reach subscribers of a topic (`x-eventgate-delivery-mode`).
    #[derive(Default)]
    pub enum DeliveryMode {
        /// One upstream connection per backend path, fanned out to every subscriber (default).
        #[default]
        Shared = "shared",
        /// One upstream connection per client connection.
        PerClient = "per-client",
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
}
