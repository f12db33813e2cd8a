//! The control plane's state, persisted: APIs (working copy and lifecycle state), revisions,
//! deployments, environments, applications, subscriptions and API keys (hashes only).
//!
//! [`Store`] is the interface; [`SqliteStore`] its embedded implementation. The schema and
//! its queries are portable SQL (`TEXT`, `INTEGER`, primary keys, `INSERT ... ON CONFLICT`),
//! so a PostgreSQL implementation can follow with the same migrations. Values that are
//! documents (an API, an environment, an application) are stored as the versioned JSON of
//! [`codec`]'s serde forms.
//!
//! Every [`Store::apply`] is one transaction: all its [`Change`]s are written, or none.
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
mod sqlite;

use std::collections::BTreeMap;

pub use sqlite::{SCHEMA_VERSION, SqliteStore};

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

/// Persistent control-plane state. Implementations are synchronous (call them from
/// `spawn_blocking` or accept a short block: a write is one small transaction).
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Reads everything.
    ///
    /// # Errors
    /// [`StoreError`].
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// Writes `changes` in one transaction, durable when this returns `Ok`; on an error
    /// nothing is written.
    ///
    /// # Errors
    /// [`StoreError`].
    fn apply(&self, changes: &[Change]) -> Result<(), StoreError>;
}
