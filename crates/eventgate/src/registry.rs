//! The registry: the live state of environments, APIs, lifecycle, revisions and
//! deployments. Changes are validated against every rule, then published as a new immutable
//! [`Router`] snapshot with one atomic swap. Readers ([`Registry::router`]) never wait for a
//! writer; writers are serialised among themselves.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};

use crate::error::RegistryError;
use crate::model::{
    Api, ApiId, DEFAULT_MAX_REVISIONS, Deployment, Environment, EnvironmentType, Hostname,
    Lifecycle, LifecycleAction, Revision,
};
use crate::router::{DEFAULT_MAX_PATH_LEN, Router, RouterBuilder, Target, bases_of};

/// Why a deployment stopped serving (see [`RouteSignal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteEnd {
    /// The revision was undeployed from the vhost.
    Undeployed,
    /// Another revision of the API was deployed to the vhost in its place.
    Replaced,
    /// The API was BLOCKED (WSO2 700700).
    Blocked,
    /// The API went back to CREATED or PRE-RELEASED.
    Demoted(Lifecycle),
    /// The API was RETIRED.
    Retired,
}

impl RouteEnd {
    fn code(self) -> u8 {
        match self {
            RouteEnd::Undeployed => 1,
            RouteEnd::Replaced => 2,
            RouteEnd::Blocked => 3,
            RouteEnd::Demoted(Lifecycle::PreReleased) => 5,
            RouteEnd::Demoted(_) => 4,
            RouteEnd::Retired => 6,
        }
    }

    fn from_code(c: u8) -> Option<RouteEnd> {
        Some(match c {
            1 => RouteEnd::Undeployed,
            2 => RouteEnd::Replaced,
            3 => RouteEnd::Blocked,
            4 => RouteEnd::Demoted(Lifecycle::Created),
            5 => RouteEnd::Demoted(Lifecycle::PreReleased),
            6 => RouteEnd::Retired,
            _ => return None,
        })
    }
}

/// One deployment's end signal, shared by every [`Route`](crate::Route) found through it.
///
/// A deployment (one revision of one API on one vhost) keeps its signal across snapshots
/// while it serves; changes to other APIs, or a DEPRECATE, leave it alone. It fires once,
/// when the deployment stops serving: undeployed, replaced by another revision, or the API
/// blocked, demoted or retired. A stream checks [`is_current`](Self::is_current) (one atomic
/// load) or awaits [`ended`](Self::ended) beside its body, then sends its final event.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use eventgate::{RouteEnd, RouteSignal};
/// let signal = RouteSignal::new();
/// assert!(signal.is_current());
/// signal.end(RouteEnd::Blocked);
/// assert_eq!(signal.ended().await, RouteEnd::Blocked);
/// assert_eq!(signal.end_reason(), Some(RouteEnd::Blocked));
/// # });
/// ```
pub struct RouteSignal {
    state: AtomicU8,
    notify: Notify,
}

impl fmt::Debug for RouteSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteSignal")
            .field("end", &self.end_reason())
            .finish()
    }
}

impl Default for RouteSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl RouteSignal {
    /// A signal that has not fired.
    #[must_use]
    pub fn new() -> Self {
        RouteSignal {
            state: AtomicU8::new(0),
            notify: Notify::new(),
        }
    }

    /// True while the deployment serves.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.state.load(Ordering::Acquire) == 0
    }

    /// Why it stopped, once it has.
    #[must_use]
    pub fn end_reason(&self) -> Option<RouteEnd> {
        RouteEnd::from_code(self.state.load(Ordering::Acquire))
    }

    /// Completes when the deployment stops serving (at once if it has).
    pub async fn ended(&self) -> RouteEnd {
        loop {
            let mut notified = std::pin::pin!(self.notify.notified());
            notified.as_mut().enable();
            if let Some(r) = self.end_reason() {
                return r;
            }
            notified.await;
        }
    }

    /// Fires the signal (the first reason sticks). The registry calls this; it is public so
    /// that request-path tests can end a route by hand.
    pub fn end(&self, reason: RouteEnd) {
        if self
            .state
            .compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.notify.notify_waiters();
        }
    }
}

