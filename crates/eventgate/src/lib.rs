//! eventgate: an embeddable API gateway for Server-Sent Events APIs.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]

pub mod fetch;
pub mod server;
mod service;
mod telemetry;
pub use service::body::GatewayBody;
pub use telemetry::{ApiSnapshot, StatsSnapshot};
