//! Shared test helpers: the committed PyJWT vectors, a gate over them, a tiny executor.
#![allow(dead_code, unreachable_pub)]

pub mod fuzz_checks;

use std::future::Future;
use std::task::{Context, Poll, Waker};

use eventgate_policy::{
    Algorithm, ApiPolicy, Application, Gate, GateBuilder, IssuerConfig, JwksCache, JwtValidator,
    KeySet, KeyType, PlanName, Scope, Subscription, Timestamp, TopicPolicy,
};
use serde_json::Value;

pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
pub const API: &str = "observer:1.0.0";

pub fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

pub fn meta() -> Value {
    serde_json::from_str(&read("tokens.json")).unwrap()
}

/// The instant the vectors are valid at.
pub fn now() -> Timestamp {
    Timestamp::from_unix_secs(meta()["now"].as_u64().unwrap())
}

pub fn token(name: &str) -> String {
    meta()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn jwks() -> KeySet {
    KeySet::from_jwks(read("jwks.json").as_bytes(), 64 * 1024, 32).unwrap()
}

pub fn issuer(keys: JwksCache) -> IssuerConfig {
    IssuerConfig::builder("https://issuer.example", Algorithm::ALL.to_vec(), keys)
        .audience("eventgate")
        .build()
        .unwrap()
}

pub fn validator(keys: JwksCache) -> JwtValidator {
    JwtValidator::builder()
        .issuer(issuer(keys))
        .build()
        .unwrap()
}

pub fn builder() -> GateBuilder {
    let mut b = Gate::builder();
    b.jwt(validator(JwksCache::fixed(jwks())));
    b
}

/// Scopes from valid literals.
pub fn scopes<const N: usize>(list: [&str; N]) -> [Scope; N] {
    list.map(|s| Scope::new(s).unwrap())
}

/// A plan name from a valid literal.
pub fn plan(name: &str) -> PlanName {
    PlanName::new(name).unwrap()
}

/// A gate with API `observer:1.0.0` (topics /memory needs read:memory, /admin needs admin,
/// /cpu needs read:cpu or other), app-1 owning client `client-abc`, subscribed with `plan`.
pub fn populate(gate: &Gate, plan: &str) {
    gate.put_api(
        ApiPolicy::new(API)
            .topic(TopicPolicy::new("/memory").scopes(scopes(["read:memory"])))
            .topic(TopicPolicy::new("/admin").scopes(scopes(["admin"])))
            .topic(TopicPolicy::new("/both").scopes(scopes(["read:memory", "read:cpu"])))
            .topic(
                TopicPolicy::new("/cpu")
                    .scopes(scopes(["read:cpu", "other"]))
                    .any_of(),
            ),
    );
    gate.put_application(
        Application::new("app-1", "Dashboard", "alice")
            .client_id(KeyType::Production, "client-abc")
            .client_id(KeyType::Sandbox, "client-abc-sb"),
    );
    gate.put_subscription(Subscription::new("app-1", API, self::plan(plan)));
}

pub fn gate(plan: &str) -> Gate {
    let g = builder().build().unwrap();
    populate(&g, plan);
    g
}

pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
