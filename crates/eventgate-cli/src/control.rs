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
//!
//! Several nodes on one store ([`start_with`] and a [`crate::store::PgStore`]): each admin
//! write catches up with the store and writes with [`Store::apply_if`];
//! [`ControlPlane::watch`] applies what other nodes write ([`sync`]) without a restart.
//! `docs/cluster.md` has the whole picture.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
use crate::store::{Change, Snapshot, SqliteStore, Store, StoreError};

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
    load_snapshot(&store.load()?)
}

/// [`load`] from a snapshot already read: what [`sync`] does from an empty state.
///
/// # Errors
/// As [`load`].
pub fn load_snapshot(snap: &Snapshot) -> Result<(Registry, GateState), ControlError> {
    let registry = Registry::new();
    let empty = Snapshot::default();
    let plan = SyncPlan::between(&empty, snap)?;
    registry
        .transaction(|tx| plan.apply(tx))
        .map_err(|e| ControlError::State(e.to_string()))?;
    Ok((registry, plan.gate))
}

/// Brings a live registry and gate from the state of snapshot `old` to that of `new` (rows
/// another node wrote, say), changing only what differs: an API, revision, deployment,
/// application, subscription or key that is the same in both is left alone, so streams on
/// untouched deployments go on. The registry changes in one transaction (all or nothing);
/// the gate after it. APIs the registry has but `old` does not (from a configuration file)
/// are left alone.
///
/// # Errors
/// [`ControlError::Store`] for a row of `new` that cannot be read, [`ControlError::State`]
/// for a change the registry refuses (nothing is changed then).
pub fn sync(
    registry: &Registry,
    gate: &Gate,
    old: &Snapshot,
    new: &Snapshot,
) -> Result<(), ControlError> {
    let plan = SyncPlan::between(old, new)?;
    registry
        .transaction(|tx| plan.apply(tx))
        .map_err(|e| ControlError::State(e.to_string()))?;
    for (application, api) in &plan.unsubscribed {
        gate.remove_subscription(application, api);
    }
    plan.gate.apply_to(gate);
    Ok(())
}

/// An API to create or change, parsed.
struct ApiChange {
    id: eventgate::ApiId,
    api: eventgate::Api,
    lifecycle: Lifecycle,
    /// Revisions the old state lacks (or has with other content), by number.
    added: Vec<(u32, eventgate::Api, Option<String>)>,
    /// Revisions of the old state that `new` lacks or changed.
    removed: Vec<u32>,
    /// Whether `old` had the API at all.
    existed: bool,
}

type DeploymentKey = (eventgate::ApiId, String, Hostname);

/// What [`sync`] changes, every row of `new` parsed before anything changes.
struct SyncPlan {
    undeploy: Vec<DeploymentKey>,
    delete_apis: Vec<eventgate::ApiId>,
    remove_environments: Vec<String>,
    add_environments: Vec<Environment>,
    apis: Vec<ApiChange>,
    deploy: Vec<(DeploymentKey, u32)>,
    gate: GateState,
    unsubscribed: Vec<(String, String)>,
}

fn deployments(snap: &Snapshot) -> Result<BTreeMap<DeploymentKey, u32>, StoreError> {
    let mut out = BTreeMap::new();
    for d in &snap.deployments {
        let id: eventgate::ApiId = d
            .api
            .parse()
            .map_err(|e| corrupt("deployment", &d.api, e))?;
        let host = Hostname::new(&d.vhost).map_err(|e| corrupt("deployment", &d.api, e))?;
        out.insert((id, d.environment.clone(), host), d.revision);
    }
    Ok(out)
}

