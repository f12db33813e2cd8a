//! The relay's seams seen from outside the crate, under tokio's paused clock: an
//! [`Upstream`] written here (failing, timing out, panicking), the builder's checks, the
//! channel bound, channel keys, and the per-subscriber settings a gateway sets per API.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use eventgate_relay::{
    BoxError, BoxFuture, ClientInfo, EventId, Frame, Relay, SubscribeOptions, UnknownId, Upstream,
    UpstreamBody,
};
use http::{HeaderMap, HeaderValue, Request, Response};
use support::{ScriptTransport, Scripted, read_events};

/// One answer of [`Flaky`].
#[derive(Clone)]
enum Answer {
    Refused,
    /// 200 with these bytes, then the end of the body.
    Events(&'static str),
    /// 200 with these bytes, then a body that stays open.
    EventsThenOpen(&'static str),
}

/// An upstream implemented outside the relay crate: answers from a list, records when and
/// with which `Last-Event-ID` it was asked.
struct Flaky {
    answers: Mutex<Vec<Answer>>,
    asked: Mutex<Vec<(tokio::time::Instant, Option<String>)>>,
}

/// A body that yields one chunk, then ends or stays open.
struct OneChunk {
    chunk: Option<Bytes>,
    stay_open: bool,
}

impl http_body::Body for OneChunk {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match self.chunk.take() {
            Some(c) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(c)))),
            None if self.stay_open => std::task::Poll::Pending,
            None => std::task::Poll::Ready(None),
        }
    }
}

impl Upstream for Flaky {
    fn request(
        &self,
        req: Request<()>,
    ) -> BoxFuture<'static, Result<Response<UpstreamBody>, BoxError>> {
        let id = req
            .headers()
            .get("last-event-id")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        self.asked
            .lock()
            .unwrap()
            .push((tokio::time::Instant::now(), id));
        let answer = {
            let mut a = self.answers.lock().unwrap();
            if a.len() > 1 {
                a.remove(0)
            } else {
                a[0].clone()
            }
        };
        Box::pin(async move {
            let (text, stay_open) = match answer {
                Answer::Refused => {
                    return Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into());
                }
                Answer::Events(t) => (t, false),
                Answer::EventsThenOpen(t) => (t, true),
            };
            let body = OneChunk {
                chunk: Some(Bytes::from_static(text.as_bytes())),
                stay_open,
            };
            Ok(Response::builder()
                .header("content-type", "text/event-stream")
                .body(UpstreamBody::new(body))?)
        })
    }
}

fn url(path: &str) -> http::Uri {
    format!("http://backend.test{path}").parse().unwrap()
}

fn live() -> SubscribeOptions {
    SubscribeOptions::new()
}

#[tokio::test(start_paused = true)]
async fn a_user_defined_upstream_that_fails_to_connect_is_retried_with_backoff_until_it_answers() {
    let flaky = Arc::new(Flaky {
        answers: Mutex::new(vec![
            Answer::Events("id: 1\ndata: 1\n\n"),
            Answer::Refused,
            Answer::Refused,
            Answer::EventsThenOpen("id: 2\ndata: 2\n\n"),
        ]),
        asked: Mutex::new(Vec::new()),
    });
    let relay = Relay::builder()
        .upstream(flaky.clone())
        .heartbeat(None)
        .idle_timeout(None)
        .backoff(Duration::from_millis(100), Duration::from_secs(10))
        .build()
        .unwrap();
    let mut feed = relay.subscribe(url("/f"), &live()).await.unwrap();
    let got = read_events(&mut feed, 2, Duration::from_secs(10)).await;
    assert_eq!(
        got,
        [("1".into(), "1".into()), ("2".into(), "2".into())],
        "the stream goes on across two refused connections"
    );
    let asked = flaky.asked.lock().unwrap().clone();
    assert_eq!(
        asked.len(),
        4,
        "one connection, two refused, one that answers"
    );
    let ids: Vec<_> = asked.iter().map(|(_, id)| id.as_deref()).collect();
    assert_eq!(ids, [None, Some("1"), Some("1"), Some("1")]);
    // Exponential backoff with equal jitter: [exp/2, exp] for exp = 100, 200, 400 ms.
    let mut exp = Duration::from_millis(100);
    for w in asked.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(
            gap >= exp / 2 && gap <= exp,
            "{gap:?} outside [{:?}, {exp:?}]",
            exp / 2
        );
        exp *= 2;
    }
    let m = relay.metrics();
    assert_eq!((m.upstream_connects, m.upstream_failures), (2, 3));
}

