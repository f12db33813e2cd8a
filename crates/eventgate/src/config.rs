//! The gateway's configuration file: one declarative TOML document for listeners,
//! environments, APIs (topics, plans, security, CORS, relay settings), user-defined plans,
//! applications, subscriptions and API keys. `docs/configuration.md` documents every field.
//!
//! [`Config::from_str`] reads and checks the whole file: unknown keys, wrong types, values
//! that break a rule of the model, references to plans, applications or APIs that do not
//! exist, and every [`Registry`] rule (the file is applied to a scratch registry). Every
//! error is a [`ConfigError`] naming the file, the line and column, and the key
//! (`apis[0].topics[1].backend`). [`Config::apply`] then loads the environments and APIs
//! into a registry in one transaction; the policy part (plans, applications, subscriptions,
//! keys) is left as typed values for the request path to load into its policy gate.
//!
//! Reading is sans-IO: [`Config::from_str`] takes the text; [`Config::load`] is a
//! convenience that reads a file with `std::fs` (blocking: call it before serving, or from
//! a blocking thread).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eventgate_asyncapi::{ApiVersion, AuthType, DeliveryMode, TopicTemplate};
use eventgate_policy::{Algorithm, ClaimsMapping, KeyType, MAX_LEEWAY, SubscriptionState};
use eventgate_types::{PlanName, Scope};
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use toml::Spanned;

use crate::error::{ModelError, RegistryError};
use crate::model::{
    Api, ApiContext, ApiId, Cors, Endpoint, Environment, EnvironmentType, Hostname, Lifecycle,
    RelaySettings, Security, StripSettings, Topic, Transports, UnknownIdPolicy, Vhost,
};
use crate::registry::{Registry, Transaction};

/// The business plans WSO2 API Manager defines for SSE APIs (built in, always known).
pub const BUILTIN_PLANS: [&str; 5] = [
    "AsyncGold",
    "AsyncSilver",
    "AsyncBronze",
    "AsyncUnlimited",
    "AsyncDefaultSubscriptionless",
];

/// The largest configuration file read, in bytes.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024 * 1024;

/// Default header-read timeout of a listener.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Errors

/// What is wrong, in a [`ConfigError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file cannot be read.
    #[error("cannot read the file: {0}")]
    Io(#[source] std::io::Error),
    /// Larger than [`MAX_CONFIG_BYTES`].
    #[error("the file is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge,
    /// Not valid TOML, or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// A key the format does not have.
    #[error("unknown key '{0}'")]
    UnknownKey(String),
    /// A value that does not fit its field.
    #[error("{0}")]
    Invalid(String),
    /// A value that breaks a rule of the model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A change the registry refuses.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A reference to something the file (or, for plans, WSO2's built-in list) does not
    /// define.
    #[error("unknown {kind} '{name}'")]
    UnknownReference {
        /// `plan`, `application`, `API` or `environment`.
        kind: &'static str,
        /// The name used.
        name: String,
    },
    /// Two entries with the same name.
    #[error("{kind} '{name}' is defined twice")]
    Duplicate {
        /// What kind of entry.
        kind: &'static str,
        /// Its name.
        name: String,
    },
}

/// A configuration error with its place: file, line, column (1-based) and key.
#[derive(Debug)]
pub struct ConfigError(Box<ErrorInner>);

#[derive(Debug)]
struct ErrorInner {
    file: String,
    line: usize,
    column: usize,
    key: Option<String>,
    kind: ConfigErrorKind,
}

impl ConfigError {
    fn new(
        file: &str,
        line: usize,
        column: usize,
        key: Option<String>,
        kind: ConfigErrorKind,
    ) -> Self {
        ConfigError(Box::new(ErrorInner {
            file: file.to_owned(),
            line,
            column,
            key,
            kind,
        }))
    }
}

impl ConfigError {
    /// The file name given to [`Config::from_str`] or [`Config::load`].
    #[must_use]
    pub fn file(&self) -> &str {
        &self.0.file
    }

    /// The line (1-based; 0 when the error is about the whole file).
    #[must_use]
    pub fn line(&self) -> usize {
        self.0.line
    }

    /// The column (1-based, in characters; 0 when unknown).
    #[must_use]
    pub fn column(&self) -> usize {
        self.0.column
    }

    /// The key, as a path (`apis[0].cors.origins`), when known.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> &ConfigErrorKind {
        &self.0.kind
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(f, "{}", e.file)?;
        if e.line > 0 {
            write!(f, ":{}:{}", e.line, e.column)?;
        }
        if let Some(k) = &e.key {
            write!(f, ": {k}")?;
        }
        write!(f, ": {}", e.kind)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.kind.source()
    }
}

/// A place in the file: what errors found after parsing point at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Place {
    line: usize,
    column: usize,
    key: String,
}

struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn place(&self, span: &Range<usize>, key: String) -> Place {
        let (line, column) = line_col(self.text, span.start);
        Place { line, column, key }
    }

    fn err(
        &self,
        span: &Range<usize>,
        key: String,
        kind: impl Into<ConfigErrorKind>,
    ) -> ConfigError {
        let p = self.place(span, key);
        at(self.file, &p, kind.into())
    }
}

fn at(file: &str, p: &Place, kind: ConfigErrorKind) -> ConfigError {
    ConfigError::new(
        file,
        p.line,
        p.column,
        (!p.key.is_empty()).then(|| p.key.clone()),
        kind,
    )
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before, |i| &before[i + 1..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The dotted path of the innermost key whose key or value covers `offset`. Spans of
/// `[table]` and `[[array]]` headers cover the header only, so every table is searched.
fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let (root, _) = toml::de::DeTable::parse_recoverable(text);
    search_table(root.get_ref(), offset)
}

fn search_table(t: &toml::de::DeTable<'_>, offset: usize) -> Option<String> {
    t.iter().find_map(|(k, v)| {
        let here = k.span().contains(&offset) || v.span().contains(&offset);
        match search_value(v.get_ref(), offset) {
            Some(deeper) if deeper.starts_with('[') => Some(format!("{}{deeper}", k.get_ref())),
            Some(deeper) => Some(format!("{}.{deeper}", k.get_ref())),
            None => here.then(|| k.get_ref().to_string()),
        }
    })
}

fn search_value(v: &toml::de::DeValue<'_>, offset: usize) -> Option<String> {
    match v {
        toml::de::DeValue::Table(t) => search_table(t, offset),
        toml::de::DeValue::Array(a) => {
            a.iter()
                .enumerate()
                .find_map(|(i, item)| match search_value(item.get_ref(), offset) {
                    Some(deeper) if deeper.starts_with('[') => Some(format!("[{i}]{deeper}")),
                    Some(deeper) => Some(format!("[{i}].{deeper}")),
                    None => item.span().contains(&offset).then(|| format!("[{i}]")),
                })
        }
        _ => None,
    }
}

fn syntax_error(file: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let msg = e.message().trim().to_owned();
    let (line, column, key) = match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            (l, c, key_path_at(text, span.start))
        }
        None => (0, 0, None),
    };
    let kind = match msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
    {
        Some((name, _)) => ConfigErrorKind::UnknownKey(name.to_owned()),
        None => ConfigErrorKind::Syntax(msg),
    };
    // For an unknown key the span is the key itself: the path already ends with it.
    ConfigError::new(file, line, column, key, kind)
}

