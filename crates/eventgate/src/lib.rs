//! The eventgate gateway: SSE APIs from definition to live stream.
//!
//! This crate is the thin top of eventgate. It owns the **control plane** (the model of an
//! SSE API, WSO2's lifecycle, revisions, environments and deployments, kept in a
//! [`Registry`] that publishes an immutable [`Router`] snapshot with one atomic swap), the
//! **router** (`Host` -> vhost -> context and version -> topic template -> [`Route`], no
//! lock and no linear scan) and the **configuration** file ([`config`]). The **request path**,
//! [`Gateway`], is a `tower` Service over any request body that composes them with
//! `eventgate-policy` (credentials, subscriptions, plans, connection limits) and
//! `eventgate-relay` (fan-out, `Last-Event-ID` replay): route, check the transport and CORS,
//! authorize (JWKS fetches and introspection bounded by a timeout, through the hyper clients in
//! [`fetch`]), attach, respond with `text/event-stream`, charge every delivered event. Errors are
//! WSO2 API Manager's JSON bodies and codes. [`server`] is an optional runner (HTTP/1.1, HTTP/2,
//! TLS, header-read timeout, connection cap, graceful drain); the gateway owns no listener,
//! runtime or global, so it can be mounted in an axum or hyper server instead
//! (`examples/axum_app.rs`, `examples/hyper_server.rs`).
//!
//! Counters ([`Gateway::stats`]) render as Prometheus text (served at `GET /metrics`) or JSON; every stream's close is
//! one `tracing` event (target `eventgate::stream`) with its duration, events, bytes and
//! reason.
//!
//! **Should I use this crate?** Use it to run an SSE API gateway or embed one in an axum or
//! hyper server. For the pieces alone, use `eventgate-sse` (the format),
//! `eventgate-asyncapi` (AsyncAPI documents), `eventgate-policy` (credentials, plans,
//! quotas) or `eventgate-relay` (fan-out, replay).
//!
//! # Example
//! ```
//! use eventgate::config::Config;
//! use eventgate::Registry;
//!
//! let cfg = Config::from_str("eventgate.toml", r#"
//! [[environments]]
//! name = "Default"
//! vhosts = [{ host = "localhost" }]
//!
//! [[apis]]
//! name = "Observer"
//! context = "/observer"
//! version = "1.0.0"
//! lifecycle = "PUBLISHED"
//! plans = ["AsyncGold"]
//! endpoints = { production = "http://localhost:8080", sandbox = "http://localhost:8080" }
//! deploy = [{ environment = "Default", vhost = "localhost" }]
//! topics = [{ path = "/memory" }]
//! "#)?;
//! let registry = Registry::new();
//! cfg.apply(&registry)?;
//! let route = registry.router().route(Some("localhost:8280"), "/observer/1.0.0/memory")?;
//! assert_eq!(route.backend_url(eventgate_policy::KeyType::Production, None)?,
//!            "http://localhost:8080/memory");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//! None.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]

pub mod config;
mod error;
mod model;
mod registry;
pub mod router;

pub use error::{ModelError, PathProblem, RegistryError, RouteError};
pub use model::*;
pub use registry::{Registry, RegistryBuilder, RouteEnd, RouteSignal, Transaction};
pub use router::{Route, Router};
pub mod fetch;
mod policy_config;
pub mod server;
mod service;
mod telemetry;

pub use policy_config::{BuildGatewayError, IssuedKey, PolicyConfigError};
pub use service::body::GatewayBody;
pub use service::{
    DEFAULT_API_MAX_CHANNELS, DEFAULT_AUTH_TIMEOUT, DEFAULT_SHUTDOWN_DEADLINE, ERROR_EVENT,
    Gateway, GatewayBuilder, GatewayError,
};
pub use telemetry::{ApiSnapshot, StatsSnapshot};
