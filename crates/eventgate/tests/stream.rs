//! The whole request path on real sockets: the seed tutorial's flow (Observer API, context
//! `/observer`, 1.0.0, topic `/memory`, AsyncGold, a subscribed application's JWT), every
//! refusal with its WSO2 code, quotas and token expiry mid-stream, replay across a backend
//! kill, redeploys that leave other APIs' streams alone, transports, CORS, path safety.

mod wire;

use std::time::Duration;

use eventgate::{ApiId, LifecycleAction};
use eventgate_policy::{Plan, PlanName};
use wire::*;

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn the_tutorial_flow_streams_memory_events_through_the_gateway() {
    let (backend, gw, _) = tutorial(Duration::from_millis(20), Duration::from_secs(600)).await;
    let tok = token("client-1", "", Duration::from_secs(600));
    let mut s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &bearer(&tok))],
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.headers["content-type"], "text/event-stream");
    assert!(
        s.headers.get("content-encoding").is_none(),
        "SSE must never be compressed"
    );
    let mut ids = Vec::new();
    for _ in 0..5 {
        let e = s.next(T).await;
        if e.is_none() {
            panic!(
                "no event; ended={} conns={}",
                s.ended,
                backend
                    .connections
                    .load(std::sync::atomic::Ordering::SeqCst)
            );
        }
        ids.push(e.unwrap().id.parse::<u64>().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let stats = gw.gateway.stats();
    assert_eq!(stats.apis[0].api, "Observer:1.0.0");
    assert!(stats.apis[0].events_out >= 5);
    assert_eq!(stats.apis[0].streams_open, 1);
    // The same counters, scraped over HTTP in Prometheus' text format.
    let m = get(gw.addr, "/metrics", &[]).await;
    assert_eq!(m.status, 200);
    assert!(
        m.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = m.text().await;
    assert!(
        text.contains("eventgate_streams_open{api=\"Observer:1.0.0\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE eventgate_events_out_total counter"),
        "{text}"
    );
    // Once caught up, the stream's live events were written by the relay itself.
    assert!(stats.relay.direct_deliveries > 0, "{:?}", stats.relay);
    assert!(stats.relay.direct_deliveries <= stats.relay.deliveries);
    assert!(
        text.contains("# TYPE eventgate_direct_deliveries_total counter"),
        "{text}"
    );
}

#[tokio::test]
async fn refusals_carry_wso2_codes_and_statuses() {
    let (_backend, gw, _) = tutorial(Duration::from_millis(50), Duration::from_secs(600)).await;
    let path = "/observer/1.0.0/memory";
    // No credential: 900902 with WWW-Authenticate.
    let s = get(gw.addr, path, &[]).await;
    assert_eq!(s.status, 401);
    assert!(s.headers.contains_key("www-authenticate"));
    assert_eq!(code(&s.text().await), "900902");
    // A bad token: 900901.
    let s = get(gw.addr, path, &[("authorization", "Bearer not.a.jwt")]).await;
    assert_eq!(s.status, 401);
    assert_eq!(code(&s.text().await), "900901");
    // Expired: 900901.
    let expired = {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &serde_json::json!({"iss": ISSUER, "azp": "client-1", "exp": now - 60}),
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    };
    let s = get(gw.addr, path, &[("authorization", &bearer(&expired))]).await;
    assert_eq!(code(&s.text().await), "900901");
    // A valid token of an application with no subscription: 900908, 403.
    let other = token("someone-else", "", Duration::from_secs(60));
    let s = get(gw.addr, path, &[("authorization", &bearer(&other))]).await;
    assert_eq!(s.status, 403);
    assert_eq!(code(&s.text().await), "900908");
    // Unknown API and unknown topic.
    let tok = token("client-1", "", Duration::from_secs(60));
    let s = get(
        gw.addr,
        "/nothing/1.0.0/memory",
        &[("authorization", &bearer(&tok))],
    )
    .await;
    assert_eq!(s.status, 404);
    assert_eq!(code(&s.text().await), "404");
    let s = get(
        gw.addr,
        "/observer/1.0.0/cpu",
        &[("authorization", &bearer(&tok))],
    )
    .await;
    assert_eq!(s.status, 403);
    assert_eq!(code(&s.text().await), "900906");
    // Path traversal in the topic is refused before anything reaches the backend.
    let s = get(
        gw.addr,
        "/observer/1.0.0/%2e%2e/memory",
        &[("authorization", &bearer(&tok))],
    )
    .await;
    assert_eq!(s.status, 400);
    // Methods other than GET.
    let s = get_method(gw.addr, "POST", path).await;
    assert_eq!(s, 405);
    let stats = gw.gateway.stats();
    assert!(stats.denials["900902"] >= 1);
}

async fn get_method(addr: std::net::SocketAddr, method: &str, path: &str) -> u16 {
    use http_body_util::Empty;
    let io = hyper_util::rt::TokioIo::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    send.send_request(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_quota_running_out_mid_stream_delivers_exactly_n_then_the_error_event() {
    let backend = Backend::start(Duration::from_millis(5)).await;
    let toml = config(
        backend.addr,
        "[[plans]]\nname = \"Tiny\"\nevents = 7\nper = \"1h\"\n",
    )
    .replace(r#"plans = ["AsyncGold"]"#, r#"plans = ["Tiny"]"#);
    let tiny = Plan::new(PlanName::new("Tiny").unwrap(), 7, Duration::from_secs(3600)).unwrap();
    let gw = gateway(&toml, gate(&[("Observer:1.0.0", "Tiny")], vec![tiny])).await;
    let tok = token("client-1", "", Duration::from_secs(600));
    let mut s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &bearer(&tok))],
    )
    .await;
    assert_eq!(s.status, 200);
    let mut events = Vec::new();
    while let Some(e) = s.next(T).await {
        events.push(e);
    }
    assert!(s.ended, "the stream must close after the quota event");
    let (last, data) = events.split_last().unwrap();
    assert_eq!(data.len(), 7, "exactly the plan's 7 events: {events:?}");
    assert!(data.iter().all(|e| e.event == "message"));
    assert_eq!(last.event, "eventgate-error");
    assert_eq!(code(&last.data), "900804");
    // Coming back before the window resets: 429 with Retry-After.
    let s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &bearer(&tok))],
    )
    .await;
    assert_eq!(s.status, 429);
    assert!(s.headers.contains_key("retry-after"));
    assert_eq!(code(&s.text().await), "900804");
    assert_eq!(gw.gateway.stats().apis[0].quota_cuts, 1);
}

