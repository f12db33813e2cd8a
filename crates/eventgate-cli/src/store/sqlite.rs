//! [`Store`] on an embedded SQLite database (`rusqlite`, SQLite compiled in).
//!
//! Opened in WAL mode with `synchronous=FULL`: a transaction that returned is on disk, and a
//! crash (even `kill -9` or power loss mid-write) leaves the database at the last committed
//! transaction. Migrations run on open, each in its own transaction, recorded in
//! `schema_version`.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    ApiKeyRow, ApiRow, Change, DeploymentRow, Snapshot, Store, StoreError, SubscriptionRow,
};

/// Each migration, in order; the schema version is the number applied. Portable SQL only.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE environments (name TEXT PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE apis (id TEXT PRIMARY KEY, body TEXT NOT NULL, lifecycle TEXT NOT NULL);
     CREATE TABLE revisions (api TEXT NOT NULL, number INTEGER NOT NULL, body TEXT NOT NULL,
                             description TEXT, PRIMARY KEY (api, number));
     CREATE TABLE deployments (api TEXT NOT NULL, environment TEXT NOT NULL,
                               vhost TEXT NOT NULL, revision INTEGER NOT NULL,
                               PRIMARY KEY (api, environment, vhost));
     CREATE TABLE applications (name TEXT PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE subscriptions (application TEXT NOT NULL, api TEXT NOT NULL,
                                 plan TEXT NOT NULL, state TEXT NOT NULL,
                                 PRIMARY KEY (application, api));
     CREATE TABLE api_keys (id TEXT PRIMARY KEY, application TEXT NOT NULL,
                            secret_sha256 TEXT NOT NULL, key_type TEXT NOT NULL,
                            scopes TEXT NOT NULL, expires_at INTEGER, revoked INTEGER NOT NULL);",
];

/// The schema version this build migrates to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a writer waits for another connection's lock before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The SQLite store. One connection, serialised by a mutex.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, sets WAL and `synchronous=FULL`,
    /// and migrates it to [`SCHEMA_VERSION`].
    ///
    /// # Errors
    /// [`StoreError::Database`], [`StoreError::TooNew`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "cannot switch to WAL mode (journal_mode is {mode})"
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(db)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// A store in memory, migrated to [`SCHEMA_VERSION`] and gone when dropped: the state of
    /// `eventgate demo`, which starts from its embedded configuration every time.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn in_memory() -> Result<Self, StoreError> {
        let mut conn = Connection::open_in_memory().map_err(db)?;
        conn.execute_batch("PRAGMA foreign_keys=ON;").map_err(db)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The schema version recorded in the database.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        current_version(&self.conn())
    }

    /// `PRAGMA integrity_check`: `"ok"` for a sound database, else SQLite's findings.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(db)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(rows.join("\n"))
    }
}

fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| {
        r.get::<_, Option<i64>>(0)
    })
    .map(|v| v.unwrap_or(0))
    .map_err(db)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(db)?;
    let found = current_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            params![i as i64 + 1],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn write(tx: &rusqlite::Transaction<'_>, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::SetMeta { key, value } => tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        ),
        Change::PutEnvironment { name, body } => tx.execute(
            "INSERT INTO environments (name, body) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            params![name, body],
        ),
        Change::PutApi {
            id,
            body,
            lifecycle,
        } => tx.execute(
            "INSERT INTO apis (id, body, lifecycle) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, lifecycle = excluded.lifecycle",
            params![id, body, lifecycle],
        ),
        Change::DeleteApi { id } => {
            tx.execute("DELETE FROM revisions WHERE api = ?1", params![id])?;
            tx.execute("DELETE FROM deployments WHERE api = ?1", params![id])?;
            tx.execute("DELETE FROM subscriptions WHERE api = ?1", params![id])?;
            tx.execute("DELETE FROM apis WHERE id = ?1", params![id])
        }
        Change::PutRevision {
            api,
            number,
            body,
            description,
        } => tx.execute(
            "INSERT INTO revisions (api, number, body, description) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (api, number) DO UPDATE SET body = excluded.body,
                 description = excluded.description",
            params![api, number, body, description],
        ),
        Change::DeleteRevision { api, number } => tx.execute(
            "DELETE FROM revisions WHERE api = ?1 AND number = ?2",
            params![api, number],
        ),
        Change::PutDeployment(d) => tx.execute(
            "INSERT INTO deployments (api, environment, vhost, revision) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (api, environment, vhost) DO UPDATE SET revision = excluded.revision",
            params![d.api, d.environment, d.vhost, d.revision],
        ),
        Change::DeleteDeployment {
            api,
            environment,
            vhost,
        } => tx.execute(
            "DELETE FROM deployments WHERE api = ?1 AND environment = ?2 AND vhost = ?3",
            params![api, environment, vhost],
        ),
        Change::DeleteDeploymentsOf { api } => {
            tx.execute("DELETE FROM deployments WHERE api = ?1", params![api])
        }
        Change::PutApplication { name, body } => tx.execute(
            "INSERT INTO applications (name, body) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            params![name, body],
        ),
        Change::PutSubscription(s) => tx.execute(
            "INSERT INTO subscriptions (application, api, plan, state) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (application, api) DO UPDATE SET plan = excluded.plan,
                 state = excluded.state",
            params![s.application, s.api, s.plan, s.state],
        ),
        Change::PutApiKey(k) => tx.execute(
            "INSERT INTO api_keys (id, application, secret_sha256, key_type, scopes, expires_at,
                                   revoked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET revoked = excluded.revoked,
                 expires_at = excluded.expires_at",
            params![
                k.id,
                k.application,
                hex(&k.secret_sha256),
                k.key_type,
                k.scopes.join(" "),
                k.expires_at.map(|e| e as i64),
                i64::from(k.revoked)
            ],
        ),
    }
    .map(|_| ())
}

