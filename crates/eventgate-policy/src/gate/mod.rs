//! The decision API: [`Gate::authorize`] turns request facts into a [`Grant`] or a
//! [`Denial`].

mod builder;
mod cache;
mod denial;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, RwLock};
use std::task::Poll;

use eventgate_types::PlanName;

pub use builder::{
    DEFAULT_REALM, DEFAULT_TOKEN_CACHE_CAPACITY, DEFAULT_TOKEN_CACHE_TTL, GateBuilder,
};
use cache::TokenCache;
use denial::deny;
pub use denial::{ConnectionScope, Denial, DenialDetails, DenialReason};

use crate::apikey::{API_KEY_PREFIX, ApiKeyStore};
use crate::error::TokenError;
use crate::facts::RequestFacts;
use crate::introspect::{IntrospectionCache, Introspector, JwksFetcher};
use crate::jwt::JwtValidator;
use crate::model::{
    ApiId, ApiPolicy, Application, ApplicationId, CredentialKind, KeyType, Plan, Principal, Quota,
    Subscription, SubscriptionState,
};
use crate::quota::{ChargeError, Counter, CounterStore, Gauge, Meter, QuotaScope, SlotGuard};
use crate::time::Timestamp;

/// Permission to open one stream: who, under which plan, the meter to charge per delivered
/// event, and the connection slots held (freed when the grant drops).
#[derive(Debug)]
#[non_exhaustive]
pub struct Grant {
    /// The authenticated principal.
    pub principal: Arc<Principal>,
    /// The application, when known.
    pub application: Option<ApplicationId>,
    /// The subscription plan the stream is metered under.
    pub plan: Option<PlanName>,
    meter: Meter,
    _slots: Vec<SlotGuard>,
}

impl Grant {
    /// The stream's meter (held in the grant itself, so a charge reads no other per-stream
    /// allocation): call [`Meter::charge`] once per delivered event.
    #[must_use]
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Charge one delivered event (same as `self.meter().charge(now)`).
    ///
    /// # Errors
    /// A [`ChargeError`]: do not deliver; on [`ChargeError::Pending`] (shared store only)
    /// wait for [`Meter::ready`] and charge again; otherwise send
    /// [`ChargeError::sse_event`] and close.
    #[inline]
    pub fn charge(&self, now: Timestamp) -> Result<(), ChargeError> {
        self.meter.charge(now)
    }

    /// When the credential expires (the gateway may close the stream then).
    #[must_use]
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.principal.expires_at
    }
}

#[derive(Debug, Default)]
struct Registry {
    apis: HashMap<ApiId, Arc<ApiPolicy>>,
    apps: HashMap<ApplicationId, Application>,
    by_client: HashMap<String, ApplicationId>,
    /// Subscriptions with their counter key (`sub:<application>:<api>`), built once.
    subs: HashMap<ApiId, HashMap<ApplicationId, (Subscription, Box<str>)>>,
    plans: HashMap<PlanName, Plan>,
}

