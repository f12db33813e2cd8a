//! [`Store`] on PostgreSQL, shared by several gateway nodes (`[cluster] postgres = URL`).
//!
//! The same migrations and statements as [`super::SqliteStore`] ([`super::sql`]). Migrations
//! run under an advisory lock, so nodes starting together migrate once. Every write bumps
//! the store version in the same transaction and sends `NOTIFY` on [`CHANNEL`] with the new
//! version; [`Store::notifications`] listens there.
//!
//! The `postgres` client is synchronous over its own small async runtime and panics when
//! called on a tokio runtime thread, so every call runs on a thread this store owns: a
//! caller sends the work there and waits for the answer, which is safe from any thread. A
//! lost connection is made again on the next call. Connections are plain TCP or a Unix
//! socket (no TLS yet).

use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use ::postgres::fallible_iterator::FallibleIterator as _;
use ::postgres::{Client, NoTls};

use super::sql::{self, Param, Raw, SCHEMA_VERSION};
use super::{Change, Notifications, Snapshot, Store, StoreError};

/// The `NOTIFY` channel every write is announced on (payload: the new version).
pub const CHANNEL: &str = "eventgate_store";

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an unanswered connection takes to fail (`tcp_user_timeout` and keepalives),
/// when the URL does not say.
const DEAD_PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// Key of the advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x6576_6e74_6761_7465; // "evntgate"

fn db(e: ::postgres::Error) -> StoreError {
    // `Display` of a server error is only "db error"; the source has the message.
    match e.as_db_error() {
        Some(d) => StoreError::Database(format!("{e}: {}", d.message())),
        None => StoreError::Database(e.to_string()),
    }
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The connection the store's thread owns.
struct Connection {
    config: ::postgres::Config,
    client: Option<Client>,
}

impl Connection {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.client = Some(self.config.connect(NoTls).map_err(db)?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Database("not connected".into()))
    }
}

/// The control plane's store on PostgreSQL, shared by several gateway nodes.
///
/// The same migrations and statements as [`SqliteStore`](super::SqliteStore). Migrations
/// run under an advisory lock, so nodes starting together migrate once. Every write bumps
/// the store version in the same transaction and sends `NOTIFY` on [`CHANNEL`] with the new
/// version; [`Store::notifications`] listens there.
///
/// Every call runs on a thread this store owns (the synchronous `postgres` client panics
/// on a tokio runtime thread): a caller sends the work there and waits for the answer, which
/// is safe from any thread, async workers included (for the short block of a small
/// transaction). A lost connection is made again on the next call. Connections are plain
/// TCP or a Unix socket (no TLS yet).
pub struct PgStore {
    jobs: Mutex<mpsc::Sender<Job>>,
    config: ::postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.shown)
            .finish_non_exhaustive()
    }
}

/// `url` with any password replaced by `***`.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    if url.contains("password") {
        return "(connection string with a password)".into();
    }
    url.to_owned()
}

