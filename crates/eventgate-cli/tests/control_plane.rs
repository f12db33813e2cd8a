//! The control plane end to end: `control::start` in-process, the `eventgate` binary's
//! `api` and `app` commands against its admin API, the registry and gate they change, and
//! the state database across restarts and `kill -9`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use eventgate::server::Listener;
use eventgate_cli::admin::client::AdminClient;
use eventgate_cli::control::{self, ControlPlane};
use eventgate_cli::store::{Change, SqliteStore, Store, SubscriptionRow};
use eventgate_policy::{KeyType, Timestamp};
use http::{Method, StatusCode};
use serde_json::{Value, json};

struct Running {
    rt: tokio::runtime::Runtime,
    registry: std::sync::Arc<eventgate::Registry>,
    gate: std::sync::Arc<eventgate_policy::Gate>,
    url: String,
    token: String,
    data: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<Result<(), control::ControlError>>>,
}

impl Running {
    fn start(data: &Path) -> Running {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(Listener::bind("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let cp: ControlPlane = {
            let _g = rt.enter();
            control::start(data, listener).unwrap()
        };
        let url = format!("http://{}", cp.admin_addr);
        let token = cp.admin_token.clone();
        let registry = cp.registry.clone();
        let gate = cp.gate.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = rt.spawn(cp.serve_admin(async {
            let _ = rx.await;
        }));
        Running {
            rt,
            registry,
            gate,
            url,
            token,
            data: data.to_owned(),
            stop: Some(tx),
            served: Some(served),
        }
    }

    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.served.take() {
            self.rt.block_on(h).unwrap().unwrap();
        }
    }

    /// Runs `eventgate ARGS --admin URL --admin-token T`.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(args)
            .args(["--admin", &self.url, "--admin-token", &self.token])
            .arg("--data")
            .arg(&self.data)
            .env_remove("EVENTGATE_ADMIN_TOKEN")
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "eventgate {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn client(&self) -> AdminClient {
        AdminClient::new(&self.url, &self.token)
    }

    fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let c = self.client();
        let a = self
            .rt
            .block_on(c.call(method, path, body.as_ref()))
            .unwrap();
        (a.status, a.json())
    }
}

