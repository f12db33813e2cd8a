//! The gateway's model: plain data and the rules each value obeys on its own. Rules that
//! relate values to each other (unique contexts, deployments, revision limits) are the
//! [`Registry`](crate::Registry)'s.

mod api;
mod asyncapi;
mod environment;
mod lifecycle;
pub(crate) mod path;
mod revision;

pub use api::{
    Api, ApiContext, ApiId, Cors, Endpoint, Endpoints, MAX_CONTEXT_LEN, MAX_TOPICS, RelaySettings,
    Security, StripSettings, Topic, Transports, UnknownIdPolicy, WSO2_API_KEY_HEADER,
};
pub use asyncapi::lifecycle_of;
pub use environment::{
    DEFAULT_HTTP_PORT, DEFAULT_HTTPS_PORT, Environment, EnvironmentType, Hostname, Vhost,
};
pub use lifecycle::{Lifecycle, LifecycleAction, Routability, UnknownLifecycleName};
pub use revision::{DEFAULT_MAX_REVISIONS, Deployment, Revision, SharedRevision};
