//! The configuration file: the complete example loads and routes; every kind of error names
//! the file, line and key.

use eventgate::config::{
    ApiKeySecret, Config, ConfigErrorKind, DEFAULT_JWT_ALGORITHMS, JwksSource, ListenerTls,
};
use eventgate::{Lifecycle, ModelError, Registry, RegistryError, RouteError};
use eventgate_policy::{Algorithm, KeyType, SubscriptionState};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/eventgate.toml");

#[test]
fn example_file_loads_and_serves_the_tutorial_observer_api() {
    let cfg = Config::load(EXAMPLE).unwrap();
    assert_eq!(cfg.gateway.listeners.len(), 2);
    assert_eq!(cfg.gateway.listeners[1].tls, Some(ListenerTls::SelfSigned));
    assert_eq!(cfg.environments.len(), 2);
    assert_eq!(cfg.plans[0].quota.events, 1000);
    assert_eq!(
        cfg.applications[0].client_ids[0],
        (KeyType::Production, "eg-client-prod".into())
    );
    assert_eq!(cfg.subscriptions[1].state, SubscriptionState::OnHold);
    assert!(matches!(cfg.api_keys[0].secret, ApiKeySecret::Hashed { ref id, .. } if id == "k1"));
    assert_eq!(cfg.api_keys[1].secret, ApiKeySecret::Issue);
    let idp = &cfg.jwt_issuers[0];
    assert_eq!(idp.issuer, "https://idp.example.com/realms/acme");
    assert!(matches!(&idp.keys, JwksSource::Url(u) if u.ends_with("/certs")));
    assert_eq!(idp.algorithms, [Algorithm::RS256, Algorithm::ES256]);
    assert_eq!(idp.leeway, std::time::Duration::from_secs(30));
    let introspection = cfg.introspection.as_ref().unwrap();
    assert!(
        !format!("{introspection:?}").contains("change-me"),
        "the client secret is not printed"
    );
    let mut gate = eventgate_policy::Gate::builder();
    cfg.configure_gate(&mut gate, &[]).unwrap();
    gate.build().unwrap();
    let stocks = &cfg.apis[1];
    assert_eq!(stocks.lifecycle, Lifecycle::Published);
    assert!(!stocks.api.transports.http);
    assert_eq!(stocks.api.relay.upstream_headers.len(), 1);
    assert!(
        !format!("{:?}", stocks.api.relay).contains("backend-secret"),
        "secrets are not printed"
    );

    let registry = Registry::new();
    cfg.apply(&registry).unwrap();
    let router = registry.router();
    let route = router
        .route(Some("localhost:8280"), "/observer/1.0.0/memory")
        .unwrap();
    assert_eq!(route.api().plans[0].as_str(), "AsyncGold");
    assert_eq!(
        route.backend_url(KeyType::Production, None).unwrap(),
        "http://localhost:8080/memory"
    );
    let route = router
        .route(Some("sandbox.localhost"), "/observer/1.0.0/memory")
        .unwrap();
    assert_eq!(route.environment().name, "Sandbox");
    let route = router
        .route(Some("localhost"), "/stocks/quotes/IBM?trace=1&x=2")
        .unwrap();
    assert_eq!(
        route.backend_url(KeyType::Production, None).unwrap(),
        "https://quotes.example.com/v2/feed/IBM?x=2"
    );
    assert!(
        router
            .route(Some("localhost"), "/2.0.0/stocks/public/a/b")
            .is_ok()
    );
    assert_eq!(
        router
            .route(Some("localhost"), "/observer/1.0.0/other")
            .unwrap_err(),
        RouteError::NoTopic("Observer:1.0.0".parse().unwrap())
    );
}

#[test]
fn a_file_without_environments_gets_wso2_default() {
    let cfg = Config::from_str(
        "t.toml",
        "[[apis]]\nname = \"Observer\"\ncontext = \"/observer\"\nversion = \"1.0.0\"\nendpoints = { production = \"http://localhost:8080\" }\n",
    )
    .unwrap();
    let r = Registry::new();
    cfg.apply(&r).unwrap();
    assert!(
        r.router()
            .route(Some("anything"), "/observer/1.0.0/memory")
            .is_ok()
    );
}

