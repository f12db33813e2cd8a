//! `eventgate tail`: an SSE debugging client that shows one event source as a timeline.
//!
//! It connects as a browser's `EventSource` does (`Accept: text/event-stream`,
//! `Cache-Control: no-cache`, `Last-Event-ID` once an id is known), and writes one entry per
//! thing that happens, each with the time since the start:
//!
//! - `connect`: a request goes out (with the `Last-Event-ID` it carries);
//! - `open`: the response's status, HTTP version, `Content-Type`, `Cache-Control` and the time
//!   to the response headers (`ttfb`);
//! - `event`, `comment`, `retry`: what the stream carries (parsed by `eventgate-sse`);
//! - `reset` and `gw-error`: the gateway's own `eventgate-reset` (history lost, the stream
//!   restarts) and `eventgate-error` (the gateway is ending the stream, e.g. quota spent)
//!   events, shown apart from the API's events;
//! - `merge` / `text` with [`Options::merge`]: the text accumulated from LLM-style token
//!   deltas at a JSONPath;
//! - `error`, `closed`, `wait`: failures, the end of a response, the wait before reconnecting;
//! - `done`: totals.
//!
//! # Reconnection (as `EventSource`)
//! A network error, or the end of a `200 text/event-stream` response, is followed by a
//! reconnection after the server's `retry:` time (default [`DEFAULT_RETRY`], 3 s as in
//! browsers), sending the last event id. A `204 No Content` stops (the server asks the client
//! not to come back). Any other status, or a type other than `text/event-stream`, fails the
//! source without reconnecting; such a response is shown like `curl -i` would (status line,
//! headers, body up to [`Options::max_body_preview`] bytes). Reconnections are unlimited by
//! default, as in a browser; [`Options::max_reconnects`] bounds them, and
//! [`Options::count`] / [`Options::duration`] stop the client by themselves.
//!
//! # Output
//! One line per entry (multi-line data continues on indented lines), coloured only when
//! [`Options::color`] is set (the binary sets it for a terminal without `--json` and without
//! `NO_COLOR`). With [`Options::json`], one JSON object per entry instead:
//! `{"t_ms":12,"kind":"event","type":"message","id":"7","data":"..."}`.

use crate::jsonpath::JsonPath;
use bytes::Bytes;
use eventgate_sse::{Event, Item, ItemStream, Parser};
use futures_util::StreamExt;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reconnection time before the server sends `retry:`: 3 s, as browsers use.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);
/// Default [`Options::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Options::max_body_preview`]: 64 KiB of a non-event-stream body are shown.
pub const DEFAULT_MAX_BODY_PREVIEW: usize = 64 * 1024;
/// Largest event or line the parser accepts: 1 MiB (an event past it is reported and skipped).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// The gateway's event type announcing lost history (the stream restarts).
pub const RESET_EVENT: &str = "eventgate-reset";
/// The gateway's event type announcing that it ends the stream (the data says why).
pub const ERROR_EVENT: &str = "eventgate-error";

/// What to connect to and how to show it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The event source (`http` or `https`).
    pub url: Uri,
    /// Extra request headers (`-H`), e.g. `Authorization`.
    pub headers: HeaderMap,
    /// `Last-Event-ID` for the first request.
    pub last_event_id: Option<String>,
    /// One JSON object per entry.
    pub json: bool,
    /// Pretty-print JSON data.
    pub pretty: bool,
    /// Accumulate the string at this path of each event's JSON data.
    pub merge: Option<JsonPath>,
    /// ANSI colours.
    pub color: bool,
    /// Reconnections allowed; `None` (the default) is unlimited, as `EventSource`.
    pub max_reconnects: Option<u64>,
    /// Stop after this many events.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Accept any TLS certificate (for a self-signed gateway).
    pub insecure: bool,
    /// Extra trusted root certificates (DER), besides the Mozilla roots.
    pub extra_roots: Vec<Vec<u8>>,
    /// Time allowed from sending a request to its response headers. Default
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// Reconnection time until the server sends `retry:`. Default [`DEFAULT_RETRY`].
    pub default_retry: Duration,
    /// Bytes of a non-event-stream body shown. Default [`DEFAULT_MAX_BODY_PREVIEW`].
    pub max_body_preview: usize,
}