fn now() -> Timestamp {
    Timestamp::from_unix_secs(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
}

fn tutorial(gw: &Running) -> (String, String) {
    let out = gw.ok(&[
        "api",
        "create",
        "--name",
        "Observer",
        "--context",
        "/observer",
        "--version",
        "1.0.0",
        "--endpoint",
        "http://localhost:8080",
    ]);
    assert!(out.contains("created API Observer:1.0.0"), "{out}");
    gw.ok(&["api", "topics", "add", "Observer:1.0.0", "/memory"]);
    let topics = gw.ok(&["api", "topics", "list", "Observer:1.0.0"]);
    assert!(
        topics.starts_with("/*") && topics.contains("/memory"),
        "the catch-all stays beside the new topic until removed: {topics}"
    );
    gw.ok(&["api", "topics", "remove", "Observer:1.0.0", "/*"]);
    let topics = gw.ok(&["api", "topics", "list", "Observer:1.0.0"]);
    assert!(topics.starts_with("/memory"), "{topics}");
    gw.ok(&[
        "api",
        "plans",
        "set",
        "Observer:1.0.0",
        "AsyncGold,AsyncSilver",
    ]);
    let out = gw.ok(&["api", "lifecycle", "Observer:1.0.0", "publish"]);
    assert!(out.contains("CREATED -> PUBLISHED"), "{out}");
    let out = gw.ok(&["api", "revision", "create", "Observer:1.0.0"]);
    assert!(out.contains("created revision 1"), "{out}");
    gw.ok(&[
        "api",
        "deploy",
        "Observer:1.0.0",
        "--revision",
        "1",
        "--env",
        "production,sandbox",
    ]);
    gw.ok(&["app", "create", "DemoApp"]);
    gw.ok(&[
        "app",
        "subscribe",
        "DemoApp",
        "--api",
        "Observer:1.0.0",
        "--plan",
        "AsyncGold",
    ]);
    let token = gw.ok(&["app", "token", "DemoApp", "--ttl", "15m", "--scopes", "a,b"]);
    let key = gw.ok(&["app", "key", "DemoApp"]);
    (token.trim().to_owned(), key.trim().to_owned())
}

#[test]
fn the_tutorial_through_the_cli_routes_the_memory_topic_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Running::start(dir.path());
    let (token, key) = tutorial(&gw);

    let route = gw
        .registry
        .router()
        .route(Some("localhost:8280"), "/observer/1.0.0/memory")
        .unwrap();
    assert_eq!(
        route.backend_url(KeyType::Production, None).unwrap(),
        "http://localhost:8080/memory"
    );
    assert!(
        gw.registry
            .router()
            .route(Some("localhost:8243"), "/observer/1.0.0/memory")
            .is_ok()
    );

    // The credentials print alone and verify at the gate.
    assert_eq!(token.split('.').count(), 3, "{token}");
    let p = gw.gate.authenticate(&token, now()).unwrap();
    assert_eq!(
        p.client_id.as_deref(),
        Some(control::client_id("DemoApp", KeyType::Production).as_str())
    );
    assert!(p.has_scope("a") && p.has_scope("b"));
    assert!(key.starts_with("egk_"), "{key}");
    let p = gw.gate.authenticate(&key, now()).unwrap();
    assert_eq!(p.application.as_ref().unwrap().as_str(), "DemoApp");

    let list = gw.ok(&["api", "list", "--json"]);
    let v: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["apis"][0]["lifecycle"], "PUBLISHED");
    assert_eq!(
        v["apis"][0]["revisions"][0]["deployments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let show = gw.ok(&["api", "show", "Observer:1.0.0"]);
    assert!(
        show.contains("deployed on production@localhost, sandbox@sandbox.localhost"),
        "{show}"
    );
    assert!(
        gw.registry
            .router()
            .route(Some("sandbox.localhost:8280"), "/observer/1.0.0/memory")
            .is_ok()
    );

    gw.stop();
    // Everything is in the database: a new control plane serves the same.
    let gw = Running::start(dir.path());
    assert!(
        gw.registry
            .router()
            .route(Some("localhost"), "/observer/1.0.0/memory")
            .is_ok()
    );
    assert!(gw.gate.authenticate(&key, now()).is_ok());
    assert!(gw.gate.authenticate(&token, now()).is_ok());
    let (s, v) = gw.call(Method::GET, "/applications", None);
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["applications"][0]["subscriptions"][0]["plan"],
        "AsyncGold"
    );
    // The next revision continues the numbering.
    let out = gw.ok(&["api", "revision", "create", "Observer:1.0.0"]);
    assert!(out.contains("created revision 2"), "{out}");
    gw.stop();
}

#[test]
fn undeploy_lifecycle_and_delete_change_the_live_routes() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Running::start(dir.path());
    tutorial(&gw);
    let routed = |gw: &Running| {
        gw.registry
            .router()
            .route(Some("localhost"), "/observer/1.0.0/memory")
            .is_ok()
    };
    gw.ok(&["api", "undeploy", "Observer:1.0.0", "--env", "sandbox"]);
    assert!(routed(&gw), "production still serves");
    gw.ok(&["api", "undeploy", "Observer:1.0.0", "--env", "production"]);
    assert!(!routed(&gw));
    gw.ok(&["api", "deploy", "Observer:1.0.0", "--env", "production"]);
    assert!(routed(&gw), "deploy without --revision takes the latest");
    gw.ok(&["api", "lifecycle", "Observer:1.0.0", "Block"]);
    gw.ok(&["api", "lifecycle", "Observer:1.0.0", "RE-PUBLISH"]);
    gw.ok(&["api", "lifecycle", "Observer:1.0.0", "deprecate"]);
    gw.ok(&["api", "lifecycle", "Observer:1.0.0", "retire"]);
    assert!(!routed(&gw));
    gw.stop();
    let gw = Running::start(dir.path());
    let (_, v) = gw.call(Method::GET, "/apis/Observer:1.0.0", None);
    assert_eq!(v["lifecycle"], "RETIRED");
    assert!(gw.registry.deployments().is_empty());
    gw.ok(&["api", "delete", "Observer:1.0.0"]);
    assert!(gw.registry.apis().is_empty());
    gw.stop();
}