// ---------------------------------------------------------------------------------------
// The file as written (private serde types)

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    gateway: Option<RawGateway>,
    #[serde(default)]
    environments: Vec<S<RawEnvironment>>,
    #[serde(default)]
    apis: Vec<S<RawApi>>,
    #[serde(default)]
    plans: Vec<S<RawPlan>>,
    #[serde(default)]
    applications: Vec<S<RawApplication>>,
    #[serde(default)]
    subscriptions: Vec<S<RawSubscription>>,
    #[serde(default)]
    api_keys: Vec<S<RawApiKey>>,
    #[serde(default)]
    cluster: Option<S<RawCluster>>,
    #[serde(default)]
    jwt_issuers: Vec<S<RawJwtIssuer>>,
    #[serde(default)]
    introspection: Option<S<RawIntrospection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwtIssuer {
    issuer: S<String>,
    jwks_url: Option<S<String>>,
    jwks_file: Option<S<String>>,
    algorithms: Option<Vec<S<String>>>,
    #[serde(default)]
    audiences: Vec<S<String>>,
    leeway: Option<S<String>>,
    require_exp: Option<bool>,
    client_id_claims: Option<Vec<String>>,
    scope_claims: Option<Vec<String>>,
    key_type_claim: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntrospection {
    endpoint: S<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    node: S<String>,
    postgres: Option<S<String>>,
    redis: Option<S<String>>,
    poll_interval: Option<S<String>>,
    shared_upstream: Option<S<bool>>,
    upstream_lease: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    #[serde(default)]
    listeners: Vec<S<RawListener>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    address: S<String>,
    tls: Option<S<RawTls>>,
    http2: Option<bool>,
    header_read_timeout: Option<S<String>>,
    max_connections: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    self_signed: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: S<String>,
    #[serde(rename = "type")]
    kind: Option<S<String>>,
    #[serde(default)]
    fallback: bool,
    description: Option<String>,
    vhosts: Vec<S<RawVhost>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVhost {
    host: S<String>,
    http_port: Option<u16>,
    https_port: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    name: S<String>,
    context: S<String>,
    version: S<String>,
    #[serde(default)]
    default_version: bool,
    description: Option<String>,
    lifecycle: Option<S<String>>,
    transports: Option<S<Vec<String>>>,
    #[serde(default)]
    plans: Vec<S<String>>,
    #[serde(default)]
    endpoints: Option<RawEndpoints>,
    deploy: Option<Vec<S<RawDeploy>>>,
    security: Option<RawSecurity>,
    cors: Option<S<RawCors>>,
    relay: Option<RawRelay>,
    strip: Option<RawStrip>,
    topics: Option<Vec<S<RawTopic>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoints {
    production: Option<S<String>>,
    sandbox: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    environment: String,
    vhost: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    bearer: Option<bool>,
    api_key_header: Option<S<String>>,
    query_param: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCors {
    #[serde(default)]
    origins: Vec<String>,
    #[serde(default)]
    allow_credentials: bool,
    #[serde(default)]
    allow_headers: Vec<S<String>>,
    max_age: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelay {
    heartbeat: Option<S<String>>,
    backlog_events: Option<usize>,
    backlog_bytes: Option<usize>,
    retry: Option<S<String>>,
    on_unknown_id: Option<S<String>>,
    max_channels: Option<S<usize>>,
    #[serde(default)]
    upstream_headers: BTreeMap<String, S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStrip {
    consumed: Option<bool>,
    cookie: Option<bool>,
    #[serde(default)]
    headers: Vec<S<String>>,
    #[serde(default)]
    query_params: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    path: S<String>,
    backend: Option<S<String>>,
    #[serde(default)]
    scopes: Vec<S<String>>,
    auth_type: Option<S<String>>,
    delivery: Option<S<String>>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: S<String>,
    description: Option<String>,
    events: S<u64>,
    per: S<String>,
    burst: Option<S<RawQuota>>,
    max_connections: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    events: u64,
    per: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    id: S<String>,
    name: Option<String>,
    owner: Option<String>,
    plan: Option<S<String>>,
    #[serde(default)]
    client_ids: RawClientIds,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClientIds {
    production: Option<String>,
    sandbox: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    application: S<String>,
    api: S<String>,
    plan: S<String>,
    state: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiKey {
    application: S<String>,
    key_type: Option<S<String>>,
    id: Option<S<String>>,
    sha256: Option<S<String>>,
    #[serde(default)]
    issue: bool,
    #[serde(default)]
    scopes: Vec<S<String>>,
    expires_at: Option<u64>,
    #[serde(default)]
    revoked: bool,
}

// ---------------------------------------------------------------------------------------
// The typed configuration

/// TLS of a listener, as the configuration file names it: where the certificate comes
/// from. The server runner's loaded certificate is [`server::TlsConfig`](crate::server::TlsConfig).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenerTls {
    /// Certificate chain and private key from PEM files (paths relative to the
    /// configuration file are resolved against its directory by [`Config::load`]).
    Files {
        /// Certificate chain (PEM).
        cert: PathBuf,
        /// Private key (PEM).
        key: PathBuf,
    },
    /// A self-signed certificate generated at start, for local use.
    SelfSigned,
}

/// A listener of the standalone server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// Socket address to bind.
    pub address: SocketAddr,
    /// TLS; `None`: plain HTTP.
    pub tls: Option<ListenerTls>,
    /// HTTP/2 (by ALPN over TLS, prior knowledge over plain HTTP) besides HTTP/1.1.
    /// Default is true.
    pub http2: bool,
    /// Time allowed to read a request head. Default is [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Most connections open at once; `None`: no limit.
    pub max_connections: Option<usize>,
}

/// The `[gateway]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Listeners.
    pub listeners: Vec<ListenerConfig>,
}

/// Default of `[cluster] poll_interval`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Shortest `[cluster] poll_interval`.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest `[cluster] poll_interval`.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(3600);
/// Default of `[cluster] upstream_lease` (the relay's suggested lease).
pub const DEFAULT_UPSTREAM_LEASE: Duration = eventgate_relay::DEFAULT_UPSTREAM_LEASE;
/// Shortest `[cluster] upstream_lease` (three times the relay's default bound of a Redis
/// call, which the lease must cover).
pub const MIN_UPSTREAM_LEASE: Duration = Duration::from_secs(3);
/// Longest `[cluster] upstream_lease`.
pub const MAX_UPSTREAM_LEASE: Duration = Duration::from_secs(300);
/// Longest `[cluster] node` name.
pub const MAX_NODE_NAME: usize = 64;

/// The `[cluster]` table: this node's name and the shared stores of several gateway nodes.
/// Without it a node keeps everything in process and in its data directory.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// This node's name, unique among the nodes: 1 to [`MAX_NODE_NAME`] ASCII letters,
    /// digits, `.`, `_` or `-`.
    pub node: String,
    /// The PostgreSQL URL (`postgres://` or `postgresql://`) of the shared control-plane
    /// state; `None`: the data directory's SQLite database.
    pub postgres: Option<String>,
    /// The Redis URL (`redis://`, `rediss://` or `unix://`) of the shared backlogs and
    /// quotas; `None`: in process.
    pub redis: Option<String>,
    /// How often a node polls the shared state's version besides being notified of changes
    /// (default [`DEFAULT_POLL_INTERVAL`], [`MIN_POLL_INTERVAL`] to [`MAX_POLL_INTERVAL`]).
    pub poll_interval: Duration,
    /// `shared_upstream = true`: one upstream connection per fan-out channel across the
    /// nodes sharing `redis`, fed by the node holding the channel's lease, of this length
    /// (`upstream_lease`, default [`DEFAULT_UPSTREAM_LEASE`], [`MIN_UPSTREAM_LEASE`] to
    /// [`MAX_UPSTREAM_LEASE`]); `None` (the default): every node reads the backend itself.
    pub upstream_lease: Option<Duration>,
}

/// Where a `[[jwt_issuers]]` entry's verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksSource {
    /// `jwks_url`: fetched when a token needs a key not yet loaded, refreshed as
    /// `eventgate_policy::JwksCache::remote` does.
    Url(String),
    /// `jwks_file`: a JWKS document read when the gate is built (a relative path is
    /// resolved against the configuration file's directory by [`Config::load`]).
    File(PathBuf),
}

/// The algorithms a `[[jwt_issuers]]` entry allows when it names none: every asymmetric one
/// (an HMAC algorithm must be asked for, so that a public key is never used as a secret).
pub const DEFAULT_JWT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A trusted JWT issuer (`[[jwt_issuers]]`): an identity provider whose tokens the gateway
/// accepts, as WSO2's key managers are. A token's client id (`client_id_claims`) names the
/// application whose `client_ids` hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwtIssuerConfig {
    /// The `iss` claim of its tokens.
    pub issuer: String,
    /// Its verification keys.
    pub keys: JwksSource,
    /// Accepted `alg` values (default [`DEFAULT_JWT_ALGORITHMS`]).
    pub algorithms: Vec<Algorithm>,
    /// Accepted `aud` values; empty: `aud` is not checked.
    pub audiences: Vec<String>,
    /// Clock-skew allowance for `exp` and `nbf` (default none, at most 10 minutes).
    pub leeway: Duration,
    /// Refuse tokens without `exp` (default `true`).
    pub require_exp: bool,
    /// How claims become the caller (client id, scopes, key type claims).
    pub mapping: ClaimsMapping,
}

/// Opaque OAuth2 tokens checked at an RFC 7662 introspection endpoint (`[introspection]`).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The endpoint (`http` or `https`).
    pub endpoint: String,
    /// The gateway's own client id and secret at the endpoint (HTTP Basic), when it asks
    /// for them.
    pub client: Option<(String, String)>,
}

impl fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client.as_ref().map(|(id, _)| id))
            .finish_non_exhaustive()
    }
}