impl Options {
    /// Options for `url` with every default.
    #[must_use]
    pub fn new(url: Uri) -> Self {
        Options {
            url,
            headers: HeaderMap::new(),
            last_event_id: None,
            json: false,
            pretty: false,
            merge: None,
            color: false,
            max_reconnects: None,
            count: None,
            duration: None,
            insecure: false,
            extra_roots: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            default_retry: DEFAULT_RETRY,
            max_body_preview: DEFAULT_MAX_BODY_PREVIEW,
        }
    }
}

/// Why the client stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// [`Options::count`] events arrived.
    Count,
    /// [`Options::duration`] passed.
    Duration,
    /// The interrupt future completed (Ctrl-C).
    Interrupted,
    /// The server answered 204 No Content.
    NoContent,
    /// [`Options::max_reconnects`] reconnections were made.
    ReconnectLimit,
    /// The response was not a `200 text/event-stream`: the source failed.
    NotEventStream,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            EndReason::Count => "count reached",
            EndReason::Duration => "duration reached",
            EndReason::Interrupted => "interrupted",
            EndReason::NoContent => "204 No Content",
            EndReason::ReconnectLimit => "reconnect limit reached",
            EndReason::NotEventStream => "not an event stream",
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Events, the gateway's own included.
    pub events: u64,
    /// Comment lines.
    pub comments: u64,
    /// Reconnections made.
    pub reconnects: u64,
    /// Errors (failed connections, broken or invalid streams).
    pub errors: u64,
    /// `eventgate-reset` events.
    pub resets: u64,
    /// `eventgate-error` events.
    pub gateway_errors: u64,
    /// The text accumulated with [`Options::merge`].
    pub merged: String,
    /// Why it stopped (`None` only while running).
    pub ended_by: Option<EndReason>,
    /// Whether the last connection attempt failed (connect error or non-event-stream answer).
    pub last_attempt_failed: bool,
}

