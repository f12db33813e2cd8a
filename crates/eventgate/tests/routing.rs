//! Routing: vhosts, `{version}` contexts, default versions, topic precedence, path
//! traversal and encoded-slash rejection, backend URL expansion and query pass-through.

mod support;

use eventgate::{EnvironmentType, PathProblem, Registry, RouteError};
use eventgate_policy::KeyType;
use support::*;

const PROD: KeyType = KeyType::Production;

fn url(r: &Registry, path: &str) -> Result<String, RouteError> {
    r.router()
        .route(Some("localhost"), path)
        .and_then(|route| route.backend_url(PROD, None))
}

#[test]
fn tutorial_observer_memory_maps_to_the_backend_path() {
    let r = registry();
    publish(&r, api("Observer", "/observer", "1.0.0"));
    assert_eq!(
        url(&r, "/observer/1.0.0/memory").unwrap(),
        "http://backend:8080/memory"
    );
    assert_eq!(url(&r, "/observer/1.0.0").unwrap(), "http://backend:8080/");
    assert_eq!(
        r.router()
            .route(Some("localhost"), "/observer/1.0.0")
            .unwrap()
            .topic_path(),
        "/"
    );
}

#[test]
fn version_template_context_serves_the_expanded_path_and_default_version_drops_it() {
    let r = registry();
    let mut a = api("Events", "/{version}/events", "1.0.0");
    a.default_version = true;
    publish(&r, a);
    let router = r.router();
    let versioned = router
        .route(Some("localhost"), "/1.0.0/events/live")
        .unwrap();
    assert!(!versioned.via_default_version());
    assert_eq!(versioned.topic_path(), "/live");
    let default = router.route(Some("localhost"), "/events/live").unwrap();
    assert!(default.via_default_version());
    assert_eq!(default.topic_path(), "/live");
    assert_eq!(
        router
            .route(Some("localhost"), "/2.0.0/events/live")
            .unwrap_err(),
        RouteError::NotFound
    );
    assert_eq!(
        router
            .route(Some("localhost"), "/{version}/events/live")
            .unwrap_err(),
        RouteError::NotFound
    );
}

#[test]
fn default_version_is_served_without_the_version_and_only_when_flagged() {
    let r = registry();
    let mut v2 = api("Observer", "/observer", "2.0.0");
    v2.default_version = true;
    v2.endpoints.production = Some(eventgate::Endpoint::new("http://v2:1").unwrap());
    publish(&r, api("Observer", "/observer", "1.0.0"));
    publish(&r, v2);
    assert_eq!(url(&r, "/observer/memory").unwrap(), "http://v2:1/memory");
    assert_eq!(
        url(&r, "/observer/2.0.0/memory").unwrap(),
        "http://v2:1/memory"
    );
    assert_eq!(
        url(&r, "/observer/1.0.0/memory").unwrap(),
        "http://backend:8080/memory"
    );
}

#[test]
fn segment_boundaries_are_respected() {
    let r = registry();
    publish(&r, api("Observer", "/observer", "1.0.0"));
    for p in [
        "/observer/1.0.0memory",
        "/observers/1.0.0/m",
        "/observer",
        "/",
    ] {
        assert_eq!(
            r.router().route(Some("localhost"), p).unwrap_err(),
            RouteError::NotFound,
            "{p}"
        );
    }
}

#[test]
fn host_is_case_insensitive_port_stripped_and_unknown_hosts_are_refused_without_fallback() {
    let r = registry();
    publish(&r, api("Observer", "/observer", "1.0.0"));
    let router = r.router();
    for h in ["localhost", "LOCALHOST:8243", "LocalHost.", "localhost.:80"] {
        assert!(router.route(Some(h), "/observer/1.0.0/m").is_ok(), "{h}");
    }
    for h in [Some("example.com"), Some("localhostx"), None] {
        assert_eq!(
            router.route(h, "/observer/1.0.0/m").unwrap_err(),
            RouteError::UnknownHost
        );
    }
}