#[tokio::test]
async fn a_topic_with_auth_type_none_needs_no_credential_but_is_still_metered() {
    let backend = Backend::start(Duration::from_millis(5)).await;
    let toml = config(backend.addr, "").replace(
        r#"topics = [{ path = "/memory" }]"#,
        r#"topics = [{ path = "/memory", auth_type = "None" }]"#,
    );
    // The plan anonymous streams are metered under, shrunk to 4 events so the cut shows.
    let anon = Plan::new(
        PlanName::new("AsyncDefaultSubscriptionless").unwrap(),
        4,
        Duration::from_secs(3600),
    )
    .unwrap();
    let gw = gateway(&toml, gate(&[], vec![anon])).await;
    let mut s = get(gw.addr, "/observer/1.0.0/memory", &[]).await;
    assert_eq!(s.status, 200, "no credential is needed on a None topic");
    let mut events = Vec::new();
    while let Some(e) = s.next(T).await {
        events.push(e);
    }
    let (last, data) = events.split_last().unwrap();
    assert_eq!(data.len(), 4, "exactly the plan's 4 events: {events:?}");
    assert_eq!(last.event, "eventgate-error");
    assert_eq!(code(&last.data), "900804");
    // The same client address has spent its quota: refused at connect time.
    let s = get(gw.addr, "/observer/1.0.0/memory", &[]).await;
    assert_eq!(s.status, 429);
    assert_eq!(code(&s.text().await), "900804");
    assert_eq!(gw.gateway.stats().apis[0].quota_cuts, 1);
}

#[tokio::test]
async fn an_api_opens_at_most_its_max_channels_distinct_upstreams_then_answers_503_900801() {
    let backend = Backend::start(Duration::from_millis(20)).await;
    let toml = config(backend.addr, "[apis.relay]\nmax_channels = 2\n").replace(
        r#"topics = [{ path = "/memory" }]"#,
        r#"topics = [{ path = "/stocks/{symbol}", backend = "/memory" }]"#,
    );
    let gw = gateway(&toml, gate(&[("Observer:1.0.0", "AsyncGold")], vec![])).await;
    let tok = token("client-1", "", Duration::from_secs(600));
    let auth = bearer(&tok);
    let addr = gw.addr;
    let open = |sym: &'static str| {
        let auth = auth.clone();
        async move {
            get(
                addr,
                &format!("/observer/1.0.0/stocks/{sym}?s={sym}"),
                &[("authorization", &auth)],
            )
            .await
        }
    };
    let a = open("AAA").await;
    let b = open("BBB").await;
    assert_eq!(a.status, 200);
    assert_eq!(b.status, 200);
    // A third distinct backend URL would be a third upstream connection for this API.
    let c = open("CCC").await;
    assert_eq!(c.status, 503);
    assert_eq!(code(&c.text().await), "900801");
    // Joining an open channel costs no new upstream.
    let a2 = open("AAA").await;
    assert_eq!(a2.status, 200);
    drop((a, b, a2));
}

