//! Decisions: subscription states, plans, scopes per topic, credential sources, WSO2 codes,
//! connection slots, and the async I/O paths (JWKS refresh, introspection).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use eventgate_policy::{
    ApiPolicy, Application, ApplicationId, BoxFuture, ChargeError, CredentialSource, DenialReason,
    Gate, Introspection, Introspector, IoError, JwksCache, JwksFetcher, KeyType, Plan, QuotaScope,
    RequestFacts, Subscription, SubscriptionState, Timestamp, TokenError,
};
use support::*;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn authorize(
    gate: &Gate,
    topic: &str,
    token: &str,
) -> Result<eventgate_policy::Grant, eventgate_policy::Denial> {
    let auth = bearer(token);
    gate.authorize(&RequestFacts::new(API, topic).authorization(&auth), now())
}

#[test]
fn valid_jwt_of_a_subscribed_application_is_granted() {
    let g = gate("AsyncGold");
    let grant = authorize(&g, "/memory", &token("valid_RS256")).unwrap();
    assert_eq!(
        grant.application.as_ref().map(ApplicationId::as_str),
        Some("app-1")
    );
    assert_eq!(grant.plan.as_ref().unwrap().as_str(), "AsyncGold");
    assert_eq!(
        grant.principal.subject.as_deref(),
        Some("alice@carbon.super")
    );
    assert_eq!(grant.meter().remaining(now()), 50_000);
}

#[test]
fn each_subscription_state_decides_as_wso2() {
    let cases = [
        (SubscriptionState::Unblocked, "valid_ES256", None),
        (
            SubscriptionState::Blocked,
            "valid_ES256",
            Some(("900907", 401)),
        ),
        (
            SubscriptionState::ProdOnlyBlocked,
            "valid_ES256",
            Some(("900907", 401)),
        ),
        (
            SubscriptionState::ProdOnlyBlocked,
            "valid_sandbox_key_type",
            None,
        ),
        (
            SubscriptionState::Blocked,
            "valid_sandbox_key_type",
            Some(("900907", 401)),
        ),
        (
            SubscriptionState::OnHold,
            "valid_ES256",
            Some(("900909", 401)),
        ),
        (
            SubscriptionState::Rejected,
            "valid_ES256",
            Some(("900909", 401)),
        ),
    ];
    for (state, tok, expect) in cases {
        let g = gate("AsyncGold");
        g.put_subscription(Subscription::new("app-1", API, plan("AsyncGold")).state(state));
        match (authorize(&g, "/memory", &token(tok)), expect) {
            (Ok(_), None) => {}
            (Err(d), Some((code, status))) => {
                assert_eq!((d.code, d.status), (code, status), "{state:?} {tok}");
                assert!(
                    d.www_authenticate
                        .as_deref()
                        .unwrap()
                        .contains("error=\"invalid_token\"")
                );
            }
            (r, e) => panic!("{state:?} {tok}: got {r:?}, expected {e:?}"),
        }
    }
}

#[test]
fn missing_subscription_or_unknown_application_is_403_900908() {
    let g = gate("AsyncGold");
    assert!(g.remove_subscription("app-1", API));
    let d = authorize(&g, "/memory", &token("valid_ES256")).unwrap_err();
    assert_eq!(
        (d.code, d.status, d.reason.clone()),
        ("900908", 403, DenialReason::NotSubscribed)
    );
    // client-xyz is no application's client.
    let g = gate("AsyncGold");
    let d = authorize(&g, "/memory", &token("valid_client_id_and_scp_array")).unwrap_err();
    assert_eq!(d.code, "900908");
}

#[test]
fn scopes_per_topic_all_of_and_any_of() {
    let g = gate("AsyncGold");
    let t = token("valid_HS256"); // scopes: read:memory read:cpu
    assert!(authorize(&g, "/memory", &t).is_ok());
    assert!(authorize(&g, "/both", &t).is_ok());
    assert!(authorize(&g, "/cpu", &t).is_ok());
    let d = authorize(&g, "/admin", &t).unwrap_err();
    assert_eq!((d.code, d.status), ("900910", 403));
    let d = authorize(&g, "/nope", &t).unwrap_err();
    assert_eq!((d.code, d.status), ("900906", 403));
}