#[tokio::test(start_paused = true)]
async fn upstream_errors_are_classified_from_their_source() {
    let t = ScriptTransport::new(vec![Scripted::Refused]);
    let relay = Relay::builder().upstream(t).build().unwrap();
    let err = relay.subscribe(url("/a"), &live()).await.unwrap_err();
    assert!(
        err.is_connect() && err.is_upstream() && !err.is_timeout(),
        "{err:?}"
    );
    assert_eq!(err.suggested_status().as_u16(), 503);

    let t = ScriptTransport::new(vec![Scripted::TimedOut]);
    let relay = Relay::builder().upstream(t).build().unwrap();
    let err = relay.subscribe(url("/a"), &live()).await.unwrap_err();
    assert!(err.is_connect() && err.is_timeout(), "{err:?}");
    assert_eq!(err.suggested_status().as_u16(), 504);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_driver_retires_its_channel_and_the_next_subscriber_gets_a_fresh_one() {
    let t = ScriptTransport::new(vec![
        Scripted::Panic,
        Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"]),
    ]);
    let relay = Relay::builder()
        .upstream(t.clone())
        .heartbeat(None)
        .build()
        .unwrap();
    let err = relay.subscribe(url("/p"), &live()).await.unwrap_err();
    assert!(err.is_closed(), "{err:?}");
    assert_eq!(relay.fanout_channels(), 0);
    assert_eq!(relay.metrics().channels_open, 0);
    let mut feed = relay.subscribe(url("/p"), &live()).await.unwrap();
    assert_eq!(
        read_events(&mut feed, 1, Duration::from_secs(1))
            .await
            .len(),
        1
    );
    assert_eq!(t.times().len(), 2);
}

#[test]
fn builder_limits_are_checked_when_building_not_later_in_a_task() {
    let zero = Duration::ZERO;
    type Setting = Box<dyn Fn(&mut eventgate_relay::RelayBuilder)>;
    let cases: Vec<(&str, Setting)> = vec![
        (
            "line",
            Box::new(|b| {
                b.max_event_size(0, 1024);
            }),
        ),
        (
            "event",
            Box::new(|b| {
                b.max_event_size(1024, 0);
            }),
        ),
        (
            "queue",
            Box::new(|b| {
                b.queue_depth(0);
            }),
        ),
        (
            "heartbeat",
            Box::new(move |b| {
                b.heartbeat(Some(zero));
            }),
        ),
        (
            "idle",
            Box::new(move |b| {
                b.idle_timeout(Some(zero));
            }),
        ),
        (
            "head",
            Box::new(move |b| {
                b.response_timeout(zero);
            }),
        ),
        (
            "connect",
            Box::new(move |b| {
                b.connect_timeout(zero);
            }),
        ),
        (
            "backoff",
            Box::new(move |b| {
                b.backoff(zero, zero);
            }),
        ),
        (
            "channels",
            Box::new(|b| {
                b.max_channels(0);
            }),
        ),
    ];
    for (what, set) in cases {
        let mut b = Relay::builder();
        set(&mut b);
        let err = b.build().unwrap_err();
        assert!(err.is_invalid_config(), "{what}: {err:?}");
        assert_eq!(err.suggested_status().as_u16(), 500);
    }
    assert!(Relay::builder().build().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_zero_heartbeat_in_the_options_is_an_invalid_request() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["data: x\n\n"])]);
    let relay = Relay::builder().upstream(t).build().unwrap();
    let err = relay
        .subscribe(url("/a"), live().heartbeat(Some(Duration::ZERO)))
        .await
        .unwrap_err();
    assert!(err.is_invalid_request(), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn max_channels_refuses_a_new_channel_with_a_typed_error_but_lets_subscribers_join() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = Relay::builder()
        .upstream(t.clone())
        .heartbeat(None)
        .linger(Duration::from_secs(1))
        .max_channels(2)
        .build()
        .unwrap();
    let a = relay.subscribe(url("/a"), &live()).await.unwrap();
    let _b = relay.subscribe(url("/b"), &live()).await.unwrap();
    let err = relay.subscribe(url("/c"), &live()).await.unwrap_err();
    assert!(err.is_channel_limit(), "{err:?}");
    assert_eq!(err.suggested_status().as_u16(), 503);
    assert_eq!(relay.metrics().channels_refused, 1);
    // Proxy mode counts too: one channel per client.
    let mut proxy = live();
    proxy.mode(eventgate_relay::Mode::Proxy);
    assert!(
        relay
            .subscribe(url("/a"), &proxy)
            .await
            .unwrap_err()
            .is_channel_limit()
    );
    // Joining an open channel is not a new channel.
    let a2 = relay.subscribe(url("/a"), &live()).await.unwrap();
    drop((a, a2));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(relay.fanout_channels(), 1);
    let _c = relay.subscribe(url("/c"), &live()).await.unwrap();
    assert_eq!(relay.fanout_channels(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_channel_budget_bounds_one_group_of_channels_and_frees_units_when_they_retire() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = Relay::builder()
        .upstream(t.clone())
        .heartbeat(None)
        .linger(Duration::from_secs(1))
        .build()
        .unwrap();
    let budget = eventgate_relay::ChannelBudget::new(1).unwrap();
    let mut in_budget = live();
    in_budget.channel_budget(budget.clone());
    let a = relay.subscribe(url("/a"), &in_budget).await.unwrap();
    assert_eq!(budget.open(), 1);
    // A second distinct backend path would be a second channel: refused, typed.
    let err = relay.subscribe(url("/b"), &in_budget).await.unwrap_err();
    assert!(err.is_channel_limit(), "{err:?}");
    assert_eq!(relay.metrics().channels_refused, 1);
    // Joining the open channel takes nothing; another group is not bounded by this one.
    let a2 = relay.subscribe(url("/a"), &in_budget).await.unwrap();
    let _other = relay.subscribe(url("/b"), &live()).await.unwrap();
    assert_eq!(budget.open(), 1);
    // The unit comes back when the channel retires (after its linger), not before.
    drop((a, a2));
    assert_eq!(budget.open(), 1, "a lingering channel still holds its unit");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(budget.open(), 0);
    let _c = relay.subscribe(url("/c"), &in_budget).await.unwrap();
    assert_eq!(budget.open(), 1);
}

#[tokio::test(start_paused = true)]
async fn spellings_of_one_upstream_uri_share_one_channel() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = Relay::builder().upstream(t.clone()).build().unwrap();
    let a: http::Uri = "http://Backend.TEST:80/feed?q=%7e%2f&z=1".parse().unwrap();
    let b: http::Uri = "http://backend.test/feed?q=~%2F&z=1".parse().unwrap();
    let _fa = relay.subscribe(a, &live()).await.unwrap();
    let _fb = relay.subscribe(b, &live()).await.unwrap();
    assert_eq!(relay.fanout_channels(), 1);
    assert_eq!(t.times().len(), 1);
    // The query's order is part of the key.
    let c: http::Uri = "http://backend.test/feed?z=1&q=~%2F".parse().unwrap();
    let _fc = relay.subscribe(c, &live()).await.unwrap();
    assert_eq!(relay.fanout_channels(), 2);
}

#[tokio::test(start_paused = true)]
async fn per_subscriber_settings_override_the_relays_and_split_channels_where_they_must() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = Relay::builder()
        .upstream(t.clone())
        .heartbeat(None)
        .retry_hint(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    // Subscriber settings: retry hint and unknown-id policy, on the same channel.
    let mut quiet = live();
    quiet.retry_hint(None);
    let mut f1 = relay.subscribe(url("/s"), &quiet).await.unwrap();
    assert_eq!(
        f1.next_frame().await.unwrap().unwrap(),
        "id: 1\ndata: 1\n\n"
    );
    let mut f2 = relay.subscribe(url("/s"), &live()).await.unwrap();
    assert_eq!(f2.try_next().unwrap().unwrap(), "retry: 1000\n\n");
    let mut strict = live();
    strict
        .last_event_id(EventId::from_text("nope"))
        .unknown_id(UnknownId::Reject);
    assert!(
        relay
            .subscribe(url("/s"), &strict)
            .await
            .unwrap_err()
            .is_unknown_id()
    );
    let mut notice = live();
    notice
        .last_event_id(EventId::from_text("nope"))
        .retry_hint(None)
        .unknown_id(UnknownId::StartLiveWith(Some(Frame::comment("new start"))));
    let mut f3 = relay.subscribe(url("/s"), &notice).await.unwrap();
    assert_eq!(f3.try_next().unwrap().unwrap(), ": new start\n\n");
    assert_eq!(relay.fanout_channels(), 1);

    // Channel settings: another heartbeat, backlog or upstream credential is another channel.
    let mut beat = live();
    beat.heartbeat(Some(Duration::from_secs(5)))
        .retry_hint(None);
    let mut f4 = relay.subscribe(url("/s"), &beat).await.unwrap();
    assert_eq!(relay.fanout_channels(), 2);
    assert_eq!(
        f4.next_frame().await.unwrap().unwrap(),
        "id: 1\ndata: 1\n\n"
    );
    let start = tokio::time::Instant::now();
    assert_eq!(
        f4.next_frame().await.unwrap().unwrap(),
        Frame::KEEP_ALIVE.into_bytes()
    );
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let mut backlog = live();
    backlog.backlog(10, 1 << 16);
    let _f5 = relay.subscribe(url("/s"), &backlog).await.unwrap();
    assert_eq!(relay.fanout_channels(), 3);
    let mut creds = HeaderMap::new();
    creds.insert("x-backend-key", HeaderValue::from_static("k1"));
    let mut keyed = live();
    keyed.upstream_headers(creds.clone());
    let _f6 = relay.subscribe(url("/s"), &keyed).await.unwrap();
    assert_eq!(relay.fanout_channels(), 4);
    // Headers the relay drops anyway do not split a channel.
    creds.insert("host", HeaderValue::from_static("client.example"));
    keyed.upstream_headers(creds);
    let _f7 = relay.subscribe(url("/s"), &keyed).await.unwrap();
    assert_eq!(relay.fanout_channels(), 4);
    let sent = t.headers.lock().unwrap().clone();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3]["x-backend-key"], "k1");
    assert!(sent[..3].iter().all(|h| h.get("x-backend-key").is_none()));
}

