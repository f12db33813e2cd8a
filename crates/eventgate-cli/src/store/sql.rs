//! The SQL both stores run: migrations, the statements each [`Change`] becomes, the load
//! queries, and the rows they read turned into a [`Snapshot`]. Written with `?N`
//! placeholders (SQLite); [`postgres_placeholders`] turns them into PostgreSQL's `$N`.
//! Types are the ones both engines share: `TEXT` and `BIGINT` (SQLite gives `BIGINT` integer
//! affinity, PostgreSQL a 64-bit integer, which the client binds as `i64`).

use super::{ApiKeyRow, ApiRow, Change, DeploymentRow, Snapshot, StoreError, SubscriptionRow};

/// Each migration, in order; the schema version is the number applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE environments (name TEXT PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE apis (id TEXT PRIMARY KEY, body TEXT NOT NULL, lifecycle TEXT NOT NULL);
     CREATE TABLE revisions (api TEXT NOT NULL, number BIGINT NOT NULL, body TEXT NOT NULL,
                             description TEXT, PRIMARY KEY (api, number));
     CREATE TABLE deployments (api TEXT NOT NULL, environment TEXT NOT NULL,
                               vhost TEXT NOT NULL, revision BIGINT NOT NULL,
                               PRIMARY KEY (api, environment, vhost));
     CREATE TABLE applications (name TEXT PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE subscriptions (application TEXT NOT NULL, api TEXT NOT NULL,
                                 plan TEXT NOT NULL, state TEXT NOT NULL,
                                 PRIMARY KEY (application, api));
     CREATE TABLE api_keys (id TEXT PRIMARY KEY, application TEXT NOT NULL,
                            secret_sha256 TEXT NOT NULL, key_type TEXT NOT NULL,
                            scopes TEXT NOT NULL, expires_at BIGINT, revoked BIGINT NOT NULL);",
    // 2: the store version, bumped by every write (nodes sharing a database compare it).
    "CREATE TABLE store_version (id BIGINT PRIMARY KEY, version BIGINT NOT NULL);
     INSERT INTO store_version (id, version) VALUES (1, 0);",
];

/// The schema version this build migrates to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Creates the table of applied migrations.
pub(crate) const SCHEMA_VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)";
/// The highest applied migration (NULL before the first).
pub(crate) const CURRENT_SCHEMA: &str = "SELECT MAX(version) FROM schema_version";
/// Records an applied migration.
pub(crate) const RECORD_MIGRATION: &str = "INSERT INTO schema_version (version) VALUES (?1)";
/// Bumps the store version and reads the new one (also takes the row's write lock, so
/// writers on several nodes are serialised on it).
pub(crate) const BUMP_VERSION: &str =
    "UPDATE store_version SET version = version + 1 WHERE id = 1 RETURNING version";
/// The store version.
pub(crate) const READ_VERSION: &str = "SELECT version FROM store_version WHERE id = 1";

/// The load queries, in [`Raw`]'s order.
pub(crate) const LOAD_META: &str = "SELECT key, value FROM meta";
pub(crate) const LOAD_ENVIRONMENTS: &str = "SELECT name, body FROM environments";
pub(crate) const LOAD_APPLICATIONS: &str = "SELECT name, body FROM applications";
pub(crate) const LOAD_APIS: &str = "SELECT id, body, lifecycle FROM apis";
pub(crate) const LOAD_REVISIONS: &str = "SELECT api, number, body, description FROM revisions";
pub(crate) const LOAD_DEPLOYMENTS: &str =
    "SELECT api, environment, vhost, revision FROM deployments";
pub(crate) const LOAD_SUBSCRIPTIONS: &str =
    "SELECT application, api, plan, state FROM subscriptions";
pub(crate) const LOAD_API_KEYS: &str =
    "SELECT id, application, secret_sha256, key_type, scopes, expires_at, revoked FROM api_keys";

/// `?N` placeholders as PostgreSQL's `$N` (the SQL here has no other `?`).
pub(crate) fn postgres_placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

/// A statement parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

fn t(s: &str) -> Param {
    Param::Text(s.to_owned())
}