#[test]
fn a_file_without_environments_deploys_onto_the_environments_a_registry_already_has() {
    use eventgate::{Environment, EnvironmentType, Hostname, Vhost};
    let cfg = Config::from_str(
        "t.toml",
        "[[apis]]\nname = \"Observer\"\ncontext = \"/observer\"\nversion = \"1.0.0\"\nendpoints = { production = \"http://localhost:8080\", sandbox = \"http://localhost:8081\" }\ntopics = [{ path = \"/memory\" }]\n",
    )
    .unwrap();
    // As `eventgate serve`'s control plane starts: production on localhost, sandbox on
    // sandbox.localhost.
    let r = Registry::new();
    for (name, kind, host) in [
        ("production", EnvironmentType::Production, "localhost"),
        ("sandbox", EnvironmentType::Sandbox, "sandbox.localhost"),
    ] {
        let mut env = Environment::new(name, kind);
        env.vhosts.push(Vhost::new(Hostname::new(host).unwrap()));
        r.add_environment(env).unwrap();
    }
    cfg.apply(&r).unwrap();
    assert!(
        r.environment("Default").is_none(),
        "no implied Default added"
    );
    let router = r.router();
    let prod = router
        .route(Some("localhost:8280"), "/observer/1.0.0/memory")
        .unwrap();
    assert_eq!(prod.environment().name, "production");
    assert_eq!(
        prod.backend_url(KeyType::Production, None).unwrap(),
        "http://localhost:8080/memory"
    );
    let sandbox = router
        .route(Some("sandbox.localhost:8280"), "/observer/1.0.0/memory")
        .unwrap();
    assert_eq!(sandbox.environment().name, "sandbox");
    assert_eq!(
        sandbox.backend_url(KeyType::Sandbox, None).unwrap(),
        "http://localhost:8081/memory"
    );
}

fn err(text: &str) -> eventgate::config::ConfigError {
    Config::from_str("gw.toml", text).unwrap_err()
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let e = err("[gateway]\nlisteners = []\nlistners = 1\n");
    assert!(
        matches!(e.kind(), ConfigErrorKind::UnknownKey(k) if k == "listners"),
        "{e}"
    );
    assert_eq!((e.file(), e.line()), ("gw.toml", 3));
    assert_eq!(e.key(), Some("gateway.listners"));

    let e = err(
        "[[apis]]\nname = \"A\"\ncontext = \"/a\"\nversion = \"1\"\n\n[[apis.topics]]\npath = \"/x\"\nscope = [\"s\"]\n",
    );
    assert!(
        matches!(e.kind(), ConfigErrorKind::UnknownKey(k) if k == "scope"),
        "{e}"
    );
    assert_eq!(e.line(), 8);
    assert_eq!(e.key(), Some("apis[0].topics[0].scope"));

    let e = err("colour = \"blue\"\n");
    assert!(matches!(e.kind(), ConfigErrorKind::UnknownKey(k) if k == "colour"));
    assert_eq!(e.line(), 1);
}

#[test]
fn syntax_and_type_errors_have_lines() {
    let e = err("[[apis]]\nname = \"A\"\ncontext = \"/a\nversion = \"1\"\n");
    assert!(matches!(e.kind(), ConfigErrorKind::Syntax(_)));
    assert_eq!(e.line(), 3);
    let e = err("[[apis]]\nname = \"A\"\ncontext = \"/a\"\nversion = 1\n");
    assert!(matches!(e.kind(), ConfigErrorKind::Syntax(_)), "{e}");
    assert_eq!(e.line(), 4);
    assert_eq!(e.key(), Some("apis[0].version"));
}