#[test]
fn export_then_import_round_trips_in_json_and_yaml_for_both_asyncapi_versions() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Running::start(dir.path());
    tutorial(&gw);
    gw.ok(&[
        "api",
        "topics",
        "add",
        "Observer:1.0.0",
        "/orders/{id}",
        "--scopes",
        "read:orders",
        "--auth-type",
        "none",
    ]);
    let (_, original) = gw.call(Method::GET, "/apis/Observer:1.0.0", None);
    for (i, (version, format)) in [
        ("2.0.0", "json"),
        ("3.0.0", "json"),
        ("2.0.0", "yaml"),
        ("3.0.0", "yaml"),
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.path().join(format!("observer-{i}.{format}"));
        let doc = gw.ok(&[
            "api",
            "export",
            "Observer:1.0.0",
            "--asyncapi",
            version,
            "--format",
            format,
        ]);
        if format == "json" {
            let v: Value = serde_json::from_str(&doc).unwrap();
            assert_eq!(v["asyncapi"], version);
            assert!(
                !doc.contains("x-eventgate"),
                "WSO2's shape has no eventgate extension"
            );
        } else {
            assert!(doc.contains(&format!("asyncapi: {version}")), "{doc}");
        }
        std::fs::write(&file, doc).unwrap();
        let context = format!("/copy{i}");
        let name = format!("Copy{i}");
        let out = gw.ok(&[
            "api",
            "import",
            file.to_str().unwrap(),
            "--context",
            &context,
            "--endpoint",
            "http://localhost:8080",
            "--name",
            &name,
        ]);
        assert!(out.contains(&format!("imported API {name}:1.0.0")), "{out}");
        let (_, copy) = gw.call(Method::GET, &format!("/apis/{name}:1.0.0"), None);
        let sorted = |v: &Value| {
            let mut t = v["topics"].as_array().unwrap().clone();
            t.sort_by_key(|t| t["topic"].as_str().unwrap().to_owned());
            t
        };
        assert_eq!(sorted(&copy), sorted(&original), "{version} {format}");
        // WSO2's documents carry no business plans (they are set with `api plans set`).
        assert_eq!(copy["plans"], json!([]), "{version} {format}");
        assert_eq!(copy["endpoint"], original["endpoint"]);
        assert_eq!(copy["context"], context.as_str());
        assert_eq!(copy["lifecycle"], "CREATED");
    }
    gw.stop();
}

#[test]
fn documents_as_wso2_exports_them_import_in_asyncapi_2_and_3() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Running::start(dir.path());
    let v2 = json!({"asyncapi":"2.0.0","info":{"title":"Observer","version":"1.0.0"},
        "servers":{"production":{"url":"http://localhost:8080","protocol":"sse"},
                   "sandbox":{"url":"http://localhost:8080","protocol":"sse"}},
        "channels":{"/memory":{"subscribe":{"x-scopes":["read:memory"]},"x-auth-type":"Application",
                               "parameters":{}}},
        "components":{"securitySchemes":{"oauth2":{"type":"oauth2","flows":{"implicit":{
            "authorizationUrl":"http://localhost:9999","scopes":{"read:memory":""},
            "x-scopes-bindings":{"read:memory":"admin"}}}}}}});
    let v3 = json!({"asyncapi":"3.0.0","info":{"title":"Observer3","version":"2.0.0"},
        "servers":{"production":{"host":"localhost:8080","pathname":"/","protocol":"sse"},
                   "sandbox":{"host":"localhost:8080","pathname":"/","protocol":"sse"}},
        "channels":{"memory":{"address":"/memory"}},
        "operations":{"receive_/memory":{"action":"receive","channel":{"$ref":"#/channels/memory"}}},
        "components":{"securitySchemes":{"oauth2":{"type":"oauth2","flows":{"implicit":{
            "authorizationUrl":"http://localhost:9999","availableScopes":{}}}}}}});
    for (doc, context, id) in [
        (v2, "/observer", "Observer:1.0.0"),
        (v3, "/observer3", "Observer3:2.0.0"),
    ] {
        let file = dir
            .path()
            .join(format!("{}.json", context.trim_start_matches('/')));
        std::fs::write(&file, doc.to_string()).unwrap();
        gw.ok(&[
            "api",
            "import",
            file.to_str().unwrap(),
            "--context",
            context,
            "--endpoint",
            "http://localhost:8080",
        ]);
        let (s, v) = gw.call(Method::GET, &format!("/apis/{id}"), None);
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["topics"][0]["topic"], "/memory", "{v}");
        assert_eq!(v["context"], context);
    }
    let (_, v) = gw.call(Method::GET, "/apis/Observer:1.0.0/topics", None);
    assert_eq!(v["topics"][0]["scopes"], json!(["read:memory"]));
    assert_eq!(v["topics"][0]["auth_type"], "application");
    gw.stop();
}

