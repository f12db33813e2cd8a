//! The control plane's stores: the same test bodies run on SQLite and on a real PostgreSQL
//! (a server of the test's own, see `support/postgres.rs`), and what only PostgreSQL does:
//! several nodes on one database (optimistic writes, `NOTIFY`, migrations at once).

use std::time::Duration;

use eventgate_cli::store::{
    ApiKeyRow, Change, DeploymentRow, PgStore, SCHEMA_VERSION, Snapshot, SqliteStore, Store,
    StoreError, SubscriptionRow,
};

mod support;
use support::postgres::Postgres;

fn key(id: &str) -> ApiKeyRow {
    ApiKeyRow {
        id: id.into(),
        application: "app".into(),
        secret_sha256: [7; 32],
        key_type: "PRODUCTION".into(),
        scopes: vec!["a".into(), "b".into()],
        expires_at: Some(1_800_000_000),
        revoked: false,
    }
}

fn sample() -> Vec<Change> {
    vec![
        Change::SetMeta {
            key: "initialized".into(),
            value: "1".into(),
        },
        Change::PutEnvironment {
            name: "production".into(),
            body: "{\"env\":1}".into(),
        },
        Change::PutApi {
            id: "A:1".into(),
            body: "{}".into(),
            lifecycle: "CREATED".into(),
        },
        Change::PutRevision {
            api: "A:1".into(),
            number: 2,
            body: "{\"r\":2}".into(),
            description: Some("d".into()),
        },
        Change::PutRevision {
            api: "A:1".into(),
            number: 1,
            body: "{\"r\":1}".into(),
            description: None,
        },
        // Keys in an order where byte order and a locale's order differ.
        Change::PutDeployment(DeploymentRow {
            api: "A:1".into(),
            environment: "production".into(),
            vhost: "b.localhost".into(),
            revision: 2,
        }),
        Change::PutDeployment(DeploymentRow {
            api: "A:1".into(),
            environment: "production".into(),
            vhost: "B.localhost".into(),
            revision: 1,
        }),
        Change::PutApplication {
            name: "app".into(),
            body: "{\"app\":1}".into(),
        },
        Change::PutSubscription(SubscriptionRow {
            application: "app".into(),
            api: "A:1".into(),
            plan: "AsyncGold".into(),
            state: "UNBLOCKED".into(),
        }),
        Change::PutApiKey(key("k_b")),
        Change::PutApiKey(key("K_a")),
    ]
}

/// Every kind of row reads back as written, in key (byte) order.
fn rows_read_back_as_written(s: &dyn Store) {
    s.apply(&sample()).unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.meta["initialized"], "1");
    assert_eq!(snap.environments["production"], "{\"env\":1}");
    assert_eq!(snap.apis["A:1"].revisions[&2].1.as_deref(), Some("d"));
    assert_eq!(snap.apis["A:1"].revisions[&1].1, None);
    let vhosts: Vec<_> = snap.deployments.iter().map(|d| d.vhost.as_str()).collect();
    assert_eq!(vhosts, ["B.localhost", "b.localhost"]);
    assert_eq!(snap.subscriptions[0].plan, "AsyncGold");
    let ids: Vec<_> = snap.api_keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["K_a", "k_b"]);
    assert!(snap.api_keys[1] == key("k_b"));
    // An existing key keeps its secret; revocation and expiry change.
    let mut revoked = key("k_b");
    revoked.secret_sha256 = [9; 32];
    revoked.revoked = true;
    revoked.expires_at = None;
    s.apply(&[Change::PutApiKey(revoked)]).unwrap();
    let k = s.load().unwrap().api_keys.remove(1);
    assert!(k.revoked && k.expires_at.is_none() && k.secret_sha256 == [7; 32]);
    s.apply(&[Change::DeleteApi { id: "A:1".into() }]).unwrap();
    let snap = s.load().unwrap();
    assert!(snap.apis.is_empty() && snap.deployments.is_empty());
    assert!(snap.subscriptions.is_empty());
}

/// The version starts at 0 and each write adds one; `apply_if` on a stale version writes
/// nothing and says which version it found.
fn writes_bump_the_version_and_stale_writes_conflict(s: &dyn Store) {
    assert_eq!(s.version().unwrap(), 0);
    assert_eq!(s.load().unwrap().version, 0);
    s.apply(&sample()[..1]).unwrap();
    assert_eq!(s.version().unwrap(), 1);
    assert_eq!(s.apply_if(1, &sample()[1..2]).unwrap(), 2);
    let stale = s.apply_if(
        1,
        &[Change::PutApplication {
            name: "late".into(),
            body: "{}".into(),
        }],
    );
    assert!(
        matches!(
            stale,
            Err(StoreError::Conflict {
                expected: 1,
                found: 2
            })
        ),
        "{stale:?}"
    );
    let snap = s.load().unwrap();
    assert_eq!(snap.version, 2);
    assert!(
        snap.applications.is_empty(),
        "a conflicting write wrote nothing"
    );
}

