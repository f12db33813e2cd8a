//! The control plane's state, persisted: APIs (working copy and lifecycle state), revisions,
//! deployments, environments, applications, subscriptions and API keys (hashes only).
//!
//! [`Store`] is the interface; [`SqliteStore`] its embedded implementation and [`PgStore`]
//! the one on PostgreSQL that several gateway nodes share. Both run the same migrations and
//! statements: portable SQL (`TEXT`, `BIGINT`, primary keys, `INSERT ... ON CONFLICT`,
//! `UPDATE ... RETURNING`). Values that are documents (an API, an environment, an
//! application) are stored as the versioned JSON of [`codec`]'s serde forms.
//!
//! Every [`Store::apply`] is one transaction: all its [`Change`]s are written, or none, and
//! the store version ([`Store::version`], [`Snapshot::version`]) goes up by one.
//! [`Store::apply_if`] writes only if the version is still the one the caller last saw:
//! optimistic concurrency between nodes.
//!
//! ```
//! use eventgate_cli::store::{Change, SqliteStore, Store};
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(&dir.path().join("state.db"))?;
//! store.apply(&[Change::SetMeta { key: "initialized".into(), value: "1".into() }])?;
//! assert_eq!(store.load()?.meta.get("initialized").map(String::as_str), Some("1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod codec;
mod pg;
mod sql;
mod sqlite;

use std::collections::BTreeMap;
use std::time::Duration;

pub use pg::{CHANNEL, PgStore};
pub use sql::SCHEMA_VERSION;
pub use sqlite::SqliteStore;

/// A store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("state database: {0}")]
    Database(String),
    /// The database was written by a newer eventgate (its schema version is higher).
    #[error("state database has schema version {found}; this build knows up to {known}")]
    TooNew {
        /// Version in the database.
        found: i64,
        /// Highest version this build migrates to.
        known: i64,
    },
    /// [`Store::apply_if`]: the store changed since the version the caller saw (another
    /// node wrote); nothing was written. Reload and try again.
    #[error("state database changed (version {found}, expected {expected}): reload and retry")]
    Conflict {
        /// The version the caller expected.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// A stored document cannot be read back.
    #[error("state database: stored {what} '{key}' cannot be read: {reason}")]
    Corrupt {
        /// Table.
        what: &'static str,
        /// Row key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// One change to the stored state. [`Store::apply`] writes a list of them in one
/// transaction. `Put*` insert or replace by key; `Delete*` remove by key (a missing row is
/// not an error).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A key/value of the store's own (e.g. `initialized`).
    SetMeta {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// An environment, as [`codec::StoredEnvironment`] JSON.
    PutEnvironment {
        /// Name.
        name: String,
        /// JSON.
        body: String,
    },
    /// An API's working copy ([`codec::StoredApi`] JSON) and lifecycle state.
    PutApi {
        /// `NAME:VERSION`.
        id: String,
        /// JSON.
        body: String,
        /// WSO2's state name (`PUBLISHED`).
        lifecycle: String,
    },
    /// An API with its revisions, deployments and subscriptions.
    DeleteApi {
        /// `NAME:VERSION`.
        id: String,
    },
    /// A revision: the API as it was snapshot.
    PutRevision {
        /// `NAME:VERSION`.
        api: String,
        /// Number.
        number: u32,
        /// [`codec::StoredApi`] JSON.
        body: String,
        /// Note.
        description: Option<String>,
    },
    /// A revision.
    DeleteRevision {
        /// `NAME:VERSION`.
        api: String,
        /// Number.
        number: u32,
    },
    /// The revision an API serves on a vhost of an environment.
    PutDeployment(DeploymentRow),
    /// An API's deployment on a vhost of an environment.
    DeleteDeployment {
        /// `NAME:VERSION`.
        api: String,
        /// Environment.
        environment: String,
        /// Vhost.
        vhost: String,
    },
    /// Every deployment of an API (it was retired).
    DeleteDeploymentsOf {
        /// `NAME:VERSION`.
        api: String,
    },
    /// An application ([`codec::StoredApplication`] JSON).
    PutApplication {
        /// Name (also its id).
        name: String,
        /// JSON.
        body: String,
    },
    /// A subscription.
    PutSubscription(SubscriptionRow),
    /// An API key's stored record.
    PutApiKey(ApiKeyRow),
}

/// A deployment row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRow {
    /// `NAME:VERSION`.
    pub api: String,
    /// Environment.
    pub environment: String,
    /// Vhost.
    pub vhost: String,
    /// Revision number.
    pub revision: u32,
}

/// A subscription row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    /// Application name.
    pub application: String,
    /// `NAME:VERSION`.
    pub api: String,
    /// Business plan.
    pub plan: String,
    /// WSO2's state name (`UNBLOCKED`).
    pub state: String,
}

/// An API key row: what `eventgate_policy::ApiKeyRecord` holds, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Public id.
    pub id: String,
    /// Application name.
    pub application: String,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
    /// `PRODUCTION` or `SANDBOX`.
    pub key_type: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// Revoked.
    pub revoked: bool,
}

impl std::fmt::Debug for ApiKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRow")
            .field("id", &self.id)
            .field("application", &self.application)
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// A stored API: its working copy, lifecycle state and revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRow {
    /// `NAME:VERSION`.
    pub id: String,
    /// [`codec::StoredApi`] JSON.
    pub body: String,
    /// WSO2's state name.
    pub lifecycle: String,
    /// Revisions by number: (JSON, description).
    pub revisions: BTreeMap<u32, (String, Option<String>)>,
}