fn parse(url: &str) -> Result<::postgres::Config, StoreError> {
    let mut config: ::postgres::Config = url.parse().map_err(|e: ::postgres::Error| {
        StoreError::Database(format!("PostgreSQL URL {}: {e}", redact(url)))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("eventgate");
    }
    // A database that vanishes without closing the connection (a partition, a dead host)
    // fails the call in about 30 s instead of blocking writes and the watcher for hours.
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(DEAD_PEER_TIMEOUT);
    }
    if config.get_keepalives_idle() > DEAD_PEER_TIMEOUT {
        config.keepalives_idle(DEAD_PEER_TIMEOUT);
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
    }
    Ok(config)
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db` or
    /// `host=... dbname=...`), migrates it to [`SCHEMA_VERSION`] and starts the store's
    /// thread.
    ///
    /// # Errors
    /// [`StoreError::Database`] (bad URL, cannot connect, migration failed),
    /// [`StoreError::TooNew`].
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let config = parse(url)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), StoreError>>(1);
        let thread_config = config.clone();
        std::thread::Builder::new()
            .name("eventgate-pgstore".into())
            .spawn(move || {
                let mut conn = Connection {
                    config: thread_config,
                    client: None,
                };
                let ready = conn.client().and_then(migrate);
                let failed = ready.is_err();
                let _ = ready_tx.send(ready);
                if failed {
                    return;
                }
                // Ends when the store (the only sender) is dropped.
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Database(format!("cannot start the store thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| StoreError::Database("the store thread ended".into()))??;
        Ok(PgStore {
            jobs: Mutex::new(jobs),
            config,
            shown: redact(url),
        })
    }

    /// Runs `f` on the store's thread and waits for its answer.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: &mut Connection| {
            let _ = tx.send(conn.client().and_then(f));
        });
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(job)
            .map_err(|_| StoreError::Database("the store thread ended".into()))?;
        rx.recv()
            .map_err(|_| StoreError::Database("the store thread ended".into()))?
    }

    /// The schema version recorded in the database.
    ///
    /// # Errors
    /// [`StoreError::Database`].
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.run(current_version)
    }

    fn write_all(&self, expected: Option<u64>, changes: &[Change]) -> Result<u64, StoreError> {
        let changes = changes.to_vec();
        self.run(move |client| {
            let mut tx = client.transaction().map_err(db)?;
            let next: i64 = tx.query_one(sql::BUMP_VERSION, &[]).map_err(db)?.get(0);
            let next = u64::try_from(next).unwrap_or(0);
            if let Some(expected) = expected
                && next != expected + 1
            {
                return Err(StoreError::Conflict {
                    expected,
                    found: next.saturating_sub(1),
                });
            }
            for change in &changes {
                for (statement, params) in sql::statements(change) {
                    let statement = sql::postgres_placeholders(statement);
                    let params: Vec<&(dyn ::postgres::types::ToSql + Sync)> =
                        params.iter().map(pg_param).collect();
                    tx.execute(statement.as_str(), &params).map_err(db)?;
                }
            }
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &next.to_string()])
                .map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(next)
        })
    }
}

fn pg_param(p: &Param) -> &(dyn ::postgres::types::ToSql + Sync) {
    match p {
        Param::Text(s) => s,
        Param::OptText(s) => s,
        Param::Int(i) => i,
        Param::OptInt(i) => i,
    }
}

fn current_version(client: &mut Client) -> Result<i64, StoreError> {
    let v: Option<i64> = client
        .query_one(sql::CURRENT_SCHEMA, &[])
        .map_err(db)?
        .get(0);
    Ok(v.unwrap_or(0))
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    let out = migrate_locked(client);
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .map_err(db);
    out.and(unlocked.map(|_| ()))
}

fn migrate_locked(client: &mut Client) -> Result<(), StoreError> {
    client
        .batch_execute(sql::SCHEMA_VERSION_TABLE)
        .map_err(db)?;
    let found = current_version(client)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, migration) in sql::MIGRATIONS.iter().enumerate().skip(found as usize) {
        let mut tx = client.transaction().map_err(db)?;
        tx.batch_execute(migration).map_err(db)?;
        tx.execute(
            sql::postgres_placeholders(sql::RECORD_MIGRATION).as_str(),
            &[&(i as i64 + 1)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

fn rows<T>(
    tx: &mut ::postgres::Transaction<'_>,
    sql: &str,
    f: impl Fn(&::postgres::Row) -> Result<T, ::postgres::Error>,
) -> Result<Vec<T>, StoreError> {
    tx.query(sql, &[])
        .map_err(db)?
        .iter()
        .map(|r| f(r).map_err(db))
        .collect()
}

impl Store for PgStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let raw = self.run(|client| {
            // One repeatable-read transaction: every query sees the same state.
            let mut tx = client
                .build_transaction()
                .isolation_level(::postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(db)?;
            let raw = Raw {
                version: tx.query_one(sql::READ_VERSION, &[]).map_err(db)?.get(0),
                meta: rows(&mut tx, sql::LOAD_META, |r| {
                    Ok((r.try_get(0)?, r.try_get(1)?))
                })?,
                environments: rows(&mut tx, sql::LOAD_ENVIRONMENTS, |r| {
                    Ok((r.try_get(0)?, r.try_get(1)?))
                })?,
                applications: rows(&mut tx, sql::LOAD_APPLICATIONS, |r| {
                    Ok((r.try_get(0)?, r.try_get(1)?))
                })?,
                apis: rows(&mut tx, sql::LOAD_APIS, |r| {
                    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
                })?,
                revisions: rows(&mut tx, sql::LOAD_REVISIONS, |r| {
                    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
                })?,
                deployments: rows(&mut tx, sql::LOAD_DEPLOYMENTS, |r| {
                    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
                })?,
                subscriptions: rows(&mut tx, sql::LOAD_SUBSCRIPTIONS, |r| {
                    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
                })?,
                api_keys: rows(&mut tx, sql::LOAD_API_KEYS, |r| {
                    Ok((
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                        r.try_get(5)?,
                        r.try_get(6)?,
                    ))
                })?,
            };
            tx.commit().map_err(db)?;
            Ok(raw)
        })?;
        raw.into_snapshot()
    }

    fn version(&self) -> Result<u64, StoreError> {
        let v: i64 = self.run(|client| {
            client
                .query_one(sql::READ_VERSION, &[])
                .map_err(db)?
                .try_get(0)
                .map_err(db)
        })?;
        Ok(u64::try_from(v).unwrap_or(0))
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        self.write_all(None, changes).map(|_| ())
    }

    fn apply_if(&self, expected: u64, changes: &[Change]) -> Result<u64, StoreError> {
        self.write_all(Some(expected), changes)
    }

    fn notifications(&self) -> Result<Option<Box<dyn Notifications>>, StoreError> {
        Ok(Some(Box::new(Listener::start(&self.config)?)))
    }
}

/// How often the listening thread looks whether its [`Listener`] was dropped.
const LISTENER_TICK: Duration = Duration::from_millis(250);

/// A connection that `LISTEN`s on [`CHANNEL`], on a thread of its own (the client panics on
/// a tokio runtime thread, dropping it included); the thread forwards each notification
/// and ends when the listener is dropped or the connection is lost.
struct Listener {
    events: mpsc::Receiver<Result<(), StoreError>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Listener {
    fn start(config: &::postgres::Config) -> Result<Self, StoreError> {
        let config = config.clone();
        // One pending wake-up says all there is to say: more are dropped, so a waiter that
        // is busy never makes this grow. Room for an error besides it.
        let (tx, events) = mpsc::sync_channel(2);
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        std::thread::Builder::new()
            .name("eventgate-pglisten".into())
            .spawn(move || {
                let connected = config.connect(NoTls).map_err(db).and_then(|mut c| {
                    c.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(db)?;
                    Ok(c)
                });
                let mut client = match connected {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    let got = client.notifications().timeout_iter(LISTENER_TICK).next();
                    match got {
                        Ok(Some(_)) => {
                            if let Err(mpsc::TrySendError::Disconnected(_)) = tx.try_send(Ok(())) {
                                return;
                            }
                        }
                        Ok(None) if client.is_closed() => {
                            let _ = tx.try_send(Err(StoreError::Database(
                                "the notification connection closed".into(),
                            )));
                            return;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let _ = tx.try_send(Err(db(e)));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Database(format!("cannot start the listener: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| StoreError::Database("the listener thread ended".into()))??;
        Ok(Listener { events, stop })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Notifications for Listener {
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        let first = match self.events.recv_timeout(timeout) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => return Ok(false),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(StoreError::Database("the listener thread ended".into()));
            }
        };
        first?;
        // One wake-up for several writes.
        while let Ok(r) = self.events.try_recv() {
            r?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_never_shown() {
        assert_eq!(
            redact("postgres://eg:s3cret@db:5432/eventgate"),
            "postgres://eg:***@db:5432/eventgate"
        );
        assert!(!redact("host=db password=s3cret").contains("s3cret"));
        assert_eq!(redact("postgres://db/eventgate"), "postgres://db/eventgate");
    }

    #[test]
    fn a_malformed_url_is_a_database_error_without_the_password() {
        let e = PgStore::connect("postgres://eg:s3cret@db:notaport/x").unwrap_err();
        assert!(matches!(e, StoreError::Database(_)), "{e:?}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