#[test]
fn fallback_environment_answers_unknown_and_missing_hosts() {
    let r = Registry::new();
    let mut e = env("Default", EnvironmentType::Hybrid, &["localhost"]);
    e.fallback = true;
    r.add_environment(e).unwrap();
    r.add_environment(env("Other", EnvironmentType::Hybrid, &["[::1]"]))
        .unwrap();
    publish(&r, api("Observer", "/observer", "1.0.0"));
    let router = r.router();
    let route = router
        .route(Some("203.0.113.9:8280"), "/observer/1.0.0/m")
        .unwrap();
    assert_eq!(route.vhost().host.as_str(), "localhost");
    assert!(router.route(None, "/observer/1.0.0/m").is_ok());
    // A known host of another environment is not served by the fallback.
    assert_eq!(
        router
            .route(Some("[::1]:8280"), "/observer/1.0.0/m")
            .unwrap_err(),
        RouteError::NotFound
    );
}

#[test]
fn vhosts_route_independently() {
    let r = registry();
    r.add_environment(env("Sand", EnvironmentType::Sandbox, &["sandbox.example"]))
        .unwrap();
    let id = publish(&r, api("Observer", "/observer", "1.0.0"));
    r.deploy(&id, 1, "Sand", &host("sandbox.example")).unwrap();
    let sand = r
        .router()
        .route(Some("Sandbox.Example"), "/observer/1.0.0/m")
        .unwrap();
    assert_eq!(sand.environment().name, "Sand");
    assert_eq!(
        sand.backend_url(KeyType::Sandbox, None).unwrap(),
        "http://sandbox:9090/m"
    );
    assert_eq!(
        sand.backend_url(PROD, None).unwrap_err(),
        RouteError::KeyTypeNotServed(PROD)
    );
    let local = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/m")
        .unwrap();
    assert_eq!(
        local.backend_url(KeyType::Sandbox, None).unwrap(),
        "http://sandbox:9090/m"
    );
    assert_eq!(
        local.backend_url(PROD, None).unwrap(),
        "http://backend:8080/m"
    );
}

#[test]
fn missing_endpoint_for_the_key_type_is_a_typed_error() {
    let r = registry();
    let mut a = api("Observer", "/observer", "1.0.0");
    a.endpoints.sandbox = None;
    publish(&r, a);
    let route = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/m")
        .unwrap();
    assert!(matches!(
        route.backend_url(KeyType::Sandbox, None),
        Err(RouteError::NoEndpoint {
            key_type: KeyType::Sandbox,
            ..
        })
    ));
}

#[test]
fn topic_precedence_literal_then_mixed_then_variable_then_wildcard() {
    let r = registry();
    let mut a = api("Stocks", "/stocks", "1");
    a.topics = vec![
        topic("/*", Some("/all/*")),
        topic("/quotes/{symbol}", Some("/feed/{symbol}")),
        topic("/quotes/{symbol}.json", Some("/json/{symbol}")),
        topic("/quotes/ibm", Some("/special/ibm")),
        topic("/quotes/*", Some("/rest/*")),
    ];
    publish(&r, a);
    let cases = [
        (
            "/stocks/1/quotes/ibm",
            "/quotes/ibm",
            "http://backend:8080/special/ibm",
        ),
        (
            "/stocks/1/quotes/MSFT.json",
            "/quotes/{symbol}.json",
            "http://backend:8080/json/MSFT",
        ),
        (
            "/stocks/1/quotes/MSFT",
            "/quotes/{symbol}",
            "http://backend:8080/feed/MSFT",
        ),
        (
            "/stocks/1/quotes/a/b",
            "/quotes/*",
            "http://backend:8080/rest/a/b",
        ),
        (
            "/stocks/1/news/today",
            "/*",
            "http://backend:8080/all/news/today",
        ),
    ];
    for (path, template, backend) in cases {
        let route = r.router().route(Some("localhost"), path).unwrap();
        assert_eq!(route.topic().template.as_str(), template, "{path}");
        assert_eq!(route.backend_url(PROD, None).unwrap(), backend, "{path}");
    }
    let route = r
        .router()
        .route(Some("localhost"), "/stocks/1/quotes/MSFT")
        .unwrap();
    assert_eq!(route.capture("symbol"), Some("MSFT"));
    assert_eq!(route.captures().collect::<Vec<_>>(), [("symbol", "MSFT")]);
    let route = r
        .router()
        .route(Some("localhost"), "/stocks/1/quotes/a/b")
        .unwrap();
    assert_eq!(route.rest(), Some("a/b"));
}