/// Why tail could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TailError {
    /// The URL is not `http` or `https` with a host.
    #[error("URL must be http:// or https:// with a host: {0}")]
    BadUrl(String),
    /// The TLS settings were refused.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The output could not be written.
    #[error("writing the timeline: {0}")]
    Output(#[from] std::io::Error),
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

fn build_client(opts: &Options) -> Result<Client, TailError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TailError::Tls(e.to_string()))?;
    let tls = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in &opts.extra_roots {
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| TailError::Tls(e.to_string()))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(opts.connect_timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

/// The `--insecure` verifier: any certificate is accepted, signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One thing on the timeline.
#[derive(Debug)]
enum Entry {
    Connect {
        url: String,
        last_event_id: Option<String>,
        reconnect: u64,
    },
    Open {
        status: StatusCode,
        version: http::Version,
        content_type: Option<String>,
        cache_control: Option<String>,
        ttfb: Duration,
    },
    Event {
        kind: &'static str,
        event_type: String,
        id: Option<String>,
        data: String,
    },
    Retry(Duration),
    Comment(String),
    Merge {
        delta: String,
    },
    Text(String),
    Error(String),
    Closed {
        events: u64,
        broken: bool,
    },
    Wait {
        delay: Duration,
        from_server: bool,
    },
    NoContent,
    NotEventStream {
        reason: String,
        status: StatusCode,
        version: http::Version,
        headers: HeaderMap,
        body: Bytes,
        truncated: bool,
    },
    Done {
        summary: Summary,
        elapsed: Duration,
    },
}

const INDENT: &str = "                      "; // width of "[    0.000s] kind     "

fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' && c != '\n' {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn header_str(h: &HeaderMap, name: http::HeaderName) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Entry {
    fn kind(&self) -> &'static str {
        match self {
            Entry::Connect { .. } => "connect",
            Entry::Open { .. } => "open",
            Entry::Event { kind, .. } => kind,
            Entry::Retry(_) => "retry",
            Entry::Comment(_) => "comment",
            Entry::Merge { .. } => "merge",
            Entry::Text(_) => "text",
            Entry::Error(_) => "error",
            Entry::Closed { .. } => "closed",
            Entry::Wait { .. } => "wait",
            Entry::NoContent => "stop",
            Entry::NotEventStream { .. } => "not-sse",
            Entry::Done { .. } => "done",
        }
    }

    fn colour(&self) -> &'static str {
        match self {
            Entry::Connect { .. } | Entry::Wait { .. } => "35",
            Entry::Open { status, .. } if *status == StatusCode::OK => "32",
            Entry::Open { .. } | Entry::NotEventStream { .. } | Entry::NoContent => "33",
            Entry::Event { kind: "reset", .. } => "1;33",
            Entry::Event {
                kind: "gw-error", ..
            }
            | Entry::Error(_) => "1;31",
            Entry::Event { .. } => "36",
            Entry::Retry(_) | Entry::Merge { .. } | Entry::Text(_) => "34",
            Entry::Comment(_) | Entry::Closed { .. } => "2",
            Entry::Done { .. } => "1",
        }
    }

    fn json(&self, t: Duration) -> Value {
        let mut v = match self {
            Entry::Connect {
                url,
                last_event_id,
                reconnect,
            } => json!({"url": url, "last_event_id": last_event_id, "reconnect": reconnect}),
            Entry::Open {
                status,
                version,
                content_type,
                cache_control,
                ttfb,
            } => json!({
                "status": status.as_u16(), "version": format!("{version:?}"),
                "content_type": content_type, "cache_control": cache_control,
                "ttfb_ms": ms(*ttfb),
            }),
            Entry::Event {
                event_type,
                id,
                data,
                ..
            } => json!({"type": event_type, "id": id, "data": data}),
            Entry::Retry(d) => json!({"retry_ms": ms(*d)}),
            Entry::Comment(c) => json!({"text": c}),
            Entry::Merge { delta } => json!({"delta": delta}),
            Entry::Text(text) => json!({"text": text}),
            Entry::Error(message) => json!({"message": message}),
            Entry::Closed { events, broken } => json!({"events": events, "broken": broken}),
            Entry::Wait { delay, from_server } => {
                json!({"delay_ms": ms(*delay), "from_server": from_server})
            }
            Entry::NoContent => json!({}),
            Entry::NotEventStream {
                reason,
                status,
                version,
                headers,
                body,
                truncated,
            } => {
                let headers: Vec<Value> = headers
                    .iter()
                    .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
                    .collect();
                json!({
                    "reason": reason, "status": status.as_u16(),
                    "version": format!("{version:?}"), "headers": headers,
                    "body": String::from_utf8_lossy(body), "truncated": truncated,
                })
            }
            Entry::Done { summary, elapsed } => json!({
                "events": summary.events, "comments": summary.comments,
                "reconnects": summary.reconnects, "errors": summary.errors,
                "resets": summary.resets, "gateway_errors": summary.gateway_errors,
                "ended_by": summary.ended_by.map(EndReason::as_str),
                "elapsed_ms": ms(*elapsed),
            }),
        };
        if let Value::Object(map) = &mut v {
            map.insert("t_ms".into(), ms(t).into());
            map.insert("kind".into(), self.kind().into());
        }
        v
    }

    /// The entry's text after the kind column (may hold several lines).
    fn body(&self, pretty: bool) -> String {
        match self {
            Entry::Connect {
                url,
                last_event_id,
                reconnect,
            } => {
                let mut s = url.clone();
                if let Some(id) = last_event_id {
                    let _ = write!(s, " Last-Event-ID: {}", escape_controls(id));
                }
                if *reconnect > 0 {
                    let _ = write!(s, " (reconnect {reconnect})");
                }
                s
            }
            Entry::Open {
                status,
                version,
                content_type,
                cache_control,
                ttfb,
            } => {
                let mut s = format!("{status} {version:?}");
                if let Some(ct) = content_type {
                    let _ = write!(s, " content-type: {}", escape_controls(ct));
                }
                if let Some(cc) = cache_control {
                    let _ = write!(s, " cache-control: {}", escape_controls(cc));
                }
                let _ = write!(s, " ttfb {} ms", ms(*ttfb));
                s
            }
            Entry::Event {
                event_type,
                id,
                data,
                ..
            } => {
                let mut s = escape_controls(event_type);
                if let Some(id) = id {
                    let _ = write!(s, " id={}", escape_controls(id));
                }
                let shown = if pretty {
                    serde_json::from_str::<Value>(data)
                        .ok()
                        .and_then(|v| serde_json::to_string_pretty(&v).ok())
                        .unwrap_or_else(|| data.clone())
                } else {
                    data.clone()
                };
                if shown.is_empty() {
                    s.push_str(" (empty data)");
                } else if shown.contains('\n') {
                    s.push('\n');
                    s.push_str(&escape_controls(&shown));
                } else {
                    s.push(' ');
                    s.push_str(&escape_controls(&shown));
                }
                s
            }
            Entry::Retry(d) => format!("{} ms", ms(*d)),
            Entry::Comment(c) => escape_controls(c),
            Entry::Merge { delta } => {
                format!("+{}", serde_json::to_string(delta).unwrap_or_default())
            }
            Entry::Text(text) => escape_controls(text),
            Entry::Error(message) => escape_controls(message),
            Entry::Closed { events, broken } => format!(
                "{} after {}",
                if *broken {
                    "the connection broke"
                } else {
                    "the server ended the response"
                },
                plural(*events, "event", "events")
            ),
            Entry::Wait { delay, from_server } => format!(
                "{} ms before reconnecting ({})",
                ms(*delay),
                if *from_server {
                    "retry from the server"
                } else {
                    "default retry"
                }
            ),
            Entry::NoContent => {
                "204 No Content: the server asks the client not to reconnect".to_owned()
            }
            Entry::NotEventStream {
                reason,
                status,
                version,
                headers,
                body,
                truncated,
            } => {
                let mut s = format!("{reason}; the response follows\n{version:?} {status}");
                for (k, v) in headers {
                    let _ = write!(
                        s,
                        "\n{k}: {}",
                        escape_controls(&String::from_utf8_lossy(v.as_bytes()))
                    );
                }
                s.push('\n');
                match std::str::from_utf8(body) {
                    Ok(text) => {
                        if !text.is_empty() {
                            s.push('\n');
                            s.push_str(&escape_controls(text.trim_end_matches('\n')));
                        }
                    }
                    Err(_) => {
                        let _ = write!(s, "\n<{} bytes of binary data>", body.len());
                    }
                }
                if *truncated {
                    let _ = write!(s, "\n... (body cut after {} bytes)", body.len());
                }
                s
            }
            Entry::Done { summary, elapsed } => {
                let mut s = format!(
                    "{}, {}, {}, {}",
                    plural(summary.events, "event", "events"),
                    plural(summary.comments, "comment", "comments"),
                    plural(summary.reconnects, "reconnect", "reconnects"),
                    plural(summary.errors, "error", "errors"),
                );
                if summary.resets > 0 {
                    let _ = write!(s, ", {}", plural(summary.resets, "reset", "resets"));
                }
                if summary.gateway_errors > 0 {
                    let _ = write!(
                        s,
                        ", {}",
                        plural(summary.gateway_errors, "gateway error", "gateway errors")
                    );
                }
                let _ = write!(s, " in {:.3}s", elapsed.as_secs_f64());
                if let Some(reason) = summary.ended_by {
                    let _ = write!(s, " ({})", reason.as_str());
                }
                s
            }
        }
    }

    fn human(&self, t: Duration, color: bool, pretty: bool) -> String {
        let stamp = paint(color, "2", &format!("[{:>9.3}s]", t.as_secs_f64()));
        let kind = paint(color, self.colour(), &format!("{:<8}", self.kind()));
        let body = self.body(pretty);
        let mut lines = body.split('\n');
        let first = lines.next().unwrap_or_default();
        let mut out = format!("{stamp} {kind} {first}").trim_end().to_owned();
        for line in lines {
            out.push('\n');
            if !line.trim().is_empty() {
                out.push_str(INDENT);
                out.push_str(line.trim_end());
            }
        }
        out
    }
}

