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
use eventgate_benches::measurement::ThreadCpuTime;
use eventgate_policy::KeyType;

#[path = "common/router_fixture.rs"]
#[allow(unreachable_pub)]
mod fixture;
use fixture::{HOST, LITERAL, MIXED, TEMPLATE, registry, targets};

fn route(c: &mut Criterion<ThreadCpuTime>) {
    let r = registry();
    let router = r.router();
    let host = HOST;
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    for (name, kinds) in [
        ("mixed", MIXED),
        ("literal", LITERAL),
        ("template", TEMPLATE),
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