#[test]
fn no_matching_topic_is_900906_without_falling_through_to_shorter_contexts() {
    let r = registry();
    let mut outer = api("Outer", "/a", "1");
    outer.default_version = true;
    publish(&r, outer);
    let mut inner = api("Inner", "/a/b", "1");
    inner.topics = vec![topic("/only", None)];
    publish(&r, inner);
    // The longest mount wins...
    let route = r.router().route(Some("localhost"), "/a/b/1/only").unwrap();
    assert_eq!(route.api().name, "Inner");
    // ...and its topics decide: no fall-through to /a's catch-all.
    let e = r
        .router()
        .route(Some("localhost"), "/a/b/1/other")
        .unwrap_err();
    assert_eq!(e.wso2_code(), Some(900_906));
    assert!(matches!(e, RouteError::NoTopic(id) if id.as_str() == "Inner:1"));
    // A path the inner API does not mount goes to the outer default version.
    let route = r.router().route(Some("localhost"), "/a/b/2/x").unwrap();
    assert_eq!(route.api().name, "Outer");
    assert_eq!(route.topic_path(), "/b/2/x");
}

#[test]
fn dot_segments_and_encoded_slashes_are_rejected_before_matching() {
    let r = registry();
    let mut a = api("Quotes", "/quotes", "1");
    a.topics = vec![
        topic("/q/{symbol}", Some("/feed/{symbol}/live")),
        topic("/f/{name}.json", Some("/files/{name}")),
        topic("/*", None),
    ];
    publish(&r, a);
    let cases = [
        ("/quotes/1/q/..", PathProblem::DotSegment),
        ("/quotes/1/q/.", PathProblem::DotSegment),
        ("/quotes/1/q/%2e%2e", PathProblem::DotSegment),
        ("/quotes/1/q/%2E%2e", PathProblem::DotSegment),
        ("/quotes/1/q/.%2E", PathProblem::DotSegment),
        ("/quotes/1/a/../../admin", PathProblem::DotSegment),
        ("/quotes/1/../other/1/x", PathProblem::DotSegment),
        ("/quotes/1/f/...json", PathProblem::DotSegment),
        ("/quotes/1/q/a%2Fb", PathProblem::EncodedSlash),
        ("/quotes/1/q/a%2fb", PathProblem::EncodedSlash),
        ("/quotes/1/q/a%5Cb", PathProblem::EncodedSlash),
        ("/quotes/1/q/a\\b", PathProblem::Backslash),
        ("/quotes/1/q/a%zz", PathProblem::BadPercent),
        ("/quotes/1/q/a b", PathProblem::InvalidChar),
        ("quotes/1/q/a", PathProblem::NotAbsolute),
    ];
    for (path, problem) in cases {
        let e = r.router().route(Some("localhost"), path).unwrap_err();
        assert_eq!(e, RouteError::InvalidPath(problem), "{path}");
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
    }
    // Dots that are not whole segments are fine.
    assert_eq!(
        url(&r, "/quotes/1/q/a..b").unwrap(),
        "http://backend:8080/feed/a..b/live"
    );
    assert_eq!(
        url(&r, "/quotes/1/f/x.y.json").unwrap(),
        "http://backend:8080/files/x.y"
    );
}

