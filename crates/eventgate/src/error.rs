//! Typed errors of the model, the registry and the router. Each variant is one rule; where
//! WSO2 API Manager has a code for the rule, `wso2_code()` returns it.

use eventgate_asyncapi::{ApiError, TopicError};
use eventgate_policy::KeyType;
use eventgate_types::BoxError;
use http::StatusCode;

use crate::model::{ApiId, Hostname, Lifecycle, LifecycleAction};

/// A value that breaks a rule of the model (see [`Api::validate`](crate::Api::validate),
/// [`Environment::validate`](crate::Environment::validate)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A value does not fit its type (a context, endpoint, host, name...).
    #[error("invalid {kind} '{value}'")]
    Invalid {
        /// Which kind of value.
        kind: &'static str,
        /// The value.
        value: String,
    },
    /// The same value twice where values must be unique (topics, plans, vhosts).
    #[error("{kind} '{value}' is listed twice")]
    Duplicate {
        /// Which kind of value.
        kind: &'static str,
        /// The value.
        value: String,
    },
    /// An environment without vhosts.
    #[error("environment '{0}' has no vhost")]
    NoVhost(String),
    /// An API with neither transport.
    #[error("the API accepts neither http nor https")]
    NoTransport,
    /// An API without topics.
    #[error("the API has no topic")]
    NoTopic,
    /// More than [`MAX_TOPICS`](crate::MAX_TOPICS) topics.
    #[error("the API has {count} topics, more than {max}")]
    TooManyTopics {
        /// Topics given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A topic or backend template with a dot segment, a backslash or a space.
    #[error("template '{template}' has a dot segment, a backslash or a space")]
    UnsafeTemplate {
        /// The template.
        template: String,
    },
    /// A topic template that cannot be parsed.
    #[error(transparent)]
    Template(#[from] TopicError),
    /// A backend template uses a variable the topic template does not capture.
    #[error(
        "backend path of topic '{topic}' uses '{{{variable}}}', which the topic does not capture"
    )]
    BackendVariable {
        /// The topic template.
        topic: String,
        /// The variable.
        variable: String,
    },
    /// A backend template ends in `*` but the topic template does not.
    #[error("backend path of topic '{topic}' ends in '*' but the topic does not")]
    BackendWildcard {
        /// The topic template.
        topic: String,
    },
    /// Some topic needs a credential but the API reads none.
    #[error(
        "a topic needs a credential but the API accepts none (bearer off, no API-key header, no query parameter)"
    )]
    NoCredential,
    /// A CORS setting that cannot work.
    #[error("CORS: {reason} ('{value}')")]
    Cors {
        /// What is wrong.
        reason: &'static str,
        /// The value.
        value: String,
    },
    /// An AsyncAPI text that cannot be read (syntax, limits).
    #[error("AsyncAPI document cannot be read: {0}")]
    AsyncApiRead(#[source] BoxError),
    /// An AsyncAPI document that is not a valid SSE API.
    #[error(transparent)]
    AsyncApi(#[from] ApiError),
}

impl ModelError {
    pub(crate) fn invalid(kind: &'static str, value: &str) -> Self {
        ModelError::Invalid {
            kind,
            value: value.to_owned(),
        }
    }
}

/// A change the [`Registry`](crate::Registry) refuses. Each variant is one rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The API or environment breaks a rule of the model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An API with this name and version exists.
    #[error("API {0} already exists")]
    ApiExists(ApiId),
    /// No API with this id.
    #[error("API {0} does not exist")]
    ApiNotFound(ApiId),
    /// The context belongs to an API of another name (contexts are unique; versions of one
    /// API share theirs).
    #[error("context '{context}' is used by API '{owner}'")]
    ContextTaken {
        /// The context.
        context: String,
        /// The API name that has it.
        owner: String,
    },
    /// The API has deployments: undeploy first.
    #[error("API {0} is deployed; undeploy it first")]
    ApiDeployed(ApiId),
    /// WSO2 does not allow this lifecycle action in the current state.
    #[error("API {api}: '{action}' is not allowed in state {from}")]
    Transition {
        /// The API.
        api: ApiId,
        /// Its state.
        from: Lifecycle,
        /// The refused action.
        action: LifecycleAction,
    },
    /// The API is RETIRED: it can no longer be deployed or revised.
    #[error("API {0} is retired")]
    Retired(ApiId),
    /// The API has the most revisions allowed (WSO2 900351).
    #[error("API {api} has {max} revisions, the most allowed; delete one first")]
    RevisionLimit {
        /// The API.
        api: ApiId,
        /// The limit.
        max: usize,
    },
    /// No such revision.
    #[error("API {api} has no revision {revision}")]
    RevisionNotFound {
        /// The API.
        api: ApiId,
        /// The number asked for.
        revision: u32,
    },
    /// A deployed revision cannot be deleted (WSO2 900348).
    #[error("revision {revision} of API {api} is deployed and cannot be deleted")]
    RevisionDeployed {
        /// The API.
        api: ApiId,
        /// The revision.
        revision: u32,
    },
    /// An environment of this name exists.
    #[error("environment '{0}' already exists")]
    EnvironmentExists(String),
    /// No such environment.
    #[error("environment '{0}' does not exist")]
    EnvironmentNotFound(String),
    /// The environment has deployments.
    #[error("environment '{0}' has deployments; undeploy them first")]
    EnvironmentInUse(String),
    /// The environment has no such vhost.
    #[error("environment '{environment}' has no vhost '{vhost}'")]
    VhostNotFound {
        /// Environment.
        environment: String,
        /// Vhost asked for.
        vhost: Hostname,
    },
    /// A host name is already a vhost of another environment.
    #[error("host '{host}' is already a vhost of environment '{environment}'")]
    HostTaken {
        /// The host.
        host: Hostname,
        /// The environment that has it.
        environment: String,
    },
    /// Another environment already answers unknown hosts.
    #[error("environment '{0}' already answers unknown hosts (fallback)")]
    FallbackTaken(String),
    /// The deployment would serve a path another API already serves on the vhost.
    #[error("path '{path}' on vhost '{vhost}' is already served by API {other}")]
    RouteConflict {
        /// The path (context with version, or the default-version path).
        path: String,
        /// The vhost.
        vhost: Hostname,
        /// The API serving it.
        other: ApiId,
    },
    /// The revision has no endpoint for the keys the environment serves.
    #[error(
        "revision {revision} of API {api} has no {kind} endpoint, which environment '{environment}' needs"
    )]
    MissingEndpoint {
        /// The API.
        api: ApiId,
        /// The revision.
        revision: u32,
        /// The environment.
        environment: String,
        /// `production` or `sandbox`.
        kind: &'static str,
    },
    /// No revision of the API is deployed there.
    #[error("API {api} is not deployed on vhost '{vhost}' of environment '{environment}'")]
    NotDeployed {
        /// The API.
        api: ApiId,
        /// Environment.
        environment: String,
        /// Vhost.
        vhost: Hostname,
    },
}