/// The statements a change is written with, in order.
pub(crate) fn statements(change: &Change) -> Vec<(&'static str, Vec<Param>)> {
    match change {
        Change::SetMeta { key, value } => vec![(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            vec![t(key), t(value)],
        )],
        Change::PutEnvironment { name, body } => vec![(
            "INSERT INTO environments (name, body) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            vec![t(name), t(body)],
        )],
        Change::PutApi {
            id,
            body,
            lifecycle,
        } => vec![(
            "INSERT INTO apis (id, body, lifecycle) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, lifecycle = excluded.lifecycle",
            vec![t(id), t(body), t(lifecycle)],
        )],
        Change::DeleteApi { id } => vec![
            ("DELETE FROM revisions WHERE api = ?1", vec![t(id)]),
            ("DELETE FROM deployments WHERE api = ?1", vec![t(id)]),
            ("DELETE FROM subscriptions WHERE api = ?1", vec![t(id)]),
            ("DELETE FROM apis WHERE id = ?1", vec![t(id)]),
        ],
        Change::PutRevision {
            api,
            number,
            body,
            description,
        } => vec![(
            "INSERT INTO revisions (api, number, body, description) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (api, number) DO UPDATE SET body = excluded.body,
                 description = excluded.description",
            vec![
                t(api),
                Param::Int(i64::from(*number)),
                t(body),
                Param::OptText(description.clone()),
            ],
        )],
        Change::DeleteRevision { api, number } => vec![(
            "DELETE FROM revisions WHERE api = ?1 AND number = ?2",
            vec![t(api), Param::Int(i64::from(*number))],
        )],
        Change::PutDeployment(d) => vec![(
            "INSERT INTO deployments (api, environment, vhost, revision) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (api, environment, vhost) DO UPDATE SET revision = excluded.revision",
            vec![
                t(&d.api),
                t(&d.environment),
                t(&d.vhost),
                Param::Int(i64::from(d.revision)),
            ],
        )],
        Change::DeleteDeployment {
            api,
            environment,
            vhost,
        } => vec![(
            "DELETE FROM deployments WHERE api = ?1 AND environment = ?2 AND vhost = ?3",
            vec![t(api), t(environment), t(vhost)],
        )],
        Change::DeleteDeploymentsOf { api } => {
            vec![("DELETE FROM deployments WHERE api = ?1", vec![t(api)])]
        }
        Change::PutApplication { name, body } => vec![(
            "INSERT INTO applications (name, body) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            vec![t(name), t(body)],
        )],
        Change::PutSubscription(s) => vec![(
            "INSERT INTO subscriptions (application, api, plan, state) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (application, api) DO UPDATE SET plan = excluded.plan,
                 state = excluded.state",
            vec![t(&s.application), t(&s.api), t(&s.plan), t(&s.state)],
        )],
        Change::PutApiKey(k) => vec![(
            "INSERT INTO api_keys (id, application, secret_sha256, key_type, scopes, expires_at,
                                   revoked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET revoked = excluded.revoked,
                 expires_at = excluded.expires_at",
            vec![
                t(&k.id),
                t(&k.application),
                Param::Text(hex(&k.secret_sha256)),
                t(&k.key_type),
                Param::Text(k.scopes.join(" ")),
                Param::OptInt(k.expires_at.map(|e| i64::try_from(e).unwrap_or(i64::MAX))),
                Param::Int(i64::from(k.revoked)),
            ],
        )],
    }
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

/// The rows the load queries read, as the engine returned them.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    pub(crate) version: i64,
    pub(crate) meta: Vec<(String, String)>,
    pub(crate) environments: Vec<(String, String)>,
    pub(crate) applications: Vec<(String, String)>,
    pub(crate) apis: Vec<(String, String, String)>,
    pub(crate) revisions: Vec<(String, i64, String, Option<String>)>,
    pub(crate) deployments: Vec<(String, String, String, i64)>,
    pub(crate) subscriptions: Vec<(String, String, String, String)>,
    #[allow(clippy::type_complexity)]
    pub(crate) api_keys: Vec<(String, String, String, String, String, Option<i64>, i64)>,
}

fn number(what: &'static str, key: &str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt {
        what,
        key: key.to_owned(),
        reason: format!("number {n} is out of range"),
    })
}

impl Raw {
    /// The snapshot, its lists in key order (byte order, whatever the engine's collation).
    pub(crate) fn into_snapshot(self) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot {
            version: u64::try_from(self.version).unwrap_or(0),
            meta: self.meta.into_iter().collect(),
            environments: self.environments.into_iter().collect(),
            applications: self.applications.into_iter().collect(),
            ..Snapshot::default()
        };
        for (id, body, lifecycle) in self.apis {
            snap.apis.insert(
                id.clone(),
                ApiRow {
                    id,
                    body,
                    lifecycle,
                    revisions: Default::default(),
                },
            );
        }
        for (api, n, body, desc) in self.revisions {
            let n = number("revision", &api, n)?;
            let entry = snap.apis.get_mut(&api).ok_or_else(|| StoreError::Corrupt {
                what: "revision",
                key: format!("{api} #{n}"),
                reason: "its API is not stored".into(),
            })?;
            entry.revisions.insert(n, (body, desc));
        }
        for (api, environment, vhost, revision) in self.deployments {
            let revision = number("deployment", &api, revision)?;
            snap.deployments.push(DeploymentRow {
                api,
                environment,
                vhost,
                revision,
            });
        }
        for (application, api, plan, state) in self.subscriptions {
            snap.subscriptions.push(SubscriptionRow {
                application,
                api,
                plan,
                state,
            });
        }
        for (id, application, hash, key_type, scopes, expires_at, revoked) in self.api_keys {
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
        snap.sort();
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollar_numbers_for_postgresql() {
        assert_eq!(
            postgres_placeholders("DELETE FROM t WHERE a = ?1 AND b = ?2"),
            "DELETE FROM t WHERE a = $1 AND b = $2"
        );
        for (sql, _) in MIGRATIONS
            .iter()
            .map(|m| (*m, ()))
            .chain([(BUMP_VERSION, ()), (READ_VERSION, ())])
        {
            assert!(!sql.contains('?'), "{sql}");
        }
    }

    #[test]
    fn a_hash_that_is_not_64_hex_digits_is_corrupt() {
        let raw = Raw {
            api_keys: vec![(
                "k".into(),
                "a".into(),
                "zz".into(),
                "PRODUCTION".into(),
                String::new(),
                None,
                0,
            )],
            ..Raw::default()
        };
        assert!(matches!(
            raw.into_snapshot(),
            Err(StoreError::Corrupt {
                what: "API key",
                ..
            })
        ));
    }
}
