//! The relay against a real SSE backend on 127.0.0.1 (and, for the downstream side, served
//! by hyper on 127.0.0.1): line endings, event sizes, ids assigned by the relay, backend
//! restarts, slow consumers, header forwarding and the HTTP response body.

mod support;

use std::time::Duration;

use eventgate_relay::{EventId, Mode, Relay, SubscribeOptions};
use http_body_util::BodyExt;
use support::{Backend, BackendConfig, Reader, frame, get, number, read_events, serve_relay};

fn quick_relay() -> eventgate_relay::RelayBuilder {
    let mut b = Relay::builder();
    b.backoff(Duration::from_millis(5), Duration::from_millis(50))
        .heartbeat(None);
    b
}

fn live() -> SubscribeOptions {
    SubscribeOptions::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr_crlf_lf_endings_and_tiny_and_huge_events_pass_through_byte_for_byte() {
    for eol in ["\n", "\r", "\r\n"] {
        for size in [0usize, 1, 200_000] {
            let cfg = BackendConfig {
                eol,
                event_size: size,
                interval: Duration::from_micros(100),
                ..BackendConfig::default()
            };
            let backend = Backend::start(cfg.clone()).await;
            let relay = quick_relay().build().unwrap();
            let mut sub = relay.subscribe(backend.url("/e"), &live()).await.unwrap();
            let mut frames = Vec::new();
            while frames.len() < 5 {
                frames.push(sub.next_frame().await.unwrap().unwrap());
            }
            let first = number(
                &Reader::new()
                    .items(frames[0].clone())
                    .into_iter()
                    .find_map(|i| match i {
                        eventgate_sse::Item::Event(e) => Some(e.data().to_owned()),
                        _ => None,
                    })
                    .unwrap(),
            );
            for (i, f) in frames.iter().enumerate() {
                assert_eq!(f, &frame(first + i as u64, &cfg), "eol {eol:?} size {size}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_ids_let_clients_resume_when_the_backend_sends_none() {
    let backend = Backend::start(BackendConfig {
        ids: false,
        ..BackendConfig::default()
    })
    .await;
    let relay = quick_relay().assign_ids(true).build().unwrap();
    let url = backend.url("/noids");
    let mut a = relay.subscribe(url.clone(), &live()).await.unwrap();
    let first = read_events(&mut a, 5, Duration::from_secs(5)).await;
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|(_, id)| !id.is_empty()), "{first:?}");
    drop(a);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let last = EventId::from_text(&first[4].1);
    let mut b = relay
        .subscribe(url, live().last_event_id(last))
        .await
        .unwrap();
    let second = read_events(&mut b, 10, Duration::from_secs(5)).await;
    let n0 = number(&first[4].0);
    let got: Vec<u64> = second.iter().map(|(d, _)| number(d)).collect();
    let want: Vec<u64> = (n0 + 1..=n0 + 10).collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_stay_connected_through_backend_restarts_without_gaps_or_duplicates() {
    let mut backend = Backend::start(BackendConfig::default()).await;
    let relay = quick_relay().build().unwrap();
    let mut sub = relay.subscribe(backend.url("/r"), &live()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let got = read_events(&mut sub, 20, Duration::from_secs(5)).await;
        seen.extend(got.iter().map(|(d, _)| number(d)));
        backend.kill();
        let head_at_kill = backend.head();
        tokio::time::sleep(Duration::from_millis(30)).await;
        backend.restart().await;
        // Read past what the killed connection could have sent.
        while *seen.last().unwrap() <= head_at_kill + 2 {
            let more = read_events(&mut sub, 1, Duration::from_secs(5)).await;
            assert_eq!(more.len(), 1, "stream stalled after a restart");
            seen.push(number(&more[0].0));
        }
    }
    let want: Vec<u64> = (seen[0]..seen[0] + seen.len() as u64).collect();
    assert_eq!(seen, want);
    assert!(backend.connections() >= 4);
    let ids: Vec<_> = backend
        .requests()
        .iter()
        .map(|h| {
            h.get("last-event-id")
                .map(|v| v.to_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(ids[0], None);
    assert!(ids[1..].iter().all(Option::is_some), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_cut_off_while_fast_ones_keep_up_and_the_queue_stays_bounded() {
    let backend = Backend::start(BackendConfig {
        interval: Duration::from_micros(50),
        event_size: 100,
        ..BackendConfig::default()
    })
    .await;
    let relay = quick_relay().queue_depth(64).build().unwrap();
    let url = backend.url("/fast");
    let mut slow = relay.subscribe(url.clone(), &live()).await.unwrap();
    let mut fast = Vec::new();
    for _ in 0..3 {
        let mut sub = relay.subscribe(url.clone(), &live()).await.unwrap();
        fast.push(tokio::spawn(async move {
            read_events(&mut sub, 1000, Duration::from_secs(20)).await
        }));
    }
    for f in fast {
        let got = f.await.unwrap();
        assert_eq!(got.len(), 1000);
        let n: Vec<u64> = got.iter().map(|(d, _)| number(d)).collect();
        assert!(
            n.windows(2).all(|w| w[1] == w[0] + 1),
            "fast reader lost events"
        );
    }
    // The slow subscriber never read: it is cut off (and would reconnect and replay).
    let mut cut = false;
    while let Some(r) = slow.next_frame().await {
        if let Err(e) = r {
            assert!(e.is_lagged() && e.is_downstream());
            cut = true;
        }
    }
    assert!(cut);
    assert_eq!(relay.metrics().slow_consumers_cut, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_mode_forwards_client_headers_and_last_event_id_without_hop_by_hop_ones() {
    let backend = Backend::start(BackendConfig::default()).await;
    let relay = quick_relay().mode(Mode::Proxy).build().unwrap();
    let addr = serve_relay(relay, backend.url("/"), true).await;
    let resp = get(
        &format!("http://{addr}/p/stream?topic=a"),
        &[
            ("authorization", "Bearer abc"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("last-event-id", "41"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut reader = Reader::new();
    let mut first = None;
    while first.is_none() {
        let f = body.frame().await.unwrap().unwrap().into_data().unwrap();
        for item in reader.items(f) {
            if let eventgate_sse::Item::Event(e) = item {
                first = Some(number(e.data()));
            }
        }
    }
    assert_eq!(first, Some(42), "the backend resumed after the client's id");
    let h = &backend.requests()[0];
    assert_eq!(h["authorization"], "Bearer abc");
    assert_eq!(h["last-event-id"], "41");
    assert_eq!(h["accept"], "text/event-stream");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h.get("x-hop").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_body_serves_replay_then_live_and_maps_backend_errors_to_5xx() {
    let backend = Backend::start(BackendConfig::default()).await;
    let relay = quick_relay().build().unwrap();
    let addr = serve_relay(relay.clone(), backend.url("/"), false).await;
    let url = format!("http://{addr}/feed?q=1");

    let resp = get(&url, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let mut body = resp.into_body();
    let mut reader = Reader::new();
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let f = body.frame().await.unwrap().unwrap().into_data().unwrap();
        for item in reader.items(f) {
            if let eventgate_sse::Item::Event(e) = item {
                seen.push(number(e.data()));
            }
        }
    }
    drop(body);
    // Resume from the 5th event over a new HTTP request: replay from the backlog, then live.
    let resp = get(&url, &[("last-event-id", &seen[4].to_string())]).await;
    let mut body = resp.into_body();
    let mut resumed = Vec::new();
    while resumed.len() < 20 {
        let f = body.frame().await.unwrap().unwrap().into_data().unwrap();
        for item in reader.items(f) {
            if let eventgate_sse::Item::Event(e) = item {
                resumed.push(number(e.data()));
            }
        }
    }
    let want: Vec<u64> = (seen[4] + 1..seen[4] + 21).collect();
    assert_eq!(resumed, want);
    assert!(relay.metrics().replayed >= 5);

    // A path the backend cannot serve: the backend always answers 200 here, so point the
    // relay at a port with nothing listening instead.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let relay2 = quick_relay().build().unwrap();
    let addr2 = serve_relay(
        relay2,
        format!("http://{dead_addr}/").parse().unwrap(),
        false,
    )
    .await;
    let resp = get(&format!("http://{addr2}/x"), &[]).await;
    assert_eq!(resp.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_upstreams_are_relayed_over_http2_and_resumed_after_a_restart() {
    let mut backend = Backend::start(BackendConfig {
        h2: true,
        ..BackendConfig::default()
    })
    .await;
    let relay = quick_relay().upstream_h2c(true).build().unwrap();
    let mut sub = relay.subscribe(backend.url("/h2"), &live()).await.unwrap();
    let mut seen: Vec<u64> = read_events(&mut sub, 10, Duration::from_secs(5))
        .await
        .iter()
        .map(|(d, _)| number(d))
        .collect();
    backend.kill();
    let head_at_kill = backend.head();
    tokio::time::sleep(Duration::from_millis(30)).await;
    backend.restart().await;
    // Read past what the killed connection could have sent (the relay may still hold some
    // of it), so the rest must come over a new connection.
    while *seen.last().unwrap() <= head_at_kill + 5 {
        let more = read_events(&mut sub, 1, Duration::from_secs(5)).await;
        assert_eq!(more.len(), 1, "stream stalled after the restart");
        seen.push(number(&more[0].0));
    }
    let want: Vec<u64> = (seen[0]..seen[0] + seen.len() as u64).collect();
    assert_eq!(seen, want);
    let versions = backend.versions();
    assert!(versions.len() >= 2);
    assert!(
        versions.iter().all(|v| *v == http::Version::HTTP_2),
        "{versions:?}"
    );
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_with_a_private_root_negotiates_http2_by_alpn() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_der = cert.cert.der().to_vec();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![CertificateDer::from(cert_der.clone())], key)
    .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let backend = Backend::start(BackendConfig {
        tls: Some(Arc::new(server)),
        ..BackendConfig::default()
    })
    .await;
    let url: http::Uri = format!("https://127.0.0.1:{}/tls", backend.addr.port())
        .parse()
        .unwrap();

    let relay = quick_relay()
        .add_root_certificate(cert_der)
        .build()
        .unwrap();
    let mut sub = relay.subscribe(url.clone(), &live()).await.unwrap();
    let got = read_events(&mut sub, 5, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 5);
    assert_eq!(backend.versions(), [http::Version::HTTP_2]);

    // Without the private root the certificate is refused: a connect error (503).
    let untrusting = quick_relay().build().unwrap();
    let err = untrusting.subscribe(url, &live()).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(err.suggested_status().as_u16(), 503);
    // And garbage is not a root certificate.
    assert!(
        quick_relay()
            .add_root_certificate(b"not a certificate".to_vec())
            .build()
            .is_err()
    );
}