impl RegistryError {
    /// WSO2 API Manager's error code for the rule, where it has one.
    #[must_use]
    pub fn wso2_code(&self) -> Option<u32> {
        match self {
            RegistryError::RevisionLimit { .. } => Some(900_351),
            RegistryError::RevisionDeployed { .. } => Some(900_348),
            _ => None,
        }
    }
}

/// What is wrong with a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PathProblem {
    /// The path does not start with `/`.
    #[error("the path does not start with '/'")]
    NotAbsolute,
    /// A `.` or `..` segment, literal or percent-encoded in any case.
    #[error("the path has a dot segment")]
    DotSegment,
    /// `%2F` or `%5C` (an encoded `/` or `\`).
    #[error("the path has an encoded slash or backslash")]
    EncodedSlash,
    /// A raw `\`.
    #[error("the path has a backslash")]
    Backslash,
    /// `%` not followed by two hex digits.
    #[error("the path has a malformed percent-encoding")]
    BadPercent,
    /// A space, control character, non-ASCII byte, `#` or a second `?`.
    #[error("the path has a character paths may not hold")]
    InvalidChar,
    /// Longer than the router's limit.
    #[error("the path is too long")]
    TooLong,
}

/// Why a request has no route. [`RouteError::status`] and [`RouteError::wso2_code`] say what
/// to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The path is unsafe or malformed (400).
    #[error("bad request path: {0}")]
    InvalidPath(#[from] PathProblem),
    /// The `Host` matches no vhost and no environment answers unknown hosts (404).
    #[error("no vhost for this host")]
    UnknownHost,
    /// No API is served at this path, or the API is not routable in its lifecycle state
    /// (CREATED, PRE-RELEASED, RETIRED) (404).
    #[error("no API at this path")]
    NotFound,
    /// The API is BLOCKED (WSO2 700700, 503).
    #[error("API {0} is blocked")]
    Blocked(ApiId),
    /// The API matched but none of its topics (WSO2 900906, 403).
    #[error("no topic of API {0} matches the path")]
    NoTopic(ApiId),
    /// The environment does not serve this key type (403).
    #[error("this gateway environment does not serve {} keys", .0.as_str())]
    KeyTypeNotServed(KeyType),
    /// The API has no endpoint for this key type (503).
    #[error("API {api} has no {} endpoint", .key_type.as_str())]
    NoEndpoint {
        /// The API.
        api: ApiId,
        /// The key type asked for.
        key_type: KeyType,
    },
}

impl RouteError {
    /// The HTTP status to answer with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            RouteError::InvalidPath(_) => StatusCode::BAD_REQUEST,
            RouteError::UnknownHost | RouteError::NotFound => StatusCode::NOT_FOUND,
            RouteError::Blocked(_) | RouteError::NoEndpoint { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            RouteError::NoTopic(_) | RouteError::KeyTypeNotServed(_) => StatusCode::FORBIDDEN,
        }
    }

    /// WSO2 API Manager's error code, where it has one (700700 blocked, 900906 no matching
    /// resource).
    #[must_use]
    pub fn wso2_code(&self) -> Option<u32> {
        match self {
            RouteError::Blocked(_) => Some(700_700),
            RouteError::NoTopic(_) => Some(900_906),
            _ => None,
        }
    }
}
