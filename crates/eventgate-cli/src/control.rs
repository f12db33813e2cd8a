//! The control plane the `serve` command runs: the state in the data directory loaded into a
//! live [`Registry`] and [`Gate`], and the admin API that changes both.
//!
//! [`start`] does, in order:
//! 1. creates the data directory and [`admin::prepare_data_dir`] (the admin token in
//!    `DIR/admin-token`, mode 0600, kept across restarts; the admin URL in `DIR/admin-url`);
//! 2. opens (and migrates) the state database `DIR/state.db` ([`SqliteStore`]);
//! 3. on the first start writes the default state ([`default_environments`]): environments
//!    `production` (type production, vhost `localhost`) and `sandbox` (type sandbox, vhost
//!    `sandbox.localhost`), HTTP port 8280, HTTPS port 8243;
//! 4. [`load`]s the state into a new [`Registry`] (one transaction: every API, revision,
//!    lifecycle state and deployment) and a [`GateState`];
//! 5. loads or creates the local JWT issuer (`DIR/issuer-key.pem`) and builds the [`Gate`]
//!    with the issuer's validator as a trusted JWT issuer and WSO2's default async plans
//!    (`AsyncGold`, `AsyncSilver`, `AsyncBronze`, `AsyncUnlimited`,
//!    `AsyncDefaultSubscriptionless`), then puts the applications, subscriptions and API key
//!    records in it.
//!
//! The returned [`ControlPlane`] holds the shared registry and gate for the gateway's
//! request path; [`ControlPlane::serve_admin`] serves the admin API on the listener given to
//! [`start`] until a shutdown future completes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eventgate::server::{Listener, Server, ServerError};
use eventgate::{
    Environment, EnvironmentType, Hostname, Lifecycle, Registry, RegistryError, Vhost,
};
use eventgate_policy::{
    ApiKeyRecord, Application, ApplicationId, Gate, KeyType, Plan, PlanName, Subscription,
    SubscriptionState, Timestamp,
};

use crate::admin::{self, Admin};
use crate::issuer::{IssuerError, LocalIssuer};
use crate::store::codec::{StoredApi, StoredApplication, StoredEnvironment};
use crate::store::{Change, SqliteStore, Store, StoreError};

/// The highest revision number [`load`] restores (numbers grow by one per `revision create`;
/// restoring a number steps over the deleted ones below it).
pub const MAX_REVISION_NUMBER: u32 = 1_000_000;

/// File name of the state database in the data directory.
pub const DATABASE_FILE: &str = "state.db";

/// Why the control plane cannot start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The data directory or a file in it.
    #[error("data directory {}: {source}", path.display())]
    DataDir {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The state database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored state breaks a registry rule.
    #[error("stored state: {0}")]
    State(String),
    /// The local issuer's key.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// The gate cannot be built.
    #[error("gate: {0}")]
    Gate(String),
    /// The admin listener.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// What the gate needs from the store: applications, subscriptions and API keys.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct GateState {
    /// Applications, with their OAuth2 client ids (see [`client_id`]).
    pub applications: Vec<Application>,
    /// Subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// API key records (hashes only).
    pub api_keys: Vec<ApiKeyRecord>,
}

impl GateState {
    /// Puts everything in `gate`.
    pub fn apply_to(self, gate: &Gate) {
        for a in self.applications {
            gate.put_application(a);
        }
        for s in self.subscriptions {
            gate.put_subscription(s);
        }
        for k in self.api_keys {
            gate.api_keys().insert(k);
        }
    }
}

/// The OAuth2 client id of an application's `app token` JWTs for a key type; the gate maps
/// a token's `client_id` claim back to the application with it.
#[must_use]
pub fn client_id(application: &str, key_type: KeyType) -> String {
    format!(
        "eventgate-app:{application}:{}",
        key_type.as_str().to_ascii_lowercase()
    )
}

/// The gate's form of a stored application.
#[must_use]
pub fn application(app: &StoredApplication) -> Application {
    Application::new(&app.name, app.name.clone(), app.owner.clone())
        .client_id(
            KeyType::Production,
            client_id(&app.name, KeyType::Production),
        )
        .client_id(KeyType::Sandbox, client_id(&app.name, KeyType::Sandbox))
}

