//! [`Store`] on an embedded SQLite database (`rusqlite`, SQLite compiled in).
//!
//! Opened in WAL mode with `synchronous=FULL`: a transaction that returned is on disk, and a
//! crash (even `kill -9` or power loss mid-write) leaves the database at the last committed
//! transaction. Migrations run on open, each in its own transaction, recorded in
//! `schema_version`.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::sql::{self, Param, Raw, SCHEMA_VERSION};
use super::{Change, Snapshot, Store, StoreError};

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
    conn.query_row(sql::CURRENT_SCHEMA, [], |r| r.get::<_, Option<i64>>(0))
        .map(|v| v.unwrap_or(0))
        .map_err(db)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(sql::SCHEMA_VERSION_TABLE).map_err(db)?;
    let found = current_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, migration) in sql::MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(migration).map_err(db)?;
        tx.execute(sql::RECORD_MIGRATION, params![i as i64 + 1])
            .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Text(s) => s.to_sql(),
            Param::OptText(s) => s.to_sql(),
            Param::Int(i) => i.to_sql(),
            Param::OptInt(i) => i.to_sql(),
        }
    }
}

fn write(tx: &rusqlite::Transaction<'_>, change: &Change) -> rusqlite::Result<()> {
    for (statement, params) in sql::statements(change) {
        tx.execute(statement, rusqlite::params_from_iter(params.iter()))?;
    }
    Ok(())
}

fn rows<T>(
    conn: &Connection,
    sql: &str,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(db)?;
    stmt.query_map([], f)
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)
}

impl SqliteStore {
    /// Writes `changes` after bumping the version; `expected` is checked against the
    /// version before the bump.
    fn write_all(&self, expected: Option<u64>, changes: &[Change]) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        let next: i64 = tx
            .query_row(sql::BUMP_VERSION, [], |r| r.get(0))
            .map_err(db)?;
        let next = u64::try_from(next).unwrap_or(0);
        if let Some(expected) = expected
            && next != expected + 1
        {
            return Err(StoreError::Conflict {
                expected,
                found: next.saturating_sub(1),
            });
        }
        for c in changes {
            write(&tx, c).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(next)
    }
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn();
        // One read transaction: a consistent view.
        let tx = conn.transaction().map_err(db)?;
        let two = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
        let raw = Raw {
            version: tx
                .query_row(sql::READ_VERSION, [], |r| r.get(0))
                .map_err(db)?,
            meta: rows(&tx, sql::LOAD_META, two)?,
            environments: rows(&tx, sql::LOAD_ENVIRONMENTS, two)?,
            applications: rows(&tx, sql::LOAD_APPLICATIONS, two)?,
            apis: rows(&tx, sql::LOAD_APIS, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?,
            revisions: rows(&tx, sql::LOAD_REVISIONS, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?,
            deployments: rows(&tx, sql::LOAD_DEPLOYMENTS, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?,
            subscriptions: rows(&tx, sql::LOAD_SUBSCRIPTIONS, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?,
            api_keys: rows(&tx, sql::LOAD_API_KEYS, |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?,
        };
        tx.commit().map_err(db)?;
        raw.into_snapshot()
    }

    fn version(&self) -> Result<u64, StoreError> {
        let v: i64 = self
            .conn()
            .query_row(sql::READ_VERSION, [], |r| r.get(0))
            .map_err(db)?;
        Ok(u64::try_from(v).unwrap_or(0))
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        self.write_all(None, changes).map(|_| ())
    }

    fn apply_if(&self, expected: u64, changes: &[Change]) -> Result<u64, StoreError> {
        self.write_all(Some(expected), changes)
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
    fn a_database_of_schema_1_migrates_keeping_its_rows_at_version_0() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(sql::SCHEMA_VERSION_TABLE).unwrap();
        c.execute_batch(sql::MIGRATIONS[0]).unwrap();
        c.execute_batch(
            "INSERT INTO schema_version (version) VALUES (1);
             INSERT INTO applications (name, body) VALUES ('old', '{}');",
        )
        .unwrap();
        drop(c);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let snap = s.load().unwrap();
        assert_eq!((snap.version, snap.applications.len()), (0, 1));
        assert_eq!(s.apply_if(0, &[]).unwrap(), 1);
    }
}