#[test]
fn overlong_paths_are_refused() {
    let r = Registry::builder().max_path_len(64).build();
    r.add_environment(env("Default", EnvironmentType::Hybrid, &["localhost"]))
        .unwrap();
    publish(&r, api("Observer", "/observer", "1.0.0"));
    let long = format!("/observer/1.0.0/{}", "a".repeat(64));
    assert_eq!(
        r.router().route(Some("localhost"), &long).unwrap_err(),
        RouteError::InvalidPath(PathProblem::TooLong)
    );
}

#[test]
fn captures_are_percent_encoded_into_the_backend_path_and_triplets_kept() {
    let r = registry();
    let mut a = api("Quotes", "/quotes", "1");
    a.topics = vec![topic("/q/{symbol}", Some("/feed/{symbol}"))];
    publish(&r, a);
    assert_eq!(
        url(&r, "/quotes/1/q/a:b@c").unwrap(),
        "http://backend:8080/feed/a%3Ab%40c"
    );
    assert_eq!(
        url(&r, "/quotes/1/q/caf%C3%A9").unwrap(),
        "http://backend:8080/feed/caf%C3%A9"
    );
}

#[test]
fn query_is_split_before_matching_and_passed_on_without_stripped_parameters() {
    let r = registry();
    let mut a = api("Quotes", "/quotes", "1");
    a.topics = vec![topic("/q/{symbol}", Some("/feed/{symbol}"))];
    a.strip.query_params = vec!["debug".into()];
    publish(&r, a);
    let route = r
        .router()
        .route(
            Some("localhost"),
            "/quotes/1/q/IBM?since=5&access_token=secret&debug=1",
        )
        .unwrap();
    assert_eq!(route.capture("symbol"), Some("IBM"));
    assert_eq!(route.query(), Some("since=5&access_token=secret&debug=1"));
    assert_eq!(
        route.backend_url(PROD, Some("access_token")).unwrap(),
        "http://backend:8080/feed/IBM?since=5"
    );
    assert_eq!(
        route.backend_url(PROD, None).unwrap(),
        "http://backend:8080/feed/IBM?since=5&access_token=secret"
    );
    // A '?' inside the query is part of the query, not a path problem.
    let route = r
        .router()
        .route(Some("localhost"), "/quotes/1/q/IBM?a=?b")
        .unwrap();
    assert_eq!(route.query(), Some("a=?b"));
    let route = r
        .router()
        .route(Some("localhost"), "/quotes/1/q/IBM?")
        .unwrap();
    assert_eq!(
        route.backend_url(PROD, None).unwrap(),
        "http://backend:8080/feed/IBM"
    );
}

#[test]
fn endpoint_base_path_prefixes_the_backend_path() {
    let r = registry();
    let mut a = api("Observer", "/observer", "1.0.0");
    a.endpoints.production =
        Some(eventgate::Endpoint::new("https://Backend.example/base/").unwrap());
    publish(&r, a);
    assert_eq!(
        url(&r, "/observer/1.0.0/memory?x=1").unwrap(),
        "https://backend.example/base/memory?x=1"
    );
}

#[test]
fn route_request_reads_the_host_header_or_the_authority() {
    let r = registry();
    publish(&r, api("Observer", "/observer", "1.0.0"));
    let req = http::Request::get("/observer/1.0.0/memory?x=1")
        .header(http::header::HOST, "localhost:8280")
        .body(())
        .unwrap();
    let route = r.router().route_request(&req).unwrap();
    assert_eq!(route.query(), Some("x=1"));
    let h2 = http::Request::get("https://localhost:8243/observer/1.0.0/memory")
        .body(())
        .unwrap();
    assert_eq!(
        r.router().route_request(&h2).unwrap().topic_path(),
        "/memory"
    );
}

