//! Two control planes in one process on one state database (two handles on one SQLite
//! file, as two nodes on one PostgreSQL database): changes made through A's admin API are
//! applied to B's live registry and gate by `ControlPlane::refresh` (what the cluster
//! watcher calls), changing only what changed.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::SystemTime;

use eventgate::server::Listener;
use eventgate::{Lifecycle, RouteEnd};
use eventgate_cli::control::{self, ControlPlane};
use eventgate_cli::store::{SqliteStore, Store};
use eventgate_policy::Timestamp;

struct Node {
    url: String,
    token: String,
    data: std::path::PathBuf,
}

fn node(rt: &tokio::runtime::Runtime, data: &Path, db: &Path) -> (Node, ControlPlane) {
    let listener = rt
        .block_on(Listener::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db).unwrap());
    let cp = {
        let _g = rt.enter();
        control::start_with(data, listener, store).unwrap()
    };
    let n = Node {
        url: format!("http://{}", cp.admin_addr),
        token: cp.admin_token.clone(),
        data: data.to_owned(),
    };
    (n, cp)
}

impl Node {
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_eventgate"))
            .args(args)
            // `=`: a token may start with '-'.
            .arg(format!("--admin={}", self.url))
            .arg(format!("--admin-token={}", self.token))
            .arg("--data")
            .arg(&self.data)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "eventgate {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
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

const HOST: Option<&str> = Some("localhost:8280");

#[test]
fn refresh_applies_another_nodes_changes_and_leaves_untouched_routes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (a, a_cp) = node(&rt, &dir.path().join("a"), &db);
    let (b, b_cp) = node(&rt, &dir.path().join("b"), &db);
    // C only ever refreshes.
    let (_c, c_cp) = node(&rt, &dir.path().join("c"), &db);
    let b_registry = Arc::clone(&b_cp.registry);
    let b_gate = Arc::clone(&b_cp.gate);
    // Only A serves its admin API; B is refreshed by hand.
    rt.spawn(a_cp.serve_admin(std::future::pending()));
    let api = "Observer:1.0.0";
    a.ok(&[
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
    a.ok(&["api", "topics", "add", api, "/memory"]);
    a.ok(&["api", "plans", "set", api, "AsyncGold"]);
    a.ok(&["api", "lifecycle", api, "publish"]);
    a.ok(&["api", "revision", "create", api]);
    a.ok(&[
        "api",
        "deploy",
        api,
        "--revision",
        "1",
        "--env",
        "production",
    ]);
    a.ok(&["app", "create", "DemoApp"]);
    a.ok(&[
        "app",
        "subscribe",
        "DemoApp",
        "--api",
        api,
        "--plan",
        "AsyncGold",
    ]);
    let key = a.ok(&["app", "key", "DemoApp"]).trim().to_owned();

    let path = "/observer/1.0.0/memory";
    assert!(b_registry.router().route(HOST, path).is_err(), "not yet");
    assert!(b_gate.authenticate(&key, now()).is_err(), "not yet");
    assert!(b_cp.refresh().unwrap(), "A's writes are applied");
    assert!(!b_cp.refresh().unwrap(), "nothing new");
    let route = b_registry.router().route(HOST, path).unwrap();
    assert_eq!(route.lifecycle(), Lifecycle::Published);
    assert_eq!(route.revision().number(), 1);
    let p = b_gate.authenticate(&key, now()).unwrap();
    assert_eq!(p.application.as_ref().map(|a| a.as_str()), Some("DemoApp"));

    // Another API deployed on A: B's open route to Observer stays current.
    a.ok(&[
        "api",
        "create",
        "--name",
        "Other",
        "--context",
        "/other",
        "--version",
        "1.0.0",
        "--endpoint",
        "http://localhost:8080",
    ]);
    a.ok(&["api", "lifecycle", "Other:1.0.0", "publish"]);
    a.ok(&["api", "revision", "create", "Other:1.0.0"]);
    a.ok(&[
        "api",
        "deploy",
        "Other:1.0.0",
        "--revision",
        "1",
        "--env",
        "production",
    ]);
    assert!(b_cp.refresh().unwrap());
    assert!(b_registry.router().route(HOST, "/other/1.0.0/x").is_ok());
    assert!(route.is_current(), "an untouched deployment is left alone");
    assert!(c_cp.refresh().unwrap());
    let c_other = c_cp
        .registry
        .router()
        .route(HOST, "/other/1.0.0/x")
        .unwrap();

    // A new revision of Observer deployed in place of the old one, which is deleted: B
    // serves revision 2 and the old route ends as replaced.
    a.ok(&["api", "topics", "add", api, "/cpu"]);
    a.ok(&["api", "revision", "create", api]);
    a.ok(&[
        "api",
        "deploy",
        api,
        "--revision",
        "2",
        "--env",
        "production",
    ]);
    a.ok(&["api", "revision", "delete", api, "1"]);
    assert!(b_cp.refresh().unwrap());
    let r2 = b_registry
        .router()
        .route(HOST, "/observer/1.0.0/cpu")
        .unwrap();
    assert_eq!(r2.revision().number(), 2);
    assert_eq!(route.signal().end_reason(), Some(RouteEnd::Replaced));
    let revs: Vec<u32> = b_registry
        .revisions(&api.parse().unwrap())
        .unwrap()
        .iter()
        .map(|r| r.number())
        .collect();
    assert_eq!(revs, [2]);

    // A write through B, which has not refreshed since A's next change, starts from A's
    // change (caught up first) instead of conflicting or undoing it.
    a.ok(&["api", "lifecycle", "Other:1.0.0", "block"]);
    let version = b_cp.version();
    rt.spawn(b_cp.serve_admin(std::future::pending()));
    b.ok(&["app", "create", "LaterApp"]);
    let other = "Other:1.0.0".parse().unwrap();
    assert_eq!(
        b_registry.lifecycle(&other).unwrap(),
        Lifecycle::Blocked,
        "A's change was applied first"
    );
    // Deleted through B (undeployed first): gone from the store and B's registry.
    b.ok(&["api", "undeploy", "Other:1.0.0", "--env", "production"]);
    b.ok(&["api", "delete", "Other:1.0.0"]);
    assert!(b_registry.lifecycle(&other).is_err());
    let stored = SqliteStore::open(&db).unwrap().load().unwrap();
    assert!(!stored.apis.contains_key("Other:1.0.0"));
    assert_eq!(
        stored.version,
        version + 4,
        "A's block, B's application, undeploy and delete"
    );
    assert!(stored.applications.contains_key("LaterApp"));

    // C, last refreshed when Other was deployed, catches up with all of it at once: the
    // block, the new revision, the undeploy and the delete.
    assert!(c_cp.refresh().unwrap());
    assert!(c_cp.registry.lifecycle(&other).is_err(), "deleted");
    // Several changes applied at once end the stream by the net change (undeployed).
    assert_eq!(c_other.signal().end_reason(), Some(RouteEnd::Undeployed));
    let r = c_cp
        .registry
        .router()
        .route(HOST, "/observer/1.0.0/cpu")
        .unwrap();
    assert_eq!(r.revision().number(), 2);
    assert!(c_cp.gate.authenticate(&key, now()).is_ok());
    assert_eq!(c_cp.version(), stored.version);
}

#[test]
fn a_node_that_cannot_apply_the_shared_state_says_why_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (a, a_cp) = node(&rt, &dir.path().join("a"), &db);
    let (b, b_cp) = node(&rt, &dir.path().join("b"), &db);
    // A serves an API of its own configuration file (never stored) with the context B is
    // about to give another API in the shared state.
    let cfg = eventgate::config::Config::from_str(
        "a.toml",
        "[[environments]]\nname = \"edge\"\nvhosts = [{ host = \"edge.localhost\" }]\n\
         [[apis]]\nname = \"Mine\"\ncontext = \"/shared\"\nversion = \"1\"\n\
         endpoints = { production = \"http://localhost:8080\" }\nlifecycle = \"CREATED\"\n\
         deploy = []\n",
    )
    .unwrap();
    cfg.apply(&a_cp.registry).unwrap();
    let a_registry = Arc::clone(&a_cp.registry);
    let version = a_cp.version();
    let a_cp = Arc::new(a_cp);
    rt.spawn(b_cp.serve_admin(std::future::pending()));
    b.ok(&[
        "api",
        "create",
        "--name",
        "Theirs",
        "--context",
        "/shared",
        "--version",
        "1",
        "--endpoint",
        "http://localhost:8080",
    ]);
    let e = a_cp.refresh().unwrap_err();
    assert!(
        matches!(e, control::ControlError::State(_)),
        "the registry refuses it: {e}"
    );
    assert_eq!(a_cp.version(), version, "A stays where it was");
    assert!(a_registry.lifecycle(&"Theirs:1".parse().unwrap()).is_err());
    // A's admin API writes nothing on a state it cannot catch up with.
    let a_cp = Arc::try_unwrap(a_cp).unwrap();
    rt.spawn(a_cp.serve_admin(std::future::pending()));
    let out = a.cli(&["--json", "app", "create", "Nope"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sync_failed"), "{err}");
    let stored = SqliteStore::open(&db).unwrap().load().unwrap();
    assert!(!stored.applications.contains_key("Nope"));
}