#[tokio::test(start_paused = true)]
async fn forward_to_backend_sends_the_callers_upstream_headers_and_never_the_clients() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = Relay::builder()
        .upstream(t.clone())
        .heartbeat(None)
        .unknown_id(UnknownId::ForwardToBackend)
        .build()
        .unwrap();
    let mut backend = HeaderMap::new();
    backend.insert("x-backend-key", HeaderValue::from_static("k1"));
    let mut opts = live();
    opts.upstream_headers(backend)
        .last_event_id(EventId::from_text("41"))
        .client(ClientInfo::new(
            Some("192.0.2.7:5555".parse().unwrap()),
            Some("https"),
        ));
    let _feed = relay.subscribe(url("/f"), &opts).await.unwrap();
    let sent = t.headers.lock().unwrap().clone();
    // The fan-out channel (no id), then the dedicated connection with the client's id.
    assert_eq!(sent.len(), 2);
    let dedicated = &sent[1];
    assert_eq!(dedicated["last-event-id"], "41");
    assert_eq!(dedicated["x-backend-key"], "k1");
    assert_eq!(dedicated["x-forwarded-for"], "192.0.2.7");
    let names: Vec<&str> = dedicated.keys().map(|k| k.as_str()).collect();
    for gone in ["authorization", "cookie", "x-api-key"] {
        assert!(!names.contains(&gone), "{gone} sent: {names:?}");
    }
    assert!(sent[0].get("x-forwarded-for").is_none());
}