#[test]
fn topic_auth_type_and_scopes_travel_with_the_route() {
    let r = registry();
    let mut a = api("Observer", "/observer", "1.0.0");
    let mut t = topic("/public", None);
    t.auth_type = eventgate_asyncapi::AuthType::None;
    let mut s = topic("/secret", None);
    s.scopes = vec!["read:secret".parse().unwrap(), "admin".parse().unwrap()];
    a.topics = vec![t, s];
    publish(&r, a);
    let public = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/public")
        .unwrap();
    assert!(!public.topic().needs_credential());
    let secret = r
        .router()
        .route(Some("localhost"), "/observer/1.0.0/secret")
        .unwrap();
    assert_eq!(secret.topic().scopes.len(), 2);
    assert!(secret.topic().needs_credential());
}

#[test]
fn trailing_wildcard_matching_nothing_gives_an_empty_rest() {
    let r = registry();
    let mut a = api("Stocks", "/stocks", "1");
    a.default_version = true;
    a.topics = vec![topic("/rest/*", Some("/r/*"))];
    publish(&r, a);
    for target in ["/stocks/rest", "/stocks/rest?a/b/c", "/stocks/1/rest"] {
        let route = r.router().route(Some("localhost"), target).unwrap();
        assert_eq!(route.rest(), Some(""), "{target}");
        assert!(
            route
                .backend_url(PROD, None)
                .unwrap()
                .starts_with("http://backend:8080/r")
        );
    }
    let route = r
        .router()
        .route(Some("localhost"), "/stocks/rest?a/b/c")
        .unwrap();
    assert_eq!(route.query(), Some("a/b/c"));
    assert_eq!(
        route.backend_url(PROD, None).unwrap(),
        "http://backend:8080/r?a/b/c"
    );
}

/// Literal topics are looked up by their full path, but only answer where the rules would:
/// a longer base wins over a shorter base's literal topic for the same path, a literal `/`
/// topic answers with and without the trailing slash, and a blocked API's literal topic
/// gives 700700, not a route.
#[test]
fn literal_topics_answer_only_where_their_base_is_the_longest_and_routable() {
    let r = registry();
    let mut outer = api("Outer", "/a", "1");
    outer.topics = vec![topic("/b/c", None), topic("/", None)];
    publish(&r, outer);
    let mut inner = api("Inner", "/a/1/b", "2");
    inner.default_version = true;
    inner.topics = vec![topic("/{x}", None)];
    publish(&r, inner);
    let mut blocked = api("Blocked", "/z", "1");
    blocked.topics = vec![topic("/live", None)];
    let blocked = publish(&r, blocked);
    r.change_lifecycle(&blocked, eventgate::LifecycleAction::Block)
        .unwrap();
    let router = r.router();
    let route = router.route(Some("localhost"), "/a/1/b/c").unwrap();
    assert_eq!(
        (route.api().name.as_str(), route.topic().template.as_str()),
        ("Inner", "/{x}")
    );
    for path in ["/a/1", "/a/1/", "/a/1/?q=1"] {
        let route = router.route(Some("localhost"), path).unwrap();
        assert_eq!(
            (route.api().name.as_str(), route.topic().template.as_str()),
            ("Outer", "/"),
            "{path}"
        );
    }
    assert_eq!(
        router.route(Some("localhost"), "/z/1/live").unwrap_err(),
        RouteError::Blocked(blocked)
    );
}

/// A `Route` keeps short request targets inline and long ones on the heap; both read back
/// the same topic path, query and backend URL.
#[test]
fn short_and_long_request_targets_read_back_the_same() {
    let r = registry();
    publish(&r, api("Observer", "/observer", "1.0.0"));
    let long_query = format!("x={}", "y".repeat(200));
    for query in ["a=1", "caf\u{e9}=1", long_query.as_str()] {
        let target = format!("/observer/1.0.0/memory?{query}");
        let route = r.router().route(Some("localhost"), &target).unwrap();
        assert_eq!(route.topic_path(), "/memory");
        assert_eq!(route.query(), Some(query));
        assert_eq!(
            route.backend_url(PROD, None).unwrap(),
            format!("http://backend:8080/memory?{query}")
        );
    }
}
