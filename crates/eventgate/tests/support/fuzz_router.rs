//! The check behind the `router` fuzz target (fuzz/fuzz_targets/router.rs), also run by
//! tests/fuzz_replay.rs on every file of fuzz/corpus/router.
//!
//! Input: an optional `Host` value, a newline, then a request target (without a newline the
//! whole input is the target and there is no `Host`). On any input the router never panics,
//! and every backend URL it expands starts with the endpoint, has a path under the
//! endpoint's path with no dot segment (in any spelling) and no encoded slash or backslash.

#![allow(unreachable_pub, dead_code)]

use std::sync::{Arc, OnceLock};

use eventgate::{
    Api, ApiContext, Endpoint, Environment, EnvironmentType, Hostname, LifecycleAction, Registry,
    Router, Topic, Vhost,
};
use eventgate_asyncapi::ApiVersion;
use eventgate_policy::KeyType;

const PRODUCTION: &str = "http://backend:8080/base";
const SANDBOX: &str = "https://sandbox.example/s/v1";

fn topic(t: &str, b: Option<&str>) -> Topic {
    let mut topic = Topic::new(t.parse().expect("fixture template"));
    topic.backend = b.map(|b| b.parse().expect("fixture backend"));
    topic
}

fn api(name: &str, context: &str, version: &str, default: bool, topics: Vec<Topic>) -> Api {
    let mut a = Api::new(
        name,
        ApiContext::new(context).expect("fixture context"),
        ApiVersion::new(version).expect("fixture version"),
    );
    a.default_version = default;
    a.endpoints.production = Some(Endpoint::new(PRODUCTION).expect("fixture endpoint"));
    a.endpoints.sandbox = Some(Endpoint::new(SANDBOX).expect("fixture endpoint"));
    if !topics.is_empty() {
        a.topics = topics;
    }
    a
}

/// The routing fixture: a fallback environment, a sandbox one, plain and `{version}`
/// contexts, default versions, nested contexts, mixed-segment and wildcard topics, and a
/// blocked API.
pub fn fixture() -> Arc<Router> {
    static ROUTER: OnceLock<Arc<Router>> = OnceLock::new();
    Arc::clone(ROUTER.get_or_init(|| {
        let r = Registry::new();
        let mut env = Environment::new("Default", EnvironmentType::Hybrid);
        env.vhosts
            .push(Vhost::new(Hostname::new("localhost").expect("host")));
        env.fallback = true;
        r.add_environment(env).expect("env");
        let mut sand = Environment::new("Sand", EnvironmentType::Sandbox);
        sand.vhosts.push(Vhost::new(
            Hostname::new("sandbox.localhost").expect("host"),
        ));
        r.add_environment(sand).expect("env");
        let apis = [
            api("Observer", "/observer", "1.0.0", true, vec![]),
            api(
                "Stocks",
                "/{version}/stocks",
                "2",
                true,
                vec![
                    topic("/q/{symbol}", Some("/feed/{symbol}/live")),
                    topic("/f/{name}.json", Some("/files/{name}")),
                    topic("/x/{a}-{b}", Some("/{b}/{a}")),
                    topic("/rest/*", Some("/r/*")),
                    topic("/q/ibm", None),
                    topic("/*", None),
                ],
            ),
            api(
                "Nested",
                "/observer/deep",
                "1",
                false,
                vec![topic("/{x}/{y}", Some("/n/{y}/{x}"))],
            ),
            api("Blocked", "/blocked", "1", false, vec![]),
        ];
        for a in apis {
            let id = r.create_api(a).expect("api");
            let rev = r.create_revision(&id, None).expect("revision");
            r.deploy(
                &id,
                rev,
                "Default",
                &Hostname::new("localhost").expect("host"),
            )
            .expect("deploy");
            r.deploy(
                &id,
                rev,
                "Sand",
                &Hostname::new("sandbox.localhost").expect("host"),
            )
            .expect("deploy");
            r.change_lifecycle(&id, LifecycleAction::Publish)
                .expect("publish");
            if id.name() == "Blocked" {
                r.change_lifecycle(&id, LifecycleAction::Block)
                    .expect("block");
            }
        }
        r.router()
    }))
}

fn is_dot_segment(seg: &str) -> bool {
    let lower = seg.to_ascii_lowercase().replace("%2e", ".");
    lower == "." || lower == ".."
}

/// Runs the router on one input and checks every expanded backend URL.
pub fn router(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (host, target) = match text.split_once('\n') {
        Some((h, t)) => (Some(h), t),
        None => (None, &*text),
    };
    let router = fixture();
    let route = match router.route(host, target) {
        Ok(route) => route,
        Err(e) => {
            let _ = (e.status(), e.wso2_code(), e.to_string());
            return;
        }
    };
    let _ = (
        route.topic_path(),
        route.rest(),
        route.query(),
        format!("{route:?}"),
    );
    assert_eq!(
        route.captures().count(),
        route.topic().template.variables().count()
    );
    for (key_type, endpoint) in [
        (KeyType::Production, PRODUCTION),
        (KeyType::Sandbox, SANDBOX),
    ] {
        let Ok(url) = route.backend_url(key_type, Some("access_token")) else {
            continue;
        };
        let rest = url
            .strip_prefix(endpoint)
            .unwrap_or_else(|| panic!("{url} does not start with {endpoint}"));
        let path = rest.split('?').next().unwrap_or(rest);
        assert!(
            path.starts_with('/'),
            "{url}: path {path:?} is not under the endpoint path"
        );
        assert!(
            !path[1..].split('/').any(is_dot_segment),
            "{url}: dot segment in the backend path"
        );
        let lower = path.to_ascii_lowercase();
        assert!(
            !lower.contains("%2f") && !lower.contains("%5c") && !path.contains('\\'),
            "{url}: encoded slash in the backend path"
        );
        if let Some((_, query)) = rest.split_once('?') {
            let forwarded = query
                .split('&')
                .any(|pair| pair.split_once('=').map_or(pair, |(n, _)| n) == "access_token");
            assert!(!forwarded, "{url}: consumed credential forwarded");
        }
    }
}
