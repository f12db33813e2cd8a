//! `eventgate tail` against a scripted backend: the timeline is compared, with times masked,
//! to the expected text in `tests/snapshots/` (set `UPDATE_SNAPSHOTS=1` to rewrite them).

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use std::convert::Infallible;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one step of a scripted response does.
#[derive(Clone, Debug)]
enum Step {
    /// Send these bytes as one chunk.
    Send(&'static str),
    /// Wait.
    Pause(u64),
    /// Break the connection (no end of the chunked body).
    Drop,
}

/// One scripted response.
#[derive(Clone, Debug)]
enum Reply {
    Sse(Vec<Step>),
    Plain {
        status: u16,
        content_type: &'static str,
        body: &'static str,
    },
}

/// A backend answering request N with `replies[N]` (the last one again after that) and
/// recording each request's headers.
struct Scripted {
    url: String,
    requests: Arc<Mutex<Vec<HeaderMap>>>,
    _server: tokio::task::JoinHandle<()>,
}

async fn scripted(replies: Vec<Reply>) -> Scripted {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stream", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let counter = Arc::new(AtomicUsize::new(0));
    let replies = Arc::new(replies);
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (seen, counter, replies) = (seen.clone(), counter.clone(), replies.clone());
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                seen.lock().unwrap().push(req.headers().clone());
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let reply = replies[n.min(replies.len() - 1)].clone();
                async move { Ok::<_, Infallible>(respond(reply)) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .auto_date_header(false)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Scripted {
        url,
        requests,
        _server: server,
    }
}

fn respond(reply: Reply) -> Response<BoxBody<Bytes, BoxError>> {
    match reply {
        Reply::Plain {
            status,
            content_type,
            body,
        } => Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", content_type)
            .body(
                Full::new(Bytes::from_static(body.as_bytes()))
                    .map_err(|e| match e {})
                    .boxed(),
            )
            .unwrap(),
        Reply::Sse(steps) => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(8);
            tokio::spawn(async move {
                for step in steps {
                    match step {
                        Step::Send(s) => {
                            if tx
                                .send(Ok(Frame::data(Bytes::from_static(s.as_bytes()))))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Step::Pause(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                        Step::Drop => {
                            let _ = tx.send(Err("scripted drop".into())).await;
                            return;
                        }
                    }
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap()
        }
    }
}

/// Runs the binary's `tail` (off the test's runtime threads) and returns status and stdout.
async fn tail(url: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eventgate"));
    cmd.arg("tail").arg(url).args(args).env_remove("NO_COLOR");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

/// Masks what changes from run to run: times, the port, durations in the totals.
fn normalise(text: &str, url: &str) -> String {
    text.lines()
        .map(|line| {
            let mut line = line.replace(url, "URL");
            if line.starts_with('[')
                && let Some(end) = line.find("s]")
            {
                line.replace_range(..end + 2, "[T]");
            }
            if let Some(i) = line.find("ttfb ") {
                let rest = &line[i + 5..];
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                line.replace_range(i + 5..i + 5 + digits, "N");
            }
            if let Some(i) = line.rfind(" in ")
                && line.starts_with("[T] done")
                && let Some(s) = line[i + 4..].find("s")
            {
                line.replace_range(i + 4..i + 4 + s + 1, "Ds");
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The same for `--json` lines: the time fields become 0.
fn normalise_json(text: &str, url: &str) -> String {
    text.lines()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            let map = v.as_object_mut().unwrap();
            for key in ["t_ms", "ttfb_ms", "elapsed_ms"] {
                if map.contains_key(key) {
                    map.insert(key.into(), 0.into());
                }
            }
            v.to_string().replace(url, "URL")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn check_snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1)", path.display()));
    assert_eq!(actual, expected, "timeline differs from {}", path.display());
}

/// Retry, events, a comment, a multi-line event, a broken connection, the reconnect with
/// Last-Event-ID, the gateway's reset and error events, a clean end, then a non-SSE answer.
fn reconnect_script() -> Vec<Reply> {
    vec![
        Reply::Sse(vec![
            Step::Send("retry: 150\n\n"),
            Step::Send("id: 1\ndata: {\"n\":1}\n\n"),
            Step::Send(": keep-alive\n\n"),
            Step::Pause(20),
            Step::Send("event: update\nid: 2\ndata: line one\ndata: line two\n\n"),
            Step::Send("data: half an ev"),
            Step::Pause(50),
            Step::Drop,
        ]),
        Reply::Sse(vec![
            Step::Send(
                "event: eventgate-reset\ndata: {\"reason\":\"history lost\",\"last_id\":\"2\"}\n\n",
            ),
            Step::Send("id: 10\ndata: {\"n\":10}\n\n"),
            Step::Send(
                "event: eventgate-error\ndata: {\"code\":\"900806\",\"message\":\"quota reached\"}\n\n",
            ),
        ]),
        Reply::Plain {
            status: 429,
            content_type: "application/json",
            body: "{\"code\":\"900806\",\"message\":\"Message throttled out\"}\n",
        },
    ]
}

#[tokio::test]
async fn the_timeline_shows_retry_events_drop_reconnect_with_last_event_id_reset_and_a_non_sse_answer()
 {
    let backend = scripted(reconnect_script()).await;
    let (code, out) = tail(&backend.url, &["--max-reconnects", "5"]).await;
    check_snapshot("reconnect.txt", &normalise(&out, &backend.url));
    assert_eq!(code, Some(1), "a non-200 answer ends tail with a failure");
    let requests = backend.requests.lock().unwrap();
    assert_eq!(requests.len(), 3, "no reconnect after the 429");
    assert_eq!(requests[0]["accept"], "text/event-stream");
    assert!(requests[0].get("last-event-id").is_none());
    assert_eq!(
        requests[1]["last-event-id"], "2",
        "the id of the last event seen"
    );
    assert_eq!(requests[2]["last-event-id"], "10");
}

#[tokio::test]
async fn json_mode_prints_one_object_per_entry() {
    let backend = scripted(reconnect_script()).await;
    let (code, out) = tail(&backend.url, &["--json", "--max-reconnects", "5"]).await;
    assert_eq!(code, Some(1));
    assert!(!out.contains('\x1b'), "no colours with --json");
    check_snapshot("reconnect.jsonl", &normalise_json(&out, &backend.url));
}

#[tokio::test]
async fn merge_accumulates_llm_token_deltas_pretty_prints_json_and_204_stops() {
    let backend = scripted(vec![
        Reply::Sse(vec![
            Step::Send("retry: 50\n\n"),
            Step::Send(
                "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            ),
            Step::Send("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"),
            Step::Send("data: {\"choices\":[{\"delta\":{\"content\":\"lo, \"}}]}\n\n"),
            Step::Send("data: {\"choices\":[{\"delta\":{\"content\":\"world\"}}]}\n\n"),
            Step::Send("data: [DONE]\n\n"),
        ]),
        Reply::Plain {
            status: 204,
            content_type: "text/plain",
            body: "",
        },
    ])
    .await;
    let (code, out) = tail(
        &backend.url,
        &["--merge", "$.choices[0].delta.content", "--pretty"],
    )
    .await;
    check_snapshot("merge.txt", &normalise(&out, &backend.url));
    assert_eq!(code, Some(0), "204 is a clean stop");
    assert_eq!(backend.requests.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_200_that_is_not_an_event_stream_is_shown_like_curl_and_not_retried() {
    let backend = scripted(vec![Reply::Plain {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: "<html>login page</html>\n",
    }])
    .await;
    let (code, out) = tail(&backend.url, &[]).await;
    check_snapshot("not_sse.txt", &normalise(&out, &backend.url));
    assert_eq!(code, Some(1));
    assert_eq!(backend.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn count_stops_after_n_events_and_duration_stops_a_quiet_stream() {
    let backend = scripted(vec![Reply::Sse(vec![
        Step::Send("id: 1\ndata: a\n\n"),
        Step::Send("id: 2\ndata: b\n\n"),
        Step::Send("id: 3\ndata: c\n\n"),
        Step::Pause(60_000),
    ])])
    .await;
    let (code, out) = tail(&backend.url, &["--count", "2"]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("done     2 events"), "{out}");
    assert!(!out.contains("data: c") && !out.contains(" c\n"), "{out}");

    let started = std::time::Instant::now();
    let (code, out) = tail(&backend.url, &["--duration", "500ms"]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("(duration reached)"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_refused_connection_is_retried_up_to_max_reconnects() {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/stream");
    let (code, out) = tail(&url, &["--max-reconnects", "1", "--json"]).await;
    assert_eq!(code, Some(1));
    let kinds: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        ["connect", "error", "wait", "connect", "error", "done"],
        "{out}"
    );
}