#[test]
fn scp_array_scopes_are_checked_like_scope_strings() {
    let g = gate("AsyncGold");
    g.put_application(
        Application::new("app-2", "Other", "bob").client_id(KeyType::Production, "client-xyz"),
    );
    g.put_subscription(Subscription::new("app-2", API, plan("AsyncGold")));
    let t = token("valid_client_id_and_scp_array"); // scp: [read:memory, admin]
    assert!(authorize(&g, "/admin", &t).is_ok());
    assert_eq!(authorize(&g, "/both", &t).unwrap_err().code, "900910");
    assert!(authorize(&g, "/cpu", &t).is_err());
}

#[test]
fn credential_failures_map_to_wso2_codes() {
    let g = gate("AsyncGold");
    let d = g
        .authorize(&RequestFacts::new(API, "/memory"), now())
        .unwrap_err();
    assert_eq!((d.code, d.status), ("900902", 401));
    assert_eq!(
        d.www_authenticate.as_deref(),
        Some("Bearer realm=\"eventgate\"")
    );
    for (name, kind) in [
        ("expired", "expired"),
        ("bad_signature_flipped_bit", "bad_signature"),
        ("alg_none", "algorithm_not_allowed"),
        ("unknown_kid", "unknown_kid"),
        ("too_large", "too_large"),
        ("wrong_issuer", "wrong_issuer"),
    ] {
        let d = authorize(&g, "/memory", &token(name)).unwrap_err();
        assert_eq!((d.code, d.status), ("900901", 401), "{name}");
        match &d.reason {
            DenialReason::InvalidCredentials(e) => assert_eq!(e.kind(), kind),
            r => panic!("{name}: {r:?}"),
        }
        assert!(
            d.www_authenticate
                .as_deref()
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        assert!(
            d.to_json()
                .starts_with(r#"{"code":"900901","message":"Invalid Credentials","description":"#)
        );
    }
    let d = authorize(&g, "/memory", &token("wrong_audience")).unwrap_err();
    assert_eq!((d.code, d.status), ("900914", 403));
}

#[test]
fn blocked_api_is_503_700700_and_unknown_api_403() {
    let g = gate("AsyncGold");
    g.put_api(ApiPolicy::new(API).blocked(true));
    let d = authorize(&g, "/memory", &token("valid_HS256")).unwrap_err();
    assert_eq!((d.code, d.status), ("700700", 503));
    let d = g
        .authorize(&RequestFacts::new("other:1", "/x"), now())
        .unwrap_err();
    assert_eq!((d.code, d.status), ("900906", 403));
}

#[test]
fn api_refuses_key_types_it_is_not_deployed_for() {
    let g = gate("AsyncGold");
    g.put_api(ApiPolicy::new(API).key_types(vec![KeyType::Production]));
    let d = authorize(&g, "/memory", &token("valid_sandbox_key_type")).unwrap_err();
    assert_eq!((d.code, d.status), ("900905", 401));
    assert!(authorize(&g, "/memory", &token("valid_HS256")).is_ok());
}

#[test]
fn each_wso2_plan_meters_exactly_its_daily_quota() {
    for (plan, n) in [
        ("AsyncBronze", 5_000u64),
        ("AsyncSilver", 25_000),
        ("AsyncGold", 50_000),
        ("AsyncDefaultSubscriptionless", 10_000),
    ] {
        let g = gate(plan);
        let grant = authorize(&g, "/memory", &token("valid_HS256")).unwrap();
        let t = now();
        for i in 0..n {
            assert!(grant.charge(t).is_ok(), "{plan}: event {i}");
        }
        let Err(ChargeError::Exceeded(e)) = grant.charge(t) else {
            panic!("not a quota refusal")
        };
        assert_eq!(e.scope, QuotaScope::Subscription);
        assert_eq!(e.code(), "900804");
        // Daily windows reset at 00:00 UTC.
        let next_midnight = Timestamp::from_unix_secs((t.as_unix_secs() / 86_400 + 1) * 86_400);
        assert_eq!(e.resets_at, next_midnight, "{plan}");
        assert!(grant.charge(next_midnight).is_ok());
    }
    let g = gate("AsyncUnlimited");
    let grant = authorize(&g, "/memory", &token("valid_HS256")).unwrap();
    assert_eq!(grant.meter().remaining(now()), 2_147_483_647);
    grant.charge(now()).unwrap();
    assert_eq!(grant.meter().remaining(now()), 2_147_483_646);
}

#[test]
fn streams_of_one_subscription_share_its_quota_and_reconnects_get_429() {
    let g = builder()
        .plan(Plan::new(plan("Tiny"), 3, Duration::from_secs(60)).unwrap())
        .build()
        .unwrap();
    populate(&g, "Tiny");
    let t = now();
    let a = authorize(&g, "/memory", &token("valid_HS256")).unwrap();
    let b = authorize(&g, "/memory", &token("valid_RS256")).unwrap();
    assert!(a.charge(t).is_ok());
    assert!(b.charge(t).is_ok());
    assert!(a.charge(t).is_ok());
    assert!(b.charge(t).is_err());
    drop((a, b));
    let d = authorize(&g, "/memory", &token("valid_HS256")).unwrap_err();
    assert_eq!((d.code, d.status), ("900804", 429));
    let reset = Timestamp::from_unix_secs((t.as_unix_secs() / 60 + 1) * 60);
    assert_eq!(d.next_access_time, Some(reset));
    assert_eq!(d.retry_after, Some(reset.saturating_since(t).as_secs()));
    assert!(d.to_json().contains("\"nextAccessTime\""));
}

#[test]
fn user_plan_burst_limits_within_the_main_quota() {
    let plan = Plan::new(plan("Bursty"), 5, Duration::from_secs(3600))
        .unwrap()
        .with_burst(2, Duration::from_secs(1))
        .unwrap();
    let g = builder().plan(plan).build().unwrap();
    populate(&g, "Bursty");
    let grant = authorize(&g, "/memory", &token("valid_HS256")).unwrap();
    let t0 = now().as_unix_secs();
    let mut admitted = 0;
    for s in 0..5 {
        let t = Timestamp::from_unix_secs(t0 + s);
        while grant.charge(t).is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
    let Err(ChargeError::Exceeded(e)) = grant.charge(Timestamp::from_unix_secs(t0 + 10)) else {
        panic!("not a quota refusal")
    };
    assert_eq!(e.quota.events, 5);
}

#[test]
fn application_plan_is_counted_across_its_subscriptions() {
    let g = builder()
        .plan(Plan::new(plan("AppPlan"), 2, Duration::from_secs(60)).unwrap())
        .build()
        .unwrap();
    populate(&g, "AsyncGold");
    g.put_application(
        Application::new("app-1", "Dashboard", "alice")
            .client_id(KeyType::Production, "client-abc")
            .plan(plan("AppPlan")),
    );
    g.put_api(ApiPolicy::new("second:1.0.0"));
    g.put_subscription(Subscription::new(
        "app-1",
        "second:1.0.0",
        plan("AsyncGold"),
    ));
    let auth = bearer(&token("valid_HS256"));
    let a = g
        .authorize(
            &RequestFacts::new(API, "/memory").authorization(&auth),
            now(),
        )
        .unwrap();
    let b = g
        .authorize(
            &RequestFacts::new("second:1.0.0", "/x").authorization(&auth),
            now(),
        )
        .unwrap();
    a.charge(now()).unwrap();
    b.charge(now()).unwrap();
    let Err(ChargeError::Exceeded(e)) = a.charge(now()) else {
        panic!("not a quota refusal")
    };
    assert_eq!((e.scope, e.code()), (QuotaScope::Application, "900803"));
    // The refused event was not counted against the subscription either.
    assert_eq!(a.meter().remaining(now()), 0);
}

#[test]
fn connection_limits_per_subscription_application_and_gate_free_on_drop() {
    let g = builder()
        .plan(
            Plan::new(plan("TwoConns"), 100, Duration::from_secs(60))
                .unwrap()
                .with_max_connections(2),
        )
        .build()
        .unwrap();
    populate(&g, "TwoConns");
    let t = token("valid_HS256");
    let a = authorize(&g, "/memory", &t).unwrap();
    let _b = authorize(&g, "/memory", &t).unwrap();
    let d = authorize(&g, "/memory", &t).unwrap_err();
    assert_eq!((d.code, d.status), ("900804", 429));
    drop(a);
    assert!(authorize(&g, "/memory", &t).is_ok());

    let g = builder()
        .plan(
            Plan::new(plan("OneAppConn"), 100, Duration::from_secs(60))
                .unwrap()
                .with_max_connections(1),
        )
        .build()
        .unwrap();
    populate(&g, "AsyncGold");
    g.put_application(
        Application::new("app-1", "D", "alice")
            .client_id(KeyType::Production, "client-abc")
            .plan(plan("OneAppConn")),
    );
    let a = authorize(&g, "/memory", &t).unwrap();
    assert_eq!(authorize(&g, "/memory", &t).unwrap_err().code, "900803");
    drop(a);

    let g = builder().max_connections(1).build().unwrap();
    populate(&g, "AsyncGold");
    let a = authorize(&g, "/memory", &t).unwrap();
    let d = authorize(&g, "/memory", &t).unwrap_err();
    assert_eq!((d.code, d.status), ("900801", 503));
    drop(a);
    assert!(authorize(&g, "/memory", &t).is_ok());
}

#[test]
fn a_refused_connection_releases_the_slots_it_took() {
    let g = builder().max_connections(1).build().unwrap();
    populate(&g, "AsyncGold");
    g.put_subscription(
        Subscription::new("app-1", API, plan("AsyncGold")).state(SubscriptionState::Blocked),
    );
    assert!(authorize(&g, "/memory", &token("valid_HS256")).is_err());
    g.put_subscription(Subscription::new("app-1", API, plan("AsyncGold")));
    assert!(authorize(&g, "/memory", &token("valid_HS256")).is_ok());
}

#[test]
fn api_keys_from_a_named_header_or_query_parameter() {
    let g = gate("AsyncGold");
    g.put_api(ApiPolicy::new(API).credential_sources(vec![
        CredentialSource::Bearer,
        CredentialSource::Header("apikey".into()),
        CredentialSource::Query("access_token".into()),
    ]));
    let key = g
        .api_keys()
        .issue(
            ApplicationId::new("app-1"),
            KeyType::Production,
            vec![],
            None,
        )
        .unwrap();
    let h = [("ApiKey", key.expose_secret())];
    let grant = g
        .authorize(&RequestFacts::new(API, "/x").headers(&h), now())
        .unwrap();
    assert_eq!(
        grant.principal.credential,
        eventgate_policy::CredentialKind::ApiKey
    );
    let q = [("access_token", key.expose_secret())];
    assert!(
        g.authorize(&RequestFacts::new(API, "/x").query(&q), now())
            .is_ok()
    );
    // Bearer tokens still work through the same API.
    let auth = bearer(&token("valid_EdDSA"));
    assert!(
        g.authorize(&RequestFacts::new(API, "/x").authorization(&auth), now())
            .is_ok()
    );
    assert!(g.api_keys().revoke(&key.id));
    let d = g
        .authorize(&RequestFacts::new(API, "/x").headers(&h), now())
        .unwrap_err();
    assert_eq!(
        (d.code, d.reason.clone()),
        (
            "900901",
            DenialReason::InvalidCredentials(TokenError::Revoked)
        )
    );
}

#[test]
fn query_tokens_are_ignored_unless_the_api_enables_them() {
    let g = gate("AsyncGold");
    let t = token("valid_HS256");
    let q = [("access_token", t.as_str())];
    let d = g
        .authorize(&RequestFacts::new(API, "/memory").query(&q), now())
        .unwrap_err();
    assert_eq!(d.code, "900902");
}

#[test]
fn api_without_subscription_validation_meters_under_subscriptionless_plan() {
    let g = gate("AsyncGold");
    g.put_api(ApiPolicy::new("open:1").without_subscriptions());
    let auth = bearer(&token("valid_client_id_and_scp_array")); // client-xyz: no application
    let grant = g
        .authorize(
            &RequestFacts::new("open:1", "/x").authorization(&auth),
            now(),
        )
        .unwrap();
    assert_eq!(
        grant.plan.as_ref().unwrap().as_str(),
        "AsyncDefaultSubscriptionless"
    );
    assert_eq!(grant.meter().remaining(now()), 10_000);
}

#[test]
fn verified_jwts_are_cached_but_never_past_exp() {
    let g = gate("AsyncGold");
    let t = token("valid_PS512");
    let auth = bearer(&t);
    let facts = RequestFacts::new(API, "/memory").authorization(&auth);
    assert!(g.authorize(&facts, now()).is_ok());
    assert!(g.authorize(&facts, now()).is_ok());
    let at_exp = Timestamp::from_unix_secs(now().as_unix_secs() + 3600);
    let d = g.authorize(&facts, at_exp).unwrap_err();
    assert_eq!(
        d.reason,
        DenialReason::InvalidCredentials(TokenError::Expired)
    );
}

#[derive(Debug, Default)]
struct Fetcher {
    calls: AtomicUsize,
}

impl JwksFetcher for Fetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Vec<u8>, IoError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(url, "https://issuer.example/jwks");
        Box::pin(async { Ok(read("jwks.json").into_bytes()) })
    }
}

/// A gate whose one issuer's keys are fetched by `fetcher`, populated with AsyncGold.
fn remote_gate(keys: &eventgate_policy::JwksCacheBuilder, fetcher: Arc<dyn JwksFetcher>) -> Gate {
    let g = Gate::builder()
        .jwt(validator(keys.build().unwrap()))
        .jwks_fetcher(fetcher)
        .build()
        .unwrap();
    populate(&g, "AsyncGold");
    g
}

#[test]
fn remote_jwks_is_fetched_on_unknown_kid_and_refreshes_are_rate_limited() {
    let fetcher = Arc::new(Fetcher::default());
    let g = remote_gate(
        &JwksCache::remote("https://issuer.example/jwks"),
        Arc::clone(&fetcher) as _,
    );
    let auth = bearer(&token("valid_RS256"));
    let facts = RequestFacts::new(API, "/memory").authorization(&auth);
    // The synchronous path does no I/O.
    assert_eq!(g.authorize(&facts, now()).unwrap_err().code, "900901");
    assert!(block_on(g.authorize_async(&facts, now())).is_ok());
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
    // An unknown kid triggers no second fetch within the minimum interval...
    let bad = bearer(&token("unknown_kid"));
    let bad_facts = RequestFacts::new(API, "/memory").authorization(&bad);
    let d = block_on(g.authorize_async(&bad_facts, now())).unwrap_err();
    assert_eq!(
        d.reason,
        DenialReason::InvalidCredentials(TokenError::UnknownKid("nope".into()))
    );
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
    // ...and one after it.
    let later = Timestamp::from_unix_secs(now().as_unix_secs() + 31);
    assert!(block_on(g.authorize_async(&bad_facts, later)).is_err());
    assert!(block_on(g.authorize_async(&bad_facts, later)).is_err());
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);
}