#[test]
fn invalid_values_point_at_their_key() {
    let base = "[[apis]]\nname = \"A\"\nversion = \"1\"\n";
    let e = err(&format!("{base}context = \"/a/../b\"\n"));
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::Model(ModelError::Invalid {
            kind: "context",
            ..
        })
    ));
    assert_eq!((e.line(), e.key()), (4, Some("apis[0].context")));
    assert_eq!(e.to_string().split(": ").next(), Some("gw.toml:4:11"));

    let e = err(&format!(
        "{base}context = \"/a\"\nendpoints = {{ production = \"ftp://x\" }}\n"
    ));
    assert_eq!(
        (e.line(), e.key()),
        (5, Some("apis[0].endpoints.production"))
    );

    let e = err(&format!(
        "{base}context = \"/a\"\n[apis.relay]\nheartbeat = \"soon\"\n"
    ));
    assert!(matches!(e.kind(), ConfigErrorKind::Invalid(_)));
    assert_eq!((e.line(), e.key()), (6, Some("apis[0].relay.heartbeat")));

    let e = err(&format!(
        "{base}context = \"/a\"\n[apis.relay]\nmax_channels = 0\n"
    ));
    assert!(matches!(e.kind(), ConfigErrorKind::Invalid(_)));
    assert_eq!((e.line(), e.key()), (6, Some("apis[0].relay.max_channels")));

    let e = err(&format!(
        "{base}context = \"/a\"\n[[apis.topics]]\npath = \"/q/{{x}}\"\nbackend = \"/f/{{y}}\"\n"
    ));
    assert!(
        matches!(
            e.kind(),
            ConfigErrorKind::Model(ModelError::BackendVariable { .. })
        ),
        "{e}"
    );
    assert_eq!(e.key(), Some("apis[0]"));

    let e = err(&format!("{base}context = \"/a\"\nlifecycle = \"LIVE\"\n"));
    assert_eq!((e.line(), e.key()), (5, Some("apis[0].lifecycle")));

    let e = err("[[gateway.listeners]]\naddress = \"localhost\"\n");
    assert_eq!(
        (e.line(), e.key()),
        (2, Some("gateway.listeners[0].address"))
    );
}

#[test]
fn references_must_exist() {
    let api = "[[apis]]\nname = \"A\"\ncontext = \"/a\"\nversion = \"1\"\nplans = [\"AsyncGold\"]\nendpoints = { production = \"http://b\" }\n";
    let e = err(&format!(
        "{api}[[subscriptions]]\napplication = \"ghost\"\napi = \"A:1\"\nplan = \"AsyncGold\"\n"
    ));
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::UnknownReference {
            kind: "application",
            ..
        }
    ));
    assert_eq!(
        (e.line(), e.key()),
        (8, Some("subscriptions[0].application"))
    );

    let app = "[[applications]]\nid = \"app\"\n";
    let e = err(&format!(
        "{api}{app}[[subscriptions]]\napplication = \"app\"\napi = \"B:1\"\nplan = \"AsyncGold\"\n"
    ));
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::UnknownReference { kind: "API", .. }
    ));
    assert_eq!(e.line(), 11);

    let e = err(&format!(
        "{api}{app}[[subscriptions]]\napplication = \"app\"\napi = \"A:1\"\nplan = \"AsyncBronze\"\n"
    ));
    assert!(matches!(e.kind(), ConfigErrorKind::Invalid(m) if m.contains("not one of the plans")));
    assert_eq!((e.line(), e.key()), (12, Some("subscriptions[0].plan")));

    let e =
        err("[[apis]]\nname = \"A\"\ncontext = \"/a\"\nversion = \"1\"\nplans = [\"Platinum\"]\n");
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::UnknownReference { kind: "plan", .. }
    ));
    assert_eq!(e.key(), Some("apis[0].plans[0]"));

    let e = err(
        "[[apis]]\nname = \"A\"\ncontext = \"/a\"\nversion = \"1\"\ndeploy = [{ environment = \"Mars\" }]\n",
    );
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::UnknownReference {
            kind: "environment",
            ..
        }
    ));
    assert_eq!((e.line(), e.key()), (5, Some("apis[0].deploy[0]")));
}