/// A URL with any password replaced by `***` (for messages and `Debug`).
#[must_use]
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.rsplit_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("node", &self.node)
            .field("postgres", &self.postgres.as_deref().map(redact_url))
            .field("redis", &self.redis.as_deref().map(redact_url))
            .field("poll_interval", &self.poll_interval)
            .field("upstream_lease", &self.upstream_lease)
            .finish()
    }
}

/// An API of the file: the API, the state the file puts it in, and where it is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiConfig {
    /// The API (its first revision is made from it).
    pub api: Api,
    /// Lifecycle state to bring it to. Default is PUBLISHED.
    pub lifecycle: Lifecycle,
    /// `(environment, vhost)` pairs to deploy revision 1 to.
    pub deploy: Vec<(String, Hostname)>,
    place: Place,
    deploy_places: Vec<Place>,
}

/// A fixed-window event quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct QuotaConfig {
    /// Events admitted per window.
    pub events: u64,
    /// Window length.
    pub per: Duration,
}

/// A user-defined business plan (beyond [`BUILTIN_PLANS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlanConfig {
    /// Name (not one of the built-in names).
    pub name: PlanName,
    /// Description.
    pub description: Option<String>,
    /// Event quota.
    pub quota: QuotaConfig,
    /// Burst control (a second, shorter window).
    pub burst: Option<QuotaConfig>,
    /// Most concurrent streams per subscription.
    pub max_connections: Option<u32>,
}

/// An application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplicationConfig {
    /// Id (unique).
    pub id: String,
    /// Display name. Default is the id.
    pub name: String,
    /// Owner. Default is `admin`.
    pub owner: String,
    /// Application-level plan.
    pub plan: Option<PlanName>,
    /// OAuth2 client ids (consumer keys) by key type.
    pub client_ids: Vec<(KeyType, String)>,
}

/// A subscription of an application to an API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionConfig {
    /// Application id.
    pub application: String,
    /// API.
    pub api: ApiId,
    /// Plan (one of the API's plans).
    pub plan: PlanName,
    /// State. Default is `UNBLOCKED`.
    pub state: SubscriptionState,
}

/// How an API key's secret is given.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiKeySecret {
    /// An existing key: its public id and the SHA-256 of its secret part.
    Hashed {
        /// Public id.
        id: String,
        /// SHA-256 of the secret.
        sha256: [u8; 32],
    },
    /// A key to issue when the gateway starts (shown once by whoever issues it).
    Issue,
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiKeySecret::Hashed { id, .. } => f
                .debug_struct("Hashed")
                .field("id", id)
                .finish_non_exhaustive(),
            ApiKeySecret::Issue => f.write_str("Issue"),
        }
    }
}

/// An API key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKeyConfig {
    /// Application the key belongs to.
    pub application: String,
    /// Key type. Default is production.
    pub key_type: KeyType,
    /// The secret.
    pub secret: ApiKeySecret,
    /// Scopes the key grants.
    pub scopes: Vec<Scope>,
    /// Expiry, Unix seconds.
    pub expires_at: Option<u64>,
    /// Revoked keys are refused.
    pub revoked: bool,
}

/// A checked configuration file. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The file name errors name.
    pub file: String,
    /// `[gateway]`.
    pub gateway: GatewayConfig,
    /// Environments; when the file has none, WSO2's `Default` (hybrid, vhost `localhost`,
    /// answering unknown hosts).
    pub environments: Vec<Environment>,
    /// APIs.
    pub apis: Vec<ApiConfig>,
    /// User-defined plans.
    pub plans: Vec<PlanConfig>,
    /// Applications.
    pub applications: Vec<ApplicationConfig>,
    /// Subscriptions.
    pub subscriptions: Vec<SubscriptionConfig>,
    /// API keys.
    pub api_keys: Vec<ApiKeyConfig>,
    /// `[cluster]`, when the file has one (see [`Config::cluster`]).
    pub cluster: Option<ClusterConfig>,
    /// Trusted JWT issuers (identity providers) besides any the embedding service adds.
    pub jwt_issuers: Vec<JwtIssuerConfig>,
    /// `[introspection]`: opaque OAuth2 tokens, when the file has one.
    pub introspection: Option<IntrospectionConfig>,
    env_places: Vec<Place>,
}

/// Parses `15s`, `500ms`, `2m`, `1h`, `1d` (a whole number and a unit).
fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    })
}

struct Ctx<'a> {
    src: Source<'a>,
}

