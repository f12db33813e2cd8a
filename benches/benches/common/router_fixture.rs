//! The router suites' fixture (shared by `benches/router.rs` and `examples/router_lookups.rs`):
//! 1,000 published APIs x 10 topics on one vhost, and request targets over them.

use eventgate::{
    Api, ApiContext, Endpoint, Environment, EnvironmentType, Hostname, LifecycleAction, Registry,
    Topic, Vhost,
};
use eventgate_asyncapi::ApiVersion;

/// The `Host` header every target is routed with (mixed case and a port).
pub const HOST: &str = "GW.example.com:8243";

/// Topic kinds of [`targets`]: all, literal only, templated only.
pub const MIXED: &[usize] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
pub const LITERAL: &[usize] = &[0, 1, 2, 3, 4];
pub const TEMPLATE: &[usize] = &[5, 6, 7, 8];

pub const APIS: usize = 1000;

fn topic(t: &str, b: Option<&str>) -> Topic {
    let mut topic = Topic::new(t.parse().unwrap());
    topic.backend = b.map(|b| b.parse().unwrap());
    topic
}

pub fn registry() -> Registry {
    let r = Registry::new();
    r.transaction(|tx| {
        let mut env = Environment::new("Default", EnvironmentType::Hybrid);
        env.vhosts
            .push(Vhost::new(Hostname::new("gw.example.com").unwrap()));
        env.vhosts
            .push(Vhost::new(Hostname::new("localhost").unwrap()));
        tx.add_environment(env)?;
        for i in 0..APIS {
            let context = if i.is_multiple_of(10) {
                format!("/{{version}}/svc{i}")
            } else {
                format!("/svc{i}")
            };
            let mut api = Api::new(
                format!("Api{i}"),
                ApiContext::new(&context).unwrap(),
                ApiVersion::new(&format!("1.{}", i % 3)).unwrap(),
            );
            api.default_version = i.is_multiple_of(5);
            api.endpoints.production = Some(Endpoint::new("http://backend:8080").unwrap());
            api.topics = vec![
                topic("/t0", None),
                topic("/t1", None),
                topic("/t2", None),
                topic("/t3", None),
                topic("/t4/live", None),
                topic("/q/{symbol}", Some("/feed/{symbol}")),
                topic("/q/{symbol}.json", Some("/json/{symbol}")),
                topic("/u/{user}/events", Some("/users/{user}")),
                topic("/feed/*", Some("/all/*")),
                topic("/*", None),
            ];
            let id = tx.create_api(api)?;
            let rev = tx.create_revision(&id, None)?;
            tx.deploy(
                &id,
                rev,
                "Default",
                &Hostname::new("gw.example.com").unwrap(),
            )?;
            tx.change_lifecycle(&id, LifecycleAction::Publish)?;
        }
        Ok(())
    })
    .unwrap();
    r
}

pub fn targets(kinds: &[usize]) -> Vec<String> {
    let topics = [
        "/t0",
        "/t1",
        "/t2",
        "/t3",
        "/t4/live",
        "/q/IBM",
        "/q/MSFT.json",
        "/u/alice/events",
        "/feed/a/b",
        "/other/x",
    ];
    (0..4096)
        .map(|n| {
            let i = (n * 7919) % APIS;
            let kind = kinds[n % kinds.len()];
            let base = if i.is_multiple_of(10) {
                format!("/1.{}/svc{i}", i % 3)
            } else {
                format!("/svc{i}/1.{}", i % 3)
            };
            let query = if n.is_multiple_of(2) { "?since=42" } else { "" };
            format!("{base}{}{query}", topics[kind])
        })
        .collect()
}