fn corrupt(what: &'static str, key: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

/// The default environments: `production` (type production, vhost `localhost`) and
/// `sandbox` (type sandbox, vhost `sandbox.localhost`), both on HTTP 8280 and HTTPS 8243.
///
/// The registry keeps host names unique across environments (the router picks the
/// environment by `Host`), so the two cannot share `localhost`; `*.localhost` names resolve
/// to the loopback address (RFC 6761), so `curl http://sandbox.localhost:8280/...` reaches
/// the sandbox environment.
#[must_use]
pub fn default_environments() -> Vec<Environment> {
    [
        ("production", EnvironmentType::Production, "localhost"),
        ("sandbox", EnvironmentType::Sandbox, "sandbox.localhost"),
    ]
    .into_iter()
    .map(|(name, kind, host)| {
        let mut env = Environment::new(name, kind);
        if let Ok(host) = Hostname::new(host) {
            env.vhosts.push(Vhost::new(host));
        }
        env
    })
    .collect()
}

/// Writes the default state if the store has never been initialised (meta key
/// `initialized` absent). Returns whether it did.
///
/// # Errors
/// [`StoreError`].
pub fn initialize(store: &dyn Store) -> Result<bool, StoreError> {
    if store.load()?.meta.contains_key("initialized") {
        return Ok(false);
    }
    let mut changes: Vec<Change> = default_environments()
        .iter()
        .map(|e| Change::PutEnvironment {
            name: e.name.clone(),
            body: StoredEnvironment::json(e),
        })
        .collect();
    changes.push(Change::SetMeta {
        key: "initialized".into(),
        value: "1".into(),
    });
    store.apply(&changes)?;
    Ok(true)
}

/// Reads the store into a new [`Registry`] (one transaction) and the gate's state.
///
/// Revisions keep their numbers; each API is put in its stored lifecycle state by WSO2's
/// transitions ([`Lifecycle::path_to`]); deployments are mounted last.
///
/// # Errors
/// [`ControlError::Store`] for a row that cannot be read, [`ControlError::State`] for a
/// state the registry refuses.
pub fn load(store: &dyn Store) -> Result<(Registry, GateState), ControlError> {
    let snap = store.load()?;
    let registry = Registry::new();
    let mut envs = Vec::new();
    for (name, body) in &snap.environments {
        envs.push(StoredEnvironment::parse(body).map_err(|e| corrupt("environment", name, e))?);
    }
    struct Loaded {
        api: eventgate::Api,
        lifecycle: Lifecycle,
        revisions: Vec<(u32, eventgate::Api, Option<String>)>,
    }
    let mut apis = Vec::new();
    for (id, row) in &snap.apis {
        let api = StoredApi::parse(&row.body).map_err(|e| corrupt("API", id, e))?;
        let lifecycle: Lifecycle = row.lifecycle.parse().map_err(|e| corrupt("API", id, e))?;
        let mut revisions = Vec::new();
        for (n, (body, desc)) in &row.revisions {
            if *n > MAX_REVISION_NUMBER {
                return Err(corrupt(
                    "revision",
                    id,
                    format!("number {n} is above {MAX_REVISION_NUMBER}"),
                )
                .into());
            }
            let rev = StoredApi::parse(body).map_err(|e| corrupt("revision", id, e))?;
            revisions.push((*n, rev, desc.clone()));
        }
        apis.push(Loaded {
            api,
            lifecycle,
            revisions,
        });
    }
    let mut deployments = Vec::new();
    for d in &snap.deployments {
        let id: eventgate::ApiId = d
            .api
            .parse()
            .map_err(|e| corrupt("deployment", &d.api, e))?;
        let host = Hostname::new(&d.vhost).map_err(|e| corrupt("deployment", &d.api, e))?;
        deployments.push((id, d.revision, d.environment.clone(), host));
    }
    let state = |e: RegistryError| ControlError::State(e.to_string());
    registry
        .transaction(|tx| {
            for env in envs {
                tx.add_environment(env)?;
            }
            for l in apis {
                let id = tx.create_api(l.api.clone())?;
                for (n, rev, desc) in l.revisions {
                    // Revisions keep their numbers. The registry numbers a new revision
                    // one above the highest, so a gap (deleted revisions below a stored
                    // one) is stepped over with one filler revision at a time, each
                    // deleted once the next is made.
                    tx.update_api(rev)?;
                    let mut filler: Option<u32> = None;
                    loop {
                        let made = tx.create_revision(&id, desc.clone())?;
                        if let Some(f) = filler.take() {
                            tx.delete_revision(&id, f)?;
                        }
                        if made >= n {
                            break;
                        }
                        filler = Some(made);
                    }
                }
                tx.update_api(l.api)?;
                let path = Lifecycle::Created.path_to(l.lifecycle).unwrap_or_default();
                for action in path {
                    tx.change_lifecycle(&id, action)?;
                }
            }
            for (id, rev, env, host) in &deployments {
                tx.deploy(id, *rev, env, host)?;
            }
            Ok(())
        })
        .map_err(state)?;
    let mut gate = GateState::default();
    for (name, body) in &snap.applications {
        let app: StoredApplication =
            serde_json::from_str(body).map_err(|e| corrupt("application", name, e))?;
        gate.applications.push(application(&app));
    }
    for s in &snap.subscriptions {
        let plan = PlanName::new(&s.plan).map_err(|e| corrupt("subscription", &s.api, e))?;
        let st: SubscriptionState = s
            .state
            .parse()
            .map_err(|e| corrupt("subscription", &s.api, e))?;
        gate.subscriptions
            .push(Subscription::new(&s.application, &s.api, plan).state(st));
    }
    for k in &snap.api_keys {
        let key_type: KeyType = k
            .key_type
            .parse()
            .map_err(|_| corrupt("API key", &k.id, "key type"))?;
        let scopes = k
            .scopes
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| corrupt("API key", &k.id, e))?;
        let mut r = ApiKeyRecord::new(
            k.id.clone(),
            k.secret_sha256,
            ApplicationId::new(&k.application),
            key_type,
            scopes,
        );
        r.expires_at = k.expires_at.map(Timestamp::from_unix_secs);
        r.revoked = k.revoked;
        gate.api_keys.push(r);
    }
    Ok((registry, gate))
}