#[derive(Debug, Default)]
struct Idp {
    calls: AtomicUsize,
}

impl Introspector for Idp {
    fn introspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Introspection, IoError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let exp = now().as_unix_secs() + 100;
        let answer = match token {
            "opaque-good" => Ok(Introspection::active(
                "client-abc",
                "read:memory",
                Some(exp),
            )),
            "opaque-down" => Err(IoError("connection refused".into())),
            _ => Ok(Introspection::inactive()),
        };
        Box::pin(async move { answer })
    }
}

#[test]
fn opaque_tokens_are_introspected_once_and_cached() {
    let idp = Arc::new(Idp::default());
    let g = builder()
        .introspector(Arc::clone(&idp) as _)
        .build()
        .unwrap();
    populate(&g, "AsyncGold");
    let run = |tok: &str, at: Timestamp| {
        let auth = bearer(tok);
        block_on(g.authorize_async(&RequestFacts::new(API, "/memory").authorization(&auth), at))
    };
    assert!(run("opaque-good", now()).is_ok());
    assert!(run("opaque-good", now()).is_ok());
    assert_eq!(idp.calls.load(Ordering::SeqCst), 1);
    let d = run("opaque-bad", now()).unwrap_err();
    assert_eq!(
        d.reason,
        DenialReason::InvalidCredentials(TokenError::Inactive)
    );
    let _ = run("opaque-bad", now());
    assert_eq!(
        idp.calls.load(Ordering::SeqCst),
        2,
        "negative answers are cached too"
    );
    let d = run("opaque-down", now()).unwrap_err();
    assert_eq!(
        d.reason,
        DenialReason::InvalidCredentials(TokenError::IntrospectionUnavailable)
    );
    // Past the token's exp the cache asks again, and an expired answer is refused.
    let late = Timestamp::from_unix_secs(now().as_unix_secs() + 100);
    assert!(run("opaque-good", late).is_err());
    assert_eq!(idp.calls.load(Ordering::SeqCst), 4);
}