#[derive(Clone)]
struct ApiEntry {
    api: Arc<Api>,
    lifecycle: Lifecycle,
    revisions: BTreeMap<u32, Arc<Revision>>,
}

#[derive(Clone)]
struct DeploymentEntry {
    revision: u32,
    signal: Arc<RouteSignal>,
}

type DeploymentKey = (ApiId, String, Hostname);

#[derive(Clone, Default)]
struct State {
    generation: u64,
    environments: BTreeMap<String, Arc<Environment>>,
    apis: BTreeMap<ApiId, ApiEntry>,
    deployments: BTreeMap<DeploymentKey, DeploymentEntry>,
}

/// Builds a [`Registry`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RegistryBuilder {
    max_revisions: usize,
    max_path_len: usize,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            max_revisions: DEFAULT_MAX_REVISIONS,
            max_path_len: DEFAULT_MAX_PATH_LEN,
        }
    }
}

impl RegistryBuilder {
    /// Most revisions per API. Default is [`DEFAULT_MAX_REVISIONS`] (5, as WSO2).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn max_revisions(mut self, n: usize) -> Self {
        assert!(n > 0, "max_revisions must be at least 1");
        self.max_revisions = n;
        self
    }

    /// Longest request path the router looks at. Default is
    /// [`DEFAULT_MAX_PATH_LEN`] (8 KiB).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn max_path_len(mut self, n: usize) -> Self {
        assert!(n > 0, "max_path_len must be at least 1");
        self.max_path_len = n;
        self
    }

    /// The registry, empty.
    #[must_use]
    pub fn build(self) -> Registry {
        let (changes, _) = watch::channel(0);
        Registry {
            state: Mutex::new(State::default()),
            snapshot: ArcSwap::from_pointee(RouterBuilder::new(0, self.max_path_len).build()),
            changes,
            max_revisions: self.max_revisions,
            max_path_len: self.max_path_len,
        }
    }
}

/// The live gateway state: environments, APIs, lifecycle, revisions and deployments, published
/// as an immutable [`Router`] snapshot with one atomic swap per committed change.
///
/// Every method is one [`transaction`](Registry::transaction): it is validated in full,
/// then published (router swapped, generation bumped, watchers told, signals of deployments
/// that stopped serving fired), or refused with a [`RegistryError`] and nothing changes.
pub struct Registry {
    state: Mutex<State>,
    snapshot: ArcSwap<Router>,
    changes: watch::Sender<u64>,
    max_revisions: usize,
    max_path_len: usize,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("generation", &self.generation())
            .field("max_revisions", &self.max_revisions)
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry with the default limits.
    #[must_use]
    pub fn new() -> Self {
        RegistryBuilder::default().build()
    }

    /// A builder for the limits.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The current routing snapshot (no lock: one atomic load and a reference count).
    #[must_use]
    pub fn router(&self) -> Arc<Router> {
        self.snapshot.load_full()
    }