#[test]
fn backlog_keys_are_the_normalised_uri_and_a_hash_of_the_upstream_headers() {
    use eventgate_relay::{Relay, SubscribeOptions};
    use http::header::{HeaderMap, HeaderValue};
    let relay = Relay::builder().build().unwrap();
    let uri: http::Uri = "http://Backend:9000/ticks?a=1".parse().unwrap();
    let plain = relay.backlog_key(&uri, &SubscribeOptions::new()).unwrap();
    assert_eq!(plain.as_str(), "http://backend:9000/ticks?a=1");
    let with = |v: &'static str| {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static(v));
        let mut o = SubscribeOptions::new();
        o.upstream_headers(h);
        relay.backlog_key(&uri, &o).unwrap()
    };
    let (a, b) = (with("Bearer one"), with("Bearer two"));
    assert_ne!(a, b, "different credentials, different histories");
    assert_eq!(a, with("Bearer one"), "stable");
    assert!(a.as_str().starts_with("http://backend:9000/ticks?a=1#"));
    assert!(
        !a.as_str().contains("Bearer"),
        "the credential is not in the key"
    );
    assert!(
        Relay::builder()
            .shared_timeout(std::time::Duration::ZERO)
            .build()
            .unwrap_err()
            .is_invalid_config()
    );
}