/// The policy decision point: applications, subscriptions, plans, APIs, credentials and
/// counters, deciding per request.
///
/// All methods take `&self`; share it in an `Arc`. Administrative updates
/// (`put_*`, `remove_*`) take a short write lock; decisions take read locks and never hold
/// them across I/O.
pub struct Gate {
    registry: RwLock<Registry>,
    jwt: Option<Arc<JwtValidator>>,
    api_keys: ApiKeyStore,
    introspector: Option<Arc<dyn Introspector>>,
    introspection_cache: Arc<IntrospectionCache>,
    jwks_fetcher: Option<Arc<dyn JwksFetcher>>,
    token_cache: TokenCache,
    counters: Arc<dyn CounterStore>,
    global: Option<Arc<dyn Gauge>>,
    max_credential_bytes: usize,
    realm: String,
    /// `AsyncDefaultSubscriptionless`, built once.
    subscriptionless: PlanName,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A builder with the defaults each setter names (same as [`GateBuilder::new`]).
    pub fn builder() -> GateBuilder {
        GateBuilder::new()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        match self.registry.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        match self.registry.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Add or replace an API.
    pub fn put_api(&self, api: ApiPolicy) {
        self.write().apis.insert(api.id.clone(), Arc::new(api));
    }

    /// Add or replace an application (and its client ids).
    pub fn put_application(&self, app: Application) {
        let mut g = self.write();
        g.by_client.retain(|_, a| *a != app.id);
        for (_, c) in &app.client_ids {
            g.by_client.insert(c.clone(), app.id.clone());
        }
        g.apps.insert(app.id.clone(), app);
    }

    /// Add or replace a subscription.
    pub fn put_subscription(&self, sub: Subscription) {
        self.write()
            .subs
            .entry(sub.api.clone())
            .or_default()
            .insert(
                sub.application.clone(),
                (
                    sub.clone(),
                    format!("sub:{}:{}", sub.application, sub.api).into(),
                ),
            );
    }

    /// Remove a subscription; true if it existed.
    pub fn remove_subscription(&self, application: &str, api: &str) -> bool {
        self.write()
            .subs
            .get_mut(api)
            .and_then(|m| m.remove(application))
            .is_some()
    }

    /// Add or replace a plan.
    pub fn put_plan(&self, plan: Plan) {
        self.write().plans.insert(plan.name.clone(), plan);
    }

    /// The API key store (issue, revoke).
    #[must_use]
    pub fn api_keys(&self) -> &ApiKeyStore {
        &self.api_keys
    }

    /// Authenticate a credential from local state only (verified-JWT cache, JWT keys at
    /// hand, introspection cache, API keys). No I/O.
    ///
    /// Classification: `egk_…` is an eventgate API key; three dot-separated parts a JWT;
    /// anything else an opaque token.
    ///
    /// # Errors
    /// The [`TokenError`] that refused it.
    pub fn authenticate(
        &self,
        credential: &str,
        now: Timestamp,
    ) -> Result<Arc<Principal>, TokenError> {
        if credential.len() > self.max_credential_bytes {
            return Err(TokenError::TooLarge {
                len: credential.len(),
                limit: self.max_credential_bytes,
            });
        }
        if credential.starts_with(API_KEY_PREFIX) {
            return self.api_keys.verify(credential, now).map(Arc::new);
        }
        // Splitting on a char searches with memchr; a byte-by-byte count of the dots costs
        // more than the whole cache lookup.
        let mut parts = credential.splitn(4, '.');
        if parts.nth(2).is_some() && parts.next().is_none() {
            if let Some(p) = self.token_cache.get(credential, now) {
                return Ok(p);
            }
            let v = self.jwt.as_ref().ok_or(TokenError::WrongIssuer)?;
            let p = Arc::new(v.verify(credential, now)?);
            self.token_cache.insert(credential, &p, now);
            return Ok(p);
        }
        if self.introspector.is_none() {
            return Err(TokenError::OpaqueNotAccepted);
        }
        self.introspection_cache
            .get(credential, now)
            .unwrap_or(Err(TokenError::IntrospectionRequired))
    }

    /// Decide on a request at `now` from local state only (see [`Gate::authenticate`]).
    ///
    /// Checks, in order: API known and not blocked, topic known, credential present and
    /// valid, key type accepted, application and subscription (state), topic scopes, plan,
    /// connection slots (global, application, subscription), quota not already exhausted.
    ///
    /// # Errors
    /// A [`Denial`] with the WSO2 code and HTTP status of the first failed check.
    /// A gate whose counters are shared between nodes
    /// ([`CounterStore::is_shared`]) needs I/O for quotas and slots: this refuses every
    /// request with [`DenialReason::SharedStoreNeedsAsync`]; use
    /// [`Gate::authorize_async`].
    pub fn authorize(&self, facts: &RequestFacts<'_>, now: Timestamp) -> Result<Grant, Denial> {
        self.decide(facts, now)
            .and_then(|d| self.finish(d, now))
            .map_err(|r| deny(r, &self.realm, now))
    }

    /// Like [`Gate::authorize`], but performs the I/O the local state lacks: a JWKS refresh
    /// when an issuer's keys are older than their `max_age` or a token names an unknown `kid`
    /// (both rate-limited per issuer), and introspection of an opaque token not in the cache.
    ///
    /// The future is `Send`; it holds no lock across `.await`, and verifies signatures
    /// outside the registry's lock. Each I/O call lasts as long as the
    /// [`JwksFetcher`] or [`Introspector`] takes: use [`Gate::authorize_async_with`] to
    /// bound it.
    ///
    /// # Errors
    /// As [`Gate::authorize`].
    pub async fn authorize_async(
        &self,
        facts: &RequestFacts<'_>,
        now: Timestamp,
    ) -> Result<Grant, Denial> {
        self.authorize_async_with(facts, now, std::future::pending::<()>)
            .await
    }

    /// [`Gate::authorize_async`] with every JWKS fetch and introspection call raced against
    /// a timeout future made by `timeout` (called once per I/O call; the crate owns no
    /// timer, so the caller brings its runtime's, e.g.
    /// `|| tokio::time::sleep(Duration::from_secs(2))`). A call the timeout outlasts is
    /// dropped and counts as failed: the issuer keeps its previous keys (a token needing
    /// new ones is refused as `unknown_kid` / `keys_unavailable`), an opaque token is
    /// refused as `introspection_unavailable` (900901).
    ///
    /// ```
    /// # use eventgate_policy::*;
    /// # use std::sync::Arc;
    /// #[derive(Debug)]
    /// struct Hangs;
    /// impl Introspector for Hangs {
    ///     fn introspect<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Introspection, IoError>> {
    ///         Box::pin(std::future::pending())
    ///     }
    /// }
    /// let gate = Gate::builder().introspector(Arc::new(Hangs)).build()?;
    /// gate.put_api(ApiPolicy::new("observer:1.0.0"));
    /// let facts = RequestFacts::new("observer:1.0.0", "/memory").authorization("Bearer opaque");
    /// // A timeout that has already fired: the hanging call is dropped at once.
    /// let fut = gate.authorize_async_with(&facts, Timestamp::EPOCH, || std::future::ready(()));
    /// # let d = block_on(fut).unwrap_err();
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// assert_eq!(d.reason, DenialReason::InvalidCredentials(TokenError::IntrospectionUnavailable));
    /// # Ok::<(), ConfigError>(())
    /// ```
    ///
    /// With a shared counter store, the quota lease and each connection slot are one store
    /// call each, raced against `timeout()` too; a store that fails or does not answer in
    /// time refuses the stream with [`DenialReason::StoreUnavailable`] (900900).
    ///
    /// # Errors
    /// As [`Gate::authorize`].
    pub async fn authorize_async_with<T, F>(
        &self,
        facts: &RequestFacts<'_>,
        now: Timestamp,
        mut timeout: T,
    ) -> Result<Grant, Denial>
    where
        T: FnMut() -> F,
        F: Future<Output = ()>,
    {
        if let (Some(fetcher), Some(v)) = (&self.jwks_fetcher, &self.jwt) {
            for issuer in v.issuers() {
                if issuer.keys.is_stale(now)
                    && issuer.keys.try_begin_refresh(now)
                    && let Some(url) = issuer.keys.url()
                    && let Some(Ok(body)) = within(fetcher.fetch(url), timeout()).await
                {
                    let _ = issuer.keys.install_jwks(&body, now);
                }
            }
        }
        let draft = match self.decide(facts, now) {
            Err(DenialReason::InvalidCredentials(
                TokenError::UnknownKid(_) | TokenError::KeysUnavailable,
            )) => {
                if let (Some(token), Some(fetcher), Some(v)) =
                    (self.credential_of(facts), &self.jwks_fetcher, &self.jwt)
                    && let Some(issuer) = v.issuer_of(token)
                    && let Some(url) = issuer.keys.url()
                    && issuer.keys.try_begin_refresh(now)
                    && let Some(Ok(body)) = within(fetcher.fetch(url), timeout()).await
                {
                    let _ = issuer.keys.install_jwks(&body, now);
                }
                None
            }
            Err(DenialReason::InvalidCredentials(TokenError::IntrospectionRequired)) => {
                if let (Some(token), Some(i)) = (self.credential_of(facts), &self.introspector) {
                    match within(i.introspect(token), timeout()).await {
                        Some(Ok(answer)) => {
                            let _ = self.introspection_cache.insert(token, &answer, now);
                        }
                        Some(Err(_)) | None => {
                            return Err(deny(
                                DenialReason::InvalidCredentials(
                                    TokenError::IntrospectionUnavailable,
                                ),
                                &self.realm,
                                now,
                            ));
                        }
                    }
                }
                None
            }
            Err(other) => return Err(deny(other, &self.realm, now)),
            Ok(d) => Some(d),
        };
        let draft = match draft {
            Some(d) => d,
            None => self
                .decide(facts, now)
                .map_err(|r| deny(r, &self.realm, now))?,
        };
        self.finish_async(draft, now, &mut timeout)
            .await
            .map_err(|r| deny(r, &self.realm, now))
    }

    /// Admits a stream that carries no credential: a topic whose auth type is WSO2's
    /// `None`. It is still limited and metered: the gate's global connection slot, and the
    /// `AsyncDefaultSubscriptionless` plan's quota and connection limit counted per `client`
    /// (the caller's network address, or any stable name the embedder chooses) and API, under
    /// the counter key `anon:<client>:<api>`.
    ///
    /// ```
    /// use eventgate_policy::{ApiPolicy, CredentialKind, DenialReason, Gate, Timestamp};
    ///
    /// let gate = Gate::builder().build()?;
    /// gate.put_api(ApiPolicy::new("observer:1.0.0"));
    /// let grant = gate.admit_anonymous("observer:1.0.0", "127.0.0.1", Timestamp::EPOCH)?;
    /// assert_eq!(grant.principal.credential, CredentialKind::Anonymous);
    /// assert_eq!(grant.plan.as_ref().map(|p| p.as_str()), Some("AsyncDefaultSubscriptionless"));
    /// grant.charge(Timestamp::EPOCH)?; // metered like any stream
    ///
    /// let unknown = gate.admit_anonymous("nope:1.0.0", "127.0.0.1", Timestamp::EPOCH).unwrap_err();
    /// assert_eq!(unknown.reason, DenialReason::UnknownApi);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A [`Denial`]: the API is unknown (900906) or blocked (700700), a connection limit is
    /// reached, the plan's quota is already spent for this client (429), or the counter
    /// store is full.
    ///
    /// With counters shared between nodes this refuses with
    /// [`DenialReason::SharedStoreNeedsAsync`]: use [`Gate::admit_anonymous_async`].
    pub fn admit_anonymous(
        &self,
        api: &str,
        client: &str,
        now: Timestamp,
    ) -> Result<Grant, Denial> {
        self.decide_anonymous(api, client, now)
            .and_then(|d| self.finish(d, now))
            .map_err(|r| deny(r, &self.realm, now))
    }

    /// [`Gate::admit_anonymous`] for any counter store, in-process or shared: the quota
    /// lease and the connection slot are store calls raced against `timeout()` (see
    /// [`Gate::authorize_async_with`]). With in-process counters it decides as
    /// [`Gate::admit_anonymous`] does, without waiting.
    ///
    /// # Errors
    /// As [`Gate::admit_anonymous`], plus [`DenialReason::StoreUnavailable`] (900900) when
    /// a shared store fails or does not answer in time.
    pub async fn admit_anonymous_async<T, F>(
        &self,
        api: &str,
        client: &str,
        now: Timestamp,
        mut timeout: T,
    ) -> Result<Grant, Denial>
    where
        T: FnMut() -> F,
        F: Future<Output = ()>,
    {
        let draft = self
            .decide_anonymous(api, client, now)
            .map_err(|r| deny(r, &self.realm, now))?;
        self.finish_async(draft, now, &mut timeout)
            .await
            .map_err(|r| deny(r, &self.realm, now))
    }

    /// Takes the quota check and the connection slots of a decided request, without I/O.
    fn finish(&self, d: Draft, now: Timestamp) -> Result<Grant, DenialReason> {
        use DenialReason as R;
        if self.counters.is_shared() {
            return Err(R::SharedStoreNeedsAsync);
        }
        let meter = Meter::from_counters(d.meters);
        if let Some(e) = meter.check(now) {
            return Err(R::QuotaExceeded(e));
        }
        let mut slots = Vec::with_capacity(d.gauges.len() + 1);
        if let Some(g) = &self.global {
            slots.push(
                SlotGuard::acquire(Arc::clone(g))
                    .ok_or(R::ConnectionLimit(ConnectionScope::Global))?,
            );
        }
        for (g, scope) in d.gauges {
            slots.push(SlotGuard::acquire(g).ok_or(R::ConnectionLimit(scope))?);
        }
        Ok(Grant {
            principal: d.principal,
            application: d.application,
            plan: Some(d.plan),
            meter,
            _slots: slots,
        })
    }

    /// [`Gate::finish`] through the store: the first lease of every shared counter, then
    /// the slots, each store call raced against `timeout()`.
    async fn finish_async<T, F>(
        &self,
        d: Draft,
        now: Timestamp,
        timeout: &mut T,
    ) -> Result<Grant, DenialReason>
    where
        T: FnMut() -> F,
        F: Future<Output = ()>,
    {
        use DenialReason as R;
        if !self.counters.is_shared() {
            return self.finish(d, now);
        }
        let meter = Meter::from_counters(d.meters);
        if let Some(e) = meter.check_local(now) {
            return Err(R::QuotaExceeded(e));
        }
        match within(meter.ready(now), timeout()).await {
            Some(Ok(())) => {}
            Some(Err(ChargeError::Exceeded(e))) => return Err(R::QuotaExceeded(e)),
            Some(Err(_)) | None => return Err(R::StoreUnavailable),
        }
        let mut slots = Vec::with_capacity(d.gauges.len() + 1);
        if let Some(g) = &self.global {
            slots.push(
                SlotGuard::acquire(Arc::clone(g))
                    .ok_or(R::ConnectionLimit(ConnectionScope::Global))?,
            );
        }
        for (g, scope) in d.gauges {
            match within(SlotGuard::acquire_async(g), timeout()).await {
                Some(Ok(Some(slot))) => slots.push(slot),
                Some(Ok(None)) => return Err(R::ConnectionLimit(scope)),
                Some(Err(_)) | None => return Err(R::StoreUnavailable),
            }
        }
        Ok(Grant {
            principal: d.principal,
            application: d.application,
            plan: Some(d.plan),
            meter,
            _slots: slots,
        })
    }

    fn decide_anonymous(
        &self,
        api: &str,
        client: &str,
        now: Timestamp,
    ) -> Result<Draft, DenialReason> {
        use DenialReason as R;
        let reg = self.read();
        let policy = reg.apis.get(api).ok_or(R::UnknownApi)?;
        if policy.blocked {
            return Err(R::ApiBlocked);
        }
        let plan_name = self.subscriptionless.clone();
        let plan = reg
            .plans
            .get(plan_name.as_str())
            .ok_or_else(|| R::UnknownPlan(plan_name.clone()))?;
        let key = format!("anon:{client}:{api}");
        let mut gauges = Vec::with_capacity(1);
        if let Some(max) = plan.max_connections {
            let g = self
                .counters
                .gauge(&key, max)
                .map_err(|_| R::CountersFull)?;
            gauges.push((g, ConnectionScope::Subscription));
        }
        let mut meters = Vec::with_capacity(2);
        for q in plan.quota.iter().chain(&plan.burst) {
            meters.push((self.window(&key, *q, now)?, QuotaScope::Subscription));
        }
        let mut principal = Principal::new(CredentialKind::Anonymous);
        principal.subject = Some(client.to_owned());
        Ok(Draft {
            principal: Arc::new(principal),
            application: None,
            plan: plan_name,
            meters,
            gauges,
        })
    }

    fn credential_of<'a>(&self, facts: &RequestFacts<'a>) -> Option<&'a str> {
        let g = self.read();
        let api = g.apis.get(facts.api)?;
        facts.credential(&api.credential_sources)
    }

    fn window(&self, key: &str, quota: Quota, now: Timestamp) -> Result<Counter, DenialReason> {
        let counter = match self.counters.local_window(key, quota, now) {
            Some(w) => w.map(Counter::Local),
            None => self.counters.window(key, quota, now).map(Counter::Shared),
        };
        counter.map_err(|_| DenialReason::CountersFull)
    }

    /// The API, its topic check and the credential: the part of a decision that needs the
    /// registry before authentication. The lock is released when this returns.
    fn route<'a>(
        &self,
        facts: &RequestFacts<'a>,
    ) -> Result<(Arc<ApiPolicy>, &'a str), DenialReason> {
        use DenialReason as R;
        let api = Arc::clone(self.read().apis.get(facts.api).ok_or(R::UnknownApi)?);
        if api.blocked {
            return Err(R::ApiBlocked);
        }
        if !api.topics.is_empty() && !api.topics.iter().any(|t| t.topic == facts.topic) {
            return Err(R::UnknownTopic);
        }
        let credential = facts
            .credential(&api.credential_sources)
            .ok_or(R::MissingCredentials)?;
        Ok((api, credential))
    }

    fn decide(&self, facts: &RequestFacts<'_>, now: Timestamp) -> Result<Draft, DenialReason> {
        use DenialReason as R;
        let (api, credential) = self.route(facts)?;
        // Signature checks (the slow part of a first sight of a token) run here, with no
        // lock held: administrative updates never wait on them.
        let principal = self
            .authenticate(credential, now)
            .map_err(R::InvalidCredentials)?;
        let topic = api.topics.iter().find(|t| t.topic == facts.topic);
        let reg = self.read();
        if !api.key_types.contains(&principal.key_type) {
            return Err(R::KeyTypeNotAllowed(principal.key_type));
        }
        let app_id = principal.application.as_ref().or_else(|| {
            principal
                .client_id
                .as_ref()
                .and_then(|c| reg.by_client.get(c.as_str()))
        });
        let app = app_id.and_then(|id| reg.apps.get(id.as_str()));
        let mut meters: Vec<(Counter, QuotaScope)> = Vec::with_capacity(4);
        let mut gauges = Vec::new();
        let (plan_name, sub_key): (_, Cow<'_, str>) = if api.subscription_required {
            let id = app_id.ok_or(R::NotSubscribed)?;
            let (sub, key) = reg
                .subs
                .get(facts.api)
                .and_then(|m| m.get(id.as_str()))
                .ok_or(R::NotSubscribed)?;
            match sub.state {
                SubscriptionState::Unblocked => {}
                SubscriptionState::ProdOnlyBlocked if principal.key_type == KeyType::Sandbox => {}
                s @ (SubscriptionState::Blocked | SubscriptionState::ProdOnlyBlocked) => {
                    return Err(R::SubscriptionBlocked(s));
                }
                s => return Err(R::SubscriptionInactive(s)),
            }
            (sub.plan.clone(), Cow::Borrowed(&**key))
        } else {
            let who = app_id
                .map(ApplicationId::as_str)
                .or(principal.client_id.as_deref())
                .unwrap_or("anonymous");
            (
                self.subscriptionless.clone(),
                Cow::Owned(format!("nosub:{who}:{}", facts.api)),
            )
        };
        if let Some(t) = topic
            && !t.allows(&principal)
        {
            return Err(R::ScopeMissing);
        }
        let plan = reg
            .plans
            .get(plan_name.as_str())
            .ok_or_else(|| R::UnknownPlan(plan_name.clone()))?;
        if let Some(app) = app
            && let Some(ap) = &app.plan
        {
            let ap = reg
                .plans
                .get(ap.as_str())
                .ok_or_else(|| R::UnknownPlan(ap.clone()))?;
            let key = format!("app:{}", app.id);
            if let Some(max) = ap.max_connections {
                let g = self
                    .counters
                    .gauge(&key, max)
                    .map_err(|_| R::CountersFull)?;
                gauges.push((g, ConnectionScope::Application));
            }
            for q in ap.quota.iter().chain(&ap.burst) {
                meters.push((self.window(&key, *q, now)?, QuotaScope::Application));
            }
        }
        if let Some(max) = plan.max_connections {
            let g = self
                .counters
                .gauge(&sub_key, max)
                .map_err(|_| R::CountersFull)?;
            gauges.push((g, ConnectionScope::Subscription));
        }
        for q in plan.quota.iter().chain(&plan.burst) {
            meters.push((self.window(&sub_key, *q, now)?, QuotaScope::Subscription));
        }
        // Subscription counters first: they are the ones most often exhausted.
        meters.reverse();
        Ok(Draft {
            principal,
            application: app.map(|a| a.id.clone()),
            plan: plan_name,
            meters,
            gauges,
        })
    }
}

/// A request that passed every check but the quota and the connection slots, with the
/// counter and gauge handles to take them from (no slot taken yet, no lock held).
struct Draft {
    principal: Arc<Principal>,
    application: Option<ApplicationId>,
    plan: PlanName,
    meters: Vec<(Counter, QuotaScope)>,
    /// Application's, then subscription's.
    gauges: Vec<(Arc<dyn Gauge>, ConnectionScope)>,
}

/// Polls `io` until it finishes (`Some`) or `timeout` does first (`None`; `io` is dropped).
async fn within<F: Future, S: Future<Output = ()>>(io: F, timeout: S) -> Option<F::Output> {
    let mut io = pin!(io);
    let mut timeout = pin!(timeout);
    poll_fn(|cx| {
        if let Poll::Ready(v) = io.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timeout.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