    /// The generation of the current snapshot (0 before the first change).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.snapshot.load().generation()
    }

    /// A receiver of the generation, updated after each committed change (the new snapshot
    /// is already in place when it changes).
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a transaction leaves the stored state untouched (transactions work
        // on a copy), so a poisoned lock still guards consistent data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs several changes as one: all are validated, then published in a single swap, or
    /// none is.
    ///
    /// # Errors
    /// The first [`RegistryError`] returned inside; nothing is changed.
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Transaction) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut guard = self.lock();
        let mut tx = Transaction {
            state: guard.clone(),
            ended: Vec::new(),
            max_revisions: self.max_revisions,
        };
        let out = f(&mut tx)?;
        let Transaction {
            mut state, ended, ..
        } = tx;
        state.generation = guard.generation + 1;
        let router = build_router(&state, self.max_path_len);
        *guard = state;
        self.snapshot.store(Arc::new(router));
        let generation = guard.generation;
        drop(guard);
        for (signal, reason) in ended {
            signal.end(reason);
        }
        self.changes.send_replace(generation);
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }

    /// See [`Transaction::add_environment`].
    ///
    /// # Errors
    /// See there.
    pub fn add_environment(&self, env: Environment) -> Result<(), RegistryError> {
        self.transaction(|tx| tx.add_environment(env))
    }

    /// See [`Transaction::remove_environment`].
    ///
    /// # Errors
    /// See there.
    pub fn remove_environment(&self, name: &str) -> Result<(), RegistryError> {
        self.transaction(|tx| tx.remove_environment(name))
    }

    /// See [`Transaction::create_api`].
    ///
    /// # Errors
    /// See there.
    pub fn create_api(&self, api: Api) -> Result<ApiId, RegistryError> {
        self.transaction(|tx| tx.create_api(api))
    }

    /// See [`Transaction::update_api`].
    ///
    /// # Errors
    /// See there.
    pub fn update_api(&self, api: Api) -> Result<(), RegistryError> {
        self.transaction(|tx| tx.update_api(api))
    }

    /// See [`Transaction::delete_api`].
    ///
    /// # Errors
    /// See there.
    pub fn delete_api(&self, id: &ApiId) -> Result<(), RegistryError> {
        self.transaction(|tx| tx.delete_api(id))
    }

    /// See [`Transaction::change_lifecycle`].
    ///
    /// # Errors
    /// See there.
    pub fn change_lifecycle(
        &self,
        id: &ApiId,
        action: LifecycleAction,
    ) -> Result<Lifecycle, RegistryError> {
        self.transaction(|tx| tx.change_lifecycle(id, action))
    }

    /// See [`Transaction::create_revision`].
    ///
    /// # Errors
    /// See there.
    pub fn create_revision(
        &self,
        id: &ApiId,
        description: Option<String>,
    ) -> Result<u32, RegistryError> {
        self.transaction(|tx| tx.create_revision(id, description))
    }

    /// See [`Transaction::delete_revision`].
    ///
    /// # Errors
    /// See there.
    pub fn delete_revision(&self, id: &ApiId, revision: u32) -> Result<(), RegistryError> {
        self.transaction(|tx| tx.delete_revision(id, revision))
    }

    /// See [`Transaction::deploy`].
    ///
    /// # Errors
    /// See there.
    pub fn deploy(
        &self,
        id: &ApiId,
        revision: u32,
        environment: &str,
        vhost: &Hostname,
    ) -> Result<(), RegistryError> {
        self.transaction(|tx| tx.deploy(id, revision, environment, vhost))
    }

    /// See [`Transaction::undeploy`].
    ///
    /// # Errors
    /// See there.
    pub fn undeploy(
        &self,
        id: &ApiId,
        environment: &str,
        vhost: &Hostname,
    ) -> Result<(), RegistryError> {
        self.transaction(|tx| tx.undeploy(id, environment, vhost))
    }

    /// The working copy of an API (what the next revision will snapshot).
    #[must_use]
    pub fn api(&self, id: &ApiId) -> Option<Arc<Api>> {
        self.read(|s| s.apis.get(id).map(|e| Arc::clone(&e.api)))
    }

    /// Every API id, sorted.
    #[must_use]
    pub fn apis(&self) -> Vec<ApiId> {
        self.read(|s| s.apis.keys().cloned().collect())
    }

    /// An API's lifecycle state.
    ///
    /// # Errors
    /// [`RegistryError::ApiNotFound`].
    pub fn lifecycle(&self, id: &ApiId) -> Result<Lifecycle, RegistryError> {
        self.read(|s| {
            s.apis
                .get(id)
                .map(|e| e.lifecycle)
                .ok_or_else(|| RegistryError::ApiNotFound(id.clone()))
        })
    }

    /// An API's revisions, by number.
    ///
    /// # Errors
    /// [`RegistryError::ApiNotFound`].
    pub fn revisions(&self, id: &ApiId) -> Result<Vec<Arc<Revision>>, RegistryError> {
        self.read(|s| {
            s.apis
                .get(id)
                .map(|e| e.revisions.values().cloned().collect())
                .ok_or_else(|| RegistryError::ApiNotFound(id.clone()))
        })
    }

    /// An environment.
    #[must_use]
    pub fn environment(&self, name: &str) -> Option<Arc<Environment>> {
        self.read(|s| s.environments.get(name).cloned())
    }

    /// Every environment, by name.
    #[must_use]
    pub fn environments(&self) -> Vec<Arc<Environment>> {
        self.read(|s| s.environments.values().cloned().collect())
    }

    /// Every deployment, sorted by API, environment and vhost.
    #[must_use]
    pub fn deployments(&self) -> Vec<Deployment> {
        self.read(|s| {
            s.deployments
                .iter()
                .map(|((api, env, vhost), d)| Deployment {
                    api: api.clone(),
                    revision: d.revision,
                    environment: env.clone(),
                    vhost: vhost.clone(),
                })
                .collect()
        })
    }
}