impl Ctx<'_> {
    fn duration(&self, v: &S<String>, key: String) -> Result<Duration, ConfigError> {
        parse_duration(v.get_ref()).ok_or_else(|| {
            self.src.err(
                &v.span(),
                key,
                ConfigErrorKind::Invalid(format!(
                    "'{}' is not a duration (a whole number and ms, s, m, h or d: \"15s\")",
                    v.get_ref()
                )),
            )
        })
    }

    fn model<T>(
        &self,
        v: &S<impl Sized>,
        key: String,
        r: Result<T, ModelError>,
    ) -> Result<T, ConfigError> {
        r.map_err(|e| self.src.err(&v.span(), key, e))
    }

    fn invalid(&self, span: &Range<usize>, key: String, msg: String) -> ConfigError {
        self.src.err(span, key, ConfigErrorKind::Invalid(msg))
    }

    fn header(&self, v: &S<String>, key: String) -> Result<HeaderName, ConfigError> {
        HeaderName::try_from(v.get_ref().as_str()).map_err(|_| {
            self.invalid(
                &v.span(),
                key,
                format!("'{}' is not a header name", v.get_ref()),
            )
        })
    }

    fn plan_name(&self, v: &S<String>, key: String) -> Result<PlanName, ConfigError> {
        PlanName::new(v.get_ref()).map_err(|e| self.invalid(&v.span(), key, e.to_string()))
    }

    fn scope(&self, v: &S<String>, key: String) -> Result<Scope, ConfigError> {
        Scope::new(v.get_ref()).map_err(|e| self.invalid(&v.span(), key, e.to_string()))
    }
}

/// An absolute `http` or `https` URL with a host.
fn is_http_url(s: &str) -> bool {
    s.parse::<http::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some())
}