fn assert_error(
    gw: &Running,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
    code: &str,
) {
    let (s, v) = gw.call(method.clone(), path, body);
    assert_eq!(s.as_u16(), status, "{method} {path}: {v}");
    assert_eq!(v["code"], code, "{method} {path}: {v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(
        v["description"].as_str().is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

#[test]
fn every_error_of_the_admin_api_is_json_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Running::start(dir.path());
    // Admin token.
    let rt = &gw.rt;
    let (s, v) = {
        let a = rt
            .block_on(AdminClient::new(&gw.url, "wrong").call(Method::GET, "/apis", None))
            .unwrap();
        (a.status, a.json())
    };
    assert_eq!((s.as_u16(), v["code"].as_str()), (401, Some("900901")));
    let a = rt
        .block_on(async {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<http_body_util::Full<bytes::Bytes>>();
            let req = http::Request::get(format!("{}/apis", gw.url))
                .body(http_body_util::Full::default())
                .unwrap();
            client.request(req).await
        })
        .unwrap();
    assert_eq!(a.status().as_u16(), 401);

    let create = json!({"name": "Observer", "context": "/observer", "version": "1.0.0",
                        "endpoint": "http://localhost:8080"});
    let (s, _) = gw.call(Method::POST, "/apis", Some(create.clone()));
    assert_eq!(s, StatusCode::CREATED);
    assert_error(&gw, Method::POST, "/apis", Some(create), 409, "api_exists");
    assert_error(
        &gw,
        Method::POST,
        "/apis",
        Some(json!({"name": "Other", "context": "/observer",
        "version": "1.0.0", "endpoint": "http://localhost:8080"})),
        409,
        "context_taken",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis",
        Some(json!({"name": "X"})),
        400,
        "missing_field",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis",
        Some(json!({"name": "X", "context": "no-slash",
        "version": "1", "endpoint": "http://h"})),
        400,
        "invalid_api",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis",
        Some(json!({"name": "X", "context": "/x",
        "version": "1", "endpoint": "ftp://h"})),
        400,
        "invalid_api",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis",
        Some(json!({"name": "X", "context": "/x",
        "version": "1", "endpoint": "http://h", "transports": ["gopher"]})),
        400,
        "invalid_transport",
    );
    let (s, v) = gw.call(Method::POST, "/apis", None);
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (400, Some("missing_field"))
    );
    assert_error(
        &gw,
        Method::GET,
        "/apis/Nope:1.0.0",
        None,
        404,
        "api_not_found",
    );
    assert_error(
        &gw,
        Method::GET,
        "/apis/no-version",
        None,
        400,
        "invalid_api_id",
    );
    assert_error(&gw, Method::GET, "/nothing", None, 404, "no_such_endpoint");
    assert_error(&gw, Method::PATCH, "/apis", None, 405, "method_not_allowed");
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/topics",
        Some(json!({"topic": "no-slash"})),
        400,
        "invalid_api",
    );
    assert_error(
        &gw,
        Method::DELETE,
        "/apis/Observer:1.0.0/topics",
        Some(json!({"topic": "/*"})),
        400,
        "invalid_api",
    );
    assert_error(
        &gw,
        Method::DELETE,
        "/apis/Observer:1.0.0/topics",
        Some(json!({"topic": "/none"})),
        404,
        "topic_not_found",
    );
    let (s, _) = gw.call(
        Method::POST,
        "/apis/Observer:1.0.0/topics",
        Some(json!({"topic": "/memory"})),
    );
    assert_eq!(s, StatusCode::OK);
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/topics",
        Some(json!({"topic": "/memory"})),
        409,
        "topic_exists",
    );
    assert_error(
        &gw,
        Method::PUT,
        "/apis/Observer:1.0.0/plans",
        Some(json!({"plans": ["Platinum"]})),
        400,
        "plan_not_found",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/lifecycle",
        Some(json!({"action": "fly"})),
        400,
        "invalid_action",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/lifecycle",
        Some(json!({"action": "Retire"})),
        400,
        "invalid_transition",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/deployments",
        Some(json!({"environments": ["production"]})),
        400,
        "no_revision",
    );
    for _ in 0..5 {
        let (s, _) = gw.call(Method::POST, "/apis/Observer:1.0.0/revisions", None);
        assert_eq!(s, StatusCode::CREATED);
    }
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/revisions",
        None,
        400,
        "900351",
    );
    assert_error(
        &gw,
        Method::DELETE,
        "/apis/Observer:1.0.0/revisions/9",
        None,
        404,
        "revision_not_found",
    );
    assert_error(
        &gw,
        Method::DELETE,
        "/apis/Observer:1.0.0/revisions/x",
        None,
        400,
        "invalid_revision",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/deployments",
        Some(json!({"revision": 1, "environments": ["nowhere"]})),
        404,
        "environment_not_found",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/deployments",
        Some(json!({"revision": 1, "environments": ["production"], "vhost": "other.example"})),
        404,
        "vhost_not_found",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis/Observer:1.0.0/deployments",
        Some(json!({"revision": 1})),
        400,
        "missing_field",
    );
    assert_error(
        &gw,
        Method::DELETE,
        "/apis/Observer:1.0.0/deployments",
        Some(json!({"environments": ["production"]})),
        404,
        "not_deployed",
    );
    let (s, _) = gw.call(
        Method::POST,
        "/apis/Observer:1.0.0/deployments",
        Some(json!({"revision": 1, "environments": ["production"]})),
    );
    assert_eq!(s, StatusCode::OK);
    assert_error(
        &gw,
        Method::DELETE,
        "/apis/Observer:1.0.0/revisions/1",
        None,
        400,
        "900348",
    );
    assert_error(
        &gw,
        Method::DELETE,
        "/apis/Observer:1.0.0",
        None,
        409,
        "api_deployed",
    );
    assert_error(
        &gw,
        Method::GET,
        "/apis/Observer:1.0.0/asyncapi?version=1.2.0",
        None,
        400,
        "invalid_version",
    );
    assert_error(
        &gw,
        Method::GET,
        "/apis/Observer:1.0.0/asyncapi?format=xml",
        None,
        400,
        "invalid_format",
    );
    assert_error(
        &gw,
        Method::POST,
        "/apis/import",
        Some(json!({"document": "{not asyncapi"})),
        400,
        "invalid_asyncapi",
    );

    // Applications.
    assert_error(
        &gw,
        Method::POST,
        "/applications",
        Some(json!({"name": "a/b"})),
        400,
        "invalid_name",
    );
    let (s, _) = gw.call(Method::POST, "/applications", Some(json!({"name": "App"})));
    assert_eq!(s, StatusCode::CREATED);
    assert_error(
        &gw,
        Method::POST,
        "/applications",
        Some(json!({"name": "App"})),
        409,
        "application_exists",
    );
    let sub = json!({"api": "Observer:1.0.0", "plan": "AsyncGold"});
    assert_error(
        &gw,
        Method::POST,
        "/applications/Nobody/subscriptions",
        Some(sub.clone()),
        404,
        "application_not_found",
    );
    assert_error(
        &gw,
        Method::POST,
        "/applications/App/subscriptions",
        Some(sub.clone()),
        409,
        "api_not_published",
    );
    let (s, _) = gw.call(
        Method::POST,
        "/apis/Observer:1.0.0/lifecycle",
        Some(json!({"action": "Publish"})),
    );
    assert_eq!(s, StatusCode::OK);
    assert_error(
        &gw,
        Method::POST,
        "/applications/App/subscriptions",
        Some(sub),
        400,
        "plan_not_allowed",
    );
    assert_error(
        &gw,
        Method::POST,
        "/applications/Nobody/tokens",
        None,
        404,
        "application_not_found",
    );
    assert_error(
        &gw,
        Method::POST,
        "/applications/App/tokens",
        Some(json!({"type": "gold"})),
        400,
        "invalid_key_type",
    );
    assert_error(
        &gw,
        Method::POST,
        "/applications/App/tokens",
        Some(json!({"ttl_secs": 0})),
        400,
        "invalid_ttl",
    );
    assert_error(
        &gw,
        Method::POST,
        "/applications/App/keys",
        Some(json!([1])),
        400,
        "invalid_json",
    );
    assert_error(
        &gw,
        Method::POST,
        "/applications/Nobody/keys",
        None,
        404,
        "application_not_found",
    );

    // The CLI exits 1 and prints the code.
    let out = gw.cli(&["api", "revision", "create", "Observer:1.0.0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("900351"), "{err}");
    let out = gw.cli(&["--json", "api", "revision", "delete", "Observer:1.0.0", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["code"], "900348");
    gw.stop();
}

#[test]
fn the_cli_finds_the_admin_url_and_token_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Running::start(dir.path());
    let token_file = dir.path().join("admin-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap().trim(),
        gw.token
    );
    let out = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["api", "list", "--data"])
        .arg(dir.path())
        .env_remove("EVENTGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no API");
    let out = Command::new(env!("CARGO_BIN_EXE_eventgate"))
        .args(["api", "list", "--data"])
        .arg(dir.path())
        .env("EVENTGATE_ADMIN_TOKEN", "not-it")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("900901"));
    gw.stop();
    // The token is kept across restarts.
    let gw = Running::start(dir.path());
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap().trim(),
        gw.token
    );
    gw.stop();
}