fn build_router(state: &State, max_path_len: usize) -> Router {
    let mut b = RouterBuilder::new(state.generation, max_path_len);
    let mut tables: BTreeMap<(&str, &Hostname), usize> = BTreeMap::new();
    for env in state.environments.values() {
        for (v, idx) in env.vhosts.iter().zip(b.environment(env)) {
            tables.insert((env.name.as_str(), &v.host), idx);
        }
    }
    for ((id, env_name, host), d) in &state.deployments {
        let (Some(entry), Some(env), Some(&table)) = (
            state.apis.get(id),
            state.environments.get(env_name),
            tables.get(&(env_name.as_str(), host)),
        ) else {
            continue;
        };
        let (Some(revision), Some(vhost)) = (entry.revisions.get(&d.revision), env.vhost(host))
        else {
            continue;
        };
        b.mount(Arc::new(Target {
            revision: Arc::clone(revision),
            environment: Arc::clone(env),
            vhost: vhost.clone(),
            table,
            lifecycle: entry.lifecycle,
            signal: Arc::clone(&d.signal),
        }));
    }
    b.build()
}

/// Changes made together (see [`Registry::transaction`]). Each method checks its rules
/// against the state as changed so far.
pub struct Transaction {
    state: State,
    ended: Vec<(Arc<RouteSignal>, RouteEnd)>,
    max_revisions: usize,
}

impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

impl Transaction {
    fn entry(&self, id: &ApiId) -> Result<&ApiEntry, RegistryError> {
        self.state
            .apis
            .get(id)
            .ok_or_else(|| RegistryError::ApiNotFound(id.clone()))
    }

    fn entry_mut(&mut self, id: &ApiId) -> Result<&mut ApiEntry, RegistryError> {
        self.state
            .apis
            .get_mut(id)
            .ok_or_else(|| RegistryError::ApiNotFound(id.clone()))
    }

    /// The environments as this transaction stands, by name.
    pub(crate) fn environment_list(&self) -> Vec<Arc<Environment>> {
        self.state.environments.values().cloned().collect()
    }