#[test]
fn opaque_tokens_are_refused_without_introspection() {
    let g = gate("AsyncGold");
    let d = authorize(&g, "/memory", "some-opaque-token").unwrap_err();
    assert_eq!(
        d.reason,
        DenialReason::InvalidCredentials(TokenError::OpaqueNotAccepted)
    );
}

#[test]
fn gate_grant_meter_are_send_sync_and_the_async_path_is_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let g = gate("AsyncGold");
    let auth = bearer(&token("valid_HS256"));
    let facts = RequestFacts::new(API, "/memory").authorization(&auth);
    send_sync(&g);
    let grant = g.authorize(&facts, now()).unwrap();
    send_sync(&grant);
    send_sync(grant.meter());
    send(g.authorize_async(&facts, now()));
}

#[test]
fn fetched_keys_are_refreshed_once_they_reach_max_age() {
    let fetcher = Arc::new(Fetcher::default());
    let mut keys = JwksCache::remote("https://issuer.example/jwks");
    keys.max_age(Duration::from_secs(600));
    let g = remote_gate(&keys, Arc::clone(&fetcher) as _);
    let auth = bearer(&token("valid_ES384"));
    let facts = RequestFacts::new(API, "/memory").authorization(&auth);
    let at = |s: u64| Timestamp::from_unix_secs(now().as_unix_secs() + s);
    assert!(block_on(g.authorize_async(&facts, at(0))).is_ok());
    assert!(block_on(g.authorize_async(&facts, at(599))).is_ok());
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
    assert!(block_on(g.authorize_async(&facts, at(600))).is_ok());
    assert!(block_on(g.authorize_async(&facts, at(601))).is_ok());
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);
}