impl SyncPlan {
    fn between(old: &Snapshot, new: &Snapshot) -> Result<SyncPlan, StoreError> {
        let old_deps = deployments(old)?;
        let new_deps = deployments(new)?;
        let mut plan = SyncPlan {
            undeploy: old_deps
                .keys()
                .filter(|k| !new_deps.contains_key(*k))
                .cloned()
                .collect(),
            delete_apis: Vec::new(),
            remove_environments: Vec::new(),
            add_environments: Vec::new(),
            apis: Vec::new(),
            deploy: new_deps
                .iter()
                .filter(|(k, r)| old_deps.get(*k) != Some(*r))
                .map(|(k, r)| (k.clone(), *r))
                .collect(),
            gate: GateState::default(),
            unsubscribed: Vec::new(),
        };
        for id in old.apis.keys().filter(|id| !new.apis.contains_key(*id)) {
            plan.delete_apis
                .push(id.parse().map_err(|e| corrupt("API", id, e))?);
        }
        for (name, body) in &new.environments {
            match old.environments.get(name) {
                Some(o) if o == body => {}
                Some(_) => {
                    plan.remove_environments.push(name.clone());
                    plan.add_environments.push(
                        StoredEnvironment::parse(body)
                            .map_err(|e| corrupt("environment", name, e))?,
                    );
                }
                None => plan.add_environments.push(
                    StoredEnvironment::parse(body).map_err(|e| corrupt("environment", name, e))?,
                ),
            }
        }
        plan.remove_environments.extend(
            old.environments
                .keys()
                .filter(|n| !new.environments.contains_key(*n))
                .cloned(),
        );
        for (id, row) in &new.apis {
            let before = old.apis.get(id);
            if before == Some(row) {
                continue;
            }
            let api = StoredApi::parse(&row.body).map_err(|e| corrupt("API", id, e))?;
            let lifecycle: Lifecycle = row.lifecycle.parse().map_err(|e| corrupt("API", id, e))?;
            let mut added = Vec::new();
            for (n, (body, desc)) in &row.revisions {
                if *n > MAX_REVISION_NUMBER {
                    return Err(corrupt(
                        "revision",
                        id,
                        format!("number {n} is above {MAX_REVISION_NUMBER}"),
                    ));
                }
                if before.and_then(|b| b.revisions.get(n)) == Some(&(body.clone(), desc.clone())) {
                    continue;
                }
                let rev = StoredApi::parse(body).map_err(|e| corrupt("revision", id, e))?;
                added.push((*n, rev, desc.clone()));
            }
            let removed = before
                .map(|b| {
                    b.revisions
                        .iter()
                        .filter(|(n, r)| row.revisions.get(n) != Some(r))
                        .map(|(n, _)| *n)
                        .collect()
                })
                .unwrap_or_default();
            plan.apis.push(ApiChange {
                id: api.id(),
                api,
                lifecycle,
                added,
                removed,
                existed: before.is_some(),
            });
        }
        for (name, body) in &new.applications {
            if old.applications.get(name) == Some(body) {
                continue;
            }
            let app: StoredApplication =
                serde_json::from_str(body).map_err(|e| corrupt("application", name, e))?;
            plan.gate.applications.push(application(&app));
        }
        for s in &new.subscriptions {
            if old.subscriptions.contains(s) {
                continue;
            }
            let plan_name =
                PlanName::new(&s.plan).map_err(|e| corrupt("subscription", &s.api, e))?;
            let st: SubscriptionState = s
                .state
                .parse()
                .map_err(|e| corrupt("subscription", &s.api, e))?;
            plan.gate
                .subscriptions
                .push(Subscription::new(&s.application, &s.api, plan_name).state(st));
        }
        for s in &old.subscriptions {
            if !new
                .subscriptions
                .iter()
                .any(|n| (&n.application, &n.api) == (&s.application, &s.api))
            {
                plan.unsubscribed
                    .push((s.application.clone(), s.api.clone()));
            }
        }
        for k in &new.api_keys {
            if old.api_keys.contains(k) {
                continue;
            }
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
            plan.gate.api_keys.push(r);
        }
        Ok(plan)
    }