const WRITER_ENV: &str = "EVENTGATE_TEST_STORE_WRITER";

/// The child of the `kill -9` test: writes to the store in a loop, printing `ack N` after
/// each committed change, until it is killed.
#[test]
fn store_writer_child() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path)).unwrap();
    let big = "x".repeat(8 * 1024);
    for i in 0u64.. {
        let name = format!("app-{i}");
        store
            .apply(&[
                Change::PutApplication {
                    name: name.clone(),
                    body: format!("{{\"format\":1,\"name\":\"{name}\",\"owner\":\"{big}\"}}"),
                },
                Change::PutSubscription(SubscriptionRow {
                    application: name,
                    api: "Observer:1.0.0".into(),
                    plan: "AsyncGold".into(),
                    state: "UNBLOCKED".into(),
                }),
            ])
            .unwrap();
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn the_store_keeps_every_acknowledged_change_whole_after_kill_9_mid_burst() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(SqliteStore::open(&path).unwrap());
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acked: Option<u64> = None;
        let target = 40 + round * 25;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("ack ") {
                let n: u64 = n.trim().parse().unwrap();
                acked = Some(n);
                if n >= target {
                    break;
                }
            }
        }
        // SIGKILL while the child is in the middle of its next writes.
        child.kill().unwrap();
        child.wait().unwrap();
        let acked = acked.expect("the writer acknowledged changes");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        let snap = store.load().unwrap();
        for i in 0..=acked {
            let name = format!("app-{i}");
            assert!(
                snap.applications.contains_key(&name),
                "round {round}: {name} acknowledged but lost"
            );
        }
        // Nothing half-written: every application has its subscription and back.
        for (name, body) in &snap.applications {
            assert!(serde_json::from_str::<Value>(body).is_ok(), "{name}");
            assert!(
                snap.subscriptions.iter().any(|s| &s.application == name),
                "{name} without its subscription"
            );
        }
        assert_eq!(snap.applications.len(), snap.subscriptions.len());
    }
}