/// Everything stored, as [`Store::load`] reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The store version these rows are at (0 before the first write).
    pub version: u64,
    /// The store's own keys.
    pub meta: BTreeMap<String, String>,
    /// Environments: name -> JSON.
    pub environments: BTreeMap<String, String>,
    /// APIs by id.
    pub apis: BTreeMap<String, ApiRow>,
    /// Deployments.
    pub deployments: Vec<DeploymentRow>,
    /// Applications: name -> JSON.
    pub applications: BTreeMap<String, String>,
    /// Subscriptions.
    pub subscriptions: Vec<SubscriptionRow>,
    /// API keys.
    pub api_keys: Vec<ApiKeyRow>,
}

impl Snapshot {
    /// Puts the lists in key order, as [`Store::load`] returns them.
    pub fn sort(&mut self) {
        self.deployments.sort_by(|a, b| {
            (&a.api, &a.environment, &a.vhost).cmp(&(&b.api, &b.environment, &b.vhost))
        });
        self.subscriptions
            .sort_by(|a, b| (&a.application, &a.api).cmp(&(&b.application, &b.api)));
        self.api_keys.sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// Applies `changes` in memory as a store writes them (the version is left alone):
    /// after `store.apply(changes)`, `snapshot.apply(changes)` equals `store.load()` but for
    /// [`version`](Self::version).
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            self.apply_one(change);
        }
        self.sort();
    }

    fn apply_one(&mut self, change: &Change) {
        match change {
            Change::SetMeta { key, value } => {
                self.meta.insert(key.clone(), value.clone());
            }
            Change::PutEnvironment { name, body } => {
                self.environments.insert(name.clone(), body.clone());
            }
            Change::PutApi {
                id,
                body,
                lifecycle,
            } => {
                let row = self.apis.entry(id.clone()).or_insert_with(|| ApiRow {
                    id: id.clone(),
                    body: String::new(),
                    lifecycle: String::new(),
                    revisions: BTreeMap::new(),
                });
                row.body.clone_from(body);
                row.lifecycle.clone_from(lifecycle);
            }
            Change::DeleteApi { id } => {
                self.apis.remove(id);
                self.deployments.retain(|d| &d.api != id);
                self.subscriptions.retain(|s| &s.api != id);
            }
            Change::PutRevision {
                api,
                number,
                body,
                description,
            } => {
                if let Some(row) = self.apis.get_mut(api) {
                    row.revisions
                        .insert(*number, (body.clone(), description.clone()));
                }
            }
            Change::DeleteRevision { api, number } => {
                if let Some(row) = self.apis.get_mut(api) {
                    row.revisions.remove(number);
                }
            }
            Change::PutDeployment(d) => {
                match self.deployments.iter_mut().find(|o| {
                    (&o.api, &o.environment, &o.vhost) == (&d.api, &d.environment, &d.vhost)
                }) {
                    Some(o) => o.revision = d.revision,
                    None => self.deployments.push(d.clone()),
                }
            }
            Change::DeleteDeployment {
                api,
                environment,
                vhost,
            } => self
                .deployments
                .retain(|o| (&o.api, &o.environment, &o.vhost) != (api, environment, vhost)),
            Change::DeleteDeploymentsOf { api } => self.deployments.retain(|o| &o.api != api),
            Change::PutApplication { name, body } => {
                self.applications.insert(name.clone(), body.clone());
            }
            Change::PutSubscription(s) => {
                match self
                    .subscriptions
                    .iter_mut()
                    .find(|o| (&o.application, &o.api) == (&s.application, &s.api))
                {
                    Some(o) => {
                        o.plan.clone_from(&s.plan);
                        o.state.clone_from(&s.state);
                    }
                    None => self.subscriptions.push(s.clone()),
                }
            }
            Change::PutApiKey(k) => match self.api_keys.iter_mut().find(|o| o.id == k.id) {
                // As the stores: an existing key keeps its secret, type and scopes.
                Some(o) => {
                    o.revoked = k.revoked;
                    o.expires_at = k.expires_at;
                }
                None => self.api_keys.push(k.clone()),
            },
        }
    }
}

/// Persistent control-plane state. Implementations are synchronous; they may block for a
/// short while (a write is one small transaction) and can be called from any thread,
/// async runtime threads included.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Reads everything, with the version it is at (one consistent read).
    ///
    /// # Errors
    /// [`StoreError`].
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// The store version: 0 for a new store, one more after each write.
    ///
    /// # Errors
    /// [`StoreError`].
    fn version(&self) -> Result<u64, StoreError>;

    /// Writes `changes` in one transaction, durable when this returns `Ok`; on an error
    /// nothing is written.
    ///
    /// # Errors
    /// [`StoreError`].
    fn apply(&self, changes: &[Change]) -> Result<(), StoreError>;

    /// Writes `changes` in one transaction if the store version is `expected`, and returns
    /// the new version (`expected + 1`); otherwise writes nothing and returns
    /// [`StoreError::Conflict`].
    ///
    /// # Errors
    /// [`StoreError`].
    fn apply_if(&self, expected: u64, changes: &[Change]) -> Result<u64, StoreError>;

    /// A feed that wakes a waiter when another process writes, if the engine has one
    /// (PostgreSQL's `LISTEN`); `None` (the default) when only polling
    /// [`version`](Self::version) can tell.
    ///
    /// # Errors
    /// [`StoreError`].
    fn notifications(&self) -> Result<Option<Box<dyn Notifications>>, StoreError> {
        Ok(None)
    }
}

/// Wakes a waiter when the store was written (see [`Store::notifications`]).
pub trait Notifications: Send {
    /// Waits up to `timeout`; `Ok(true)` if a write was notified (several may be merged
    /// into one), `Ok(false)` on timeout.
    ///
    /// # Errors
    /// [`StoreError::Database`] when the feed's connection is lost (make a new feed).
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError>;
}
