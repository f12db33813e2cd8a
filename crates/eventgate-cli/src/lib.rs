//! The parts of the `eventgate` binary that other code can reuse.
//!
//! - [`backend`]: the tutorial's sample memory observer (`GET /memory`, `text/event-stream`),
//!   with `id:` lines and `Last-Event-ID` replay from a bounded history. The demo starts it
//!   in-process with [`backend::run`].
//! - [`issuer`]: a local JWT issuer (ES256, key in `DATA/issuer-key.pem`) and its JWKS; the
//!   gateway mints `app token` JWTs with it and publishes the JWKS.
//! - [`tail`]: the SSE debugging client behind `eventgate tail`: a timeline of one event
//!   source, reconnecting as a browser's `EventSource` does.
//! - [`demo`]: `eventgate demo`, the seed tutorial in one command (sample backend, gateway
//!   with the Observer API, a subscribed application and its token).
//! - [`devportal`]: the developer portal page at `/devportal` ([`devportal::Front`] in front
//!   of the gateway): the published APIs, a try-it console, a live timeline and live counters.
//! - [`duration`]: the `30s` / `15m` / `1h` durations the command line takes.
//! - [`store`]: the control plane's persisted state ([`store::Store`]: SQLite, or PostgreSQL
//!   shared by several nodes).
//! - [`control`]: [`control::start`], the state loaded into a live registry and gate, and
//!   the admin API ([`admin`]) that changes them.
//! - [`jsonpath`]: the small JSONPath subset `tail --merge` takes.
//!
//! The binary's subcommands and flags are described in `docs/cli.md`.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)
)]

pub mod admin;
pub mod backend;
pub mod control;
pub mod demo;
pub mod devportal;
pub mod duration;
pub mod issuer;
pub mod jsonpath;
pub mod store;
pub mod tail;