/// `Snapshot::apply` in memory ends where the store ends after the same writes.
fn snapshot_apply_mirrors_the_store(s: &dyn Store) {
    let mut mirror = s.load().unwrap();
    let batches: Vec<Vec<Change>> = vec![
        sample(),
        vec![
            Change::DeleteDeployment {
                api: "A:1".into(),
                environment: "production".into(),
                vhost: "b.localhost".into(),
            },
            Change::DeleteRevision {
                api: "A:1".into(),
                number: 1,
            },
            Change::PutSubscription(SubscriptionRow {
                application: "app".into(),
                api: "A:1".into(),
                plan: "AsyncSilver".into(),
                state: "BLOCKED".into(),
            }),
        ],
        vec![Change::DeleteDeploymentsOf { api: "A:1".into() }],
        vec![Change::DeleteApi { id: "A:1".into() }],
    ];
    for batch in batches {
        s.apply(&batch).unwrap();
        mirror.apply(&batch);
        let stored = s.load().unwrap();
        mirror.version = stored.version;
        assert_eq!(mirror, stored);
    }
}

type Body = fn(&dyn Store);

const BODIES: &[(&str, Body)] = &[
    ("rows_read_back_as_written", rows_read_back_as_written),
    (
        "writes_bump_the_version_and_stale_writes_conflict",
        writes_bump_the_version_and_stale_writes_conflict,
    ),
    (
        "snapshot_apply_mirrors_the_store",
        snapshot_apply_mirrors_the_store,
    ),
];

#[test]
fn sqlite_store_passes_the_store_tests() {
    for (name, body) in BODIES {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        eprintln!("sqlite: {name}");
        body(&s);
    }
}

#[test]
fn pg_store_passes_the_store_tests() {
    let Some(pg) = Postgres::start() else { return };
    for (i, (name, body)) in BODIES.iter().enumerate() {
        let s = PgStore::connect(&pg.database(&format!("t{i}"))).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        eprintln!("postgres: {name}");
        body(&s);
    }
}

#[test]
fn nodes_on_one_postgres_database_see_each_others_writes() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("shared");
    // Two nodes migrating a new database at the same moment: one migrates, both open.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| PgStore::connect(&url));
        let b = s.spawn(|| PgStore::connect(&url));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_eq!(b.schema_version().unwrap(), SCHEMA_VERSION);
    let mut feed = b.notifications().unwrap().expect("PostgreSQL notifies");
    assert!(
        !feed.wait(Duration::from_millis(50)).unwrap(),
        "nothing written yet"
    );
    a.apply(&sample()).unwrap();
    assert!(
        feed.wait(Duration::from_secs(10)).unwrap(),
        "B is told of A's write"
    );
    assert_eq!(b.version().unwrap(), 1);
    assert_eq!(b.load().unwrap().api_keys.len(), 2);

    // Both nodes write on version 1 at once: exactly one wins, the other conflicts.
    let results: Vec<Result<u64, StoreError>> = std::thread::scope(|s| {
        let hs: Vec<_> = [&a, &b]
            .into_iter()
            .enumerate()
            .map(|(i, st)| {
                s.spawn(move || {
                    st.apply_if(
                        1,
                        &[Change::PutApplication {
                            name: format!("app{i}"),
                            body: "{}".into(),
                        }],
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = results.iter().filter(|r| matches!(r, Ok(2))).count();
    let lost = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(StoreError::Conflict {
                    expected: 1,
                    found: 2
                })
            )
        })
        .count();
    assert_eq!((won, lost), (1, 1), "{results:?}");
    assert_eq!(
        a.load().unwrap().applications.len(),
        2,
        "sample's app and the winner's"
    );
}

#[test]
fn pg_store_works_when_called_on_an_async_runtime_thread() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("rt");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The synchronous postgres client panics on a runtime thread; the store does not.
    let snap: Snapshot = rt.block_on(async {
        let s = PgStore::connect(&url).unwrap();
        s.apply(&sample()).unwrap();
        let _feed = s.notifications().unwrap();
        s.load().unwrap()
    });
    assert_eq!(snap.version, 1);
}

#[test]
fn a_bad_postgres_url_or_an_unreachable_server_is_a_database_error() {
    let port = support::free_port();
    let e = PgStore::connect(&format!(
        "postgres://eg:s3cret@127.0.0.1:{port}/x?connect_timeout=2"
    ))
    .unwrap_err();
    assert!(matches!(e, StoreError::Database(_)), "{e:?}");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[test]
fn pg_store_and_its_notifications_come_back_after_the_server_restarts() {
    let Some(mut pg) = Postgres::start() else {
        return;
    };
    let s = PgStore::connect(&pg.database("restart")).unwrap();
    let mut feed = s.notifications().unwrap().unwrap();
    s.apply(&sample()).unwrap();
    assert!(feed.wait(Duration::from_secs(10)).unwrap());
    pg.stop();
    assert!(s.version().is_err(), "the server is down");
    assert!(
        feed.wait(Duration::from_secs(10)).is_err(),
        "a lost feed says so"
    );
    pg.restart();
    // The store connects again on its own; a new feed listens again.
    let start = std::time::Instant::now();
    while s.version().is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "no reconnect");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.version().unwrap(), 1);
    let mut feed = s.notifications().unwrap().unwrap();
    s.apply(&sample()[..1]).unwrap();
    assert!(feed.wait(Duration::from_secs(10)).unwrap());
    assert_eq!(s.load().unwrap().version, 2);
}