#[tokio::test]
async fn a_token_expiring_mid_stream_ends_it_with_900901() {
    let (_backend, gw, _) = tutorial(Duration::from_millis(50), Duration::from_secs(600)).await;
    // JWT expiry has one-second resolution: a token valid for 2 s.
    let tok = token("client-1", "", Duration::from_secs(2));
    let mut s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &bearer(&tok))],
    )
    .await;
    assert_eq!(s.status, 200);
    let mut last = None;
    while let Some(e) = s.next(Duration::from_secs(6)).await {
        last = Some(e);
    }
    let last = last.unwrap();
    assert!(s.ended);
    assert_eq!(last.event, "eventgate-error");
    assert_eq!(code(&last.data), "900901");
}

#[tokio::test]
async fn last_event_id_resumes_exactly_across_a_backend_kill() {
    let (mut backend, gw, _) = tutorial(Duration::from_millis(20), Duration::from_secs(600)).await;
    let tok = token("client-1", "", Duration::from_secs(600));
    let auth = bearer(&tok);
    // A long-lived subscriber keeps the channel (and its backlog) open.
    let mut keeper = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &auth)],
    )
    .await;
    let mut first = Vec::new();
    let mut s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &auth)],
    )
    .await;
    for _ in 0..3 {
        first.push(s.next(T).await.unwrap().id);
    }
    drop(s);
    let last_seen = first.last().unwrap().clone();
    // The backend dies and comes back while the client is away.
    backend.kill().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    backend.restart().await;
    // Let events accumulate in the backlog meanwhile.
    for _ in 0..10 {
        keeper.next(T).await.unwrap();
    }
    let mut s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &auth), ("last-event-id", &last_seen)],
    )
    .await;
    let mut next = Vec::new();
    for _ in 0..8 {
        let e = s.next(T).await.unwrap();
        assert_eq!(e.event, "message", "{e:?} after {first:?}");
        next.push(e.id.parse::<u64>().unwrap());
    }
    let start: u64 = last_seen.parse().unwrap();
    let expected: Vec<u64> = (start + 1..start + 9).collect();
    assert_eq!(next, expected, "every missed event exactly once, in order");
    // The relay reconnected with the last id it had.
    let ids = backend.last_event_ids.lock().unwrap().clone();
    assert!(ids.iter().skip(1).any(Option::is_some), "{ids:?}");
}

#[tokio::test]
async fn undeploying_one_api_ends_its_streams_and_leaves_the_others_open() {
    let backend = Backend::start(Duration::from_millis(20)).await;
    let second = format!(
        r#"
[[apis]]
name = "Other"
context = "/other"
version = "1.0.0"
plans = ["AsyncGold"]
endpoints = {{ production = "http://{0}" }}
deploy = [{{ environment = "Default", vhost = "localhost" }}]
topics = [{{ path = "/memory" }}]
"#,
        backend.addr
    );
    let gw = gateway(
        &config(backend.addr, &second),
        gate(
            &[
                ("Observer:1.0.0", "AsyncGold"),
                ("Other:1.0.0", "AsyncGold"),
            ],
            vec![],
        ),
    )
    .await;
    let auth = bearer(&token("client-1", "", Duration::from_secs(600)));
    let mut observer = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &auth)],
    )
    .await;
    let mut other = get(gw.addr, "/other/1.0.0/memory", &[("authorization", &auth)]).await;
    observer.next(T).await.unwrap();
    other.next(T).await.unwrap();
    let id: ApiId = "Other:1.0.0".parse().unwrap();
    gw.registry
        .change_lifecycle(&id, LifecycleAction::Block)
        .unwrap();
    // The blocked API's stream gets the final event and closes.
    let mut last = None;
    while let Some(e) = other.next(T).await {
        last = Some(e);
    }
    assert!(other.ended);
    let last = last.unwrap();
    assert_eq!(last.event, "eventgate-error");
    assert_eq!(code(&last.data), "700700");
    // The other API's stream goes on.
    for _ in 0..5 {
        assert_eq!(observer.next(T).await.unwrap().event, "message");
    }
    // New requests to the blocked API: 700700.
    let s = get(gw.addr, "/other/1.0.0/memory", &[("authorization", &auth)]).await;
    assert_eq!(s.status, 503);
    assert_eq!(code(&s.text().await), "700700");
}