    /// Adds an environment.
    ///
    /// # Errors
    /// [`RegistryError::Model`] if it breaks its own rules,
    /// [`RegistryError::EnvironmentExists`], [`RegistryError::HostTaken`] (host names are
    /// unique across environments), [`RegistryError::FallbackTaken`].
    pub fn add_environment(&mut self, env: Environment) -> Result<(), RegistryError> {
        env.validate()?;
        if self.state.environments.contains_key(&env.name) {
            return Err(RegistryError::EnvironmentExists(env.name));
        }
        for other in self.state.environments.values() {
            if let Some(v) = env.vhosts.iter().find(|v| other.vhost(&v.host).is_some()) {
                return Err(RegistryError::HostTaken {
                    host: v.host.clone(),
                    environment: other.name.clone(),
                });
            }
            if env.fallback && other.fallback {
                return Err(RegistryError::FallbackTaken(other.name.clone()));
            }
        }
        self.state
            .environments
            .insert(env.name.clone(), Arc::new(env));
        Ok(())
    }

    /// Removes an environment that has no deployment.
    ///
    /// # Errors
    /// [`RegistryError::EnvironmentNotFound`], [`RegistryError::EnvironmentInUse`].
    pub fn remove_environment(&mut self, name: &str) -> Result<(), RegistryError> {
        if !self.state.environments.contains_key(name) {
            return Err(RegistryError::EnvironmentNotFound(name.to_owned()));
        }
        if self.state.deployments.keys().any(|(_, e, _)| e == name) {
            return Err(RegistryError::EnvironmentInUse(name.to_owned()));
        }
        self.state.environments.remove(name);
        Ok(())
    }

    fn check_context(&self, api: &Api) -> Result<(), RegistryError> {
        if let Some(other) = self
            .state
            .apis
            .values()
            .find(|e| e.api.name != api.name && e.api.context == api.context)
        {
            return Err(RegistryError::ContextTaken {
                context: api.context.to_string(),
                owner: other.api.name.clone(),
            });
        }
        Ok(())
    }