fn pairs(conn: &Connection, sql: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db)?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn();
        // One read transaction: a consistent view.
        let tx = conn.transaction().map_err(db)?;
        let mut snap = Snapshot {
            meta: pairs(&tx, "SELECT key, value FROM meta")?
                .into_iter()
                .collect(),
            environments: pairs(&tx, "SELECT name, body FROM environments")?
                .into_iter()
                .collect(),
            applications: pairs(&tx, "SELECT name, body FROM applications")?
                .into_iter()
                .collect(),
            ..Snapshot::default()
        };
        {
            let mut stmt = tx
                .prepare("SELECT id, body, lifecycle FROM apis")
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(ApiRow {
                        id: r.get(0)?,
                        body: r.get(1)?,
                        lifecycle: r.get(2)?,
                        revisions: Default::default(),
                    })
                })
                .map_err(db)?;
            for row in rows {
                let row = row.map_err(db)?;
                snap.apis.insert(row.id.clone(), row);
            }
            let mut stmt = tx
                .prepare(
                    "SELECT api, number, body, description FROM revisions ORDER BY api, number",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                })
                .map_err(db)?;
            for row in rows {
                let (api, n, body, desc) = row.map_err(db)?;
                let entry = snap.apis.get_mut(&api).ok_or_else(|| StoreError::Corrupt {
                    what: "revision",
                    key: format!("{api} #{n}"),
                    reason: "its API is not stored".into(),
                })?;
                entry.revisions.insert(n, (body, desc));
            }
            let mut stmt = tx
                .prepare(
                    "SELECT api, environment, vhost, revision FROM deployments
                     ORDER BY api, environment, vhost",
                )
                .map_err(db)?;
            snap.deployments = stmt
                .query_map([], |r| {
                    Ok(DeploymentRow {
                        api: r.get(0)?,
                        environment: r.get(1)?,
                        vhost: r.get(2)?,
                        revision: r.get(3)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            let mut stmt = tx
                .prepare(
                    "SELECT application, api, plan, state FROM subscriptions
                     ORDER BY application, api",
                )
                .map_err(db)?;
            snap.subscriptions = stmt
                .query_map([], |r| {
                    Ok(SubscriptionRow {
                        application: r.get(0)?,
                        api: r.get(1)?,
                        plan: r.get(2)?,
                        state: r.get(3)?,
                    })
                })
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            let mut stmt = tx
                .prepare(
                    "SELECT id, application, secret_sha256, key_type, scopes, expires_at, revoked
                     FROM api_keys ORDER BY id",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                })
                .map_err(db)?;
            for row in rows {
                let (id, application, hash, key_type, scopes, expires_at, revoked) =
                    row.map_err(db)?;
                let secret_sha256 = unhex32(&hash).ok_or_else(|| StoreError::Corrupt {
                    what: "API key",
                    key: id.clone(),
                    reason: "the hash is not 64 hex digits".into(),
                })?;
                snap.api_keys.push(ApiKeyRow {
                    id,
                    application,
                    secret_sha256,
                    key_type,
                    scopes: scopes.split_whitespace().map(str::to_owned).collect(),
                    expires_at: expires_at.and_then(|e| u64::try_from(e).ok()),
                    revoked: revoked != 0,
                });
            }
        }
        tx.commit().map_err(db)?;
        Ok(snap)
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        for c in changes {
            write(&tx, c).map_err(db)?;
        }
        tx.commit().map_err(db)
    }
}

/// Reads a meta key without loading everything.
impl SqliteStore {
    /// The value of a meta key.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_migrates_to_the_current_schema_version_and_reopening_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        drop(s);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn a_database_from_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn a_failing_change_rolls_back_the_whole_list() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        s.conn()
            .execute_batch("CREATE TRIGGER no_x BEFORE INSERT ON applications WHEN NEW.name = 'x' BEGIN SELECT RAISE(ABORT, 'no x'); END")
            .unwrap();
        let r = s.apply(&[
            Change::PutApplication {
                name: "a".into(),
                body: "{}".into(),
            },
            Change::PutApplication {
                name: "x".into(),
                body: "{}".into(),
            },
        ]);
        assert!(r.is_err());
        assert!(s.load().unwrap().applications.is_empty());
    }

    #[test]
    fn every_kind_of_row_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        let key = ApiKeyRow {
            id: "k1".into(),
            application: "app".into(),
            secret_sha256: [7; 32],
            key_type: "PRODUCTION".into(),
            scopes: vec!["a".into(), "b".into()],
            expires_at: Some(1_800_000_000),
            revoked: false,
        };
        s.apply(&[
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
            Change::PutDeployment(DeploymentRow {
                api: "A:1".into(),
                environment: "production".into(),
                vhost: "localhost".into(),
                revision: 2,
            }),
            Change::PutSubscription(SubscriptionRow {
                application: "app".into(),
                api: "A:1".into(),
                plan: "AsyncGold".into(),
                state: "UNBLOCKED".into(),
            }),
            Change::PutApiKey(key.clone()),
        ])
        .unwrap();
        let snap = s.load().unwrap();
        assert_eq!(snap.apis["A:1"].revisions[&2].1.as_deref(), Some("d"));
        assert_eq!(snap.deployments[0].revision, 2);
        assert_eq!(snap.subscriptions[0].plan, "AsyncGold");
        assert!(snap.api_keys[0] == key);
        s.apply(&[Change::DeleteApi { id: "A:1".into() }]).unwrap();
        let snap = s.load().unwrap();
        assert!(snap.apis.is_empty() && snap.deployments.is_empty());
        assert!(snap.subscriptions.is_empty());
    }
}