#[test]
fn revisions_keep_their_numbers_and_content_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Running::start(dir.path());
    tutorial(&gw);
    gw.ok(&["api", "topics", "add", "Observer:1.0.0", "/cpu"]);
    gw.ok(&["api", "revision", "create", "Observer:1.0.0"]);
    gw.ok(&[
        "api",
        "revision",
        "create",
        "Observer:1.0.0",
        "--description",
        "third",
    ]);
    gw.ok(&["api", "revision", "delete", "Observer:1.0.0", "2"]);
    gw.ok(&[
        "api",
        "deploy",
        "Observer:1.0.0",
        "--revision",
        "3",
        "--env",
        "sandbox",
    ]);
    gw.stop();
    let gw = Running::start(dir.path());
    let revs = gw
        .registry
        .revisions(&"Observer:1.0.0".parse().unwrap())
        .unwrap();
    let numbers: Vec<u32> = revs.iter().map(|r| r.number()).collect();
    assert_eq!(numbers, [1, 3]);
    assert_eq!(
        revs[0].api().topics.len(),
        1,
        "revision 1 is the API before /cpu"
    );
    assert_eq!(revs[1].api().topics.len(), 2);
    assert_eq!(revs[1].description(), Some("third"));
    let router = gw.registry.router();
    assert!(
        router
            .route(Some("localhost"), "/observer/1.0.0/cpu")
            .is_err()
    );
    assert!(
        router
            .route(Some("sandbox.localhost"), "/observer/1.0.0/cpu")
            .is_ok()
    );
    let out = gw.ok(&["api", "revision", "create", "Observer:1.0.0"]);
    assert!(out.contains("created revision 4"), "{out}");
    gw.stop();
}