#[test]
fn duplicates_are_refused() {
    let e = err("[[plans]]\nname = \"AsyncGold\"\nevents = 1\nper = \"1s\"\n");
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::Duplicate { kind: "plan", .. }
    ));
    assert_eq!(e.line(), 2);
    let e = err("[[applications]]\nid = \"a\"\n[[applications]]\nid = \"a\"\n");
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::Duplicate {
            kind: "application",
            ..
        }
    ));
    assert_eq!(e.line(), 4);
    let e = err("[[plans]]\nname = \"P\"\nevents = 0\nper = \"1s\"\n");
    assert_eq!((e.line(), e.key()), (3, Some("plans[0].events")));
}

#[test]
fn registry_rules_are_reported_at_the_entry_that_broke_them() {
    let text = "\
[[apis]]
name = \"A\"
context = \"/a\"
version = \"v1\"
endpoints = { production = \"http://b\" }

[[apis]]
name = \"B\"
context = \"/a/v1\"
version = \"2\"
default_version = true
endpoints = { production = \"http://b\" }
";
    let e = err(text);
    assert!(
        matches!(
            e.kind(),
            ConfigErrorKind::Registry(RegistryError::RouteConflict { .. })
        ),
        "{e}"
    );
    assert_eq!((e.line(), e.key()), (7, Some("apis[1]")));

    let text = "\
[[environments]]
name = \"One\"
vhosts = [{ host = \"localhost\" }]

[[environments]]
name = \"Two\"
vhosts = [{ host = \"LOCALHOST\" }]
";
    let e = err(text);
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::Registry(RegistryError::HostTaken { .. })
    ));
    assert_eq!((e.line(), e.key()), (5, Some("environments[1]")));
}

#[test]
fn applying_to_a_registry_that_already_has_the_environment_fails_whole() {
    let cfg = Config::load(EXAMPLE).unwrap();
    let r = Registry::new();
    cfg.apply(&r).unwrap();
    let g = r.generation();
    let e = cfg.apply(&r).unwrap_err();
    assert!(matches!(
        e.kind(),
        ConfigErrorKind::Registry(RegistryError::EnvironmentExists(_))
    ));
    assert_eq!(r.generation(), g, "nothing applied");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = Config::load("/nonexistent/eventgate.toml").unwrap_err();
    assert!(matches!(e.kind(), ConfigErrorKind::Io(_)));
    assert_eq!(e.file(), "/nonexistent/eventgate.toml");
}

#[test]
fn a_file_without_cluster_has_no_cluster_settings() {
    let cfg = Config::from_str("gw.toml", "").unwrap();
    assert!(cfg.cluster().is_none());
    assert!(
        cfg.declares_no_state(),
        "only the implied Default environment"
    );
}

#[test]
fn the_cluster_table_names_the_node_and_the_shared_stores() {
    let cfg = Config::from_str(
        "gw.toml",
        "[cluster]\nnode = \"gw-1\"\npostgres = \"postgres://eg:pw@db:5432/eventgate\"\n\
         redis = \"redis://cache:6379/0\"\npoll_interval = \"2s\"\n",
    )
    .unwrap();
    let c = cfg.cluster().unwrap();
    assert_eq!(c.node, "gw-1");
    assert_eq!(
        c.postgres.as_deref(),
        Some("postgres://eg:pw@db:5432/eventgate")
    );
    assert_eq!(c.redis.as_deref(), Some("redis://cache:6379/0"));
    assert_eq!(c.poll_interval, std::time::Duration::from_secs(2));
    assert!(cfg.declares_no_state());
    let shown = format!("{c:?}");
    assert!(!shown.contains("pw@"), "Debug hides the password: {shown}");
    let c = Config::from_str("gw.toml", "[cluster]\nnode = \"a\"\n").unwrap();
    let c = c.cluster().unwrap();
    assert_eq!(
        (c.postgres.as_deref(), c.redis.as_deref(), c.poll_interval),
        (None, None, eventgate::config::DEFAULT_POLL_INTERVAL)
    );
    assert_eq!(c.upstream_lease, None, "one upstream per node by default");
}

#[test]
fn shared_upstream_turns_on_one_upstream_per_channel_across_nodes_with_a_lease() {
    let cfg = Config::from_str(
        "gw.toml",
        "[cluster]\nnode = \"a\"\nredis = \"redis://cache\"\nshared_upstream = true\n",
    )
    .unwrap();
    assert_eq!(
        cfg.cluster().unwrap().upstream_lease,
        Some(eventgate::config::DEFAULT_UPSTREAM_LEASE)
    );
    let cfg = Config::from_str(
        "gw.toml",
        "[cluster]\nnode = \"a\"\nredis = \"redis://cache\"\nshared_upstream = true\n\
         upstream_lease = \"10s\"\n",
    )
    .unwrap();
    assert_eq!(
        cfg.cluster().unwrap().upstream_lease,
        Some(std::time::Duration::from_secs(10))
    );
    let cfg = Config::from_str(
        "gw.toml",
        "[cluster]\nnode = \"a\"\nredis = \"redis://cache\"\nshared_upstream = false\n",
    )
    .unwrap();
    assert_eq!(cfg.cluster().unwrap().upstream_lease, None);
}

#[test]
fn bad_cluster_settings_point_at_their_key() {
    let e = err("[cluster]\npostgres = \"postgres://db/x\"\n");
    assert_eq!(e.line(), 1, "{e}");
    assert!(e.to_string().contains("node"), "{e}");
    let e = err("[cluster]\nnode = \"a b\"\n");
    assert_eq!((e.line(), e.key()), (2, Some("cluster.node")), "{e}");
    let e = err("[cluster]\nnode = \"a\"\npostgres = \"mysql://eg:pw@db/x\"\n");
    assert_eq!((e.line(), e.key()), (3, Some("cluster.postgres")), "{e}");
    assert!(!e.to_string().contains("pw@"), "{e}");
    let e = err("[cluster]\nnode = \"a\"\nredis = \"http://cache\"\n");
    assert_eq!((e.line(), e.key()), (3, Some("cluster.redis")), "{e}");
    let e = err("[cluster]\nnode = \"a\"\npoll_interval = \"10ms\"\n");
    assert_eq!(
        (e.line(), e.key()),
        (3, Some("cluster.poll_interval")),
        "{e}"
    );
    let e = err("[cluster]\nnode = \"a\"\npoll_interval = \"soon\"\n");
    assert_eq!(
        (e.line(), e.key()),
        (3, Some("cluster.poll_interval")),
        "{e}"
    );
    let e = err("[cluster]\nnode = \"a\"\nshared_upstream = true\n");
    assert_eq!(
        (e.line(), e.key()),
        (3, Some("cluster.shared_upstream")),
        "needs redis: {e}"
    );
    let e = err("[cluster]\nnode = \"a\"\nredis = \"redis://x\"\nupstream_lease = \"5s\"\n");
    assert_eq!(
        (e.line(), e.key()),
        (4, Some("cluster.upstream_lease")),
        "only with shared_upstream: {e}"
    );
    let e = err(
        "[cluster]\nnode = \"a\"\nredis = \"redis://x\"\nshared_upstream = true\nupstream_lease = \"1s\"\n",
    );
    assert_eq!(
        (e.line(), e.key()),
        (5, Some("cluster.upstream_lease")),
        "{e}"
    );
    let e = err("[cluster]\nnode = \"a\"\nredis_url = \"redis://x\"\n");
    assert_eq!(e.line(), 3, "{e}");
    assert!(matches!(e.kind(), ConfigErrorKind::UnknownKey(_)), "{e}");
}

#[test]
fn the_example_files_commented_cluster_table_parses_when_uncommented() {
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let (_, cluster) = text.split_once("# [cluster]").unwrap();
    let table: String = std::iter::once("[cluster]")
        .chain(cluster.lines().filter_map(|l| l.strip_prefix("# ")))
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = Config::from_str("cluster.toml", &table).unwrap();
    assert_eq!(cfg.cluster().unwrap().node, "gw-1");
}

#[test]
fn a_jwt_issuer_defaults_to_the_asymmetric_algorithms_and_a_jwks_file_beside_the_config() {
    let dir = TempDir::new("jwks-file");
    let path = dir.path().join("eventgate.toml");
    let text = "[[jwt_issuers]]\nissuer = \"https://idp\"\njwks_file = \"idp.json\"\n";
    std::fs::write(&path, text).unwrap();
    let cfg = Config::load(&path).unwrap();
    let idp = &cfg.jwt_issuers[0];
    assert_eq!(
        idp.algorithms, DEFAULT_JWT_ALGORITHMS,
        "no HMAC unless asked"
    );
    assert!(idp.require_exp);
    assert_eq!(idp.keys, JwksSource::File(dir.path().join("idp.json")));
    // Read when the gate is set up: missing, then not a JWKS, then one key.
    let setup = |cfg: &Config| {
        let mut gate = eventgate_policy::Gate::builder();
        cfg.configure_gate(&mut gate, &[]).map(|()| gate)
    };
    let e = setup(&cfg).unwrap_err();
    assert!(e.to_string().contains("idp.json"), "{e}");
    std::fs::write(dir.path().join("idp.json"), "[]").unwrap();
    let e = setup(&cfg).unwrap_err();
    assert!(e.to_string().starts_with("JWT issuer https://idp"), "{e}");
    let jwk = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}"#;
    std::fs::write(dir.path().join("idp.json"), jwk).unwrap();
    setup(&cfg).unwrap().build().unwrap();
}

#[test]
fn bad_jwt_issuer_and_introspection_settings_point_at_their_key() {
    let issuer = |rest: &str| {
        err(&format!(
            "[[jwt_issuers]]\nissuer = \"https://idp\"\n{rest}"
        ))
    };
    let e = issuer("jwks_url = \"ftp://idp/certs\"\n");
    assert_eq!(
        (e.line(), e.key()),
        (3, Some("jwt_issuers[0].jwks_url")),
        "{e}"
    );
    let e = issuer("");
    assert_eq!(
        (e.line(), e.key()),
        (1, Some("jwt_issuers[0]")),
        "neither: {e}"
    );
    let e = issuer("jwks_url = \"https://idp/certs\"\njwks_file = \"k.json\"\n");
    assert_eq!(e.key(), Some("jwt_issuers[0]"), "both: {e}");
    let e = issuer("jwks_url = \"https://idp/c\"\nalgorithms = [\"RS256\", \"RS1\"]\n");
    assert_eq!(
        (e.line(), e.key()),
        (4, Some("jwt_issuers[0].algorithms[1]")),
        "{e}"
    );
    let e = issuer("jwks_url = \"https://idp/c\"\nalgorithms = []\n");
    assert_eq!(e.key(), Some("jwt_issuers[0].algorithms"), "{e}");
    let e = issuer("jwks_url = \"https://idp/c\"\nleeway = \"11m\"\n");
    assert_eq!(
        (e.line(), e.key()),
        (4, Some("jwt_issuers[0].leeway")),
        "{e}"
    );
    let e = issuer("jwks_url = \"https://idp/c\"\naudiences = [\"\"]\n");
    assert_eq!(
        (e.line(), e.key()),
        (4, Some("jwt_issuers[0].audiences[0]")),
        "{e}"
    );
    let e = issuer("jwks_url = \"https://idp/c\"\nscopes = []\n");
    assert!(matches!(e.kind(), ConfigErrorKind::UnknownKey(_)), "{e}");
    let e = err(
        "[[jwt_issuers]]\nissuer = \"https://idp\"\njwks_url = \"https://idp/c\"\n\
         [[jwt_issuers]]\nissuer = \"https://idp\"\njwks_url = \"https://idp/d\"\n",
    );
    assert_eq!(
        (e.line(), e.key()),
        (5, Some("jwt_issuers[1].issuer")),
        "{e}"
    );
    assert!(matches!(e.kind(), ConfigErrorKind::Duplicate { .. }), "{e}");

    let e = err("[introspection]\nendpoint = \"/introspect\"\n");
    assert_eq!(
        (e.line(), e.key()),
        (2, Some("introspection.endpoint")),
        "{e}"
    );
    let e = err("[introspection]\nendpoint = \"https://idp/i\"\nclient_id = \"gw\"\n");
    assert_eq!(
        e.key(),
        Some("introspection"),
        "a client id without its secret: {e}"
    );
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("eventgate-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