/// Stops the run when interrupted or when the duration has passed.
struct Stop {
    interrupt: Pin<Box<dyn Future<Output = ()> + Send>>,
    deadline: Option<tokio::time::Instant>,
}

impl Stop {
    async fn race<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, EndReason> {
        let deadline = self.deadline;
        let timer = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut self.interrupt => Err(EndReason::Interrupted),
            () = timer => Err(EndReason::Duration),
            v = fut => Ok(v),
        }
    }
}

struct Timeline<'w> {
    out: &'w mut dyn Write,
    start: Instant,
    json: bool,
    color: bool,
    pretty: bool,
}

impl Timeline<'_> {
    fn emit(&mut self, entry: &Entry) -> Result<(), TailError> {
        let t = self.start.elapsed();
        if self.json {
            writeln!(self.out, "{}", entry.json(t))?;
        } else {
            writeln!(self.out, "{}", entry.human(t, self.color, self.pretty))?;
        }
        self.out.flush()?;
        Ok(())
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            let _ = write!(s, ": {text}");
        }
        cur = inner.source();
    }
    s
}

/// Runs the client until it stops by itself (count, duration, 204, reconnect limit, a
/// non-event-stream answer) or `interrupt` completes, writing the timeline to `out`.
///
/// Lines are written and flushed one at a time, so `out` should be cheap to write to
/// (stdout, a buffer).
///
/// # Errors
/// [`TailError`] when the URL or TLS settings are unusable or `out` fails; connection
/// failures are timeline entries, not errors.
pub async fn run<F>(opts: &Options, out: &mut dyn Write, interrupt: F) -> Result<Summary, TailError>
where
    F: Future<Output = ()> + Send + 'static,
{
    match opts.url.scheme_str() {
        Some("http" | "https") if opts.url.host().is_some() => {}
        _ => return Err(TailError::BadUrl(opts.url.to_string())),
    }
    let client = build_client(opts)?;
    let start = Instant::now();
    let mut stop = Stop {
        interrupt: Box::pin(interrupt),
        deadline: opts.duration.map(|d| tokio::time::Instant::now() + d),
    };
    let mut timeline = Timeline {
        out,
        start,
        json: opts.json,
        color: opts.color && !opts.json,
        pretty: opts.pretty,
    };
    let mut summary = Summary::default();
    let mut parser = Parser::builder()
        .comments(true)
        .max_line_len(MAX_EVENT_BYTES)
        .max_event_len(MAX_EVENT_BYTES)
        .on_limit(eventgate_sse::LimitPolicy::SkipEvent)
        .build();
    if let Some(id) = &opts.last_event_id {
        parser.set_last_event_id(id.clone());
    }
    let end = loop {
        match connect_once(
            opts,
            &client,
            &mut parser,
            &mut stop,
            &mut timeline,
            &mut summary,
        )
        .await?
        {
            Attempt::End(reason) => break reason,
            Attempt::Reconnect => {}
        }
        if opts
            .max_reconnects
            .is_some_and(|max| summary.reconnects >= max)
        {
            break EndReason::ReconnectLimit;
        }
        let delay = parser.retry().unwrap_or(opts.default_retry);
        timeline.emit(&Entry::Wait {
            delay,
            from_server: parser.retry().is_some(),
        })?;
        if let Err(reason) = stop.race(tokio::time::sleep(delay)).await {
            break reason;
        }
        summary.reconnects += 1;
    };
    summary.ended_by = Some(end);
    if opts.merge.is_some() && !summary.merged.is_empty() {
        timeline.emit(&Entry::Text(summary.merged.clone()))?;
    }
    timeline.emit(&Entry::Done {
        summary: summary.clone(),
        elapsed: start.elapsed(),
    })?;
    Ok(summary)
}