/// The running control plane. See the [module documentation](self).
#[derive(Debug)]
pub struct ControlPlane {
    /// The live registry: give it to the gateway's request path.
    pub registry: Arc<Registry>,
    /// The live gate (applications, subscriptions, plans, API keys, the local issuer's JWT
    /// validator): give it to the gateway's request path.
    pub gate: Arc<Gate>,
    /// The local JWT issuer (`app token`); publish its [`LocalIssuer::jwks`].
    pub issuer: Arc<LocalIssuer>,
    /// The admin API's address.
    pub admin_addr: SocketAddr,
    /// The admin token (also in `DIR/admin-token`).
    pub admin_token: String,
    admin: Arc<Admin>,
    listener: Listener,
}

/// Starts the control plane on `data_dir`, its admin API to be served on `admin_listener`.
/// See the [module documentation](self) for each step.
///
/// # Errors
/// [`ControlError`] naming the step that failed.
pub fn start(data_dir: &Path, admin_listener: Listener) -> Result<ControlPlane, ControlError> {
    std::fs::create_dir_all(data_dir).map_err(|source| ControlError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data_dir.join(DATABASE_FILE))?);
    start_with(data_dir, admin_listener, store)
}

/// [`start`] over a store of the caller's choice (the demo's in-memory one, say) instead of
/// `DIR/eventgate.db`; `data_dir` still holds the admin token, its URL and the issuer key.
///
/// # Errors
/// [`ControlError`] naming the step that failed.
pub fn start_with(
    data_dir: &Path,
    admin_listener: Listener,
    store: Arc<dyn Store>,
) -> Result<ControlPlane, ControlError> {
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|source| ControlError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
    let admin_token =
        admin::prepare_data_dir(data_dir, admin_addr).map_err(|source| ControlError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
    initialize(store.as_ref())?;
    let (registry, gate_state) = load(store.as_ref())?;
    let issuer = Arc::new(LocalIssuer::load_or_create(data_dir)?);
    let mut builder = Gate::builder();
    builder.jwt(issuer.validator(None)?);
    for plan in Plan::wso2_async_defaults() {
        builder.plan(plan);
    }
    let gate = builder
        .build()
        .map_err(|e| ControlError::Gate(e.to_string()))?;
    gate_state.apply_to(&gate);
    let registry = Arc::new(registry);
    let gate = Arc::new(gate);
    let admin = Arc::new(Admin::new(
        Arc::clone(&registry),
        Arc::clone(&gate),
        store,
        Arc::clone(&issuer),
        admin_token.clone(),
    )?);
    Ok(ControlPlane {
        registry,
        gate,
        issuer,
        admin_addr,
        admin_token,
        admin,
        listener: admin_listener,
    })
}

impl ControlPlane {
    /// Serves the admin API on the listener given to [`start`] until `shutdown` completes
    /// (then drains open requests as [`Server::run`] does).
    ///
    /// # Errors
    /// [`ControlError::Server`].
    pub async fn serve_admin<F>(self, shutdown: F) -> Result<(), ControlError>
    where
        F: Future<Output = ()> + Send,
    {
        let service = admin::AdminService::new(self.admin);
        Server::builder()
            .build()?
            .run(vec![self.listener], service, shutdown)
            .await?;
        Ok(())
    }
}