/// Never answers (a hung JWKS endpoint or introspection server).
#[derive(Debug, Default)]
struct Hung {
    calls: AtomicUsize,
}

impl JwksFetcher for Hung {
    fn fetch<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<u8>, IoError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::pending())
    }
}

impl Introspector for Hung {
    fn introspect<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Introspection, IoError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::pending())
    }
}

/// A timeout that fires on its second poll (so the I/O call is polled once first).
fn fires_on_second_poll() -> impl std::future::Future<Output = ()> {
    let mut polled = false;
    std::future::poll_fn(move |cx| {
        if polled {
            std::task::Poll::Ready(())
        } else {
            polled = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}

#[test]
fn the_callers_timeout_bounds_a_hung_introspection_call() {
    let idp = Arc::new(Hung::default());
    let g = builder()
        .introspector(Arc::clone(&idp) as _)
        .build()
        .unwrap();
    populate(&g, "AsyncGold");
    let auth = bearer("opaque-good");
    let facts = RequestFacts::new(API, "/memory").authorization(&auth);
    let d = block_on(g.authorize_async_with(&facts, now(), fires_on_second_poll)).unwrap_err();
    assert_eq!(
        d.reason,
        DenialReason::InvalidCredentials(TokenError::IntrospectionUnavailable)
    );
    assert_eq!((d.code, d.status), ("900901", 401));
    assert_eq!(idp.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn the_callers_timeout_bounds_a_hung_jwks_fetch_and_keeps_no_keys() {
    let fetcher = Arc::new(Hung::default());
    let g = remote_gate(
        &JwksCache::remote("https://issuer.example/jwks"),
        Arc::clone(&fetcher) as _,
    );
    let auth = bearer(&token("valid_RS256"));
    let facts = RequestFacts::new(API, "/memory").authorization(&auth);
    let d = block_on(g.authorize_async_with(&facts, now(), fires_on_second_poll)).unwrap_err();
    assert_eq!(d.code, "900901");
    assert!(matches!(
        d.reason,
        DenialReason::InvalidCredentials(TokenError::UnknownKid(_) | TokenError::KeysUnavailable)
    ));
    // The stale-keys refresh was attempted and timed out; the kid refresh is rate-limited.
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_full_counter_store_refuses_new_subscriptions_with_503() {
    // One window per shard (16 shards): the 17th subscription held open cannot fit.
    let counters = eventgate_policy::InProcessCounters::builder()
        .max_entries(1)
        .build()
        .unwrap();
    let g = Gate::builder()
        .counters(Arc::new(counters))
        .build()
        .unwrap();
    g.put_api(
        ApiPolicy::new(API).credential_sources(vec![CredentialSource::Header("apikey".into())]),
    );
    let mut held = Vec::new();
    let mut refused = None;
    for i in 0..17 {
        let app = format!("app-{i}");
        g.put_application(Application::new(&app, "A", "alice"));
        g.put_subscription(Subscription::new(&app, API, plan("AsyncGold")));
        let key = g
            .api_keys()
            .issue(ApplicationId::new(&app), KeyType::Production, vec![], None)
            .unwrap();
        let h = [("apikey", key.expose_secret())];
        match g.authorize(&RequestFacts::new(API, "/x").headers(&h), now()) {
            Ok(grant) => held.push(grant),
            Err(d) => {
                refused = Some(d);
                break;
            }
        }
    }
    let d = refused.expect("17 held windows cannot fit in 16 one-entry shards");
    assert_eq!(d.reason, DenialReason::CountersFull);
    assert_eq!((d.code, d.status), ("900801", 503));
    // Streams of a subscription already counted still get in.
    let first = held.first().unwrap();
    assert!(first.meter().remaining(now()) > 0);
}

/// Polls a future that never waits on I/O (in-process counters) to its end.
fn ready_now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the in-process path waited"),
    }
}

#[test]
fn admit_anonymous_async_with_in_process_counters_decides_at_once_like_the_sync_one() {
    let g = builder().build().unwrap();
    g.put_api(ApiPolicy::new(API));
    let grant =
        ready_now(g.admit_anonymous_async(API, "10.0.0.1", now(), std::future::pending::<()>))
            .unwrap();
    assert_eq!(
        grant.plan.as_ref().map(|p| p.as_str()),
        Some("AsyncDefaultSubscriptionless")
    );
    assert!(!grant.meter().is_leasing());
    grant.charge(now()).unwrap();
    let d = ready_now(
        g.admit_anonymous_async("nope:1.0.0", "10.0.0.1", now(), || {
            std::future::pending::<()>()
        }),
    )
    .unwrap_err();
    assert_eq!(d.reason, DenialReason::UnknownApi);
}

#[test]
fn an_exhausted_quota_is_reported_before_a_full_connection_limit() {
    let name = plan("OneEvent");
    let g = builder()
        .max_connections(1)
        .plan(
            Plan::new(name.clone(), 1, Duration::from_secs(86_400))
                .unwrap()
                .with_max_connections(1),
        )
        .build()
        .unwrap();
    populate(&g, "OneEvent");
    let t = token("valid_HS256");
    let first = authorize(&g, "/memory", &t).unwrap();
    first.charge(now()).unwrap();
    // Quota spent and the connection limit (and the global one) full: the quota answers.
    let d = authorize(&g, "/memory", &t).unwrap_err();
    assert!(
        matches!(d.reason, DenialReason::QuotaExceeded(_)),
        "{:?}",
        d.reason
    );
    assert_eq!((d.code, d.status), ("900804", 429));
    assert!(d.retry_after.is_some());
    drop(first);
}