enum Attempt {
    Reconnect,
    End(EndReason),
}

async fn connect_once(
    opts: &Options,
    client: &Client,
    parser: &mut Parser,
    stop: &mut Stop,
    timeline: &mut Timeline<'_>,
    summary: &mut Summary,
) -> Result<Attempt, TailError> {
    let last_id = parser.last_event_id().to_owned();
    timeline.emit(&Entry::Connect {
        url: opts.url.to_string(),
        last_event_id: (!last_id.is_empty()).then(|| last_id.clone()),
        reconnect: summary.reconnects,
    })?;
    let mut request = Request::get(opts.url.clone())
        .body(Empty::<Bytes>::new())
        .map_err(|e| TailError::BadUrl(e.to_string()))?;
    let headers = request.headers_mut();
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    for (name, value) in &opts.headers {
        headers.append(name, value.clone());
    }
    if !last_id.is_empty()
        && let Ok(v) = HeaderValue::from_str(&last_id)
    {
        headers.insert("last-event-id", v);
    }
    let sent = Instant::now();
    let answer = match stop
        .race(tokio::time::timeout(
            opts.connect_timeout,
            client.request(request),
        ))
        .await
    {
        Err(reason) => return Ok(Attempt::End(reason)),
        Ok(answer) => answer,
    };
    let response = match answer {
        Err(_) => {
            summary.errors += 1;
            summary.last_attempt_failed = true;
            timeline.emit(&Entry::Error(format!(
                "no response headers within {} ms",
                ms(opts.connect_timeout)
            )))?;
            return Ok(Attempt::Reconnect);
        }
        Ok(Err(e)) => {
            summary.errors += 1;
            summary.last_attempt_failed = true;
            timeline.emit(&Entry::Error(format!(
                "connection failed: {}",
                error_chain(&e)
            )))?;
            return Ok(Attempt::Reconnect);
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let content_type = header_str(response.headers(), CONTENT_TYPE);
    timeline.emit(&Entry::Open {
        status,
        version: response.version(),
        content_type: content_type.clone(),
        cache_control: header_str(response.headers(), CACHE_CONTROL),
        ttfb: sent.elapsed(),
    })?;
    if status == StatusCode::NO_CONTENT {
        summary.last_attempt_failed = false;
        timeline.emit(&Entry::NoContent)?;
        return Ok(Attempt::End(EndReason::NoContent));
    }
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(eventgate_sse::is_event_stream);
    if status != StatusCode::OK || !is_sse {
        summary.last_attempt_failed = true;
        let reason = if status != StatusCode::OK {
            format!(
                "status {} is not 200: the event source fails and does not reconnect",
                status.as_u16()
            )
        } else {
            match &content_type {
                Some(ct) => format!("content type {ct} is not text/event-stream"),
                None => "no content type: not text/event-stream".to_owned(),
            }
        };
        let (parts, body) = response.into_parts();
        let (body, truncated) = match stop.race(read_preview(body, opts.max_body_preview)).await {
            Ok(b) => b,
            Err(reason) => return Ok(Attempt::End(reason)),
        };
        timeline.emit(&Entry::NotEventStream {
            reason,
            status,
            version: parts.version,
            headers: parts.headers,
            body,
            truncated,
        })?;
        return Ok(Attempt::End(EndReason::NotEventStream));
    }
    summary.last_attempt_failed = false;
    let mut items = ItemStream::with_parser(response.into_body(), std::mem::take(parser));
    let mut in_response = 0u64;
    let mut broken = false;
    let outcome = loop {
        let next = match stop.race(items.next()).await {
            Ok(next) => next,
            Err(reason) => break Attempt::End(reason),
        };
        match next {
            Some(Ok(Item::Event(event))) => {
                in_response += 1;
                summary.events += 1;
                show_event(&event, opts, timeline, summary)?;
                if opts.count.is_some_and(|n| summary.events >= n) {
                    break Attempt::End(EndReason::Count);
                }
            }
            Some(Ok(Item::Retry(d))) => timeline.emit(&Entry::Retry(d))?,
            Some(Ok(Item::Comment(c))) => {
                summary.comments += 1;
                timeline.emit(&Entry::Comment(c.as_str().to_owned()))?;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                summary.errors += 1;
                broken |= e.is_body();
                let message = if e.is_body() {
                    format!("the response broke: {}", error_chain(&e))
                } else {
                    format!("invalid stream: {e} (event skipped)")
                };
                timeline.emit(&Entry::Error(message))?;
            }
            None => {
                timeline.emit(&Entry::Closed {
                    events: in_response,
                    broken,
                })?;
                break Attempt::Reconnect;
            }
        }
    };
    let (_, mut back) = items.into_parts();
    back.reset();
    *parser = back;
    Ok(outcome)
}

fn show_event(
    event: &Event,
    opts: &Options,
    timeline: &mut Timeline<'_>,
    summary: &mut Summary,
) -> Result<(), TailError> {
    let kind = match event.event_type() {
        RESET_EVENT => {
            summary.resets += 1;
            "reset"
        }
        ERROR_EVENT => {
            summary.gateway_errors += 1;
            "gw-error"
        }
        _ => "event",
    };
    timeline.emit(&Entry::Event {
        kind,
        event_type: event.event_type().to_owned(),
        id: event.has_own_id().then(|| event.last_event_id().to_owned()),
        data: event.data().to_owned(),
    })?;
    if kind == "event"
        && let Some(path) = &opts.merge
        && let Ok(value) = serde_json::from_str::<Value>(event.data())
        && let Some(Value::String(delta)) = path.select(&value)
        && !delta.is_empty()
    {
        summary.merged.push_str(delta);
        timeline.emit(&Entry::Merge {
            delta: delta.clone(),
        })?;
    }
    Ok(())
}

async fn read_preview(mut body: hyper::body::Incoming, limit: usize) -> (Bytes, bool) {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            let room = limit - buf.len();
            if data.len() > room {
                buf.extend_from_slice(&data[..room]);
                return (Bytes::from(buf), true);
            }
            buf.extend_from_slice(&data);
        }
    }
    (Bytes::from(buf), false)
}