    /// The registry half, in an order every step can succeed in: deployments that went
    /// away, deleted APIs, environments, APIs (revisions, working copy, lifecycle), then the
    /// new deployments.
    fn apply(&self, tx: &mut eventgate::Transaction) -> Result<(), RegistryError> {
        for (id, env, host) in &self.undeploy {
            // Already gone when another change (a retirement) removed it.
            if tx.lifecycle(id).is_ok() {
                match tx.undeploy(id, env, host) {
                    Ok(()) | Err(RegistryError::NotDeployed { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for id in &self.delete_apis {
            if tx.lifecycle(id).is_ok() {
                tx.delete_api(id)?;
            }
        }
        for name in &self.remove_environments {
            tx.remove_environment(name)?;
        }
        for env in &self.add_environments {
            tx.add_environment(env.clone())?;
        }
        let mut deferred = Vec::new();
        for c in &self.apis {
            if !c.existed {
                tx.create_api(c.api.clone())?;
            }
            let current = tx.lifecycle(&c.id)?;
            if current != Lifecycle::Retired {
                for n in &c.removed {
                    match tx.delete_revision(&c.id, *n) {
                        // Still deployed: its deployment moves to another revision below.
                        Err(RegistryError::RevisionDeployed { .. }) => {
                            deferred.push((c.id.clone(), *n));
                        }
                        r => r?,
                    }
                }
                for (n, rev, desc) in &c.added {
                    restore_revision(tx, &c.id, *n, rev, desc)?;
                }
                tx.update_api(c.api.clone())?;
            }
            if current != c.lifecycle {
                let path =
                    current
                        .path_to(c.lifecycle)
                        .ok_or_else(|| RegistryError::Transition {
                            api: c.id.clone(),
                            from: current,
                            action: eventgate::LifecycleAction::Retire,
                        })?;
                for action in path {
                    tx.change_lifecycle(&c.id, action)?;
                }
            }
        }
        for ((id, env, host), rev) in &self.deploy {
            tx.deploy(id, *rev, env, host)?;
        }
        for (id, n) in &deferred {
            tx.delete_revision(id, *n)?;
        }
        Ok(())
    }
}

/// Makes revision `n` of `id` with the content `rev`. The registry numbers a new revision
/// one above the highest, so a gap (deleted revisions below `n`) is stepped over with one
/// filler revision at a time, each deleted once the next is made.
fn restore_revision(
    tx: &mut eventgate::Transaction,
    id: &eventgate::ApiId,
    n: u32,
    rev: &eventgate::Api,
    desc: &Option<String>,
) -> Result<(), RegistryError> {
    tx.update_api(rev.clone())?;
    let mut filler: Option<u32> = None;
    loop {
        let made = tx.create_revision(id, desc.clone())?;
        if let Some(f) = filler.take() {
            tx.delete_revision(id, f)?;
        }
        if made > n {
            // A revision at or above `n` exists: `n` cannot be made again.
            tx.delete_revision(id, made)?;
            return Err(RegistryError::RevisionNotFound {
                api: id.clone(),
                revision: n,
            });
        }
        if made == n {
            return Ok(());
        }
        filler = Some(made);
    }
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
    start_local(data_dir, admin_listener, GateSetup::default())
}

/// What the gate trusts and counts with, beside the local issuer (`serve`'s `--config` and
/// `[cluster] redis`). The default: the local issuer only, counted in process.
#[derive(Default)]
#[non_exhaustive]
pub struct GateSetup<'a> {
    /// Plan quotas and connection limits counted here (a
    /// [`RedisCounters`](eventgate_policy::redis::RedisCounters) several nodes share)
    /// instead of in process.
    pub counters: Option<Arc<dyn eventgate_policy::CounterStore>>,
    /// A configuration file whose `[[jwt_issuers]]` and `[introspection]` are trusted too
    /// ([`Config::configure_gate`](eventgate::config::Config::configure_gate)).
    pub config: Option<&'a eventgate::config::Config>,
}

impl std::fmt::Debug for GateSetup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateSetup")
            .field("counters", &self.counters.is_some())
            .field("config", &self.config.map(|c| c.file.as_str()))
            .finish()
    }
}

impl<'a> GateSetup<'a> {
    /// The local issuer, plus `config`'s issuers and introspection, counted by `counters`.
    #[must_use]
    pub fn new(
        counters: Option<Arc<dyn eventgate_policy::CounterStore>>,
        config: Option<&'a eventgate::config::Config>,
    ) -> Self {
        GateSetup { counters, config }
    }
}

/// [`start`], the gate set up as `setup` says (see [`start_shared`]).
///
/// # Errors
/// [`ControlError`] naming the step that failed.
pub fn start_local(
    data_dir: &Path,
    admin_listener: Listener,
    setup: GateSetup<'_>,
) -> Result<ControlPlane, ControlError> {
    std::fs::create_dir_all(data_dir).map_err(|source| ControlError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data_dir.join(DATABASE_FILE))?);
    start_shared(data_dir, admin_listener, store, setup)
}

/// [`start`] over a store of the caller's choice instead of `DIR/state.db`: the demo's
/// in-memory one, or a [`crate::store::PgStore`] several nodes share. `data_dir` still holds
/// the admin token, its URL and the issuer key.
///
/// # Errors
/// [`ControlError`] naming the step that failed.
pub fn start_with(
    data_dir: &Path,
    admin_listener: Listener,
    store: Arc<dyn Store>,
) -> Result<ControlPlane, ControlError> {
    start_shared(data_dir, admin_listener, store, GateSetup::default())
}

/// [`start_with`], the gate set up as `setup` says: plan quotas and connection limits
/// counted in `setup.counters` when given instead of in process, and the issuers and
/// introspection of `setup.config` trusted beside the local issuer.
///
/// # Errors
/// [`ControlError`] naming the step that failed.
pub fn start_shared(
    data_dir: &Path,
    admin_listener: Listener,
    store: Arc<dyn Store>,
    setup: GateSetup<'_>,
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
    let snapshot = store.load()?;
    let (registry, gate_state) = load_snapshot(&snapshot)?;
    let issuer = Arc::new(LocalIssuer::load_or_create(data_dir)?);
    let mut builder = Gate::builder();
    if let Some(c) = setup.counters {
        builder.counters(c);
    }
    let local = issuer.validator(None)?;
    match setup.config {
        Some(cfg) => cfg
            .configure_gate(&mut builder, local.issuers())
            .map_err(|e| ControlError::Gate(e.to_string()))?,
        None => {
            builder.jwt(local);
        }
    }
    for plan in Plan::wso2_async_defaults() {
        builder.plan(plan);
    }
    let gate = builder
        .build()
        .map_err(|e| ControlError::Gate(e.to_string()))?;
    gate_state.apply_to(&gate);
    let registry = Arc::new(registry);
    let gate = Arc::new(gate);
    let admin = Arc::new(Admin::from_snapshot(
        Arc::clone(&registry),
        Arc::clone(&gate),
        store,
        Arc::clone(&issuer),
        admin_token.clone(),
        snapshot,
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

/// Keeps a node's live state up to date with a store other nodes write (see
/// [`ControlPlane::watch`]); stops when dropped.
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The longest a watcher waits between looks at its stop flag.
const WATCH_TICK: Duration = Duration::from_millis(250);

impl ControlPlane {
    /// The store version the live state reflects.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.admin.version()
    }

    /// Catches up with the store now (see [`Admin::refresh`]): returns whether anything
    /// changed. Blocking.
    ///
    /// # Errors
    /// As [`Admin::refresh`].
    pub fn refresh(&self) -> Result<bool, ControlError> {
        self.admin.refresh()
    }

    /// Starts a thread that applies what other nodes write to the store to this node's live
    /// registry and gate, without a restart: woken by the store's notifications
    /// ([`Store::notifications`], PostgreSQL's `LISTEN`) and, as a fallback, polling the
    /// store version every `poll_interval`. Each wake-up compares the version with the one
    /// the live state reflects and, if it moved, loads the snapshot and applies the
    /// difference ([`sync`]). `on_error` hears each failure (the store unreachable, a
    /// change the registry refuses); the watcher keeps going and tries again at the next
    /// wake-up. Dropping the [`Watcher`] stops the thread within a fraction of a second.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn watch(
        &self,
        store: Arc<dyn Store>,
        poll_interval: Duration,
        on_error: impl Fn(&ControlError) + Send + 'static,
    ) -> std::io::Result<Watcher> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let admin = Arc::clone(&self.admin);
        std::thread::Builder::new()
            .name("eventgate-watch".into())
            .spawn(move || {
                let halt = || stopped.load(std::sync::atomic::Ordering::Relaxed);
                let mut feed: Option<Box<dyn crate::store::Notifications>> = None;
                while !halt() {
                    // (Again) listening; polling carries on meanwhile.
                    if feed.is_none() {
                        match store.notifications() {
                            Ok(f) => feed = f,
                            Err(e) => on_error(&e.into()),
                        }
                    }
                    // Wait up to poll_interval, in ticks so that a drop stops us soon.
                    let started = std::time::Instant::now();
                    while !halt() && started.elapsed() < poll_interval {
                        let left = poll_interval.saturating_sub(started.elapsed());
                        let tick = left.min(WATCH_TICK);
                        match feed.as_mut() {
                            Some(f) => match f.wait(tick) {
                                Ok(true) => break,
                                Ok(false) => {}
                                Err(e) => {
                                    on_error(&e.into());
                                    feed = None;
                                }
                            },
                            None => std::thread::sleep(tick),
                        }
                    }
                    if halt() {
                        break;
                    }
                    if let Err(e) = admin.refresh() {
                        on_error(&e);
                    }
                }
            })?;
        Ok(Watcher { stop })
    }

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
