//! Builders shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use eventgate::{
    Api, ApiContext, ApiId, Endpoint, Environment, EnvironmentType, Hostname, LifecycleAction,
    Registry, Topic, Vhost,
};
use eventgate_asyncapi::ApiVersion;

pub fn host(h: &str) -> Hostname {
    Hostname::new(h).unwrap()
}

pub fn env(name: &str, kind: EnvironmentType, hosts: &[&str]) -> Environment {
    let mut e = Environment::new(name, kind);
    e.vhosts = hosts.iter().map(|h| Vhost::new(host(h))).collect();
    e
}

pub fn api(name: &str, context: &str, version: &str) -> Api {
    let mut a = Api::new(
        name,
        ApiContext::new(context).unwrap(),
        ApiVersion::new(version).unwrap(),
    );
    a.endpoints.production = Some(Endpoint::new("http://backend:8080").unwrap());
    a.endpoints.sandbox = Some(Endpoint::new("http://sandbox:9090").unwrap());
    a
}

pub fn topic(template: &str, backend: Option<&str>) -> Topic {
    let mut t = Topic::new(template.parse().unwrap());
    t.backend = backend.map(|b| b.parse().unwrap());
    t
}

/// A registry with environment `Default` (hybrid, vhost `localhost`).
pub fn registry() -> Registry {
    let r = Registry::new();
    r.add_environment(env("Default", EnvironmentType::Hybrid, &["localhost"]))
        .unwrap();
    r
}

/// Creates, revises, deploys to `Default`/`localhost` and publishes.
pub fn publish(r: &Registry, a: Api) -> ApiId {
    let id = r.create_api(a).unwrap();
    let rev = r.create_revision(&id, None).unwrap();
    r.deploy(&id, rev, "Default", &host("localhost")).unwrap();
    r.change_lifecycle(&id, LifecycleAction::Publish).unwrap();
    id
}