fn jwt_issuer(cx: &Ctx<'_>, i: usize, j: S<RawJwtIssuer>) -> Result<JwtIssuerConfig, ConfigError> {
    let key = |k: &str| format!("jwt_issuers[{i}].{k}");
    let span = j.span();
    let j = j.into_inner();
    if j.issuer.get_ref().is_empty() {
        return Err(cx.invalid(&j.issuer.span(), key("issuer"), "is empty".into()));
    }
    let keys = match (j.jwks_url, j.jwks_file) {
        (Some(u), None) if is_http_url(u.get_ref()) => JwksSource::Url(u.into_inner()),
        (Some(u), None) => {
            let msg = format!("'{}' is not an http or https URL", u.get_ref());
            return Err(cx.invalid(&u.span(), key("jwks_url"), msg));
        }
        (None, Some(f)) if !f.get_ref().is_empty() => JwksSource::File(f.into_inner().into()),
        _ => {
            let msg = "give one of jwks_url and jwks_file".to_owned();
            return Err(cx.invalid(&span, format!("jwt_issuers[{i}]"), msg));
        }
    };
    let algorithms = match j.algorithms {
        None => DEFAULT_JWT_ALGORITHMS.to_vec(),
        Some(list) if list.is_empty() => {
            let msg = "no algorithm: every token would be refused".to_owned();
            return Err(cx.invalid(&span, key("algorithms"), msg));
        }
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(k, a)| {
                a.get_ref().parse().map_err(|_| {
                    let msg = format!("'{}' is not a JWS algorithm", a.get_ref());
                    cx.invalid(&a.span(), key(&format!("algorithms[{k}]")), msg)
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if let Some((k, a)) = j
        .audiences
        .iter()
        .enumerate()
        .find(|(_, a)| a.get_ref().is_empty())
    {
        return Err(cx.invalid(
            &a.span(),
            key(&format!("audiences[{k}]")),
            "is empty".into(),
        ));
    }
    let leeway = match &j.leeway {
        None => Duration::ZERO,
        Some(l) => {
            let d = cx.duration(l, key("leeway"))?;
            if d > MAX_LEEWAY {
                let msg = "at most 10m (a larger skew is a broken clock)".to_owned();
                return Err(cx.invalid(&l.span(), key("leeway"), msg));
            }
            d
        }
    };
    let mut mapping = ClaimsMapping::default();
    if let Some(c) = j.client_id_claims {
        mapping.client_id_claims = c;
    }
    if let Some(c) = j.scope_claims {
        mapping.scope_claims = c;
    }
    if let Some(c) = j.key_type_claim {
        mapping.key_type_claim = Some(c);
    }
    Ok(JwtIssuerConfig {
        issuer: j.issuer.into_inner(),
        keys,
        algorithms,
        audiences: j.audiences.into_iter().map(S::into_inner).collect(),
        leeway,
        require_exp: j.require_exp.unwrap_or(true),
        mapping,
    })
}

fn introspection(cx: &Ctx<'_>, r: S<RawIntrospection>) -> Result<IntrospectionConfig, ConfigError> {
    let span = r.span();
    let r = r.into_inner();
    if !is_http_url(r.endpoint.get_ref()) {
        let msg = format!("'{}' is not an http or https URL", r.endpoint.get_ref());
        return Err(cx.invalid(&r.endpoint.span(), "introspection.endpoint".into(), msg));
    }
    let client = match (r.client_id, r.client_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => {
            let msg = "give client_id and client_secret together".to_owned();
            return Err(cx.invalid(&span, "introspection".into(), msg));
        }
    };
    Ok(IntrospectionConfig {
        endpoint: r.endpoint.into_inner(),
        client,
    })
}

fn cluster(cx: &Ctx<'_>, c: S<RawCluster>) -> Result<ClusterConfig, ConfigError> {
    let c = c.into_inner();
    let node = c.node.get_ref();
    if node.is_empty()
        || node.len() > MAX_NODE_NAME
        || !node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(cx.invalid(
            &c.node.span(),
            "cluster.node".into(),
            format!(
                "node name '{node}': 1 to {MAX_NODE_NAME} ASCII letters, digits, '.', '_' or '-'"
            ),
        ));
    }
    let url = |v: &Option<S<String>>, key: &str, schemes: &[&str]| {
        let Some(v) = v else { return Ok(None) };
        let text = v.get_ref();
        let ok = text.split_once("://").is_some_and(|(scheme, rest)| {
            schemes.contains(&scheme) && !rest.is_empty() && !text.chars().any(char::is_whitespace)
        });
        if ok {
            Ok(Some(text.clone()))
        } else {
            Err(cx.invalid(
                &v.span(),
                format!("cluster.{key}"),
                format!(
                    "'{}' is not a {key} URL (one of {})",
                    redact_url(text),
                    schemes
                        .iter()
                        .map(|s| format!("{s}://"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    };
    let postgres = url(&c.postgres, "postgres", &["postgres", "postgresql"])?;
    let redis = url(&c.redis, "redis", &["redis", "rediss", "unix"])?;
    let poll_interval = match &c.poll_interval {
        None => DEFAULT_POLL_INTERVAL,
        Some(v) => {
            let d = cx.duration(v, "cluster.poll_interval".into())?;
            if !(MIN_POLL_INTERVAL..=MAX_POLL_INTERVAL).contains(&d) {
                return Err(cx.invalid(
                    &v.span(),
                    "cluster.poll_interval".into(),
                    format!(
                        "'{}' is outside {MIN_POLL_INTERVAL:?} to {MAX_POLL_INTERVAL:?}",
                        v.get_ref()
                    ),
                ));
            }
            d
        }
    };
    let shared_upstream = c.shared_upstream.as_ref().is_some_and(|v| *v.get_ref());
    if let Some(v) = &c.shared_upstream
        && *v.get_ref()
        && redis.is_none()
    {
        return Err(cx.invalid(
            &v.span(),
            "cluster.shared_upstream".into(),
            "needs `redis`: the lease and the shared history are kept there".to_owned(),
        ));
    }
    let upstream_lease = match &c.upstream_lease {
        None => shared_upstream.then_some(DEFAULT_UPSTREAM_LEASE),
        Some(v) if !shared_upstream => {
            return Err(cx.invalid(
                &v.span(),
                "cluster.upstream_lease".into(),
                "only with `shared_upstream = true`".to_owned(),
            ));
        }
        Some(v) => {
            let d = cx.duration(v, "cluster.upstream_lease".into())?;
            if !(MIN_UPSTREAM_LEASE..=MAX_UPSTREAM_LEASE).contains(&d) {
                return Err(cx.invalid(
                    &v.span(),
                    "cluster.upstream_lease".into(),
                    format!(
                        "'{}' is outside {MIN_UPSTREAM_LEASE:?} to {MAX_UPSTREAM_LEASE:?}",
                        v.get_ref()
                    ),
                ));
            }
            Some(d)
        }
    };
    Ok(ClusterConfig {
        node: node.clone(),
        postgres,
        redis,
        poll_interval,
        upstream_lease,
    })
}

fn words(s: &str) -> String {
    s.to_ascii_lowercase().replace(['_', ' '], "-")
}

impl Config {
    /// Reads a file (see the [module documentation](self)): at most [`MAX_CONFIG_BYTES`].
    /// Relative TLS and `jwks_file` paths are resolved against the file's directory.
    ///
    /// # Errors
    /// [`ConfigError`] with [`ConfigErrorKind::Io`], or as [`Config::from_str`].
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let io = |e| ConfigError::new(&file, 0, 0, None, ConfigErrorKind::Io(e));
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > MAX_CONFIG_BYTES as u64 {
            return Err(ConfigError::new(
                &file,
                0,
                0,
                None,
                ConfigErrorKind::TooLarge,
            ));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut cfg = Config::from_str(&file, &text)?;
        if let Some(dir) = path.parent() {
            for j in &mut cfg.jwt_issuers {
                if let JwksSource::File(p) = &mut j.keys
                    && p.is_relative()
                {
                    *p = dir.join(&*p);
                }
            }
            for l in &mut cfg.gateway.listeners {
                if let Some(ListenerTls::Files { cert, key }) = &mut l.tls {
                    for p in [cert, key] {
                        if p.is_relative() {
                            *p = dir.join(&*p);
                        }
                    }
                }
            }
        }
        Ok(cfg)
    }

    /// Parses and checks a configuration text; `file` is the name errors give.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(file: &str, text: &str) -> Result<Config, ConfigError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::new(
                file,
                0,
                0,
                None,
                ConfigErrorKind::TooLarge,
            ));
        }
        let raw: RawFile = toml::from_str(text).map_err(|e| syntax_error(file, text, &e))?;
        let cx = Ctx {
            src: Source { file, text },
        };
        let cfg = Config::convert(&cx, raw)?;
        // Every registry rule, against a scratch registry.
        cfg.apply(&Registry::new())?;
        Ok(cfg)
    }

    /// The `[cluster]` table, if the file has one.
    #[must_use]
    pub fn cluster(&self) -> Option<&ClusterConfig> {
        self.cluster.as_ref()
    }

    /// Whether the file declares no environment, API, plan, application, subscription or
    /// API key (only `[gateway]` and `[cluster]`, say): applying it would only add the
    /// implied `Default` environment.
    #[must_use]
    pub fn declares_no_state(&self) -> bool {
        self.apis.is_empty()
            && self.plans.is_empty()
            && self.applications.is_empty()
            && self.subscriptions.is_empty()
            && self.api_keys.is_empty()
            && self.implies_default_environment()
    }

    fn convert(cx: &Ctx<'_>, raw: RawFile) -> Result<Config, ConfigError> {
        let mut cfg = Config {
            file: cx.src.file.to_owned(),
            gateway: GatewayConfig::default(),
            environments: Vec::new(),
            apis: Vec::new(),
            plans: Vec::new(),
            applications: Vec::new(),
            subscriptions: Vec::new(),
            api_keys: Vec::new(),
            cluster: None,
            jwt_issuers: Vec::new(),
            introspection: None,
            env_places: Vec::new(),
        };
        if let Some(c) = raw.cluster {
            cfg.cluster = Some(cluster(cx, c)?);
        }
        for (i, j) in raw.jwt_issuers.into_iter().enumerate() {
            let at = j.get_ref().issuer.span();
            let j = jwt_issuer(cx, i, j)?;
            if cfg.jwt_issuers.iter().any(|o| o.issuer == j.issuer) {
                let kind = ConfigErrorKind::Duplicate {
                    kind: "JWT issuer",
                    name: j.issuer,
                };
                return Err(cx.src.err(&at, format!("jwt_issuers[{i}].issuer"), kind));
            }
            cfg.jwt_issuers.push(j);
        }
        if let Some(r) = raw.introspection {
            cfg.introspection = Some(introspection(cx, r)?);
        }
        for (i, l) in raw
            .gateway
            .map(|g| g.listeners)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            cfg.gateway.listeners.push(listener(cx, i, l)?);
        }

        // Environments.
        if raw.environments.is_empty() {
            let mut env = Environment::new("Default", EnvironmentType::Hybrid);
            env.vhosts.push(Vhost::new(
                Hostname::new("localhost")
                    .map_err(|e| at(cx.src.file, &Place::default(), e.into()))?,
            ));
            env.fallback = true;
            cfg.environments.push(env);
            cfg.env_places.push(Place::default());
        }
        for (i, e) in raw.environments.into_iter().enumerate() {
            let span = e.span();
            let key = |k: &str| format!("environments[{i}].{k}");
            let e = e.into_inner();
            let kind = match &e.kind {
                Some(k) => cx.model(k, key("type"), k.get_ref().parse())?,
                None => EnvironmentType::Hybrid,
            };
            let mut env = Environment::new(e.name.get_ref().clone(), kind);
            env.fallback = e.fallback;
            env.description = e.description;
            for (j, v) in e.vhosts.into_iter().enumerate() {
                let v = v.into_inner();
                let host = cx.model(
                    &v.host,
                    key(&format!("vhosts[{j}].host")),
                    Hostname::new(v.host.get_ref()),
                )?;
                let mut vh = Vhost::new(host);
                if v.http_port.is_some() {
                    vh.http_port = v.http_port;
                }
                if v.https_port.is_some() {
                    vh.https_port = v.https_port;
                }
                env.vhosts.push(vh);
            }
            cx.model(&e.name, key("name"), env.validate())?;
            if cfg.environments.iter().any(|x| x.name == env.name) {
                return Err(cx.src.err(
                    &e.name.span(),
                    key("name"),
                    ConfigErrorKind::Duplicate {
                        kind: "environment",
                        name: env.name,
                    },
                ));
            }
            cfg.env_places
                .push(cx.src.place(&span, format!("environments[{i}]")));
            cfg.environments.push(env);
        }

        // Plans.
        for (i, p) in raw.plans.into_iter().enumerate() {
            let key = |k: &str| format!("plans[{i}].{k}");
            let p = p.into_inner();
            let name = cx.plan_name(&p.name, key("name"))?;
            if BUILTIN_PLANS.contains(&name.as_str()) || cfg.plans.iter().any(|x| x.name == name) {
                return Err(cx.src.err(
                    &p.name.span(),
                    key("name"),
                    ConfigErrorKind::Duplicate {
                        kind: "plan",
                        name: name.to_string(),
                    },
                ));
            }
            let events = *p.events.get_ref();
            if events == 0 || events > eventgate_policy::MAX_QUOTA_EVENTS {
                return Err(cx.invalid(
                    &p.events.span(),
                    key("events"),
                    format!("events must be 1 to {}", eventgate_policy::MAX_QUOTA_EVENTS),
                ));
            }
            let per = cx.duration(&p.per, key("per"))?;
            if per < Duration::from_millis(1) {
                return Err(cx.invalid(
                    &p.per.span(),
                    key("per"),
                    "per must be at least 1ms".into(),
                ));
            }
            let burst = match p.burst {
                None => None,
                Some(b) => {
                    let span = b.span();
                    let b = b.into_inner();
                    let per = parse_duration(&b.per)
                        .filter(|d| *d >= Duration::from_millis(1))
                        .ok_or_else(|| {
                            cx.invalid(
                                &span,
                                key("burst.per"),
                                format!("'{}' is not a duration of at least 1ms", b.per),
                            )
                        })?;
                    if b.events == 0 || b.events > eventgate_policy::MAX_QUOTA_EVENTS {
                        return Err(cx.invalid(
                            &span,
                            key("burst.events"),
                            "burst events must be at least 1".into(),
                        ));
                    }
                    Some(QuotaConfig {
                        events: b.events,
                        per,
                    })
                }
            };
            cfg.plans.push(PlanConfig {
                name,
                description: p.description,
                quota: QuotaConfig { events, per },
                burst,
                max_connections: p.max_connections,
            });
        }
        let known_plan = |cfg: &Config, p: &PlanName| {
            BUILTIN_PLANS.contains(&p.as_str()) || cfg.plans.iter().any(|x| &x.name == p)
        };

        // APIs.
        for (i, a) in raw.apis.into_iter().enumerate() {
            let api_cfg = api(cx, &cfg, i, a)?;
            for (j, p) in api_cfg.api.plans.iter().enumerate() {
                if !known_plan(&cfg, p) {
                    return Err(at(
                        cx.src.file,
                        &Place {
                            key: format!("apis[{i}].plans[{j}]"),
                            ..api_cfg.place.clone()
                        },
                        ConfigErrorKind::UnknownReference {
                            kind: "plan",
                            name: p.to_string(),
                        },
                    ));
                }
            }
            cfg.apis.push(api_cfg);
        }

        // Applications.
        for (i, a) in raw.applications.into_iter().enumerate() {
            let key = |k: &str| format!("applications[{i}].{k}");
            let a = a.into_inner();
            let id = a.id.get_ref().clone();
            if id.is_empty() || id.chars().any(char::is_control) {
                return Err(cx.invalid(
                    &a.id.span(),
                    key("id"),
                    "an application id is a non-empty name".into(),
                ));
            }
            if cfg.applications.iter().any(|x| x.id == id) {
                return Err(cx.src.err(
                    &a.id.span(),
                    key("id"),
                    ConfigErrorKind::Duplicate {
                        kind: "application",
                        name: id,
                    },
                ));
            }
            let plan = match &a.plan {
                None => None,
                Some(p) => {
                    let name = cx.plan_name(p, key("plan"))?;
                    if !known_plan(&cfg, &name) {
                        return Err(cx.src.err(
                            &p.span(),
                            key("plan"),
                            ConfigErrorKind::UnknownReference {
                                kind: "plan",
                                name: name.to_string(),
                            },
                        ));
                    }
                    Some(name)
                }
            };
            let mut client_ids = Vec::new();
            if let Some(c) = a.client_ids.production {
                client_ids.push((KeyType::Production, c));
            }
            if let Some(c) = a.client_ids.sandbox {
                client_ids.push((KeyType::Sandbox, c));
            }
            cfg.applications.push(ApplicationConfig {
                name: a.name.unwrap_or_else(|| id.clone()),
                owner: a.owner.unwrap_or_else(|| "admin".to_owned()),
                id,
                plan,
                client_ids,
            });
        }

        // Subscriptions.
        for (i, s) in raw.subscriptions.into_iter().enumerate() {
            let key = |k: &str| format!("subscriptions[{i}].{k}");
            let s = s.into_inner();
            let app = s.application.get_ref();
            if !cfg.applications.iter().any(|a| &a.id == app) {
                return Err(cx.src.err(
                    &s.application.span(),
                    key("application"),
                    ConfigErrorKind::UnknownReference {
                        kind: "application",
                        name: app.clone(),
                    },
                ));
            }
            let api_id: ApiId = cx.model(&s.api, key("api"), s.api.get_ref().parse())?;
            let Some(api_cfg) = cfg.apis.iter().find(|a| a.api.id() == api_id) else {
                return Err(cx.src.err(
                    &s.api.span(),
                    key("api"),
                    ConfigErrorKind::UnknownReference {
                        kind: "API",
                        name: api_id.to_string(),
                    },
                ));
            };
            let plan = cx.plan_name(&s.plan, key("plan"))?;
            if !api_cfg.api.plans.contains(&plan) {
                return Err(cx.invalid(
                    &s.plan.span(),
                    key("plan"),
                    format!("plan '{plan}' is not one of the plans of API {api_id}"),
                ));
            }
            let state = match &s.state {
                None => SubscriptionState::Unblocked,
                Some(st) => st.get_ref().to_ascii_uppercase().parse().map_err(|_| {
                    cx.invalid(&st.span(), key("state"), format!("'{}' is not UNBLOCKED, BLOCKED, PROD_ONLY_BLOCKED, ON_HOLD or REJECTED", st.get_ref()))
                })?,
            };
            if cfg
                .subscriptions
                .iter()
                .any(|x| &x.application == app && x.api == api_id)
            {
                return Err(cx.src.err(
                    &s.api.span(),
                    key("api"),
                    ConfigErrorKind::Duplicate {
                        kind: "subscription",
                        name: format!("{app} -> {api_id}"),
                    },
                ));
            }
            cfg.subscriptions.push(SubscriptionConfig {
                application: app.clone(),
                api: api_id,
                plan,
                state,
            });
        }

        // API keys.
        for (i, k) in raw.api_keys.into_iter().enumerate() {
            let key = |k: &str| format!("api_keys[{i}].{k}");
            let span = k.span();
            let k = k.into_inner();
            let app = k.application.get_ref();
            if !cfg.applications.iter().any(|a| &a.id == app) {
                return Err(cx.src.err(
                    &k.application.span(),
                    key("application"),
                    ConfigErrorKind::UnknownReference {
                        kind: "application",
                        name: app.clone(),
                    },
                ));
            }
            let key_type = match &k.key_type {
                None => KeyType::Production,
                Some(t) => t.get_ref().parse().map_err(|_| {
                    cx.invalid(
                        &t.span(),
                        key("key_type"),
                        format!("'{}' is not production or sandbox", t.get_ref()),
                    )
                })?,
            };
            let secret = match (&k.id, &k.sha256, k.issue) {
                (Some(id), Some(h), false) => {
                    let sha256 = parse_sha256(h.get_ref()).ok_or_else(|| {
                        cx.invalid(&h.span(), key("sha256"), "sha256 is 64 hex digits".into())
                    })?;
                    if id.get_ref().is_empty()
                        || !id
                            .get_ref()
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    {
                        return Err(cx.invalid(
                            &id.span(),
                            key("id"),
                            "a key id is ASCII letters, digits and '-'".into(),
                        ));
                    }
                    ApiKeySecret::Hashed {
                        id: id.get_ref().clone(),
                        sha256,
                    }
                }
                (None, None, true) => ApiKeySecret::Issue,
                _ => {
                    return Err(cx.invalid(
                        &span,
                        format!("api_keys[{i}]"),
                        "give either id and sha256, or issue = true".into(),
                    ));
                }
            };
            let scopes = k
                .scopes
                .iter()
                .enumerate()
                .map(|(j, s)| cx.scope(s, key(&format!("scopes[{j}]"))))
                .collect::<Result<_, _>>()?;
            cfg.api_keys.push(ApiKeyConfig {
                application: app.clone(),
                key_type,
                secret,
                scopes,
                expires_at: k.expires_at,
                revoked: k.revoked,
            });
        }
        Ok(cfg)
    }

    /// Loads the environments and APIs into `registry` in one transaction: each environment
    /// is added; each API is created, snapshot as a revision, deployed where the file says,
    /// and brought to its lifecycle state by WSO2's transitions. Nothing is changed when
    /// any step fails. A file that declares no `[[environments]]`, applied to a registry that
    /// already has environments (a control plane's), deploys each API to every vhost of those
    /// instead of adding the implied `Default`.
    ///
    /// # Errors
    /// [`ConfigErrorKind::Registry`] at the entry that broke the rule (an environment or
    /// host that exists, a context another API has, a route conflict...).
    pub fn apply(&self, registry: &Registry) -> Result<(), ConfigError> {
        let mut failed_at: Option<Place> = None;
        registry
            .transaction(|tx| {
                self.apply_to(tx).map_err(|(p, e)| {
                    failed_at = Some(p);
                    e
                })
            })
            .map_err(|e| {
                let place = failed_at.take().unwrap_or_default();
                at(&self.file, &place, ConfigErrorKind::Registry(e))
            })
    }

    /// True when the file declares no `[[environments]]` (it has the implied `Default`).
    fn implies_default_environment(&self) -> bool {
        self.env_places.iter().all(|p| *p == Place::default())
    }

    fn apply_to(&self, tx: &mut Transaction) -> Result<(), (Place, RegistryError)> {
        // A file without environments, applied to a registry that has some (a control
        // plane's `production` and `sandbox`), deploys onto those: adding the implied
        // `Default` would take their `localhost` and fail.
        let existing = tx.environment_list();
        let onto_existing = self.implies_default_environment() && !existing.is_empty();
        if !onto_existing {
            for (env, place) in self.environments.iter().zip(&self.env_places) {
                tx.add_environment(env.clone())
                    .map_err(|e| (place.clone(), e))?;
            }
        }
        for a in &self.apis {
            let fail = |e| (a.place.clone(), e);
            let id = tx.create_api(a.api.clone()).map_err(fail)?;
            let rev = tx
                .create_revision(&id, Some(format!("loaded from {}", self.file)))
                .map_err(fail)?;
            if onto_existing {
                for env in &existing {
                    for v in &env.vhosts {
                        tx.deploy(&id, rev, &env.name, &v.host).map_err(fail)?;
                    }
                }
            } else {
                for ((env, host), place) in a.deploy.iter().zip(&a.deploy_places) {
                    tx.deploy(&id, rev, env, host)
                        .map_err(|e| (place.clone(), e))?;
                }
            }
            let path = Lifecycle::Created.path_to(a.lifecycle).unwrap_or_default();
            for action in path {
                tx.change_lifecycle(&id, action).map_err(fail)?;
            }
        }
        Ok(())
    }
}

fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let hi = char::from(b[2 * i]).to_digit(16)?;
        let lo = char::from(b[2 * i + 1]).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

fn listener(cx: &Ctx<'_>, i: usize, l: S<RawListener>) -> Result<ListenerConfig, ConfigError> {
    let key = |k: &str| format!("gateway.listeners[{i}].{k}");
    let l = l.into_inner();
    let address = l.address.get_ref().parse().map_err(|_| {
        cx.invalid(
            &l.address.span(),
            key("address"),
            format!(
                "'{}' is not a socket address (ip:port)",
                l.address.get_ref()
            ),
        )
    })?;
    let tls = match l.tls {
        None => None,
        Some(t) => {
            let span = t.span();
            let t = t.into_inner();
            Some(match (t.cert, t.key, t.self_signed.unwrap_or(false)) {
                (Some(cert), Some(k), false) => ListenerTls::Files {
                    cert: cert.into(),
                    key: k.into(),
                },
                (None, None, true) => ListenerTls::SelfSigned,
                _ => {
                    return Err(cx.invalid(
                        &span,
                        key("tls"),
                        "give cert and key, or self_signed = true".into(),
                    ));
                }
            })
        }
    };
    let header_read_timeout = match &l.header_read_timeout {
        Some(d) => cx.duration(d, key("header_read_timeout"))?,
        None => DEFAULT_HEADER_READ_TIMEOUT,
    };
    Ok(ListenerConfig {
        address,
        tls,
        http2: l.http2.unwrap_or(true),
        header_read_timeout,
        max_connections: l.max_connections,
    })
}

fn api(cx: &Ctx<'_>, cfg: &Config, i: usize, a: S<RawApi>) -> Result<ApiConfig, ConfigError> {
    let key = |k: &str| format!("apis[{i}].{k}");
    let span = a.span();
    let a = a.into_inner();
    let context = cx.model(
        &a.context,
        key("context"),
        ApiContext::new(a.context.get_ref()),
    )?;
    let version = ApiVersion::new(a.version.get_ref())
        .map_err(|e| cx.invalid(&a.version.span(), key("version"), e.to_string()))?;
    let mut api = Api::new(a.name.get_ref().clone(), context, version);
    api.default_version = a.default_version;
    api.description = a.description;
    let lifecycle = match &a.lifecycle {
        None => Lifecycle::Published,
        Some(l) => l
            .get_ref()
            .parse()
            .map_err(|e: crate::model::UnknownLifecycleName| {
                cx.invalid(&l.span(), key("lifecycle"), e.to_string())
            })?,
    };
    if let Some(t) = &a.transports {
        let mut tr = Transports {
            http: false,
            https: false,
        };
        for s in t.get_ref() {
            match s.as_str() {
                "http" => tr.http = true,
                "https" => tr.https = true,
                other => {
                    return Err(cx.invalid(
                        &t.span(),
                        key("transports"),
                        format!("'{other}' is not http or https"),
                    ));
                }
            }
        }
        api.transports = tr;
    }
    for (j, p) in a.plans.iter().enumerate() {
        api.plans
            .push(cx.plan_name(p, key(&format!("plans[{j}]")))?);
    }
    if let Some(e) = &a.endpoints {
        for (slot, v, k) in [
            (
                &mut api.endpoints.production,
                &e.production,
                "endpoints.production",
            ),
            (&mut api.endpoints.sandbox, &e.sandbox, "endpoints.sandbox"),
        ] {
            if let Some(v) = v {
                *slot = Some(cx.model(v, key(k), Endpoint::new(v.get_ref()))?);
            }
        }
    }
    if let Some(s) = a.security {
        let mut sec = Security::default();
        if let Some(b) = s.bearer {
            sec.bearer = b;
        }
        if let Some(h) = &s.api_key_header {
            sec.api_key_header = Some(cx.header(h, key("security.api_key_header"))?);
        }
        sec.query_param = s.query_param.map(|q| q.into_inner());
        api.security = sec;
    }
    if let Some(c) = &a.cors {
        let raw = c.get_ref();
        let mut cors = Cors {
            origins: raw.origins.clone(),
            allow_credentials: raw.allow_credentials,
            ..Cors::default()
        };
        for (j, h) in raw.allow_headers.iter().enumerate() {
            cors.allow_headers
                .push(cx.header(h, key(&format!("cors.allow_headers[{j}]")))?);
        }
        if let Some(m) = &raw.max_age {
            cors.max_age = Some(cx.duration(m, key("cors.max_age"))?);
        }
        api.cors = Some(cors);
    }
    if let Some(r) = a.relay {
        let mut rs = RelaySettings::default();
        if let Some(h) = &r.heartbeat {
            rs.heartbeat = Some(if h.get_ref() == "off" {
                Duration::ZERO
            } else {
                cx.duration(h, key("relay.heartbeat"))?
            });
        }
        rs.backlog_events = r.backlog_events;
        rs.backlog_bytes = r.backlog_bytes;
        if let Some(m) = &r.max_channels {
            if *m.get_ref() == 0 {
                return Err(cx.invalid(
                    &m.span(),
                    key("relay.max_channels"),
                    "must be at least 1".to_owned(),
                ));
            }
            rs.max_channels = Some(*m.get_ref());
        }
        if let Some(d) = &r.retry {
            rs.retry = Some(cx.duration(d, key("relay.retry"))?);
        }
        if let Some(p) = &r.on_unknown_id {
            rs.on_unknown_id = Some(match words(p.get_ref()).as_str() {
                "start-live" => UnknownIdPolicy::StartLive,
                "forward-to-backend" => UnknownIdPolicy::ForwardToBackend,
                _ => {
                    return Err(cx.invalid(
                        &p.span(),
                        key("relay.on_unknown_id"),
                        format!("'{}' is not start-live or forward-to-backend", p.get_ref()),
                    ));
                }
            });
        }
        for (name, value) in &r.upstream_headers {
            let k = key(&format!("relay.upstream_headers.{name}"));
            let n = HeaderName::try_from(name.as_str()).map_err(|_| {
                cx.invalid(
                    &value.span(),
                    k.clone(),
                    format!("'{name}' is not a header name"),
                )
            })?;
            let mut v = HeaderValue::try_from(value.get_ref().as_str())
                .map_err(|_| cx.invalid(&value.span(), k, "not a valid header value".into()))?;
            v.set_sensitive(true);
            rs.upstream_headers.push((n, v));
        }
        api.relay = rs;
    }
    if let Some(s) = a.strip {
        let mut st = StripSettings::default();
        if let Some(c) = s.consumed {
            st.consumed = c;
        }
        if let Some(c) = s.cookie {
            st.cookie = c;
        }
        for (j, h) in s.headers.iter().enumerate() {
            st.headers
                .push(cx.header(h, key(&format!("strip.headers[{j}]")))?);
        }
        st.query_params = s.query_params;
        api.strip = st;
    }
    if let Some(topics) = &a.topics {
        api.topics.clear();
        for (j, t) in topics.iter().enumerate() {
            let tk = |k: &str| key(&format!("topics[{j}].{k}"));
            let t = t.get_ref();
            let template: TopicTemplate = cx.model(
                &t.path,
                tk("path"),
                TopicTemplate::new(t.path.get_ref()).map_err(ModelError::from),
            )?;
            let mut topic = Topic::new(template);
            if let Some(b) = &t.backend {
                topic.backend = Some(cx.model(
                    b,
                    tk("backend"),
                    TopicTemplate::new(b.get_ref()).map_err(ModelError::from),
                )?);
            }
            for (n, s) in t.scopes.iter().enumerate() {
                topic.scopes.push(cx.scope(s, tk(&format!("scopes[{n}]")))?);
            }
            if let Some(at) = &t.auth_type {
                topic.auth_type = match words(at.get_ref()).as_str() {
                    "any" => AuthType::Any,
                    "none" => AuthType::None,
                    "application" => AuthType::Application,
                    "application-user" => AuthType::ApplicationUser,
                    "application-&-application-user" => AuthType::ApplicationAndUser,
                    _ => return Err(cx.invalid(&at.span(), tk("auth_type"), format!("'{}' is not Any, None, Application, Application_User or \"Application & Application User\"", at.get_ref()))),
                };
            }
            if let Some(d) = &t.delivery {
                topic.delivery = match words(d.get_ref()).as_str() {
                    "fanout" | "fan-out" | "shared" => DeliveryMode::Shared,
                    "proxy" | "per-client" => DeliveryMode::PerClient,
                    _ => {
                        return Err(cx.invalid(
                            &d.span(),
                            tk("delivery"),
                            format!("'{}' is not fanout or proxy", d.get_ref()),
                        ));
                    }
                };
            }
            topic.description.clone_from(&t.description);
            api.topics.push(topic);
        }
    }
    // The API's own rules, pointed at the API's table.
    api.validate().map_err(|e| {
        let k = match &e {
            ModelError::NoTopic | ModelError::TooManyTopics { .. } => key("topics"),
            ModelError::NoTransport => key("transports"),
            ModelError::NoCredential => key("security"),
            ModelError::Cors { .. } => key("cors"),
            ModelError::Duplicate { kind: "plan", .. } => key("plans"),
            ModelError::Invalid {
                kind: "API name", ..
            } => key("name"),
            _ => format!("apis[{i}]"),
        };
        cx.src.err(&span, k, e)
    })?;
    if cfg.apis.iter().any(|x| x.api.id() == api.id()) {
        return Err(cx.src.err(
            &a.name.span(),
            key("name"),
            ConfigErrorKind::Duplicate {
                kind: "API",
                name: api.id().to_string(),
            },
        ));
    }
    let mut deploy = Vec::new();
    let mut deploy_places = Vec::new();
    match &a.deploy {
        None => {
            for env in &cfg.environments {
                for v in &env.vhosts {
                    deploy.push((env.name.clone(), v.host.clone()));
                    deploy_places.push(cx.src.place(&span, format!("apis[{i}]")));
                }
            }
        }
        Some(list) => {
            for (j, d) in list.iter().enumerate() {
                let k = key(&format!("deploy[{j}]"));
                let place = cx.src.place(&d.span(), k.clone());
                let raw = d.get_ref();
                let Some(env) = cfg.environments.iter().find(|e| e.name == raw.environment) else {
                    return Err(at(
                        cx.src.file,
                        &place,
                        ConfigErrorKind::UnknownReference {
                            kind: "environment",
                            name: raw.environment.clone(),
                        },
                    ));
                };
                let host = match &raw.vhost {
                    Some(h) => Hostname::new(h).map_err(|e| at(cx.src.file, &place, e.into()))?,
                    None => env.vhosts.first().map(|v| v.host.clone()).ok_or_else(|| {
                        at(
                            cx.src.file,
                            &place,
                            ModelError::NoVhost(env.name.clone()).into(),
                        )
                    })?,
                };
                deploy.push((env.name.clone(), host));
                deploy_places.push(place);
            }
        }
    }
    Ok(ApiConfig {
        api,
        lifecycle,
        deploy,
        place: cx.src.place(&span, format!("apis[{i}]")),
        deploy_places,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_a_number_and_a_unit() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        for bad in [
            "",
            "s",
            "15",
            "1.5s",
            "15 s",
            "-1s",
            "1w",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn line_and_column_are_one_based_in_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 10), (2, 4), "'=' after a two-byte character");
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn sha256_hex_is_64_digits() {
        assert!(parse_sha256(&"ab".repeat(32)).is_some());
        assert!(parse_sha256(&"ab".repeat(31)).is_none());
        assert!(parse_sha256(&"zz".repeat(32)).is_none());
    }
}