#[tokio::test]
async fn proxy_mode_never_forwards_the_client_credential_or_cookies() {
    let backend = Backend::start(Duration::from_millis(20)).await;
    let toml = config(backend.addr, "").replace(
        r#"topics = [{ path = "/memory" }]"#,
        r#"topics = [{ path = "/memory", delivery = "proxy" }]"#,
    );
    let gw = gateway(&toml, gate(&[("Observer:1.0.0", "AsyncGold")], vec![])).await;
    let auth = bearer(&token("client-1", "", Duration::from_secs(600)));
    let mut s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[
            ("authorization", &auth),
            ("cookie", "session=1"),
            ("x-trace", "t1"),
        ],
    )
    .await;
    assert_eq!(s.status, 200);
    s.next(T).await.unwrap();
    let seen = backend.seen_headers.lock().unwrap().clone();
    let h = seen.last().unwrap();
    assert!(
        h.get("authorization").is_none(),
        "credential leaked upstream"
    );
    assert!(h.get("cookie").is_none(), "cookie leaked upstream");
    assert_eq!(h["x-trace"], "t1");
}

#[tokio::test]
async fn cors_preflight_and_stream_headers_for_an_allowed_origin() {
    let backend = Backend::start(Duration::from_millis(20)).await;
    let toml = config(backend.addr, "").replace(
        r#"topics = [{ path = "/memory" }]"#,
        "topics = [{ path = \"/memory\" }]\ncors = { origins = [\"http://app.test\"] }\nsecurity = { bearer = true, query_param = \"access_token\" }",
    );
    let gw = gateway(&toml, gate(&[("Observer:1.0.0", "AsyncGold")], vec![])).await;
    // Preflight.
    let io = hyper_util::rt::TokioIo::new(tokio::net::TcpStream::connect(gw.addr).await.unwrap());
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method("OPTIONS")
        .uri("/observer/1.0.0/memory")
        .header("host", "localhost")
        .header("origin", "http://app.test")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://app.test"
    );
    assert!(
        resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    // An EventSource-style request with the query credential.
    let tok = token("client-1", "", Duration::from_secs(600));
    let mut s = get(
        gw.addr,
        &format!("/observer/1.0.0/memory?access_token={tok}"),
        &[("origin", "http://app.test")],
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.headers["access-control-allow-origin"], "http://app.test");
    s.next(T).await.unwrap();
    // The query credential is not passed to the backend.
    // (fan-out channels are keyed by the backend URL: a stripped query joins the same one.)
    let other_origin = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("origin", "http://evil.test")],
    )
    .await;
    assert!(
        other_origin
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn an_api_served_over_https_only_refuses_plain_http_with_403() {
    let backend = Backend::start(Duration::from_millis(20)).await;
    let toml = config(backend.addr, "").replace(
        r#"topics = [{ path = "/memory" }]"#,
        "topics = [{ path = \"/memory\" }]\ntransports = [\"https\"]",
    );
    let gw = gateway(&toml, gate(&[("Observer:1.0.0", "AsyncGold")], vec![])).await;
    let auth = bearer(&token("client-1", "", Duration::from_secs(60)));
    let s = get(
        gw.addr,
        "/observer/1.0.0/memory",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(s.status, 403);
    let body = s.text().await;
    assert!(body.contains("Unsupported Transport [ http ]"), "{body}");
}

#[tokio::test]
async fn http2_carries_several_streams_on_one_connection() {
    use http_body_util::BodyExt;
    let (_backend, gw, _) = tutorial(Duration::from_millis(20), Duration::from_secs(600)).await;
    let auth = bearer(&token("client-1", "", Duration::from_secs(600)));
    let io = hyper_util::rt::TokioIo::new(tokio::net::TcpStream::connect(gw.addr).await.unwrap());
    let (send, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let req = http::Request::get("http://localhost/observer/1.0.0/memory")
            .header("authorization", &auth)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = send.clone().send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        bodies.push(resp.into_body());
    }
    for (i, b) in bodies.iter_mut().enumerate() {
        for j in 0..3 {
            let f = tokio::time::timeout(T, b.frame()).await.unwrap();
            let f = f
                .unwrap_or_else(|| panic!("body {i} ended at frame {j}"))
                .unwrap();
            assert!(f.into_data().unwrap().starts_with(b"id: "));
        }
    }
    let st = gw.gateway.stats();
    assert_eq!(st.apis[0].streams_open, 3, "{st:?}");
}