    /// Creates an API in state CREATED, with no revision.
    ///
    /// # Errors
    /// [`RegistryError::Model`] if it breaks its own rules ([`Api::validate`]),
    /// [`RegistryError::ApiExists`], [`RegistryError::ContextTaken`] (an API of another
    /// name has the context).
    pub fn create_api(&mut self, api: Api) -> Result<ApiId, RegistryError> {
        api.validate()?;
        let id = api.id();
        if self.state.apis.contains_key(&id) {
            return Err(RegistryError::ApiExists(id));
        }
        self.check_context(&api)?;
        self.state.apis.insert(
            id.clone(),
            ApiEntry {
                api: Arc::new(api),
                lifecycle: Lifecycle::Created,
                revisions: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    /// Replaces an API's working copy (its name and version identify it). Deployed
    /// revisions are not affected: make a revision and deploy it.
    ///
    /// # Errors
    /// As [`create_api`](Self::create_api), [`RegistryError::ApiNotFound`] instead of
    /// `ApiExists`, and [`RegistryError::Retired`].
    pub fn update_api(&mut self, api: Api) -> Result<(), RegistryError> {
        api.validate()?;
        let id = api.id();
        if self.entry(&id)?.lifecycle == Lifecycle::Retired {
            return Err(RegistryError::Retired(id));
        }
        self.check_context(&api)?;
        self.entry_mut(&id)?.api = Arc::new(api);
        Ok(())
    }

    /// Deletes an API that has no deployment, with its revisions.
    ///
    /// # Errors
    /// [`RegistryError::ApiNotFound`], [`RegistryError::ApiDeployed`].
    pub fn delete_api(&mut self, id: &ApiId) -> Result<(), RegistryError> {
        self.entry(id)?;
        if self.state.deployments.keys().any(|(a, _, _)| a == id) {
            return Err(RegistryError::ApiDeployed(id.clone()));
        }
        self.state.apis.remove(id);
        Ok(())
    }

    /// Applies a lifecycle action (WSO2's transitions, see [`Lifecycle::apply`]). Leaving
    /// a routable state ends the streams of every deployment of the API
    /// ([`RouteEnd::Blocked`], [`RouteEnd::Demoted`], [`RouteEnd::Retired`]); RETIRED also
    /// removes every deployment. Returns the new state.
    ///
    /// # Errors
    /// [`RegistryError::ApiNotFound`], [`RegistryError::Transition`] for an action WSO2
    /// does not allow in the current state.
    pub fn change_lifecycle(
        &mut self,
        id: &ApiId,
        action: LifecycleAction,
    ) -> Result<Lifecycle, RegistryError> {
        let from = self.entry(id)?.lifecycle;
        let to = from
            .apply(action)
            .ok_or_else(|| RegistryError::Transition {
                api: id.clone(),
                from,
                action,
            })?;
        self.entry_mut(id)?.lifecycle = to;
        if from.is_routable() && !to.is_routable() {
            let reason = match to {
                Lifecycle::Blocked => RouteEnd::Blocked,
                Lifecycle::Retired => RouteEnd::Retired,
                other => RouteEnd::Demoted(other),
            };
            for ((a, _, _), d) in self.state.deployments.iter_mut() {
                if a == id {
                    let old = std::mem::replace(&mut d.signal, Arc::new(RouteSignal::new()));
                    self.ended.push((old, reason));
                }
            }
        }
        if to == Lifecycle::Retired {
            self.state.deployments.retain(|(a, _, _), _| a != id);
        }
        Ok(to)
    }

    /// Snapshots the API's working copy as a new revision, numbered one above the highest
    /// existing (1 for the first). Returns the number.
    ///
    /// # Errors
    /// [`RegistryError::ApiNotFound`], [`RegistryError::Retired`],
    /// [`RegistryError::RevisionLimit`] (WSO2 900351) when the API has the most revisions
    /// allowed.
    pub fn create_revision(
        &mut self,
        id: &ApiId,
        description: Option<String>,
    ) -> Result<u32, RegistryError> {
        let max = self.max_revisions;
        let entry = self.entry_mut(id)?;
        if entry.lifecycle == Lifecycle::Retired {
            return Err(RegistryError::Retired(id.clone()));
        }
        if entry.revisions.len() >= max {
            return Err(RegistryError::RevisionLimit {
                api: id.clone(),
                max,
            });
        }
        let number = entry.revisions.keys().next_back().map_or(1, |n| n + 1);
        let revision = Revision::new(number, (*entry.api).clone(), description);
        entry.revisions.insert(number, Arc::new(revision));
        Ok(number)
    }

    /// Deletes a revision that is not deployed.
    ///
    /// # Errors
    /// [`RegistryError::ApiNotFound`], [`RegistryError::RevisionNotFound`],
    /// [`RegistryError::RevisionDeployed`] (WSO2 900348).
    pub fn delete_revision(&mut self, id: &ApiId, revision: u32) -> Result<(), RegistryError> {
        if !self.entry(id)?.revisions.contains_key(&revision) {
            return Err(RegistryError::RevisionNotFound {
                api: id.clone(),
                revision,
            });
        }
        if self
            .state
            .deployments
            .iter()
            .any(|((a, _, _), d)| a == id && d.revision == revision)
        {
            return Err(RegistryError::RevisionDeployed {
                api: id.clone(),
                revision,
            });
        }
        self.entry_mut(id)?.revisions.remove(&revision);
        Ok(())
    }

    /// Deploys a revision to a vhost of an environment. A revision of the same API already
    /// there is replaced in the same swap (its streams get [`RouteEnd::Replaced`]);
    /// deploying the revision that is already there changes nothing.
    ///
    /// # Errors
    /// [`RegistryError::ApiNotFound`], [`RegistryError::Retired`],
    /// [`RegistryError::RevisionNotFound`], [`RegistryError::EnvironmentNotFound`],
    /// [`RegistryError::VhostNotFound`], [`RegistryError::MissingEndpoint`] (a production
    /// environment needs a production endpoint, a sandbox one a sandbox endpoint, a hybrid
    /// one either), [`RegistryError::RouteConflict`] (another API is mounted at the same
    /// path on the vhost: contexts are unique per vhost, and one default version per
    /// context).
    pub fn deploy(
        &mut self,
        id: &ApiId,
        revision: u32,
        environment: &str,
        vhost: &Hostname,
    ) -> Result<(), RegistryError> {
        let entry = self.entry(id)?;
        if entry.lifecycle == Lifecycle::Retired {
            return Err(RegistryError::Retired(id.clone()));
        }
        let rev =
            entry
                .revisions
                .get(&revision)
                .ok_or_else(|| RegistryError::RevisionNotFound {
                    api: id.clone(),
                    revision,
                })?;
        let env = self
            .state
            .environments
            .get(environment)
            .ok_or_else(|| RegistryError::EnvironmentNotFound(environment.to_owned()))?;
        if env.vhost(vhost).is_none() {
            return Err(RegistryError::VhostNotFound {
                environment: environment.to_owned(),
                vhost: vhost.clone(),
            });
        }
        let eps = &rev.api().endpoints;
        let missing = match env.kind {
            EnvironmentType::Production if eps.production.is_none() => Some("production"),
            EnvironmentType::Sandbox if eps.sandbox.is_none() => Some("sandbox"),
            EnvironmentType::Hybrid if eps.production.is_none() && eps.sandbox.is_none() => {
                Some("production or sandbox")
            }
            _ => None,
        };
        if let Some(kind) = missing {
            return Err(RegistryError::MissingEndpoint {
                api: id.clone(),
                revision,
                environment: environment.to_owned(),
                kind,
            });
        }
        let bases = bases_of(rev.api());
        for ((other, e, h), d) in &self.state.deployments {
            if other == id || e != environment || h != vhost {
                continue;
            }
            let Some(orev) = self
                .state
                .apis
                .get(other)
                .and_then(|o| o.revisions.get(&d.revision))
            else {
                continue;
            };
            if let Some(path) = bases_of(orev.api()).into_iter().find(|b| bases.contains(b)) {
                return Err(RegistryError::RouteConflict {
                    path,
                    vhost: vhost.clone(),
                    other: other.clone(),
                });
            }
        }
        let key = (id.clone(), environment.to_owned(), vhost.clone());
        match self.state.deployments.get_mut(&key) {
            Some(d) if d.revision == revision => {}
            Some(d) => {
                let old = std::mem::replace(&mut d.signal, Arc::new(RouteSignal::new()));
                d.revision = revision;
                self.ended.push((old, RouteEnd::Replaced));
            }
            None => {
                self.state.deployments.insert(
                    key,
                    DeploymentEntry {
                        revision,
                        signal: Arc::new(RouteSignal::new()),
                    },
                );
            }
        }
        Ok(())
    }

    /// Removes the API's deployment from a vhost; its streams get [`RouteEnd::Undeployed`].
    ///
    /// # Errors
    /// [`RegistryError::NotDeployed`].
    pub fn undeploy(
        &mut self,
        id: &ApiId,
        environment: &str,
        vhost: &Hostname,
    ) -> Result<(), RegistryError> {
        let key = (id.clone(), environment.to_owned(), vhost.clone());
        let d = self
            .state
            .deployments
            .remove(&key)
            .ok_or_else(|| RegistryError::NotDeployed {
                api: id.clone(),
                environment: environment.to_owned(),
                vhost: vhost.clone(),
            })?;
        self.ended.push((d.signal, RouteEnd::Undeployed));
        Ok(())
    }

    /// An API's lifecycle state as changed so far.
    ///
    /// # Errors
    /// [`RegistryError::ApiNotFound`].
    pub fn lifecycle(&self, id: &ApiId) -> Result<Lifecycle, RegistryError> {
        Ok(self.entry(id)?.lifecycle)
    }
}
