//! eventgate: the router.
//!
//! * `route/mixed`: one `Router::route` per iteration over 1,000 published APIs x 10 topics
//!   (5 literal, 4 templated: `{var}`, mixed `{var}.json`, a variable in the middle and a
//!   trailing `*`, plus the catch-all `/*`), every tenth API with a `{version}` context and
//!   every fifth also mounted as the default version. The 4,096 request targets cycle
//!   through every API and topic kind, half with a query string, on a mixed-case `Host`
//!   with a port.
//! * `route/literal`, `route/template`: the same, only literal or only templated topics.
//! * `backend_url`: expanding a routed template topic into its backend URL (per stream,
//!   not per lookup).
//!
//! Timed in the benchmark thread's CPU time ([`ThreadCpuTime`]: the machine is shared).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventgate::{
    Api, ApiContext, Endpoint, Environment, EnvironmentType, Hostname, LifecycleAction, Registry,
    Topic, Vhost,
};
use eventgate_asyncapi::ApiVersion;
use eventgate_benches::measurement::ThreadCpuTime;
use eventgate_policy::KeyType;

const APIS: usize = 1000;

fn topic(t: &str, b: Option<&str>) -> Topic {
    let mut topic = Topic::new(t.parse().unwrap());
    topic.backend = b.map(|b| b.parse().unwrap());
    topic
}

fn registry() -> Registry {
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

fn targets(kinds: &[usize]) -> Vec<String> {
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

fn route(c: &mut Criterion<ThreadCpuTime>) {
    let r = registry();
    let router = r.router();
    let host = "GW.example.com:8243";
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    for (name, kinds) in [
        ("mixed", &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9][..]),
        ("literal", &[0, 1, 2, 3, 4][..]),
        ("template", &[5, 6, 7, 8][..]),
    ] {
        let paths = targets(kinds);
        for p in &paths {
            router.route(Some(host), p).unwrap();
        }
        let mut n = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                n = (n + 1) & 4095;
                black_box(router.route(Some(host), black_box(&paths[n])).unwrap())
            })
        });
    }
    g.finish();

    let routed = router
        .route(Some(host), "/svc7/1.1/u/alice/events?since=42")
        .unwrap();
    let mut g = c.benchmark_group("backend_url");
    g.throughput(Throughput::Elements(1));
    g.bench_function("template_with_query", |b| {
        b.iter(|| black_box(routed.backend_url(KeyType::Production, None).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = route
}
criterion_main!(cpu_time);
