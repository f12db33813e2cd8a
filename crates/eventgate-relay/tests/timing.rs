//! Timers under tokio's paused clock (no real sleeps): reconnection backoff honours the
//! backend's `retry:` and the cap, heartbeats on idle channels, linger after the last
//! subscriber; and upstream behaviour scripted through an in-memory transport.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eventgate_relay::{EventId, Frame, RESET_EVENT, Relay, SubscribeOptions, UnknownId};
use support::{ScriptTransport, Scripted, read_events};

fn url() -> http::Uri {
    "http://backend.test/feed".parse().unwrap()
}

fn relay(t: &Arc<ScriptTransport>) -> eventgate_relay::RelayBuilder {
    let mut b = Relay::builder();
    b.upstream(t.clone()).heartbeat(None).idle_timeout(None);
    b
}

fn live() -> SubscribeOptions {
    SubscribeOptions::new()
}

fn gaps(times: &[tokio::time::Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn reconnection_waits_at_least_the_backends_retry() {
    let t = ScriptTransport::new(vec![Scripted::Stream(vec![
        "retry: 3000\n\nid: 1\ndata: 1\n\n",
    ])]);
    let relay = relay(&t)
        .backoff(Duration::from_millis(10), Duration::from_secs(60))
        .build()
        .unwrap();
    let _sub = relay.subscribe(url(), &live()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let g = gaps(&t.times());
    assert!(g.len() >= 4, "{g:?}");
    for d in &g {
        assert!(
            *d >= Duration::from_secs(3),
            "reconnected after {d:?} < retry 3s"
        );
        assert!(
            *d < Duration::from_millis(3100),
            "{d:?}: delay far above retry"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_exponentially_up_to_the_cap_and_the_cap_bounds_retry() {
    // First connection works (so the channel is live), then every attempt fails.
    let t = ScriptTransport::new(vec![
        Scripted::Stream(vec!["retry: 3600000\n\nid: 1\ndata: 1\n\n"]),
        Scripted::Status(503),
    ]);
    let relay = relay(&t)
        .backoff(Duration::from_millis(100), Duration::from_secs(2))
        .build()
        .unwrap();
    let _sub = relay.subscribe(url(), &live()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let g = gaps(&t.times());
    assert!(g.len() >= 5, "{g:?}");
    // retry: 1 hour is capped at 2 s.
    for d in &g {
        assert!(*d <= Duration::from_millis(2010), "{d:?} above the cap");
        assert!(
            *d >= Duration::from_secs(2),
            "{d:?} below the (capped) retry"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_without_retry_doubles_then_caps() {
    let t = ScriptTransport::new(vec![
        Scripted::Stream(vec!["id: 1\ndata: 1\n\n"]),
        Scripted::Status(500),
    ]);
    let relay = relay(&t)
        .backoff(Duration::from_millis(100), Duration::from_millis(1600))
        .build()
        .unwrap();
    let _sub = relay.subscribe(url(), &live()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let g = gaps(&t.times());
    // 20 s hold at least 8 reconnects (100 + 200 + 400 + 800 + 1600 * 4 ms at most).
    assert!(g.len() >= 8, "only {} reconnects: {g:?}", g.len());
    // One good connection; its end and every later attempt count as failures.
    let m = relay.metrics();
    assert_eq!(m.upstream_connects, 1);
    assert_eq!(m.upstream_failures as usize, t.times().len());
    // After the good connection the attempt counter resets: delays are in
    // [exp/2, exp] for exp = 100, 200, 400, 800, 1600, 1600, ...
    let mut exp = Duration::from_millis(100);
    for d in g.iter().take(8) {
        assert!(
            *d >= exp / 2 && *d <= exp + Duration::from_millis(2),
            "{d:?} vs {exp:?}"
        );
        exp = (exp * 2).min(Duration::from_millis(1600));
    }
}

#[tokio::test(start_paused = true)]
async fn reconnect_sends_the_last_seen_id_and_drops_events_the_backend_repeats() {
    let t = ScriptTransport::new(vec![
        Scripted::Stream(vec!["id: 1\ndata: 1\n\nid: 2\ndata: 2\n\n"]),
        // A sloppy backend replays from 1 although we sent Last-Event-ID: 2.
        Scripted::StreamThenHang(vec![
            "id: 1\ndata: 1\n\nid: 2\ndata: 2\n\nid: 3\ndata: 3\n\n",
        ]),
    ]);
    let relay = relay(&t).build().unwrap();
    let mut sub = relay.subscribe(url(), &live()).await.unwrap();
    let got = read_events(&mut sub, 3, Duration::from_secs(10)).await;
    let data: Vec<&str> = got.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(data, ["1", "2", "3"]);
    let ids = t.last_event_ids.lock().unwrap().clone();
    assert_eq!(ids, [None, Some("2".to_owned())]);
    assert_eq!(relay.metrics().duplicates_dropped, 2);
}

#[tokio::test(start_paused = true)]
async fn a_backend_restarted_with_its_ids_from_1_again_loses_none_of_its_new_events() {
    let t = ScriptTransport::new(vec![
        Scripted::Stream(vec!["id: 1\ndata: a\n\nid: 2\ndata: b\n\n"]),
        // Restarted with its counter back at 1: the ids are kept ones, the events are new.
        // The first one repeats event 1's data under another type, which makes it new too.
        Scripted::StreamThenHang(vec![
            "id: 1\nevent: other\ndata: a\n\nid: 2\ndata: c\n\nid: 3\ndata: d\n\n",
        ]),
    ]);
    let relay = relay(&t).build().unwrap();
    let mut sub = relay.subscribe(url(), &live()).await.unwrap();
    let got = read_events(&mut sub, 5, Duration::from_secs(10)).await;
    let data: Vec<&str> = got.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(data, ["a", "b", "a", "c", "d"]);
    assert_eq!(relay.metrics().duplicates_dropped, 0);
    // A client resuming from the newest "2" gets what followed it, not the older "2"'s.
    let mut again = relay
        .subscribe(url(), live().last_event_id(EventId::from_text("2")))
        .await
        .unwrap();
    let resumed = read_events(&mut again, 1, Duration::from_secs(10)).await;
    assert_eq!(resumed[0].0, "d");
}

#[tokio::test(start_paused = true)]
async fn idle_channel_sends_heartbeats_at_the_interval() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = relay(&t)
        .heartbeat(Some(Duration::from_secs(15)))
        .build()
        .unwrap();
    let mut sub = relay.subscribe(url(), &live()).await.unwrap();
    let start = tokio::time::Instant::now();
    let first = sub.next_frame().await.unwrap().unwrap();
    assert_eq!(first, "id: 1\ndata: 1\n\n");
    let hb = sub.next_frame().await.unwrap().unwrap();
    assert_eq!(hb, Frame::KEEP_ALIVE.into_bytes());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited < Duration::from_secs(16),
        "{waited:?}"
    );
    let hb2 = sub.next_frame().await.unwrap().unwrap();
    assert_eq!(hb2, Frame::KEEP_ALIVE.into_bytes());
    assert!(start.elapsed() >= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn fanout_channel_lingers_after_the_last_subscriber_then_closes() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = relay(&t).linger(Duration::from_secs(10)).build().unwrap();
    let a = relay.subscribe(url(), &live()).await.unwrap();
    let b = relay.subscribe(url(), &live()).await.unwrap();
    assert_eq!(t.times().len(), 1, "one upstream for both subscribers");
    drop(a);
    drop(b);
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(relay.fanout_channels(), 1);
    // A client coming back within the linger replays from the kept backlog.
    let mut c = relay
        .subscribe(url(), live().last_event_id(EventId::from_text("0")))
        .await
        .unwrap();
    assert_eq!(c.try_next().unwrap().unwrap(), RESET_EVENT.into_bytes());
    drop(c);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(relay.fanout_channels(), 0);
    assert_eq!(relay.metrics().channels_open, 0);
    // The next subscriber opens a new upstream.
    let _d = relay.subscribe(url(), &live()).await.unwrap();
    assert_eq!(t.times().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn bad_upstream_answers_are_typed_errors_for_the_first_subscriber() {
    for (script, status) in [
        (Scripted::Status(404), 502),
        (Scripted::Status(503), 502),
        (Scripted::ContentType("application/json"), 502),
    ] {
        let t = ScriptTransport::new(vec![script]);
        let relay = relay(&t).build().unwrap();
        let err = relay.subscribe(url(), &live()).await.unwrap_err();
        assert!(err.is_upstream());
        assert_eq!(err.suggested_status().as_u16(), status);
        assert_eq!(relay.fanout_channels(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_id_can_be_forwarded_to_the_backend_on_a_dedicated_connection() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec![
        "id: 100\ndata: 100\n\n",
    ])]);
    let relay = relay(&t)
        .unknown_id(UnknownId::ForwardToBackend)
        .build()
        .unwrap();
    let mut a = relay.subscribe(url(), &live()).await.unwrap();
    assert_eq!(
        read_events(&mut a, 1, Duration::from_secs(1)).await.len(),
        1
    );
    // "7" is not in the fan-out backlog: this client gets its own upstream with its id.
    let _b = relay
        .subscribe(url(), live().last_event_id(EventId::from_text("7")))
        .await
        .unwrap();
    let ids = t.last_event_ids.lock().unwrap().clone();
    assert_eq!(ids, [None, Some("7".to_owned())]);
    // A known id stays on the shared channel.
    let _c = relay
        .subscribe(url(), live().last_event_id(EventId::from_text("100")))
        .await
        .unwrap();
    assert_eq!(t.times().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_final_comment_and_retry_then_ends_streams() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = relay(&t)
        .shutdown_retry(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut sub = relay.subscribe(url(), &live()).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(Ok(f)) = sub.next_frame().await {
            frames.push(f);
        }
        frames
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    relay.shutdown(Duration::from_secs(1)).await.unwrap();
    let frames = reader.await.unwrap();
    assert_eq!(
        frames,
        [
            Bytes::from_static(b"id: 1\ndata: 1\n\n"),
            eventgate_relay::SHUTDOWN_COMMENT.into_bytes(),
            Bytes::from_static(b"retry: 5000\n\n"),
        ]
    );
    assert!(
        relay
            .subscribe(url(), &live())
            .await
            .unwrap_err()
            .is_shutdown()
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_deadline_ends_subscribers_that_do_not_drain() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = relay(&t).build().unwrap();
    let mut sub = relay.subscribe(url(), &live()).await.unwrap();
    let err = relay.shutdown(Duration::from_secs(3)).await.unwrap_err();
    assert!(err.is_shutdown() && err.is_timeout());
    assert!(
        sub.next_frame().await.is_none(),
        "aborted stream ends at once"
    );
}

#[tokio::test(start_paused = true)]
async fn response_head_timeout_is_a_gateway_timeout_for_the_first_subscriber() {
    let t = ScriptTransport::new(vec![Scripted::Hang]);
    let relay = relay(&t)
        .response_timeout(Duration::from_secs(4))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let err = relay.subscribe(url(), &live()).await.unwrap_err();
    assert!(err.is_timeout() && err.is_upstream());
    assert_eq!(err.suggested_status().as_u16(), 504);
    assert_eq!(start.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn silent_upstream_is_reconnected_after_the_idle_timeout() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = relay(&t)
        .idle_timeout(Some(Duration::from_secs(20)))
        .backoff(Duration::from_millis(100), Duration::from_millis(100))
        .build()
        .unwrap();
    let _sub = relay.subscribe(url(), &live()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(50)).await;
    let g = gaps(&t.times());
    assert_eq!(g.len(), 2, "{g:?}");
    for d in g {
        assert!(
            d >= Duration::from_secs(20) && d <= Duration::from_millis(20_100),
            "{d:?}"
        );
    }
    assert_eq!(
        t.last_event_ids.lock().unwrap()[1..],
        [Some("1".to_owned()), Some("1".to_owned())]
    );
}

#[tokio::test(start_paused = true)]
async fn gate_cutoff_from_the_gateway_ends_the_stream_with_its_final_event() {
    use eventgate_relay::{Cutoff, Delivery};
    use std::sync::atomic::{AtomicU32, Ordering};
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec![
        "id: 1\ndata: 1\n\nid: 2\ndata: 2\n\nid: 3\ndata: 3\n\n",
    ])]);
    let relay = relay(&t).build().unwrap();
    let left = AtomicU32::new(2);
    let gate = move |_: &Delivery<'_>| {
        left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| Cutoff::with_frame(Frame::from_static("event: quota\ndata: exceeded\n\n")))
    };
    let mut sub = relay
        .subscribe(url(), live().gate(Arc::new(gate)))
        .await
        .unwrap();
    let mut frames = Vec::new();
    while let Some(f) = sub.next_frame().await {
        frames.push(f.unwrap());
    }
    assert_eq!(
        frames,
        [
            Bytes::from_static(b"id: 1\ndata: 1\n\n"),
            Bytes::from_static(b"id: 2\ndata: 2\n\n"),
            Bytes::from_static(b"event: quota\ndata: exceeded\n\n"),
        ]
    );
    assert_eq!(relay.metrics().cutoffs, 1);
}

/// A gate that cannot decide on each event at once (a quota lease being refilled): it asks
/// to wait 1 s first, then admits it.
struct Refilling {
    asked: std::sync::Mutex<Vec<Bytes>>,
    ready_at: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl eventgate_relay::DeliveryGate for Refilling {
    fn admit(&self, _: &eventgate_relay::Delivery<'_>) -> Result<(), eventgate_relay::Cutoff> {
        Ok(())
    }

    fn poll_admit(
        &self,
        cx: &mut std::task::Context<'_>,
        d: &eventgate_relay::Delivery<'_>,
    ) -> std::task::Poll<Result<(), eventgate_relay::Cutoff>> {
        self.asked.lock().unwrap().push(d.frame.clone());
        let mut at = self.ready_at.lock().unwrap();
        match *at {
            Some(t) if tokio::time::Instant::now() >= t => {
                *at = None;
                std::task::Poll::Ready(Ok(()))
            }
            Some(_) => std::task::Poll::Pending,
            None => {
                let t = tokio::time::Instant::now() + Duration::from_secs(1);
                *at = Some(t);
                let waker = cx.waker().clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(t).await;
                    waker.wake();
                });
                std::task::Poll::Pending
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_gate_that_must_wait_holds_the_event_and_the_stream_waits_losing_nothing() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec![
        "id: 1\ndata: 1\n\nid: 2\ndata: 2\n\nid: 3\ndata: 3\n\n",
    ])]);
    let relay = relay(&t).build().unwrap();
    let gate = Arc::new(Refilling {
        asked: std::sync::Mutex::new(Vec::new()),
        ready_at: std::sync::Mutex::new(None),
    });
    let mut sub = relay
        .subscribe(url(), live().gate(gate.clone()))
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let mut frames = Vec::new();
    for _ in 0..3 {
        frames.push(sub.next_frame().await.unwrap().unwrap());
    }
    assert_eq!(
        frames,
        [
            Bytes::from_static(b"id: 1\ndata: 1\n\n"),
            Bytes::from_static(b"id: 2\ndata: 2\n\n"),
            Bytes::from_static(b"id: 3\ndata: 3\n\n"),
        ]
    );
    // Each event waited for its gate (1 s each) and was asked about again, not dropped.
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let asked = gate.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 6, "each event asked twice: {asked:?}");
    assert_eq!(asked[0], asked[1]);
    assert_eq!(asked[4], frames[2]);
    assert_eq!(relay.metrics().cutoffs, 0);
}

#[tokio::test(start_paused = true)]
async fn comments_pass_through_when_enabled_and_static_headers_and_retry_hint_are_sent() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec![
        ": backend says hi\n\nid: 1\ndata: 1\n\n",
    ])]);
    let r = relay(&t)
        .pass_comments(true)
        .retry_hint(Some(Duration::from_millis(1500)))
        .upstream_header(
            http::HeaderName::from_static("x-api-key"),
            http::HeaderValue::from_static("k"),
        )
        .build()
        .unwrap();
    let mut sub = r.subscribe(url(), &live()).await.unwrap();
    let mut frames = Vec::new();
    for _ in 0..3 {
        frames.push(sub.next_frame().await.unwrap().unwrap());
    }
    assert_eq!(
        frames,
        [
            Bytes::from_static(b"retry: 1500\n\n"),
            Bytes::from_static(b": backend says hi\n\n"),
            Bytes::from_static(b"id: 1\ndata: 1\n\n"),
        ]
    );
    let sent = t.headers.lock().unwrap()[0].clone();
    assert_eq!(sent["x-api-key"], "k");
    assert_eq!(sent["accept"], "text/event-stream");
    // Without pass-through the comment is dropped.
    let t2 = ScriptTransport::new(vec![Scripted::StreamThenHang(vec![
        ": backend says hi\n\nid: 1\ndata: 1\n\n",
    ])]);
    let relay2 = relay(&t2).build().unwrap();
    let mut sub2 = relay2.subscribe(url(), &live()).await.unwrap();
    assert_eq!(
        sub2.next_frame().await.unwrap().unwrap(),
        "id: 1\ndata: 1\n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn linger_counts_from_the_last_departure() {
    let t = ScriptTransport::new(vec![Scripted::StreamThenHang(vec!["id: 1\ndata: 1\n\n"])]);
    let relay = relay(&t).linger(Duration::from_secs(10)).build().unwrap();
    drop(relay.subscribe(url(), &live()).await.unwrap());
    tokio::time::sleep(Duration::from_secs(6)).await;
    // A client comes and goes 6 s into the linger: the channel must stay 10 s after it left.
    drop(relay.subscribe(url(), &live()).await.unwrap());
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        relay.fanout_channels(),
        1,
        "closed 10 s after the first departure"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(relay.fanout_channels(), 0);
    assert_eq!(t.times().len(), 1);
}
