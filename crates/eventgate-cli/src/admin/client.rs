//! A client of the admin API (what the `api` and `app` commands use).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;

/// The largest admin API response read.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How long one admin request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client-side failure (the admin API's own errors are answers, see [`Answer`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No admin URL or token.
    #[error("{0}")]
    Setup(String),
    /// The request could not be made or answered.
    #[error("admin API at {url}: {reason}")]
    Transport {
        /// URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// An admin API answer: status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`null` if it is not).
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// An admin API client.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    token: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Percent-encodes a path segment (keeps unreserved characters and `:`).
#[must_use]
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl AdminClient {
    /// A client of the admin API at `url` (`http://127.0.0.1:9443`, or `127.0.0.1:9443`).
    #[must_use]
    pub fn new(url: &str, token: &str) -> Self {
        let url = url.trim().trim_end_matches('/');
        let base = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        AdminClient {
            base,
            token: token.trim().to_owned(),
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        }
    }

    /// The client for the command line's flags: `url` (`--admin`) or `DIR/admin-url`, and
    /// `token` (`--admin-token`, `EVENTGATE_ADMIN_TOKEN`) or `DIR/admin-token`.
    ///
    /// # Errors
    /// [`ClientError::Setup`] naming the flag and the file looked for.
    pub fn from_flags(
        data: &Path,
        url: Option<&str>,
        token: Option<&str>,
    ) -> Result<Self, ClientError> {
        let read = |file: &str, flag: &str| {
            let path = data.join(file);
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| {
                    ClientError::Setup(format!(
                        "no {flag}: {} cannot be read ({e}); start `eventgate serve --data {}` \
                         or pass {flag}",
                        path.display(),
                        data.display()
                    ))
                })
        };
        let url = match url {
            Some(u) => u.to_owned(),
            None => read(super::URL_FILE, "--admin URL")?,
        };
        let token = match token {
            Some(t) => t.to_owned(),
            None => read(super::TOKEN_FILE, "--admin-token")?,
        };
        Ok(Self::new(&url, &token))
    }

    /// The admin API's base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method path` with an optional JSON body.
    ///
    /// # Errors
    /// [`ClientError::Transport`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let fail = |reason: String| ClientError::Transport {
            url: url.clone(),
            reason,
        };
        let mut req = Request::builder().method(method).uri(&url).header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", self.token),
        );
        let payload = match body {
            Some(v) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(payload))
            .map_err(|e| fail(e.to_string()))?;
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| fail(format!("no answer in {}s", REQUEST_TIMEOUT.as_secs())))?
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| fail(e.to_string()))?
            .to_bytes();
        Ok(Answer { status, body })
    }
}
